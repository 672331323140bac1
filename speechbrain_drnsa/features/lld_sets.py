"""Richer frame features: openSMILE's eGeMAPSv02 or ComParE_2016 LLDs and their deltas.

The paper's encoder reads 17 LLDs per 10 ms frame (:class:`OpenSmileLLD`). The
classic sets that win on small corpora describe each frame more richly:
eGeMAPSv02 has 25 LLDs (loudness, spectral slopes, formants, jitter,
shimmer, ...; Eyben et al., IEEE TAC 2016) and ComParE_2016 65 (auditory
bands, spectral moments, RASTA, ...; Schuller et al., 2016), both every
10 ms at ``FeatureLevel.LowLevelDescriptors``. :class:`OpenSmileLLDSet`
extracts one of them with the regression deltas of every column
(:func:`deltas`: ``torchaudio.functional.compute_deltas``'s regression in
numpy, window 5, as openSMILE's own ``cDeltaRegression``), 50 or 130 values
per frame, and is a feature-cache extractor like the others: its config hash
keys its own cache.

A recipe selects it with ``frame_features: eGeMAPSv02`` (``null``: the
paper's 17); :func:`frame_extractor` and :data:`FRAME_FEATURE_SIZES` map the
setting to the extractor and to the model's ``input_size``. ``frame_features:
ssl`` (a self-supervised model's hidden states) is :mod:`speechbrain_drnsa.features.ssl`'s.
"""

import hashlib
from collections.abc import Mapping
from importlib.metadata import version
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np
import opensmile

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.opensmile import OpenSmileLLD, smile_input
from speechbrain_drnsa.features.resample import RESAMPLER
from speechbrain_drnsa.features.stock_sets import OpenSmileStockSet

if TYPE_CHECKING:  # tensors are made on return: extract_array imports no torch
    import torch

__all__ = ["FRAME_FEATURE_SIZES", "OpenSmileLLDSet", "deltas", "frame_extractor"]

# openSMILE's longest LLD window (ComParE's F0, 60 ms) plus a hop: at least one frame
_MIN_SAMPLES = 1600
# regression over +-2 frames, openSMILE's deltas of ComParE_2016
_DELTA_WINDOW = 5

#: Values per frame of each ``frame_features`` set (LLDs and deltas; the paper's are 17).
FRAME_FEATURE_SIZES = {"eGeMAPSv02": 2 * 25, "ComParE_2016": 2 * 65}


class OpenSmileLLDSet(OpenSmileStockSet):
    """One openSMILE LLD set and its deltas per 10 ms frame, as a feature-cache extractor.

    The signal is read and resampled to 16 kHz like :class:`OpenSmileLLD`'s.

    Arguments
    ---------
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.

    Raises
    ------
    ValueError
        If the set is unknown.

    Example
    -------
    >>> import torch
    >>> lld = OpenSmileLLDSet("eGeMAPSv02")
    >>> feats = lld.extract(0.1 * torch.randn(16000), sample_rate=16000)
    >>> feats.shape, len(lld.feature_names), lld.feature_names[25]
    (torch.Size([96, 50]), 50, 'Loudness_sma3_de')
    """

    #: Sample rate openSMILE runs at, in Hz.
    sample_rate = OpenSmileLLD.sample_rate
    #: Hop between frames in samples at 16 kHz (10 ms).
    hop = OpenSmileLLD.hop

    level = opensmile.FeatureLevel.LowLevelDescriptors
    kind = "frame feature set"

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The LLD names, then the same names with ``_de`` for their deltas."""
        names = tuple(self._get_smile().feature_names)
        return (*names, *(f"{name}_de" for name in names))

    @property
    def config_hash(self) -> str:
        """SHA-256 of the set's configuration, level, deltas, rate, resampler, openSMILE."""
        digest = hashlib.sha256(self.config.read_bytes())
        digest.update(
            f"{self.feature_set}|lld+deltas{_DELTA_WINDOW}|{self.sample_rate}|{RESAMPLER}|"
            f"opensmile {version('opensmile')}".encode()
        )
        return digest.hexdigest()

    def extract(self, signal: Any, sample_rate: int) -> "torch.Tensor":
        """The LLDs and deltas of every frame of a signal.

        Arguments
        ---------
        signal : torch.Tensor or numpy.ndarray
            ``(samples,)`` or ``(channels, samples)`` floats in [-1, 1].
        sample_rate : int
            Its sample rate in Hz.

        Returns
        -------
        torch.Tensor
            ``(frames, 2 * LLDs)`` float32; a signal too short for one frame
            is padded with zeros to 100 ms.

        Raises
        ------
        ValueError
            For an empty or non-finite signal, or a bad sample rate.
        """
        import torch

        return torch.from_numpy(self.extract_array(signal, sample_rate))

    def extract_array(self, signal: Any, sample_rate: int) -> np.ndarray:
        """:meth:`extract` as a numpy array, the same values, importing no torch for numpy input."""
        samples = smile_input(signal, sample_rate, min_samples=_MIN_SAMPLES)
        llds = self._get_smile()(samples, self.sample_rate)[0]  # (features, frames)
        llds = np.ascontiguousarray(llds, dtype=np.float32)
        return np.ascontiguousarray(np.concatenate([llds, deltas(llds, _DELTA_WINDOW)]).T)

    def extract_file(self, path: str | PathLike) -> "torch.Tensor":
        """Read an audio file and extract its frames (see :meth:`extract`).

        Raises
        ------
        InputFileError
            If the file cannot be read or openSMILE gives non-finite values.
        """
        signal, sample_rate = read_audio(path)
        feats = self.extract(signal, sample_rate)
        if not feats.isfinite().all():
            raise InputFileError(path, f"openSMILE {self.feature_set} gave non-finite LLDs")
        return feats


def deltas(features: np.ndarray, win_length: int = _DELTA_WINDOW) -> np.ndarray:
    """Regression deltas along time: ``torchaudio.functional.compute_deltas`` in numpy.

    The same sums in the same order over edge-replicated frames, so the same
    float32 values, with no torch import.

    Arguments
    ---------
    features : numpy.ndarray
        ``(features, frames)`` float32.
    win_length : int
        Odd window in frames (5: +-2 frames).

    Returns
    -------
    numpy.ndarray
        ``(features, frames)`` float32.

    Example
    -------
    >>> deltas(np.array([[0.0, 1.0, 2.0, 3.0, 4.0]], np.float32)).tolist()
    [[0.5, 0.800000011920929, 1.0, 0.800000011920929, 0.5]]
    """
    n = (win_length - 1) // 2
    frames = features.shape[1]
    padded = np.pad(features, ((0, 0), (n, n)), mode="edge")
    out = np.zeros_like(features)
    for k in range(-n, n + 1):
        out += np.float32(k) * padded[:, n + k : n + k + frames]
    return out / np.float32(n * (n + 1) * (2 * n + 1) / 3)


def frame_extractor(
    frame_features: str | None, ssl: Mapping[str, Any] | None = None
) -> OpenSmileLLD | OpenSmileLLDSet | Any:
    """The extractor of a recipe's ``frame_features`` setting.

    Arguments
    ---------
    frame_features : str or None
        None for the paper's 17 LLDs, an openSMILE set name, or ``"ssl"``.
    ssl : mapping, optional
        With ``"ssl"``: the front end's settings
        (:meth:`~speechbrain_drnsa.features.ssl.SSLSettings.record`); its
        module, and ``transformers``, are imported only then.

    Returns
    -------
    OpenSmileLLD, OpenSmileLLDSet, SSLFeatures or WaveformFrames
        The extractor (the waveform when the SSL model is fine-tuned).

    Example
    -------
    >>> type(frame_extractor(None)).__name__, frame_extractor("ComParE_2016").feature_set
    ('OpenSmileLLD', 'ComParE_2016')
    """
    if frame_features == "ssl":
        from speechbrain_drnsa.features.ssl import SSLFeatures, SSLSettings, WaveformFrames

        settings = SSLSettings.from_record(ssl or {})
        return SSLFeatures(settings) if settings.freeze else WaveformFrames()
    return OpenSmileLLD() if frame_features is None else OpenSmileLLDSet(frame_features)
