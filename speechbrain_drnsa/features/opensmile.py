"""The 17 openSMILE low-level descriptors of Li et al. (ICASSP 2019), per 10 ms frame.

"Dilated Residual Network with Multi-head Self-attention for Speech Emotion
Recognition" feeds its encoder 12 MFCCs, log energy, voicing probability,
harmonics-to-noise ratio, log F0 and zero-crossing rate from openSMILE, over
40 ms Hamming windows every 10 ms. :class:`OpenSmileLLD` runs the package's
``drnsa_lld.conf`` through the ``opensmile`` Python package; docs/features.md
says which component computes each column.
"""

import hashlib
import re
from importlib.metadata import version
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from speechbrain_drnsa.features.audio import _log_once, read_audio
from speechbrain_drnsa.features.resample import RESAMPLER, resample, resampled_length

if TYPE_CHECKING:  # tensors are made on return: extract_array imports no torch
    import torch

__all__ = ["FEATURE_NAMES", "OpenSmileLLD", "skip_distribution_scan", "smile_input"]

#: Column names of the features, in order.
FEATURE_NAMES = (
    *(f"mfcc{i}" for i in range(1, 13)),
    "logEnergy",
    "voiceProb",
    "HNRdB",
    "logF0",
    "zcr",
)

_CONFIG = Path(__file__).with_name("drnsa_lld.conf")
_LEVEL = "drnsa_lld"
# Frames handed to Python per callback: fewer calls, same values (a 25% speed-up).
_SINK_OPTIONS = {"blockSize": 100}
# opensmile turns floats into int16 by multiplying by 32768: 1.0 would wrap around.
_INT16_MAX = 32767 / 32768


class OpenSmileLLD:
    """Extract the 17 low-level descriptors of DRN-MHSA from audio.

    The signal is averaged to mono, resampled to 16 kHz with
    :func:`~speechbrain_drnsa.features.resample.resample` and clipped to the 16-bit range
    openSMILE reads. Frame ``i`` covers 16 kHz samples ``[160 i, 160 i + 640)``
    (see :meth:`num_frames`); a signal shorter than one window is padded with
    zeros to one window, so it gives one frame.

    The openSMILE object is built on first use and not pickled, so an
    extractor can be sent to worker processes.

    Arguments
    ---------
    config : str or PathLike, optional
        An openSMILE configuration with the same sink level and columns;
        defaults to the packaged ``drnsa_lld.conf``.

    Example
    -------
    >>> import torch
    >>> lld = OpenSmileLLD()
    >>> feats = lld.extract(0.1 * torch.randn(8000), sample_rate=8000)
    >>> feats.shape, feats.dtype
    (torch.Size([97, 17]), torch.float32)
    >>> lld.num_frames(8000, sample_rate=8000)
    97
    >>> lld.feature_names[12:]
    ('logEnergy', 'voiceProb', 'HNRdB', 'logF0', 'zcr')
    """

    #: Sample rate openSMILE runs at, in Hz.
    sample_rate = 16000
    #: Analysis window in samples at 16 kHz (40 ms).
    window = 640
    #: Hop between frames in samples at 16 kHz (10 ms).
    hop = 160

    def __init__(self, config: str | PathLike | None = None):
        self.config = Path(config) if config is not None else _CONFIG
        self._smile = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The 17 column names, in order."""
        return FEATURE_NAMES

    @property
    def config_hash(self) -> str:
        """SHA-256 of what decides the values: config text, level, rate, resampler, opensmile.

        Example
        -------
        >>> len(OpenSmileLLD().config_hash)
        64
        """
        digest = hashlib.sha256(_without_buffer_settings(self.config.read_bytes()))
        digest.update(
            f"{_LEVEL}|{self.sample_rate}|{RESAMPLER}|opensmile {version('opensmile')}".encode()
        )
        return digest.hexdigest()

    def num_frames(self, num_samples: int, sample_rate: int = 16000) -> int:
        """Number of frames :meth:`extract` returns for a signal of ``num_samples``.

        ``n`` is the length at 16 kHz (``num_samples`` itself at 16 kHz,
        otherwise the length the resampler returns, ``num_samples * 16000 /
        sample_rate`` rounded half up), and
        ``frames = 1 + (max(n, 640) - 640) // 160``: full 40 ms windows every
        10 ms from sample 0, and one frame for a signal shorter than a window.

        Arguments
        ---------
        num_samples : int
            Length of the signal, at least 1.
        sample_rate : int
            Its sample rate in Hz.

        Returns
        -------
        int
            The frame count.

        Example
        -------
        >>> lld = OpenSmileLLD()
        >>> lld.num_frames(48000), lld.num_frames(100), lld.num_frames(132300, 44100)
        (297, 1, 297)
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        num_samples = resampled_length(num_samples, sample_rate, self.sample_rate)
        return 1 + (max(num_samples, self.window) - self.window) // self.hop

    def extract(self, signal: Any, sample_rate: int) -> "torch.Tensor":
        """Compute the 17 descriptors of every frame of a signal.

        Arguments
        ---------
        signal : torch.Tensor or numpy.ndarray
            ``(samples,)`` or ``(channels, samples)`` floats in [-1, 1];
            channels are averaged.
        sample_rate : int
            Sample rate of ``signal`` in Hz; resampled to 16 kHz if different.

        Returns
        -------
        torch.Tensor
            ``(frames, 17)`` float32, ``frames = self.num_frames(samples,
            sample_rate)``.

        Raises
        ------
        ValueError
            For an empty signal, NaN or infinite samples, more than two
            dimensions or a sample rate that is not a positive integer.

        Example
        -------
        >>> import torch
        >>> feats = OpenSmileLLD().extract(torch.zeros(2, 16000), 16000)
        >>> feats.shape, bool(feats.isfinite().all()), float(feats[:, 15].abs().max())
        (torch.Size([97, 17]), True, 0.0)
        """
        import torch

        return torch.from_numpy(self.extract_array(signal, sample_rate))

    def extract_array(self, signal: Any, sample_rate: int) -> np.ndarray:
        """:meth:`extract` as a numpy array, the same values, importing no torch for numpy input.

        Example
        -------
        >>> OpenSmileLLD().extract_array(np.zeros(16000, np.float32), 16000).shape
        (97, 17)
        """
        samples = smile_input(signal, sample_rate, min_samples=self.window)
        feats = self._get_smile()(samples, self.sample_rate)[0].T
        return np.ascontiguousarray(feats, dtype=np.float32)

    def extract_file(self, path: str | PathLike) -> "torch.Tensor":
        """Read an audio file with :func:`~speechbrain_drnsa.features.audio.read_audio`, extract.

        Arguments
        ---------
        path : str or PathLike
            Any audio file libsndfile reads, at any sample rate.

        Returns
        -------
        torch.Tensor
            ``(frames, 17)`` float32.

        Raises
        ------
        InputFileError
            If the file cannot be read as audio.

        Example
        -------
        >>> import tempfile, numpy, soundfile
        >>> path = f"{tempfile.mkdtemp()}/a.wav"
        >>> soundfile.write(path, numpy.zeros(441), 44100)  # 10 ms: one padded frame
        >>> OpenSmileLLD().extract_file(path).shape
        torch.Size([1, 17])
        """
        signal, sample_rate = read_audio(path)
        return self.extract(signal, sample_rate)

    def __getstate__(self) -> dict[str, Any]:
        # The openSMILE object wraps a C library handle: rebuild it in the new process.
        return {**self.__dict__, "_smile": None}

    def _get_smile(self) -> Any:
        """Build the ``opensmile.Smile`` object on first use."""
        if self._smile is None:
            import opensmile

            skip_distribution_scan()
            smile = opensmile.Smile(
                feature_set=str(self.config), feature_level=_LEVEL, options=_SINK_OPTIONS
            )
            if tuple(smile.feature_names) != FEATURE_NAMES:
                raise ValueError(
                    f"{self.config}: level {_LEVEL!r} has columns {smile.feature_names}, "
                    f"expected {list(FEATURE_NAMES)}"
                )
            self._smile = smile
        return self._smile


def smile_input(signal: Any, sample_rate: int, min_samples: int) -> np.ndarray:
    """A signal as openSMILE reads it: mono, 16 kHz, zero-padded to ``min_samples``, clipped.

    Arguments
    ---------
    signal : torch.Tensor or numpy.ndarray
        ``(samples,)`` or ``(channels, samples)`` floats in [-1, 1]; channels are averaged.
    sample_rate : int
        Its sample rate in Hz; resampled to 16 kHz if different.
    min_samples : int
        Shorter signals are padded with zeros to this length (one analysis window).

    Returns
    -------
    numpy.ndarray
        ``(samples,)`` float32 at 16 kHz, in openSMILE's 16-bit range.

    Raises
    ------
    ValueError
        For an empty signal, NaN or infinite samples, more than two
        dimensions or a sample rate that is not a positive integer.

    Example
    -------
    >>> smile_input(np.ones((2, 8000), np.float32), 8000, min_samples=640).shape
    (16000,)
    """
    samples = _mono_float(signal)
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    sample_rate = int(sample_rate)
    if sample_rate != OpenSmileLLD.sample_rate:
        _log_once(f"resampling {sample_rate} Hz audio to {OpenSmileLLD.sample_rate} Hz")
        samples = resample(samples, sample_rate, OpenSmileLLD.sample_rate)
    if samples.size < min_samples:
        samples = np.pad(samples, (0, min_samples - samples.size))
    return np.clip(samples, -1.0, _INT16_MAX)


def skip_distribution_scan() -> None:
    """Spare the first ``opensmile.Smile`` audobject's scan of every installed distribution.

    audobject names the class of each object it builds after its distribution,
    found with ``importlib.metadata.packages_distributions()``, which reads the
    file list of every installed package (0.14 s of CPU here, among torch and
    its kin; a sixth of a cold ``classify --backend onnx``) unless its cache
    already holds the module. opensmile's distribution is opensmile: say so.
    """
    import audobject.core.utils

    cache = getattr(audobject.core.utils, "PACKAGES_DISTRIBUTIONS", None)
    if isinstance(cache, dict):
        cache.setdefault("opensmile", ["opensmile"])


def _without_buffer_settings(config: bytes) -> bytes:
    """Config text without its ``writer.levelconf.*`` lines, which size buffers, not values."""
    return re.sub(rb"(?m)^[ \t]*writer\.levelconf\.[^\n]*\n", b"", config)


def _mono_float(signal: Any) -> np.ndarray:
    """Check a ``(samples,)`` or ``(channels, samples)`` signal; average channels.

    numpy, not torch: torch's thread pool makes these tiny operations 100 times
    slower when other processes keep the cores busy.
    """
    if isinstance(signal, np.ndarray):
        samples = signal.astype(np.float32, copy=False)
    else:  # a tensor (perhaps on a GPU, perhaps with gradients) or a list
        import torch

        samples = torch.as_tensor(signal).detach().to("cpu", torch.float32).numpy()
    if samples.ndim == 2:
        if samples.shape[0] > 1:
            _log_once(f"averaging {samples.shape[0]}-channel audio to mono")
        samples = samples.mean(axis=0, dtype=np.float32)
    elif samples.ndim != 1:
        raise ValueError(
            f"signal must be (samples,) or (channels, samples), got shape {samples.shape}"
        )
    if samples.size == 0:
        raise ValueError("signal is empty")
    if not np.isfinite(samples).all():
        raise ValueError("signal contains NaN or infinite samples")
    return samples
