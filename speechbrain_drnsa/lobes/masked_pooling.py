"""Poolings of the paper's Table 1 baselines: statistics and attention over valid frames.

Both map ``(frames (batch, time, channels), relative lengths)`` to one vector
per utterance and read only each utterance's valid frames, so padding never
changes the result:

* :class:`MaskedStatisticsPooling`: mean, standard deviation, minimum and
  maximum over time (Xia and Liu 2017's utterance-level statistics; the
  global max pooling of a CNN; the mean of an LSTM's outputs);
* :class:`AttentionPooling`: the weighted mean of Mirsamadi et al. (ICASSP
  2017), its weights a softmax over time of a learnt projection of each frame.

SpeechBrain's ``StatisticsPooling`` gives mean and standard deviation only and
adds noise to them in training; its ``AttentiveStatisticsPooling`` is ECAPA's
context-dependent variant. Neither is Mirsamadi's or Xia's pooling, hence these.
"""

from collections.abc import Sequence

import torch
from torch import nn

from speechbrain_drnsa.nnet.lengths import check_relative_lengths, frame_mask

__all__ = ["AttentionPooling", "MaskedStatisticsPooling", "STATISTICS"]

#: The statistics :class:`MaskedStatisticsPooling` can compute, in their output order.
STATISTICS = ("mean", "std", "min", "max")
# keeps the gradient of the standard deviation finite for constant (or one-frame) inputs
_VARIANCE_FLOOR = 1e-6


def _check_frames(x: torch.Tensor, input_size: int) -> None:
    if x.dim() != 3 or 0 in x.shape[:2] or x.shape[2] != input_size:
        raise ValueError(
            f"expected frames of shape (batch >= 1, time >= 1, {input_size}); "
            f"got shape {tuple(x.shape)}"
        )


class MaskedStatisticsPooling(nn.Module):
    """Concatenate statistics over each utterance's valid frames.

    Arguments
    ---------
    input_size : int
        Channels of the input frames.
    statistics : Sequence[str]
        Any of ``"mean"``, ``"std"`` (population standard deviation),
        ``"min"`` and ``"max"``, concatenated in this order.

    Example
    -------
    >>> pooling = MaskedStatisticsPooling(input_size=1)
    >>> x = torch.tensor([[[1.0], [3.0], [99.0]]])
    >>> pooling(x, torch.tensor([2 / 3]))
    tensor([[2., 1., 1., 3.]])
    >>> pooling.output_size
    4
    """

    def __init__(self, input_size: int, statistics: Sequence[str] = STATISTICS):
        super().__init__()
        statistics = list(statistics)
        unknown = [name for name in statistics if name not in STATISTICS]
        if not statistics or unknown or len(set(statistics)) != len(statistics):
            raise ValueError(
                f"statistics must list distinct names among {list(STATISTICS)}; got {statistics}"
            )
        self.input_size = input_size
        self.statistics = statistics
        self.output_size = input_size * len(statistics)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pool a padded batch into one vector per utterance.

        Arguments
        ---------
        x : torch.Tensor
            Frames ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.

        Returns
        -------
        torch.Tensor
            ``(batch, input_size * len(statistics))``.
        """
        _check_frames(x, self.input_size)
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        valid = frame_mask(lengths, x.shape[1]).unsqueeze(-1)
        count = valid.sum(dim=1).to(x.dtype)
        mean = torch.where(valid, x, 0.0).sum(dim=1) / count
        pooled = []
        for name in self.statistics:
            if name == "mean":
                pooled.append(mean)
            elif name == "std":
                squared = torch.where(valid, (x - mean.unsqueeze(1)) ** 2, 0.0)
                variance = squared.sum(dim=1) / count
                pooled.append(variance.clamp(min=_VARIANCE_FLOOR).sqrt())
            elif name == "min":
                pooled.append(torch.where(valid, x, float("inf")).amin(dim=1))
            else:
                pooled.append(torch.where(valid, x, float("-inf")).amax(dim=1))
        return torch.cat(pooled, dim=-1)


class AttentionPooling(nn.Module):
    """Attention-weighted mean over valid frames: Mirsamadi et al.'s local attention.

    ``alpha_t = softmax_t(u . y_t)`` over each utterance's valid frames, with
    ``u`` a learnt vector, and the output is ``sum_t alpha_t y_t`` (Mirsamadi,
    Barsoum and Zhang, "Automatic speech emotion recognition using recurrent
    neural networks with local attention", ICASSP 2017, eq. 3-4).

    Arguments
    ---------
    input_size : int
        Channels of the input frames.

    Example
    -------
    >>> pooling = AttentionPooling(input_size=4)
    >>> x = torch.randn(2, 10, 4)
    >>> pooled, weights = pooling(x, torch.tensor([1.0, 0.3]), need_weights=True)
    >>> pooled.shape, weights.sum(dim=1).round(decimals=4).tolist()
    (torch.Size([2, 4]), [1.0, 1.0])
    >>> bool((weights[1, 3:] == 0).all())
    True
    """

    def __init__(self, input_size: int):
        super().__init__()
        self.input_size = input_size
        self.output_size = input_size
        self.score = nn.Linear(input_size, 1, bias=False)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, need_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Pool a padded batch into one vector per utterance.

        Arguments
        ---------
        x : torch.Tensor
            Frames ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.
        need_weights : bool
            Also return the attention weights.

        Returns
        -------
        pooled : torch.Tensor
            ``(batch, input_size)``.
        weights : torch.Tensor
            ``(batch, time)``, zero on padded frames; only with ``need_weights``.
        """
        _check_frames(x, self.input_size)
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        valid = frame_mask(lengths, x.shape[1])
        scores = self.score(x).squeeze(-1).masked_fill(~valid, float("-inf"))
        weights = scores.softmax(dim=1)
        pooled = torch.bmm(weights.unsqueeze(1), torch.where(valid.unsqueeze(-1), x, 0.0))
        pooled = pooled.squeeze(1)
        return (pooled, weights) if need_weights else pooled
