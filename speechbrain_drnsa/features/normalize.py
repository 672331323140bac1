"""Feature standardisation: per-fold global statistics, or each speaker's own.

:class:`FeatureNormalizer` holds a mean and a standard deviation per feature
as buffers, so they travel inside every ``state_dict`` and checkpoint of a
model that contains it and inference uses the numbers training used. Its
statistics come from the training part of a fold only
(:func:`fit_normalizer`), so no test audio shapes the features.

Per-speaker normalisation (:func:`speaker_statistics`,
:func:`standardize_by_speaker`) is the option many SER papers use: every
utterance is standardised with the statistics of all utterances of its
speaker, the test speaker's own included (their audio, never their labels).
That is transductive, hence not the default.
"""

from collections.abc import Iterable, Mapping
from os import PathLike

import torch
from torch import nn

from speechbrain_drnsa.features.cache import load_features

__all__ = ["FeatureNormalizer", "fit_normalizer", "speaker_statistics", "standardize_by_speaker"]


class FeatureNormalizer(nn.Module):
    """Standardise ``(batch, time, features)`` with statistics fitted on training frames.

    Arguments
    ---------
    num_features : int
        Features per frame.
    eps : float
        A feature whose standard deviation is below ``eps`` (constant in the
        training data) is only centred, not divided.

    Example
    -------
    >>> import torch
    >>> norm = FeatureNormalizer(num_features=2).fit([torch.tensor([[1.0, 10.0], [3.0, 30.0]])])
    >>> norm.mean, norm.std
    (tensor([ 2., 20.]), tensor([ 1., 10.]))
    >>> x = torch.tensor([[[3.0, 30.0], [5.0, 50.0]]])
    >>> norm(x, torch.tensor([0.5]))
    tensor([[[1., 1.],
             [0., 0.]]])
    """

    def __init__(self, num_features: int = 17, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def fitted(self) -> bool:
        """Whether statistics were fitted (or loaded from a state dict)."""
        return bool(self.count > 0)

    def fit(self, features: Iterable[torch.Tensor]) -> "FeatureNormalizer":
        """Compute mean and standard deviation over every frame of ``features``.

        The utterances are streamed, each merged into float64 running
        statistics (Chan et al.'s pairwise update), so a corpus never has to
        fit in memory and long corpora lose no precision.

        Arguments
        ---------
        features : iterable of torch.Tensor
            ``(frames, num_features)`` tensors, e.g. the training utterances of
            one fold.

        Returns
        -------
        FeatureNormalizer
            ``self``, fitted.

        Raises
        ------
        ValueError
            If a tensor has the wrong shape or non-finite values, or there are
            no frames at all.

        Example
        -------
        >>> import torch
        >>> feats = [torch.randn(50, 17) * 3 + 1 for _ in range(4)]
        >>> norm = FeatureNormalizer().fit(feats)
        >>> int(norm.count), torch.allclose(norm.mean, torch.cat(feats).mean(0))
        (200, True)
        """
        count = 0
        mean = torch.zeros(self.num_features, dtype=torch.float64)
        sum_squares = torch.zeros(self.num_features, dtype=torch.float64)
        for index, utterance in enumerate(features):
            frames = self._checked(utterance, f"utterance {index}").to(torch.float64)
            if frames.shape[0] == 0:
                continue
            part_mean = frames.mean(dim=0)
            part_squares = ((frames - part_mean) ** 2).sum(dim=0)
            total = count + frames.shape[0]
            delta = part_mean - mean
            mean += delta * frames.shape[0] / total
            sum_squares += part_squares + delta**2 * count * frames.shape[0] / total
            count = total
        if count == 0:
            raise ValueError("no frames to fit the feature statistics on")
        std = (sum_squares / count).sqrt()
        self.mean.copy_(mean)
        self.std.copy_(torch.where(std < self.eps, torch.ones_like(std), std))
        self.count.fill_(count)
        return self

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Standardise a padded batch; padded frames stay zero.

        Arguments
        ---------
        x : torch.Tensor
            ``(batch, time, num_features)``.
        lengths : torch.Tensor, optional
            ``(batch,)`` lengths relative to ``time``, in (0, 1]; frames past
            ``round(length * time)`` are set to 0. ``None``: no padding.

        Returns
        -------
        torch.Tensor
            Same shape and dtype as ``x``.

        Raises
        ------
        RuntimeError
            If the normaliser was never fitted.

        Example
        -------
        >>> import torch
        >>> norm = FeatureNormalizer().fit([torch.randn(100, 17)])
        >>> norm(torch.randn(2, 8, 17), torch.tensor([1.0, 0.5])).shape
        torch.Size([2, 8, 17])
        """
        if not self.fitted:
            raise RuntimeError(
                "FeatureNormalizer is not fitted: call fit() on the training features first"
            )
        if x.dim() != 3 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"expected (batch, time, {self.num_features}) features, got {tuple(x.shape)}"
            )
        out = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        if lengths is None:
            return out
        frames = torch.round(lengths.to(torch.float64) * x.shape[1]).long().to(x.device)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < frames[:, None]
        return out * valid.unsqueeze(-1).to(out.dtype)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, fitted={self.fitted}"

    def _checked(self, features: torch.Tensor, what: str) -> torch.Tensor:
        """``features`` as a ``(frames, num_features)`` tensor with finite values."""
        features = torch.as_tensor(features)
        if features.dim() != 2 or features.shape[1] != self.num_features:
            raise ValueError(
                f"{what}: expected (frames, {self.num_features}), got {tuple(features.shape)}"
            )
        if not torch.isfinite(features).all():
            raise ValueError(f"{what}: features contain NaN or infinite values")
        return features


def fit_normalizer(
    feature_paths: Iterable[str | PathLike], num_features: int = 17
) -> FeatureNormalizer:
    """Fit a :class:`FeatureNormalizer` on cached feature files, e.g. one fold's training part.

    Only the given files are opened: pass the training utterances of a fold
    and no validation or test audio enters the statistics.

    Arguments
    ---------
    feature_paths : iterable of str or PathLike
        ``.npy`` files of the feature cache.
    num_features : int
        Features per frame.

    Returns
    -------
    FeatureNormalizer
        The fitted normaliser.

    Example
    -------
    >>> import tempfile, numpy
    >>> path = f"{tempfile.mkdtemp()}/u.npy"
    >>> numpy.save(path, numpy.arange(6, dtype=numpy.float32).reshape(3, 2))
    >>> fit_normalizer([path], num_features=2).mean
    tensor([2., 3.])
    """
    return FeatureNormalizer(num_features).fit(load_features(path) for path in feature_paths)


def speaker_statistics(
    features_by_speaker: Mapping[str, Iterable[torch.Tensor]], num_features: int = 17
) -> dict[str, FeatureNormalizer]:
    """Fit one normaliser per speaker on all of that speaker's utterances.

    For per-speaker normalisation every speaker is included, test speakers
    too: each utterance is standardised with its own speaker's statistics
    (their audio only, never their labels), as SER papers commonly do.

    Arguments
    ---------
    features_by_speaker : mapping of str to iterable of torch.Tensor
        Speaker to that speaker's ``(frames, num_features)`` utterances.
    num_features : int
        Features per frame.

    Returns
    -------
    dict of str to FeatureNormalizer
        One fitted normaliser per speaker.

    Example
    -------
    >>> import torch
    >>> stats = speaker_statistics({"F1": [torch.ones(4, 2)], "M1": [torch.zeros(3, 2)]}, 2)
    >>> stats["F1"].mean, int(stats["M1"].count)
    (tensor([1., 1.]), 3)
    """
    return {
        speaker: FeatureNormalizer(num_features).fit(utterances)
        for speaker, utterances in features_by_speaker.items()
    }


def standardize_by_speaker(
    features: torch.Tensor, speaker: str, statistics: Mapping[str, FeatureNormalizer]
) -> torch.Tensor:
    """Standardise one utterance with its speaker's own statistics.

    Arguments
    ---------
    features : torch.Tensor
        ``(frames, num_features)`` of one utterance.
    speaker : str
        Its speaker.
    statistics : mapping of str to FeatureNormalizer
        From :func:`speaker_statistics`.

    Returns
    -------
    torch.Tensor
        ``(frames, num_features)``, zero mean and unit variance over the
        speaker's utterances.

    Raises
    ------
    KeyError
        If the speaker has no statistics.

    Example
    -------
    >>> import torch
    >>> stats = speaker_statistics({"F1": [torch.tensor([[1.0], [3.0]])]}, num_features=1)
    >>> standardize_by_speaker(torch.tensor([[3.0]]), "F1", stats)
    tensor([[1.]])
    """
    if speaker not in statistics:
        raise KeyError(f"no statistics for speaker {speaker!r}; known: {sorted(statistics)}")
    return statistics[speaker](features.unsqueeze(0))[0]
