"""Frame encoders of the paper's Table 1 baselines: deltas, a plain CNN, a recurrent network.

Li et al. (ICASSP 2019) compare DRN-MHSA with four earlier systems on the same
LLDs (their Table 1). Each baseline is rebuilt here as an
:class:`~speechbrain_drnsa.lobes.EmotionClassifier` (encoder, pooling,
classifier), so the same training code, padding rules and model folders serve
them all; the encoders live in this module, the poolings in
:mod:`speechbrain_drnsa.lobes.masked_pooling`:

* :class:`DeltaFeatures`: the LLDs and their regression deltas (Xia and Liu 2017);
* :class:`ConvEncoder`: 1-D convolutions over the frames (Poria et al. 2016);
* :class:`RecurrentEncoder`: a (bidirectional) LSTM over the frames (Poria et
  al. 2017, Mirsamadi et al. 2017).

Every encoder maps ``(feats (batch, time, input_size), relative lengths)`` to
``(frames (batch, time, out_channels), relative lengths)``, keeps the time
axis (``total_stride`` 1) and returns zeros on padded frames, so one utterance
alone and the same utterance in a padded batch give the same frames.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechbrain_drnsa.nnet.lengths import check_relative_lengths, frame_mask, relative_to_frames

__all__ = ["ConvEncoder", "DeltaFeatures", "RecurrentEncoder"]


def _check_frames(x: torch.Tensor, input_size: int) -> None:
    if x.dim() != 3 or x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] != input_size:
        raise ValueError(
            f"expected LLDs of shape (batch >= 1, time >= 1, {input_size}); "
            f"got shape {tuple(x.shape)}"
        )


def _zero_padding(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Zero the padded frames of ``(batch, time, channels)``."""
    return x * valid.unsqueeze(-1).to(x.dtype)


def _frames_at(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Frames ``x[b, index[b, t]]`` of ``(batch, time, channels)``."""
    return x.gather(1, index.unsqueeze(-1).expand(*index.shape, x.shape[-1]))


class _SameLengthEncoder(nn.Module):
    """What every encoder here shares: no stride, so output frames are input frames."""

    total_stride = 1

    def output_length(self, num_frames: int) -> int:
        """Output frames for ``num_frames`` input frames: the same number."""
        return num_frames


class DeltaFeatures(_SameLengthEncoder):
    """Append the regression deltas of the LLDs, computed within each utterance.

    The delta of frame ``t`` is HTK's regression
    ``sum_k k (x[t+k] - x[t-k]) / (2 sum_k k^2)`` for ``k = 1 .. window``,
    with the utterance's first and last frames repeated beyond its ends (as
    openSMILE and HTK do). The edge frames are the utterance's own, not the
    batch's padding, so deltas do not depend on the batch.

    Used by the Xia and Liu (2017) baseline, whose DNN reads statistics of the
    LLDs and of their deltas.

    Arguments
    ---------
    input_size : int
        Features per input frame (the 17 LLDs).
    window : int
        Frames on each side of the regression (2: HTK's default).

    Example
    -------
    >>> deltas = DeltaFeatures(input_size=1)
    >>> x = torch.arange(6.0).reshape(1, 6, 1)
    >>> y, lengths = deltas(x)
    >>> y.shape, [round(d, 3) for d in y[0, :, 1].tolist()]
    (torch.Size([1, 6, 2]), [0.5, 0.8, 1.0, 1.0, 0.8, 0.5])
    """

    def __init__(self, input_size: int = 17, window: int = 2):
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be at least 1; got {window}")
        self.input_size = input_size
        self.window = window
        self.out_channels = 2 * input_size

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the LLDs with their deltas appended.

        Arguments
        ---------
        x : torch.Tensor
            LLDs ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.

        Returns
        -------
        y : torch.Tensor
            ``(batch, time, 2 * input_size)``, zero on padded frames.
        lengths : torch.Tensor
            The relative lengths, unchanged.
        """
        _check_frames(x, self.input_size)
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        num_frames = x.shape[1]
        last = (relative_to_frames(lengths, num_frames) - 1).to(x.device).unsqueeze(1)
        steps = torch.arange(num_frames, device=x.device).unsqueeze(0)
        deltas = torch.zeros_like(x)
        for k in range(1, self.window + 1):
            ahead = torch.minimum(steps + k, last).clamp(min=0)
            behind = torch.minimum((steps - k).clamp(min=0), last)
            deltas = deltas + k * (_frames_at(x, ahead) - _frames_at(x, behind))
        deltas = deltas / (2 * sum(k * k for k in range(1, self.window + 1)))
        valid = frame_mask(lengths, num_frames)
        return _zero_padding(torch.cat([x, deltas], dim=-1), valid), lengths


class ConvEncoder(_SameLengthEncoder):
    """1-D "same" convolutions with ReLU over the frames, no stride, padding zeroed.

    The feature learner of Poria et al., "Convolutional MKL based multimodal
    emotion recognition and sentiment analysis" (ICDM 2016), applied to the
    LLD frames. Padded frames are zeroed after every layer, so each
    convolution sees at an utterance's end the zeros it would see alone; there
    is no batch norm, whose training statistics would otherwise mix in padding.

    Arguments
    ---------
    input_size : int
        Features per input frame.
    channels : Sequence[int]
        Output channels of each convolution.
    kernel_size : int
        Odd kernel size of every convolution.
    dropout : float
        Dropout after every convolution.

    Example
    -------
    >>> encoder = ConvEncoder(input_size=17, channels=[8, 16])
    >>> y, lengths = encoder(torch.randn(2, 30, 17), torch.tensor([1.0, 0.5]))
    >>> y.shape, bool((y[1, 15:] == 0).all()), encoder.out_channels
    (torch.Size([2, 30, 16]), True, 16)
    """

    def __init__(
        self,
        input_size: int = 17,
        channels: Sequence[int] = (128, 256, 512, 1024),
        kernel_size: int = 5,
        dropout: float = 0.0,
    ):
        super().__init__()
        channels = list(channels)
        if not channels:
            raise ValueError("channels must list at least one convolution")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive; got {kernel_size}")
        self.input_size = input_size
        self.out_channels = channels[-1]
        sizes = [input_size, *channels]
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2)
            for c_in, c_out in zip(sizes[:-1], sizes[1:])
        )
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

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
            ``(batch, time, out_channels)``, zero on padded frames.
        lengths : torch.Tensor
            The relative lengths, unchanged.
        """
        _check_frames(x, self.input_size)
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        # channels first once, for the convolutions
        valid = frame_mask(lengths, x.shape[1]).unsqueeze(1).to(x.dtype)
        h = x.transpose(1, 2) * valid
        for conv in self.convs:
            h = self.dropout(self.activation(conv(h))) * valid
        return h.transpose(1, 2), lengths


class RecurrentEncoder(_SameLengthEncoder):
    """A stacked (bidirectional) LSTM over the frames; each utterance ends at its own length.

    The sequence is packed (``pack_padded_sequence``), so neither direction
    reads padding: the backward LSTM starts at each utterance's last frame.
    The recurrent network of Poria et al., "Context-dependent sentiment
    analysis in user-generated videos" (ACL 2017) and of Mirsamadi et al.,
    "Automatic speech emotion recognition using recurrent neural networks with
    local attention" (ICASSP 2017), run over LLD frames.

    Arguments
    ---------
    input_size : int
        Features per input frame.
    hidden_size : int
        Hidden units per direction.
    num_layers : int
        Stacked LSTM layers.
    bidirectional : bool
        Also run backwards; the two directions are concatenated per frame.
    dropout : float
        Dropout between stacked layers.

    Example
    -------
    >>> encoder = RecurrentEncoder(input_size=17, hidden_size=8)
    >>> y, lengths = encoder(torch.randn(2, 30, 17), torch.tensor([1.0, 0.5]))
    >>> y.shape, bool((y[1, 15:] == 0).all()), encoder.out_channels
    (torch.Size([2, 30, 16]), True, 16)
    """

    def __init__(
        self,
        input_size: int = 17,
        hidden_size: int = 512,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.input_size = input_size
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.out_channels = hidden_size * (2 if bidirectional else 1)

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
            ``(batch, time, out_channels)``, zero on padded frames.
        lengths : torch.Tensor
            The relative lengths, unchanged.
        """
        _check_frames(x, self.input_size)
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        frames = relative_to_frames(lengths, x.shape[1]).cpu()
        if bool((frames == x.shape[1]).all()):
            # no padding: the unpacked LSTM gives the same frames, on a faster kernel
            return self.lstm(x)[0], lengths
        packed = pack_padded_sequence(x, frames, batch_first=True, enforce_sorted=False)
        y, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=x.shape[1])
        return y, lengths
