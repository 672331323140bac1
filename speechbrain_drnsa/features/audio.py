"""Reading audio files into mono float32 tensors, with errors that name the file.

Every format libsndfile reads is accepted (WAV with 8/16/24/32-bit integer or
float samples, FLAC, OGG, ...), at any sample rate. Multi-channel audio is
averaged to mono. Files that cannot be used (missing, 0 bytes, no samples, a
corrupt header, bytes that are not audio, NaN or infinite samples) raise
:class:`~speechbrain_drnsa.errors.InputFileError`, whose message starts with the
path.
"""

import functools
import logging
from os import PathLike
from pathlib import Path

import numpy as np
import soundfile
import torch

from speechbrain_drnsa.errors import InputFileError

__all__ = ["read_audio"]

logger = logging.getLogger(__name__)


def read_audio(path: str | PathLike) -> tuple[torch.Tensor, int]:
    """Read an audio file as a mono float32 signal in [-1, 1].

    Arguments
    ---------
    path : str or PathLike
        The audio file.

    Returns
    -------
    signal : torch.Tensor
        ``(samples,)`` float32; channels are averaged (logged once per
        process and channel count).
    sample_rate : int
        The file's sample rate in Hz.

    Raises
    ------
    InputFileError
        If the file is missing, empty, not audio, corrupt, or holds NaN or
        infinite samples.

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> path = f"{tempfile.mkdtemp()}/stereo.wav"
    >>> soundfile.write(path, numpy.zeros((800, 2)), 8000, subtype="PCM_24")
    >>> signal, sample_rate = read_audio(path)
    >>> signal.shape, signal.dtype, sample_rate
    (torch.Size([800]), torch.float32, 8000)
    >>> open(path, "wb").close()
    >>> read_audio(path)
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../stereo.wav: empty file (0 bytes)
    """
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, expected an audio file" if path.is_dir() else "file not found"
        raise InputFileError(path, problem)
    if path.stat().st_size == 0:
        raise InputFileError(path, "empty file (0 bytes)")
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise InputFileError(path, f"not a readable audio file ({err})") from None
    if samples.shape[0] == 0:
        raise InputFileError(path, "no audio samples (header only)")
    # numpy, not torch, for these checks: see OpenSmileLLD (torch threads under load).
    if not np.isfinite(samples).all():
        raise InputFileError(path, "contains NaN or infinite samples")
    if samples.shape[1] > 1:
        _log_once(f"averaging {samples.shape[1]}-channel audio to mono")
    return torch.from_numpy(samples.mean(axis=1, dtype=np.float32)), int(sample_rate)


@functools.lru_cache(maxsize=None)
def _log_once(message: str) -> None:
    """Log a conversion once per process, not once per file."""
    logger.info("%s (logged once)", message)
