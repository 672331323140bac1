"""Dilated residual network (DRN) encoder with multi-head self-attention.

The encoder of Li et al., "Dilated Residual Network with Multi-head
Self-attention for Speech Emotion Recognition" (ICASSP 2019): 1-D temporal
convolutions over frame-level LLDs in five groups of blocks. Each switch of
the paper's ablation (its Table 2) is a constructor argument:

* ``residual=False, dilation=False, attention_heads=0``: the baseline CNN,
  stride 2 in the first layer of groups 2, 3, 4 and 5 (output frames 16x the
  input hop: 160 ms for 10 ms LLDs);
* ``residual=True``: S1, identity (or 1x1 projection) shortcuts around blocks;
* ``dilation=True``: S2, the DRN of Yu et al. (CVPR 2017): strides in groups 2
  and 3 only, groups 4 and 5 use 2- and 4-dilated convolutions instead, so the
  receptive field is kept while frames stay 4x the hop (40 ms);
* ``attention_heads=1``: S3, self-attention inside every residual block;
* ``attention_heads=4``: S4, the proposed DRN-MHSA (the defaults).

Padding is handled exactly: padded frames are zeroed after every layer (so
"same" convolutions see the zeros they would see at the end of an unpadded
utterance), batch-norm statistics are taken on valid frames only, attention
masks padded keys, and relative lengths follow every stride.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from speechbrain_drnsa.lobes.onednn import OneDNNBlocks, onednn_usable
from speechbrain_drnsa.nnet.attention import MultiHeadSelfAttention
from speechbrain_drnsa.nnet.lengths import check_relative_lengths, frame_mask, relative_to_frames

__all__ = ["DRNEncoder"]

_NUM_GROUPS = 5
# Groups 4 and 5 of the DRN trade their stride for these dilations (Yu et al.).
_DRN_DILATIONS = (1, 1, 1, 2, 4)


class _MaskedBatchNorm1d(nn.Module):
    """Batch norm on ``(batch, channels, time)`` whose training statistics skip padding.

    It holds a plain ``nn.BatchNorm1d`` (rather than being one) so that
    ``nn.SyncBatchNorm.convert_sync_batchnorm`` can swap it for a synced one.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        if valid is None or not self.training:
            return self.norm(x)
        # Normalise the valid frames only, as one (frames, channels) batch.
        frames = x.transpose(1, 2)
        normed = self.norm(frames[valid])
        out = normed.new_zeros(frames.shape)
        out[valid] = normed
        return out.transpose(1, 2)


class _Block(nn.Module):
    """Two "same" convolutions, optional shortcut, optional masked self-attention."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        dilation: int,
        residual: bool,
        attention_heads: int,
        dropout: float,
    ):
        super().__init__()
        self.stride = stride
        padding = dilation * (kernel_size - 1) // 2
        self.conv1 = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, bias=False
        )
        self.norm1 = _MaskedBatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(
            out_channels, out_channels, kernel_size, 1, padding, dilation, bias=False
        )
        self.norm2 = _MaskedBatchNorm1d(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.activation = nn.ReLU()
        self.attention = (
            MultiHeadSelfAttention(out_channels, attention_heads, dropout)
            if attention_heads
            else None
        )
        self.residual = residual
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Conv1d(in_channels, out_channels, 1, stride, bias=False)
            self.shortcut_norm = _MaskedBatchNorm1d(out_channels)
        else:
            self.shortcut = None

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # None: no padding (one utterance at inference), so no masking work; it stays None.
        valid, out_lengths = None, None
        if lengths is not None:
            num_frames = x.shape[-1]
            out_frames = _strided_frames(num_frames, self.stride)
            out_lengths = _strided_frames(relative_to_frames(lengths, num_frames), self.stride)
            out_lengths = out_lengths / out_frames
            valid = frame_mask(out_lengths, out_frames)
            valid = None if bool(valid.all()) else valid

        h = _zero_padding(self.activation(self.norm1(self.conv1(x), valid)), valid)
        h = _zero_padding(self.norm2(self.conv2(self.dropout(h)), valid), valid)
        if self.attention is not None:
            context, _ = self.attention(h.transpose(1, 2), out_lengths)
            h = h + context.transpose(1, 2)
        if self.shortcut is not None:
            h = h + _zero_padding(self.shortcut_norm(self.shortcut(x), valid), valid)
        elif self.residual:
            h = h + x
        # Every term is zero on padded frames, and so is their ReLU.
        return self.activation(h), out_lengths

    def fold_batch_norms(self) -> None:
        """Fold each eval-mode batch norm into the convolution before it (inference only)."""
        pairs = [("conv1", self.norm1), ("conv2", self.norm2)]
        if self.shortcut is not None:
            pairs.append(("shortcut", self.shortcut_norm))
        for conv_name, norm in pairs:
            if isinstance(norm.norm, nn.BatchNorm1d):  # not folded yet
                setattr(self, conv_name, fuse_conv_bn_eval(getattr(self, conv_name), norm.norm))
                norm.norm = nn.Identity()


def _zero_padding(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded frames of ``(batch, channels, time)``; None means there are none."""
    return x if valid is None else x * valid.unsqueeze(1).to(x.dtype)


def _strided_frames(frames: int | torch.Tensor, stride: int) -> int | torch.Tensor:
    """Frames after a "same" convolution of this stride: ceil(frames / stride)."""
    # Not -(-frames // stride): exported to ONNX, integer division truncates towards zero.
    return (frames + stride - 1) // stride


class DRNEncoder(nn.Module):
    """Five groups of 1-D convolution blocks over LLD frames, with every ablation a switch.

    Group ``g`` holds ``blocks[g]`` blocks of two convolutions with
    ``channels[g]`` outputs, each followed by batch norm and ReLU (dropout in
    between). The first convolution of groups 2 and 3 has stride 2; so has the
    first of groups 4 and 5 unless ``dilation``, in which case every
    convolution of groups 4 and 5 is 2- and 4-dilated instead. Blocks whose
    shape changes get a 1x1 projection shortcut when ``residual``.

    Output length, with ``S = 4`` (``dilation``) or ``S = 16`` (plain CNN) the
    total stride: ``output_length(T) = ceil(T / S)``, for valid frames too,
    because each "same" convolution of stride 2 maps ``T`` frames to
    ``ceil(T / 2)``. Any ``T >= 1`` gives at least one output frame, so a
    0.2 s utterance is valid input.

    Arguments
    ---------
    input_size : int
        Features per input frame (the 17 LLDs).
    channels : Sequence[int]
        Output channels of each of the 5 groups.
    blocks : Sequence[int]
        Blocks in each of the 5 groups (at least 1).
    kernel_size : int
        Odd kernel size of every convolution.
    residual : bool
        Add shortcuts around each block (off: plain CNN).
    dilation : bool
        DRN: replace the strides of groups 4 and 5 by dilations 2 and 4.
    attention_heads : int
        Self-attention heads inside every block: 0 none, 1 single-head, more multi-head.
        Must divide every entry of ``channels``.
    dropout : float
        Dropout between the two convolutions of a block and on attention weights.

    Example
    -------
    >>> encoder = DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1])
    >>> y, lengths = encoder(torch.randn(2, 100, 17), torch.tensor([1.0, 0.5]))
    >>> y.shape, lengths
    (torch.Size([2, 25, 16]), tensor([1.0000, 0.5200]))
    >>> encoder.output_length(100), encoder.out_channels
    (25, 16)
    """

    def __init__(
        self,
        input_size: int = 17,
        channels: Sequence[int] = (64, 128, 256, 384, 512),
        blocks: Sequence[int] = (1, 1, 1, 2, 2),
        kernel_size: int = 3,
        residual: bool = True,
        dilation: bool = True,
        attention_heads: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        channels, blocks = list(channels), list(blocks)
        if len(channels) != _NUM_GROUPS or len(blocks) != _NUM_GROUPS or min(blocks) < 1:
            raise ValueError(
                f"channels and blocks must list {_NUM_GROUPS} groups, at least one block each; "
                f"got channels={channels}, blocks={blocks}"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive; got {kernel_size}")
        if attention_heads < 0 or any(c % max(attention_heads, 1) for c in channels):
            raise ValueError(
                f"attention_heads must be >= 0 and divide every group's channels; "
                f"got attention_heads={attention_heads}, channels={channels}"
            )
        self.input_size = input_size
        self.out_channels = channels[-1]
        strides = (1, 2, 2, 1, 1) if dilation else (1, 2, 2, 2, 2)
        dilations = _DRN_DILATIONS if dilation else (1,) * _NUM_GROUPS
        self.total_stride = math.prod(strides)

        layers = []
        in_channels = input_size
        for group in range(_NUM_GROUPS):
            for index in range(blocks[group]):
                layers.append(
                    _Block(
                        in_channels,
                        channels[group],
                        kernel_size,
                        strides[group] if index == 0 else 1,
                        dilations[group],
                        residual,
                        attention_heads,
                        dropout,
                    )
                )
                in_channels = channels[group]
        self.blocks = nn.ModuleList(layers)
        #: The blocks' weights prepacked for oneDNN (:meth:`pack_for_cpu`), else None.
        self.onednn: OneDNNBlocks | None = None

    def output_length(self, num_frames: int) -> int:
        """Output frames for ``num_frames`` input frames: ``ceil(num_frames / total_stride)``.

        Arguments
        ---------
        num_frames : int
            Input frames (at least 1).

        Returns
        -------
        int
            Output frames.

        Example
        -------
        >>> DRNEncoder(dilation=False).output_length(500)
        32
        """
        return _strided_frames(num_frames, self.total_stride)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a padded batch of LLD frames.

        Arguments
        ---------
        x : torch.Tensor
            LLDs ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.

        Returns
        -------
        y : torch.Tensor
            ``(batch, output_length(time), out_channels)``, zero on padded frames.
        lengths : torch.Tensor
            Relative lengths of ``y``.
        """
        if x.dim() != 3 or x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] != self.input_size:
            raise ValueError(
                f"expected LLDs of shape (batch >= 1, time >= 1, {self.input_size}); "
                f"got shape {tuple(x.shape)}"
            )
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        valid = frame_mask(lengths, x.shape[1])
        # Channels first once, for the convolutions; padded input frames zeroed. Without
        # padding the blocks get None and skip their length and mask work.
        h = x.transpose(1, 2)
        block_lengths = None if bool(valid.all()) else lengths
        if block_lengths is not None:
            h = _zero_padding(h, valid)
        if self._packed_applies(x):
            y, block_lengths = self.onednn(h.transpose(1, 2), block_lengths)
        else:
            for block in self.blocks:
                h, block_lengths = block(h, block_lengths)
            y = h.transpose(1, 2)
        out_lengths = torch.ones_like(lengths) if block_lengths is None else block_lengths
        return y, out_lengths

    def _packed_applies(self, x: torch.Tensor) -> bool:
        """Whether this forward can run on the prepacked weights: fp32 CPU inference only."""
        return (
            self.onednn is not None
            and not self.training
            and not torch.is_grad_enabled()
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.jit.is_tracing()
            # explanations and the ONNX export read the attention modules themselves
            and not any(block.attention is not None and block.attention.explicit_weights
                        for block in self.blocks)
        )

    def fold_batch_norms(self) -> "DRNEncoder":
        """Fold every batch norm into its convolution, for faster inference.

        The outputs stay the same (to float rounding), without the batch
        norms' separate pass over the frames; the encoder can no longer be
        trained. Folding twice changes nothing.

        Returns
        -------
        DRNEncoder
            This encoder.

        Raises
        ------
        RuntimeError
            In training mode, where batch norms use batch statistics.

        Example
        -------
        >>> encoder = DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1]).eval()
        >>> x = torch.randn(1, 40, 17)
        >>> before = encoder(x)[0]
        >>> torch.allclose(encoder.fold_batch_norms()(x)[0], before, atol=1e-6)
        True
        >>> torch.allclose(encoder.fold_batch_norms()(x)[0], before, atol=1e-6)
        True
        """
        if self.training:
            raise RuntimeError("fold_batch_norms needs an encoder in eval mode (call .eval())")
        for block in self.blocks:
            block.fold_batch_norms()
        return self

    def pack_for_cpu(self) -> "DRNEncoder":
        """Fold the batch norms and prepack the weights for oneDNN: faster fp32 CPU inference.

        Later forwards in eval mode, without gradients, on fp32 CPU tensors run
        :class:`~speechbrain_drnsa.lobes.onednn.OneDNNBlocks` (the same outputs
        to float rounding; 1.5x faster for a 5 s utterance on an AMD EPYC,
        benchmarks/notes/inference.md); any other forward runs the modules as
        before. The packed weights are a snapshot: load new weights, pack
        again. They are a second copy of the encoder's weights in memory (34 MiB
        at the paper's widths), neither saved nor copied (``state_dict`` and
        ``copy.deepcopy`` see the plain encoder). Without oneDNN (not x86-64,
        or torch without it) nothing is packed.

        Returns
        -------
        DRNEncoder
            This encoder.

        Raises
        ------
        RuntimeError
            In training mode, as :meth:`fold_batch_norms`.

        Example
        -------
        >>> encoder = DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1]).eval()
        >>> x = torch.randn(1, 40, 17)
        >>> with torch.no_grad():
        ...     before = encoder(x)[0]
        ...     after = encoder.pack_for_cpu()(x)[0]
        >>> torch.allclose(after, before, atol=1e-5)
        True
        """
        self.fold_batch_norms()
        self.onednn = OneDNNBlocks(self.blocks) if onednn_usable() else None
        return self

    def __getstate__(self) -> dict:
        # the packed weights are oneDNN handles: a copy or a pickle runs the plain forward
        return {**super().__getstate__(), "onednn": None}
