"""Reading audio files into mono float32 tensors, with errors that name the file.

Every format libsndfile reads is accepted (WAV with 8/16/24/32-bit integer or
float samples, FLAC, OGG, MP3, ...), at any sample rate. Multi-channel audio is
averaged to mono. Files that cannot be used (missing, a folder, unreadable,
0 bytes, no samples, a corrupt or truncated file, bytes that are not audio,
NaN or infinite samples) raise :class:`~speechbrain_drnsa.errors.InputFileError`,
whose message starts with the path. :func:`audio_info` makes the checks that
need only the header and the file size, without reading the samples, for
data preparation of long files.
"""

import functools
import logging
import os
from os import PathLike
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
import soundfile

from speechbrain_drnsa.errors import InputFileError

if TYPE_CHECKING:  # imported when a tensor is returned: audio_info needs no torch
    import torch

__all__ = ["audio_info", "read_audio"]

logger = logging.getLogger(__name__)


def audio_info(path: str | PathLike) -> soundfile._SoundFileInfo:
    """Check that ``path`` is a complete, readable audio file and return its header.

    Reads the header and the last frame only, so it costs the same for a
    one-hour file as for a short one.

    Arguments
    ---------
    path : str or PathLike
        The audio file.

    Returns
    -------
    soundfile info
        ``frames``, ``samplerate``, ``channels``, ``format``, ``subtype``...

    Raises
    ------
    InputFileError
        If the file is missing, a folder, unreadable, empty, not audio,
        header only, truncated (its header promises more samples than it
        holds) or corrupt.

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> path = f"{tempfile.mkdtemp()}/a.wav"
    >>> soundfile.write(path, numpy.zeros(1600), 16000)
    >>> audio_info(path).frames
    1600
    >>> _ = open(path, "r+b").truncate(1000)
    >>> audio_info(path)
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../a.wav: truncated: its header announces 3200 ...
    """
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, expected an audio file" if path.is_dir() else "file not found"
        raise InputFileError(path, problem)
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise InputFileError(path, f"cannot read it ({err.strerror})") from None
    if path.stat().st_size == 0:
        raise InputFileError(path, "empty file (0 bytes)")
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise InputFileError(path, f"not a readable audio file ({err})") from None
    if info.frames <= 0:
        raise InputFileError(path, "no audio samples (header only)")
    sizes = _riff_data_sizes(path)
    # libsndfile silently shortens a truncated file, so compare with the header's promise.
    if sizes is not None and sizes[0] > sizes[1]:
        raise InputFileError(
            path, f"truncated: its header announces {sizes[0]} bytes of audio, "
            f"the file holds {sizes[1]}"
        )
    try:
        soundfile.read(path, start=info.frames - 1, frames=1)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise InputFileError(path, f"cannot read its last frame, corrupt ({err})") from None
    return info


def read_audio(path: str | PathLike) -> tuple["torch.Tensor", int]:
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
        If the file fails :func:`audio_info`'s checks, or holds NaN or
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
    import torch

    path = Path(path)
    audio_info(path)
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise InputFileError(path, f"not a readable audio file ({err})") from None
    # numpy, not torch, for these checks: see OpenSmileLLD (torch threads under load).
    if not np.isfinite(samples).all():
        raise InputFileError(path, "contains NaN or infinite samples")
    if samples.shape[1] > 1:
        _log_once(f"averaging {samples.shape[1]}-channel audio to mono")
    return torch.from_numpy(samples.mean(axis=1, dtype=np.float32)), int(sample_rate)


def _riff_data_sizes(path: Path) -> tuple[int, int] | None:
    """(bytes the ``data`` chunk announces, bytes present after it) of a RIFF/WAVE file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            declared = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                # 0 and 0xFFFFFFFF mark streams whose writer did not know the length.
                if declared in (0, 0xFFFFFFFF):
                    return None
                return declared, size - f.tell()
            f.seek(declared + (declared & 1), os.SEEK_CUR)


@functools.lru_cache(maxsize=None)
def _log_once(message: str) -> None:
    """Log a conversion once per process, not once per file."""
    logger.info("%s (logged once)", message)
