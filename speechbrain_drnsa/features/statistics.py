"""Feature statistics in numpy: a mean and a standard deviation per feature, streamed.

:class:`FeatureStatistics` is what
:class:`~speechbrain_drnsa.features.normalize.FeatureNormalizer` fits and keeps
as buffers, in plain numpy, so that the recognizer standardises a file or an
enrolled speaker without importing torch (the ONNX backend needs none).
Utterances are merged one at a time into float64 running statistics (Chan et
al.'s pairwise update): a corpus never has to fit in memory and long corpora
lose no precision.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FeatureStatistics"]


@dataclass(frozen=True)
class FeatureStatistics:
    """Per-feature mean and standard deviation (float32), and the frames they cover.

    Example
    -------
    >>> stats = FeatureStatistics.fit([np.array([[1.0, 10.0], [3.0, 30.0]])], num_features=2)
    >>> stats.mean.tolist(), stats.std.tolist(), stats.count
    ([2.0, 20.0], [1.0, 10.0], 2)
    >>> stats(np.array([[3.0, 30.0]], np.float32)).tolist()
    [[1.0, 1.0]]
    """

    mean: np.ndarray
    std: np.ndarray
    count: int

    @classmethod
    def fit(
        cls, features: Iterable[Any], num_features: int, eps: float = 1e-5
    ) -> "FeatureStatistics":
        """Mean and standard deviation over every frame of ``features``.

        Arguments
        ---------
        features : iterable of array-like
            ``(frames, num_features)`` utterances (numpy arrays or CPU tensors).
        num_features : int
            Features per frame.
        eps : float
            A standard deviation below ``eps`` (a constant feature) becomes 1:
            the feature is only centred.

        Returns
        -------
        FeatureStatistics
            The statistics.

        Raises
        ------
        ValueError
            If an utterance has the wrong shape or non-finite values, or there
            are no frames at all.
        """
        count = 0
        mean = np.zeros(num_features, dtype=np.float64)
        sum_squares = np.zeros(num_features, dtype=np.float64)
        for index, utterance in enumerate(features):
            frames = np.asarray(utterance, dtype=np.float64)
            if frames.ndim != 2 or frames.shape[1] != num_features:
                raise ValueError(f"utterance {index}: expected (frames, {num_features}), "
                                 f"got {tuple(frames.shape)}")
            if not np.isfinite(frames).all():
                raise ValueError(f"utterance {index}: features contain NaN or infinite values")
            if frames.shape[0] == 0:
                continue
            part_mean = frames.mean(axis=0)
            part_squares = ((frames - part_mean) ** 2).sum(axis=0)
            total = count + frames.shape[0]
            delta = part_mean - mean
            mean += delta * frames.shape[0] / total
            sum_squares += part_squares + delta**2 * count * frames.shape[0] / total
            count = total
        if count == 0:
            raise ValueError("no frames to fit the feature statistics on")
        std = np.sqrt(sum_squares / count)
        std = np.where(std < eps, 1.0, std)
        return cls(mean.astype(np.float32), std.astype(np.float32), count)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Standardise ``(..., num_features)`` float32 features."""
        return (features - self.mean) / self.std
