"""Speech segments of a recording by Silero VAD, shaped to lengths the model classifies well.

Silero VAD (the ``vad`` extra: ``pip install silero-vad``; its weights ship in
the package, no download) gives a speech probability every 32 ms. Its ONNX
form runs here, with one ONNX Runtime thread: 145 times faster than real time
against 83 times for its TorchScript form, at the same memory
(``benchmarks/bench_vad.py``; docs/inference.md). The file is read in
blocks of :data:`BLOCK_S` seconds, resampled to 16 kHz block by block, so an
hour never sits in memory; only the probabilities (110 000 floats an hour) do.

:func:`shape_segments` then merges speech separated by short pauses, splits
long stretches and widens very short ones (:class:`SegmentLengths`).
"""

import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.windows import open_audio

__all__ = ["BLOCK_S", "SegmentLengths", "load_vad", "shape_segments", "speech_segments"]

BLOCK_S = 30.0  # seconds read and resampled at a time
VAD_RATE = 16000
_FRAME = 512  # Silero's frame at 16 kHz (32 ms)


@dataclass(frozen=True)
class SegmentLengths:
    """How speech stretches become classified segments (seconds).

    Arguments
    ---------
    merge_gap_s : float
        Speech separated by a pause shorter than this is one segment (0.5 s:
        a breath or a comma inside a sentence, not a change of turn).
    min_s : float
        Shorter segments are widened to this length around their centre,
        within the file (1 s: below it the model sees a few frames only).
    max_s : float
        Longer segments are split into equal parts at most this long (10 s:
        the model's window, and emotion changes within a long turn).
    threshold : float
        Silero's speech probability threshold.
    """

    merge_gap_s: float = 0.5
    min_s: float = 1.0
    max_s: float = 10.0
    threshold: float = 0.5

    def __post_init__(self):
        if not 0 < self.min_s <= self.max_s or self.merge_gap_s < 0:
            raise ValueError(f"need 0 < min_s <= max_s and merge_gap_s >= 0, got {self}")


def load_vad() -> Any:
    """Silero VAD's ONNX model, imported only now (the ``vad`` extra).

    Returns
    -------
    silero_vad.utils_vad.OnnxWrapper
        Called on 512-sample 16 kHz frames; keeps its state between calls.
    """
    threads = torch.get_num_threads()
    try:
        import silero_vad
    except ImportError:
        raise ImportError(
            "speech segments need Silero VAD: pip install 'speechbrain-drnsa[vad]'"
        ) from None
    finally:
        torch.set_num_threads(threads)  # importing silero_vad sets torch to one thread
    return silero_vad.load_silero_vad(onnx=True)


def speech_segments(
    path: str | PathLike, vad: Any, lengths: SegmentLengths = SegmentLengths()
) -> tuple[list[tuple[float, float]], float]:
    """A file's speech segments, read block by block.

    Arguments
    ---------
    path : str or PathLike
        An audio file (any rate, any channels).
    vad : OnnxWrapper
        From :func:`load_vad`.
    lengths : SegmentLengths
        How segments are merged, split and widened.

    Returns
    -------
    segments : list of (float, float)
        Start and end in seconds, in file order; empty without speech.
    duration_s : float
        The file's length.
    """
    from silero_vad import get_speech_timestamps_from_probs

    probs, samples, duration_s = _speech_probabilities(Path(path), vad)
    spans = get_speech_timestamps_from_probs(
        probs, sampling_rate=VAD_RATE, threshold=lengths.threshold,
        audio_length_samples=samples,
    )
    found = [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in spans]
    return shape_segments(found, lengths, duration_s), duration_s


def shape_segments(
    spans: list[tuple[float, float]], lengths: SegmentLengths, duration_s: float
) -> list[tuple[float, float]]:
    """Merge spans across short pauses, split long ones, widen short ones.

    Arguments
    ---------
    spans : list of (float, float)
        Speech spans in seconds, in order.
    lengths : SegmentLengths
        The rules.
    duration_s : float
        The file's length (widened segments stay inside it).

    Returns
    -------
    list of (float, float)
        The segments.

    Example
    -------
    >>> rules = SegmentLengths(merge_gap_s=0.3, min_s=1.0, max_s=10.0)
    >>> shape_segments([(0.0, 2.0), (2.2, 3.0), (5.0, 5.4), (8.0, 30.0)], rules, 30.0)
    [(0.0, 3.0), (4.7, 5.7), (8.0, 15.333...), (15.333..., 22.666...), (22.666..., 30.0)]
    """
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < lengths.merge_gap_s:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    shaped = []
    for start, end in merged:
        parts = math.ceil((end - start) / lengths.max_s - 1e-9)
        if parts > 1:
            edges = np.linspace(start, end, parts + 1).tolist()
            shaped += list(zip(edges[:-1], edges[1:]))
        elif end - start < lengths.min_s:
            centre = (start + end) / 2
            low = min(max(0.0, centre - lengths.min_s / 2), max(0.0, duration_s - lengths.min_s))
            shaped.append((round(low, 6), round(min(duration_s, low + lengths.min_s), 6)))
        else:
            shaped.append((start, end))
    return shaped


def _speech_probabilities(path: Path, vad: Any) -> tuple[list[float], int, float]:
    """Silero's speech probability of every 32 ms frame, the 16 kHz length and the duration."""
    probs: list[float] = []
    pending = torch.zeros(0)
    vad.reset_states()
    with open_audio(path) as stream:
        rate, total = stream.samplerate, stream.frames
        for block in stream.blocks(blocksize=max(1, round(BLOCK_S * rate)), dtype="float32",
                                   always_2d=True):
            if not np.isfinite(block).all():
                raise InputFileError(path, "contains NaN or infinite samples")
            mono = torch.from_numpy(block.mean(axis=1, dtype=np.float32))
            if rate != VAD_RATE:
                mono = torchaudio.functional.resample(mono, rate, VAD_RATE)
            pending = torch.cat([pending, mono])
            usable = pending.numel() // _FRAME * _FRAME
            probs += _frames(vad, pending[:usable])
            pending = pending[usable:]
    if pending.numel():
        probs += _frames(vad, torch.nn.functional.pad(pending, (0, _FRAME - pending.numel())))
    return probs, round(total * VAD_RATE / rate), total / rate


def _frames(vad: Any, signal: torch.Tensor) -> list[float]:
    return [float(vad(frame, VAD_RATE)) for frame in signal.split(_FRAME)]
