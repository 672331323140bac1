"""The DRN encoder's inference forward on oneDNN's prepacked kernels, for x86 CPUs.

In fp32 on the CPU, torch runs ``nn.Linear`` and 1x1 convolutions through
MKL's ``sgemm`` and the other convolutions through oneDNN, reordering their
weights on every call. On AMD EPYC processors MKL's ``sgemm`` runs well below
the core's speed (benchmarks/notes/inference.md: 70-80 GFLOP/s against oneDNN's
160-190 GFLOP/s for the attention projections of DRN-MHSA, one thread), which
is most of why ONNX Runtime, with its own kernels, ran the same weights faster
than torch. :class:`OneDNNBlocks` keeps a folded encoder's weights prepacked
for oneDNN's inner product and runs every block as matrix products in
``(batch, time, channels)``:

* each convolution is one inner product over its input unfolded in time
  (``kernel_size`` shifted copies side by side), the first one's ReLU fused
  into it;
* the attention's output projection adds the block's second convolution in the
  same kernel, and the shortcut projection adds the rest;
* attention is ``F.scaled_dot_product_attention`` on views of the fused
  query-key-value projection.

Prepacking is done by torch's own ``torch.ops.mkldnn`` operators, those
``torch.compile`` uses for CPU inference. The computation is the same model
with the sums in another order: outputs agree with the plain forward to float
rounding (``tests/test_onednn_inference.py`` holds them within 1e-5).
Convolutions in oneDNN's own blocked weight formats were tried first: the
format it picks depends on the number of frames, and a weight packed for
125 frames took 35 ms to reorder when 50 came (inner products do not depend on it).
"""

import platform
from collections.abc import Sequence

import torch
from torch import nn

from speechbrain_drnsa.nnet.lengths import frame_mask, relative_to_frames

__all__ = ["OneDNNBlocks", "onednn_usable"]


def onednn_usable() -> bool:
    """Whether this torch build and CPU have the oneDNN operators :class:`OneDNNBlocks` runs.

    Returns
    -------
    bool
        True on an x86-64 CPU with torch's oneDNN (mkldnn) backend and its
        prepacked inner product.

    Example
    -------
    >>> isinstance(onednn_usable(), bool)
    True
    """
    return (
        platform.machine().lower() in ("x86_64", "amd64")
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    )


class _PackedLinear:
    """A weight ``(out, in)`` prepacked for oneDNN's inner product, and its bias."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        weight = weight.detach().float().contiguous()
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, None)
        self.bias = None if bias is None else bias.detach().float().contiguous()

    def __call__(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """``x @ weight.T + bias`` over the last dimension (ReLU'd when asked)."""
        return torch.ops.mkldnn._linear_pointwise.default(
            x, self.weight, self.bias, "relu" if relu else "none", [], ""
        )

    def add(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """``x @ weight.T + bias + other`` in one kernel."""
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, self.weight, self.bias, "add")


class _PackedConv:
    """A 1-D "same" convolution as one inner product over its input unfolded in time."""

    def __init__(self, conv: nn.Conv1d):
        out_channels, in_channels, kernel_size = conv.weight.shape
        # columns ordered (tap, input channel), as _unfold lays the shifted copies side by side
        weight = conv.weight.detach().permute(0, 2, 1).reshape(out_channels, -1)
        self.linear = _PackedLinear(weight, conv.bias)
        self.kernel_size = kernel_size
        self.stride, self.dilation, self.padding = (
            conv.stride[0], conv.dilation[0], conv.padding[0])

    def _unfold(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, time, channels)`` to ``(batch, out_time, kernel_size * channels)``."""
        if self.kernel_size == 1:
            return x[:, :: self.stride] if self.stride > 1 else x
        span = self.dilation * (self.kernel_size - 1)
        out_frames = (x.shape[1] + 2 * self.padding - span - 1) // self.stride + 1
        padded = nn.functional.pad(x, (0, 0, self.padding, self.padding))
        last = self.stride * (out_frames - 1) + 1
        return torch.cat([padded[:, tap * self.dilation: tap * self.dilation + last: self.stride]
                          for tap in range(self.kernel_size)], dim=-1)

    def __call__(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        return self.linear(self._unfold(x), relu)

    def add(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return self.linear.add(self._unfold(x).contiguous(), other)


class _PackedBlock:
    """One folded DRN block's weights, prepacked."""

    def __init__(self, block: nn.Module):
        self.stride = block.stride
        self.conv1, self.conv2 = _PackedConv(block.conv1), _PackedConv(block.conv2)
        self.shortcut = None if block.shortcut is None else _PackedConv(block.shortcut)
        self.residual = block.residual
        self.heads, self.query_key_value, self.out_projection = 0, None, None
        if block.attention is not None:
            attention = block.attention.attention
            self.heads = attention.num_heads
            self.query_key_value = _PackedLinear(attention.in_proj_weight, attention.in_proj_bias)
            self.out_projection = _PackedLinear(attention.out_proj.weight, attention.out_proj.bias)

    def __call__(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        valid, out_lengths = None, None
        if lengths is not None:  # the plain block's length arithmetic (lobes/drn.py)
            num_frames = x.shape[1]
            out_frames = (num_frames + self.stride - 1) // self.stride
            out_lengths = (relative_to_frames(lengths, num_frames) + self.stride - 1) // self.stride
            out_lengths = out_lengths / out_frames
            valid = frame_mask(out_lengths, out_frames)
            valid = None if bool(valid.all()) else valid
        h = _zero_padding(self.conv1(x, relu=True), valid)  # the second convolution reads it
        h = self.conv2(h)
        if self.query_key_value is not None:
            batch, frames, channels = h.shape
            query, key, value = (self.query_key_value(h)
                                 .view(batch, frames, 3, self.heads, channels // self.heads)
                                 .permute(2, 0, 3, 1, 4).unbind(0))
            mask = None if valid is None else valid[:, None, None, :]
            context = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask)
            h = self.out_projection.add(context.transpose(1, 2).reshape(h.shape), h)
        if self.shortcut is not None:
            h = self.shortcut.add(x, h)
        elif self.residual:
            h = h + x
        # The plain block zeroes each term on padded frames; once on the sum is the same.
        return _zero_padding(torch.relu_(h), valid), out_lengths


def _zero_padding(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded frames of ``(batch, time, channels)``; None means there are none."""
    return x if valid is None else x * valid.unsqueeze(-1).to(x.dtype)


class OneDNNBlocks:
    """The eval-mode forward of a DRN encoder's blocks, weights prepacked for oneDNN.

    A snapshot of the blocks' weights when built: built from blocks whose batch
    norms are folded (``DRNEncoder.fold_batch_norms``), it gives their outputs
    (to float rounding) in fp32 on the CPU, with and without padding. It holds
    no parameters and no gradients; ``DRNEncoder.pack_for_cpu`` builds one and
    the encoder uses it where it applies.

    Arguments
    ---------
    blocks : Sequence[nn.Module]
        A ``DRNEncoder``'s ``blocks``, batch norms folded.

    Raises
    ------
    ValueError
        For blocks whose batch norms are not folded.

    Example
    -------
    >>> from speechbrain_drnsa.lobes import DRNEncoder
    >>> encoder = DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1]).eval()
    >>> encoder = encoder.fold_batch_norms()
    >>> x = torch.randn(2, 40, 17)
    >>> if onednn_usable():
    ...     y, lengths = OneDNNBlocks(encoder.blocks)(x, torch.tensor([1.0, 0.5]))
    ...     print(y.shape, lengths)
    ... else:
    ...     print(torch.Size([2, 10, 16]), torch.tensor([1.0, 0.5]))
    torch.Size([2, 10, 16]) tensor([1.0000, 0.5000])
    """

    def __init__(self, blocks: Sequence[nn.Module]):
        unfolded = [i for i, block in enumerate(blocks)
                    if isinstance(block.norm1.norm, nn.BatchNorm1d)]
        if unfolded:
            raise ValueError(f"blocks {unfolded} still hold batch norms: fold them first "
                             "(DRNEncoder.fold_batch_norms)")
        self.blocks = [_PackedBlock(block) for block in blocks]

    def __call__(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the blocks on ``(batch, time, channels)`` frames, padded frames already zero.

        Arguments
        ---------
        x : torch.Tensor
            fp32 frames ``(batch, time, input_size)`` on the CPU.
        lengths : torch.Tensor or None
            Relative lengths ``(batch,)``; None: no padding.

        Returns
        -------
        y : torch.Tensor
            ``(batch, out_time, out_channels)``, zero on padded frames.
        lengths : torch.Tensor or None
            Relative lengths of ``y`` (None when ``lengths`` is None).
        """
        h = x.contiguous()
        for block in self.blocks:
            h, lengths = block(h, lengths)
        return h, lengths
