"""Audio files read window by window, so that an hour of speech never sits in memory.

A file up to one window long is one segment. A longer one is cut into
overlapping windows of ``window_s`` every ``hop_s`` seconds, the last one
aligned with the end of the file, each read on its own with
``soundfile.SoundFile.seek``/``read``: memory holds one window at a time,
whatever the file's length. Problems raise
:class:`~speechbrain_drnsa.errors.InputFileError` naming the file, with the
messages of :func:`~speechbrain_drnsa.features.audio.read_audio`.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from speechbrain_drnsa.features.audio import audio_info
from speechbrain_drnsa.errors import InputFileError

__all__ = [
    "FileFeatures", "FileResult", "Segment", "WindowResult", "open_audio", "read_spans",
    "read_windows", "window_bounds",
]


@dataclass
class Segment:
    """One window of a file.

    Arguments
    ---------
    start_s, end_s : float
        Its bounds in the file, in seconds.
    signal : numpy.ndarray
        ``(samples,)`` mono float32.
    sample_rate : int
        In Hz.
    """

    start_s: float
    end_s: float
    signal: np.ndarray
    sample_rate: int


def window_bounds(num_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Sample ranges of overlapping windows covering ``num_samples``; the last ends at the end.

    Arguments
    ---------
    num_samples : int
        Length of the signal.
    window : int
        Window length in samples.
    hop : int
        Hop between window starts in samples (at most ``window``).

    Returns
    -------
    list of (int, int)
        ``(start, end)`` pairs; one ``(0, num_samples)`` when the signal fits a window.

    Example
    -------
    >>> window_bounds(25, window=10, hop=5)
    [(0, 10), (5, 15), (10, 20), (15, 25)]
    >>> window_bounds(27, window=10, hop=5)
    [(0, 10), (5, 15), (10, 20), (15, 25), (17, 27)]
    >>> window_bounds(8, window=10, hop=5)
    [(0, 8)]
    """
    if not 0 < hop <= window:
        raise ValueError(f"hop must be in (0, window], got hop={hop}, window={window}")
    if num_samples <= window:
        return [(0, num_samples)]
    bounds = [(start, start + window) for start in range(0, num_samples - window + 1, hop)]
    if bounds[-1][1] < num_samples:
        bounds.append((num_samples - window, num_samples))
    return bounds


def read_windows(
    path: str | PathLike, window_s: float = 10.0, hop_s: float = 5.0
) -> Iterator[Segment]:
    """Yield a file's windows, each read from disk on its own.

    Arguments
    ---------
    path : str or PathLike
        An audio file libsndfile reads.
    window_s, hop_s : float
        Window length and hop in seconds.

    Yields
    ------
    Segment
        Mono windows in file order.

    Raises
    ------
    InputFileError
        For a folder, a missing, empty, unreadable or header-only file, or NaN
        or infinite samples.

    Example
    -------
    >>> import tempfile, numpy
    >>> path = f"{tempfile.mkdtemp()}/a.wav"
    >>> soundfile.write(path, numpy.zeros(25000), 1000)
    >>> [(s.start_s, s.end_s) for s in read_windows(path, window_s=10, hop_s=5)]
    [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 25.0)]
    """
    path = Path(path)
    with open_audio(path) as stream:
        rate = stream.samplerate
        window, hop = max(1, round(window_s * rate)), max(1, round(hop_s * rate))
        yield from _read(path, stream, window_bounds(stream.frames, window, hop))


def read_spans(path: str | PathLike, spans_s: Iterable[tuple[float, float]]) -> Iterator[Segment]:
    """Yield the given stretches of a file (start and end in seconds), each read on its own.

    Arguments
    ---------
    path : str or PathLike
        An audio file libsndfile reads.
    spans_s : iterable of (float, float)
        Start and end in seconds (clipped to the file).

    Yields
    ------
    Segment
        Mono stretches, in the given order.

    Example
    -------
    >>> import tempfile, numpy
    >>> path = f"{tempfile.mkdtemp()}/a.wav"
    >>> soundfile.write(path, numpy.zeros(25000), 1000)
    >>> [(s.start_s, s.end_s) for s in read_spans(path, [(1.5, 3.0), (24.0, 26.0)])]
    [(1.5, 3.0), (24.0, 25.0)]
    """
    path = Path(path)
    with open_audio(path) as stream:
        rate = stream.samplerate
        bounds = [(round(start * rate), min(stream.frames, round(end * rate)))
                  for start, end in spans_s]
        yield from _read(path, stream, bounds)


def _read(
    path: Path, stream: soundfile.SoundFile, bounds: Iterable[tuple[int, int]]
) -> Iterator[Segment]:
    rate = stream.samplerate
    for start, end in bounds:
        stream.seek(start)
        samples = stream.read(end - start, dtype="float32", always_2d=True)
        if samples.shape[0] == 0:
            raise InputFileError(path, f"truncated: no samples after {start / rate:.2f} s")
        if not np.isfinite(samples).all():
            raise InputFileError(path, "contains NaN or infinite samples")
        mono = samples.mean(axis=1, dtype=np.float32)
        yield Segment(start / rate, (start + samples.shape[0]) / rate, mono, rate)


def open_audio(path: str | PathLike) -> soundfile.SoundFile:
    """Open an audio file after :func:`~speechbrain_drnsa.features.audio.audio_info`'s checks.

    Arguments
    ---------
    path : str or PathLike
        The audio file.

    Returns
    -------
    soundfile.SoundFile
        Open for reading (use it as a context manager).
    """
    path = Path(path)
    audio_info(path)  # the header checks of read_audio, truncation included
    try:
        return soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise InputFileError(path, f"not a readable audio file ({err})") from None


@dataclass
class FileFeatures:
    """A file's features window by window: ``(start_s, end_s, llds, functionals)`` each.

    ``llds`` is a ``(frames, features)`` float32 array; ``functionals`` is a
    fusion model's ``[(1, size)]`` tensors, or None. ``peak`` is the file's largest absolute sample,
    ``sample_rate`` the file's own rate.
    """

    path: str
    windows: list[tuple[float, float, np.ndarray, list[Any] | None]]
    peak: float
    sample_rate: int | None


@dataclass
class WindowResult:
    """The classification of one window of a file (start and end in seconds)."""

    start_s: float
    end_s: float
    label: str
    score: float
    probabilities: list[float]


@dataclass
class FileResult:
    """A file's classification: the mean of its windows' probabilities, and each window's.

    A file without speech (speech segments found none) has no label, score or
    probabilities (None, None, []), and a warning saying so.
    """

    path: str
    label: str | None
    score: float | None
    probabilities: list[float]
    windows: list[WindowResult]
    warnings: list[str] = field(default_factory=list)
