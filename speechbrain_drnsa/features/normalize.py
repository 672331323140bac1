"""Feature standardisation in one stage: per-fold statistics, optionally each speaker's first.

:class:`FeatureNormalizer` is the one owner of every statistic that
normalises features. Its fold statistics (a mean and a standard deviation
per feature, fitted on the training part of a fold only, so no test audio
shapes them) are buffers; with ``per_speaker=True`` it also keeps each
speaker's own statistics, fitted on all of that speaker's utterances, and
standardises every utterance with its speaker's statistics before the fold
statistics. Both travel in every ``state_dict`` and checkpoint of a model
that contains it, so inference uses the numbers training used, and a new
speaker can be enrolled later (:meth:`FeatureNormalizer.fit_speaker`).

Per-speaker normalisation is the option many SER papers use: the test
speaker's own utterances are included (their audio, never their labels).
That is transductive, hence not the default.
"""

from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from typing import Any

import torch
from torch import nn

from speechbrain_drnsa.features.cache import load_features
from speechbrain_drnsa.features.statistics import FeatureStatistics

__all__ = ["FeatureNormalizer", "fit_normalizer"]


class FeatureNormalizer(nn.Module):
    """Standardise ``(batch, time, features)``: each speaker's statistics, then the fold's.

    Arguments
    ---------
    num_features : int
        Features per frame.
    eps : float
        A feature whose standard deviation is below ``eps`` (constant in the
        training data) is only centred, not divided.
    per_speaker : bool
        Standardise every utterance with its speaker's statistics first
        (:meth:`fit_speaker`); ``forward`` then needs the speakers.

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

    def __init__(self, num_features: int = 17, eps: float = 1e-5, per_speaker: bool = False):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.per_speaker = per_speaker
        self.speakers: dict[str, FeatureNormalizer] = {}
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def fitted(self) -> bool:
        """Whether statistics were fitted (or loaded from a state dict)."""
        return bool(self.count > 0)

    def fit(
        self, features: Iterable[torch.Tensor], speakers: Iterable[str] | None = None
    ) -> "FeatureNormalizer":
        """Compute the fold's mean and standard deviation over every frame of ``features``.

        The utterances are streamed into
        :class:`~speechbrain_drnsa.features.statistics.FeatureStatistics`
        (float64 running statistics), so a corpus never has to fit in memory.

        Arguments
        ---------
        features : iterable of torch.Tensor
            ``(frames, num_features)`` tensors, e.g. the training utterances of
            one fold.
        speakers : iterable of str, optional
            The speaker of each utterance, needed with ``per_speaker``: each
            is standardised with its speaker's statistics first.

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
        if self.per_speaker:
            if speakers is None:
                raise ValueError("a per-speaker normaliser needs the speaker of every utterance")
            features = map(self.standardize_speaker, features, speakers)
        frames = (torch.as_tensor(u).detach().to('cpu', torch.float64).numpy() for u in features)
        statistics = FeatureStatistics.fit(frames, self.num_features, self.eps)
        self.mean.copy_(torch.from_numpy(statistics.mean))
        self.std.copy_(torch.from_numpy(statistics.std))
        self.count.fill_(statistics.count)
        return self

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        speakers: Sequence[str] | None = None,
    ) -> torch.Tensor:
        """Standardise a padded batch; padded frames stay zero.

        Arguments
        ---------
        x : torch.Tensor
            ``(batch, time, num_features)``.
        lengths : torch.Tensor, optional
            ``(batch,)`` lengths relative to ``time``, in (0, 1]; frames past
            ``round(length * time)`` are set to 0. ``None``: no padding.
        speakers : sequence of str, optional
            The speaker of each utterance; needed with ``per_speaker``.

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
        if self.per_speaker:
            if speakers is None or len(speakers) != x.shape[0]:
                raise ValueError("a per-speaker normaliser needs the speaker of every utterance")
            x = torch.stack([self.standardize_speaker(u, s) for u, s in zip(x, speakers)])
        # .to(x): the statistics follow the batch (speakers are extra state, which .to() skips)
        out = (x - self.mean.to(x)) / self.std.to(x)
        if lengths is None:
            return out
        frames = torch.round(lengths.to(torch.float64) * x.shape[1]).long().to(x.device)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < frames[:, None]
        return out * valid.unsqueeze(-1).to(out.dtype)

    def fit_speaker(self, speaker: str, features: Iterable[torch.Tensor]) -> "FeatureNormalizer":
        """Fit (or replace) one speaker's statistics on that speaker's utterances: enrolment.

        Arguments
        ---------
        speaker : str
            The speaker's name.
        features : iterable of torch.Tensor
            ``(frames, num_features)`` utterances of that speaker.

        Returns
        -------
        FeatureNormalizer
            ``self``.

        Example
        -------
        >>> norm = FeatureNormalizer(num_features=1, per_speaker=True)
        >>> norm = norm.fit_speaker("F1", [torch.tensor([[1.0], [3.0]])])
        >>> norm.standardize_speaker(torch.tensor([[3.0]]), "F1")
        tensor([[1.]])
        """
        self.speakers[speaker] = FeatureNormalizer(self.num_features, self.eps).fit(features)
        return self

    def standardize_speaker(self, features: torch.Tensor, speaker: str) -> torch.Tensor:
        """Standardise one utterance ``(frames, num_features)`` with its speaker's statistics.

        Arguments
        ---------
        features : torch.Tensor
            ``(frames, num_features)``.
        speaker : str
            Its speaker, enrolled with :meth:`fit_speaker`.

        Returns
        -------
        torch.Tensor
            The standardised utterance, same shape.

        Raises
        ------
        KeyError
            If the speaker has no statistics.
        """
        if speaker not in self.speakers:
            raise KeyError(f"no statistics for speaker {speaker!r}; known: {sorted(self.speakers)}")
        return self.speakers[speaker](features.unsqueeze(0))[0]

    def get_extra_state(self) -> dict[str, Any]:
        """The per-speaker statistics, so that they travel in the state dict."""
        return {
            "per_speaker": self.per_speaker,
            "speakers": {
                name: {"mean": stats.mean, "std": stats.std, "count": stats.count}
                for name, stats in self.speakers.items()
            },
        }

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_extra_state` saved."""
        self.per_speaker = bool(state["per_speaker"])
        self.speakers = {}
        for name, stats in state["speakers"].items():
            speaker = FeatureNormalizer(self.num_features, self.eps)
            no_speakers = {"per_speaker": False, "speakers": {}}
            speaker.load_state_dict({**stats, "_extra_state": no_speakers})
            self.speakers[name] = speaker

    def extra_repr(self) -> str:
        speakers = f", speakers={len(self.speakers)}" if self.per_speaker else ""
        return f"num_features={self.num_features}, fitted={self.fitted}{speakers}"


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
