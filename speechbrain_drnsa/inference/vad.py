"""Speech segments of a recording by Silero VAD, shaped to lengths the model classifies well.

Silero VAD (the ``vad`` extra: ``pip install silero-vad``; its weights ship in
the package, no download) gives a speech probability every 32 ms. Its ONNX
form runs here, with one ONNX Runtime thread: 145 times faster than real time
against 83 times for its TorchScript form, at the same memory
(``benchmarks/bench_vad.py``; docs/inference.md). The ``silero_vad`` package
imports torch as it loads, so only its model file is taken from it
(:func:`load_vad` finds the file without importing the package) and
:class:`SileroVad` runs it as Silero's ``OnnxWrapper`` does, on numpy frames:
speech segments cost no torch import. :func:`speech_spans` is Silero's
``get_speech_timestamps_from_probs`` with its default settings, for the same
reason. The file is read in blocks of :data:`BLOCK_S` seconds, resampled to
16 kHz by one libsoxr stream (the package's resampler,
:mod:`~speechbrain_drnsa.features.resample`), so an hour never sits in
memory; only the probabilities (110 000 floats an hour) do.

:func:`shape_segments` then merges speech separated by short pauses, splits
long stretches and widens very short ones (:class:`SegmentLengths`).
"""

import importlib.util
import itertools
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import soxr

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.resample import QUALITY
from speechbrain_drnsa.inference.windows import open_audio

__all__ = [
    "BLOCK_S", "SegmentLengths", "SileroVad", "load_vad", "shape_segments", "speech_segments",
    "speech_spans",
]

BLOCK_S = 30.0  # seconds read and resampled at a time
VAD_RATE = 16000
_FRAME = 512  # Silero's frame at 16 kHz (32 ms)
_CONTEXT = 64  # samples of the previous frame Silero's model sees before each frame
# get_speech_timestamps_from_probs's defaults, in 16 kHz samples
_MIN_SPEECH = VAD_RATE * 250 / 1000
_MIN_SILENCE = VAD_RATE * 100 / 1000
_SPEECH_PAD = VAD_RATE * 30 / 1000


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


class SileroVad:
    """Silero VAD's ONNX model on 512-sample 16 kHz frames, its state kept between calls.

    What ``silero_vad.utils_vad.OnnxWrapper`` does at 16 kHz (the previous
    frame's last 64 samples before each frame, the recurrent state carried
    over), on numpy arrays, with one ONNX Runtime thread.

    Arguments
    ---------
    path : str or PathLike
        Silero's ``silero_vad.onnx``.
    """

    def __init__(self, path: str | PathLike):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(VAD_RATE, dtype=np.int64)
        self.reset_states()

    def reset_states(self) -> None:
        """Forget the audio seen so far (call before each file)."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        """The speech probability of the next ``(512,)`` float32 frame."""
        x = np.concatenate([self._context, frame.reshape(1, _FRAME)], axis=1)
        out, self._state = self.session.run(
            None, {"input": x, "state": self._state, "sr": self._rate}
        )
        self._context = x[:, -_CONTEXT:]
        return float(out[0, 0])


def load_vad() -> SileroVad:
    """Silero VAD's ONNX model from the installed ``silero_vad`` package (the ``vad`` extra).

    The package is located, not imported: importing it imports torch.

    Returns
    -------
    SileroVad
        Ready for :func:`speech_segments`.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("speech segments need Silero VAD: pip install 'speechbrain-drnsa[vad]'")
    path = Path(spec.submodule_search_locations[0]) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise ImportError(f"the installed silero-vad has no {path.name} (expected at {path}): "
                          "pip install -U 'speechbrain-drnsa[vad]'")
    return SileroVad(path)


def speech_segments(
    path: str | PathLike, vad: SileroVad, lengths: SegmentLengths = SegmentLengths()
) -> tuple[list[tuple[float, float]], float]:
    """A file's speech segments, read block by block.

    Arguments
    ---------
    path : str or PathLike
        An audio file (any rate, any channels).
    vad : SileroVad
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
    probs, samples, duration_s = _speech_probabilities(Path(path), vad)
    spans = speech_spans(probs, lengths.threshold, samples)
    found = [(start / VAD_RATE, end / VAD_RATE) for start, end in spans]
    return shape_segments(found, lengths, duration_s), duration_s


def speech_spans(
    probs: list[float], threshold: float, num_samples: int
) -> list[tuple[int, int]]:
    """Speech from frame probabilities: Silero's ``get_speech_timestamps_from_probs``, defaults.

    Its state machine with its default settings (speech of at least 250 ms,
    silences of at least 100 ms end it, 30 ms of padding, no longest length)
    and ``neg_threshold = max(threshold - 0.15, 0.01)``; the package's own
    function lives in a module that imports torch.

    Arguments
    ---------
    probs : list of float
        The speech probability of each 512-sample frame at 16 kHz.
    threshold : float
        Speech starts at a probability of at least this.
    num_samples : int
        The signal's length at 16 kHz.

    Returns
    -------
    list of (int, int)
        Start and end of each stretch of speech, in 16 kHz samples.

    Example
    -------
    >>> speech_spans([0.1] * 10 + [0.9] * 20 + [0.1] * 10, 0.5, 40 * 512)
    [(4640, 15840)]
    """
    negative = max(threshold - 0.15, 0.01)
    spans: list[list[float]] = []
    start, silence_from = None, 0
    for index, prob in enumerate(probs):
        sample = _FRAME * index
        if prob >= threshold:
            silence_from = 0
            if start is None:
                start = sample
                continue
        if prob < negative and start is not None:
            silence_from = silence_from or sample
            if sample - silence_from < _MIN_SILENCE:
                continue
            if silence_from - start > _MIN_SPEECH:
                spans.append([start, silence_from])
            start, silence_from = None, 0
    if start is not None and num_samples - start > _MIN_SPEECH:
        spans.append([start, num_samples])
    for index, span in enumerate(spans):  # padding, halved where the next speech is close
        if index == 0:
            span[0] = int(max(0, span[0] - _SPEECH_PAD))
        if index == len(spans) - 1:
            span[1] = int(min(num_samples, span[1] + _SPEECH_PAD))
            continue
        following = spans[index + 1]
        gap = following[0] - span[1]
        if gap < 2 * _SPEECH_PAD:
            span[1] += int(gap // 2)
            following[0] = int(max(0, following[0] - gap // 2))
        else:
            span[1] = int(min(num_samples, span[1] + _SPEECH_PAD))
            following[0] = int(max(0, following[0] - _SPEECH_PAD))
    return [(int(start), int(end)) for start, end in spans]


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


def _speech_probabilities(path: Path, vad: SileroVad) -> tuple[list[float], int, float]:
    """Silero's speech probability of every 32 ms frame, the 16 kHz length and the duration."""
    probs: list[float] = []
    pending = np.zeros(0, dtype=np.float32)
    vad.reset_states()
    with open_audio(path) as stream:
        rate, total = stream.samplerate, stream.frames
        resampler = (soxr.ResampleStream(rate, VAD_RATE, 1, dtype="float32", quality=QUALITY)
                     if rate != VAD_RATE else None)
        blocks = stream.blocks(blocksize=max(1, round(BLOCK_S * rate)), dtype="float32",
                               always_2d=True)
        for block in itertools.chain(blocks, [None]):  # None: the end, the resampler's last
            if block is not None and not np.isfinite(block).all():
                raise InputFileError(path, "contains NaN or infinite samples")
            mono = (block.mean(axis=1, dtype=np.float32) if block is not None
                    else np.zeros(0, dtype=np.float32))
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=block is None)
            pending = np.concatenate([pending, mono])
            usable = pending.size // _FRAME * _FRAME
            probs += [vad(frame) for frame in pending[:usable].reshape(-1, _FRAME)]
            pending = pending[usable:]
    if pending.size:
        probs.append(vad(np.pad(pending, (0, _FRAME - pending.size))))
    return probs, round(total * VAD_RATE / rate), total / rate
