"""An emotion timeline of a recording: its waveform, speech segments and class probabilities.

:func:`make_timeline` classifies a file's speech segments (Silero VAD, when
the ``vad`` extra is installed) or else its windows, and draws the waveform
as a min/max envelope of :data:`ENVELOPE_POINTS` points read block by block,
so one hour costs what 5 s cost. :func:`draw_timeline` draws it with
matplotlib's object API on an Agg canvas; :func:`write_timeline_data` writes
the same numbers as JSON or CSV.
"""

import csv
import importlib.util
import io
import json
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.vad import SegmentLengths
from speechbrain_drnsa.inference.windows import FileResult, open_audio
from speechbrain_drnsa.io import write_bytes_atomic

__all__ = [
    "ENVELOPE_POINTS", "Timeline", "binned_probabilities", "draw_timeline", "make_timeline",
    "timeline_rows", "waveform_envelope", "write_timeline_data",
]

ENVELOPE_POINTS = 4000  # about the figure's width in pixels, several times over
_MAX_TEXT_LABELS = 30  # more segments than this: colours only, their names overlap
_PROBABILITY_BINS = 800  # columns of the probability panel, about one per pixel


@dataclass
class Timeline:
    """What the figure shows.

    Arguments
    ---------
    result : FileResult
        The file's classification; ``windows`` are the segments or windows.
    source : str
        ``"speech segments"`` or ``"windows"``.
    labels : list of str
        Class names, in probability order.
    duration_s : float
        The file's length.
    envelope : numpy.ndarray
        ``(points, 3)``: time, minimum and maximum of the samples around it.
    """

    result: FileResult
    source: str
    labels: list[str]
    duration_s: float
    envelope: np.ndarray


def make_timeline(
    recognizer: EmotionRecognizer,
    path: str | PathLike,
    speaker: str | None = None,
    vad: bool | None = None,
    lengths: SegmentLengths = SegmentLengths(),
) -> Timeline:
    """Classify a file for its timeline.

    Arguments
    ---------
    recognizer : EmotionRecognizer
        The model.
    path : str or PathLike
        The audio file.
    speaker : str, optional
        An enrolled speaker.
    vad : bool, optional
        Speech segments (True) or windows (False); None: segments when Silero
        VAD is installed.
    lengths : SegmentLengths
        Segment rules (speech segments only).

    Returns
    -------
    Timeline
        Ready for :func:`draw_timeline` and :func:`write_timeline_data`.
    """
    if vad is None:
        vad = importlib.util.find_spec("silero_vad") is not None
    if vad:
        result, source = recognizer.classify_segments(path, speaker, lengths), "speech segments"
    else:
        result, source = recognizer.classify_windows(path, speaker), "windows"
    envelope = waveform_envelope(path)
    return Timeline(result, source, list(recognizer.labels), float(envelope[-1, 0]), envelope)


def waveform_envelope(path: str | PathLike, points: int = ENVELOPE_POINTS) -> np.ndarray:
    """Minimum and maximum of a file's samples in ``points`` equal stretches, read in blocks.

    Arguments
    ---------
    path : str or PathLike
        The audio file (channels averaged).
    points : int
        Stretches (fewer when the file has fewer samples).

    Returns
    -------
    numpy.ndarray
        ``(stretches + 1, 3)``: start time, minimum, maximum; the last row is
        the file's end (minimum and maximum repeated).

    Example
    -------
    >>> import tempfile, soundfile
    >>> path = f"{tempfile.mkdtemp()}/a.wav"
    >>> soundfile.write(path, np.array([0.0, 0.5, -0.5, 0.25]), 4)
    >>> waveform_envelope(path, points=2).tolist()
    [[0.0, 0.0, 0.5], [0.5, -0.5, 0.25], [1.0, -0.5, 0.25]]
    """
    with open_audio(path) as stream:
        rate, step = stream.samplerate, max(1, math.ceil(stream.frames / points))
        rows = []
        for index, block in enumerate(stream.blocks(blocksize=step, always_2d=True)):
            mono = block.mean(axis=1)
            rows.append((index * step / rate, mono.min(), mono.max()))
        rows.append((stream.frames / rate, *rows[-1][1:]))
    return np.array(rows)


def timeline_rows(timeline: Timeline) -> list[dict[str, float | str]]:
    """One row per segment (or window): start, end, label, confidence, each class's probability.

    Arguments
    ---------
    timeline : Timeline
        From :func:`make_timeline`.

    Returns
    -------
    list of dict
        Keys ``start_s``, ``end_s``, ``label``, ``confidence`` and ``p_<class>``.
    """
    return [
        {"start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3), "label": w.label,
         "confidence": round(w.score, 4),
         **{f"p_{name}": round(p, 4) for name, p in zip(timeline.labels, w.probabilities)}}
        for w in timeline.result.windows
    ]


def write_timeline_data(timeline: Timeline, out: str | PathLike) -> Path:
    """Write the timeline's numbers: ``.json`` (file summary and rows) or ``.csv`` (rows).

    Arguments
    ---------
    timeline : Timeline
        From :func:`make_timeline`.
    out : str or PathLike
        A ``.json`` or ``.csv`` file.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out, rows, result = Path(out), timeline_rows(timeline), timeline.result
    if out.suffix == ".csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=[
            "start_s", "end_s", "label", "confidence", *(f"p_{c}" for c in timeline.labels)
        ])
        writer.writeheader()
        writer.writerows(rows)
        return write_bytes_atomic(text.getvalue().encode(), out)
    if out.suffix != ".json":
        raise ValueError(f"{out}: timeline data is written as .json or .csv")
    summary = {
        "file": result.path, "duration_s": timeline.duration_s, "source": timeline.source,
        "label": result.label, "confidence": result.score,
        "probabilities": dict(zip(timeline.labels, result.probabilities)) or None,
        "segments": rows, "warnings": result.warnings,
    }
    return write_bytes_atomic((json.dumps(summary, indent=1) + "\n").encode(), out)


def draw_timeline(timeline: Timeline, out: str | PathLike) -> Path:
    """Draw the waveform, the segments' labels and each class's probability on one time axis.

    Arguments
    ---------
    timeline : Timeline
        From :func:`make_timeline`.
    out : str or PathLike
        The image file (format from its suffix).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    figure = Figure(figsize=(12, 6), layout="constrained")
    wave, strip, probs = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2, 0.5, 2.5]}
    )
    colours = {name: f"C{index % 10}" for index, name in enumerate(timeline.labels)}
    _waveform(wave, timeline)
    _segment_strip(strip, timeline, colours)
    _probabilities(probs, timeline, colours)
    probs.set_xlim(0, timeline.duration_s)
    if timeline.duration_s >= 120:  # minutes and hours read better than thousands of seconds
        minutes = next(m for m in (1, 2, 5, 10, 15, 30, 60, 120, 240)
                       if timeline.duration_s / (60 * m) <= 12)
        probs.xaxis.set_major_locator(MultipleLocator(60 * minutes))
        probs.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: _clock(seconds)))
        probs.set_xlabel("time (h:mm:ss)" if timeline.duration_s >= 3600 else "time (m:ss)")
    else:
        probs.set_xlabel("time (s)")
    stream = io.BytesIO()
    FigureCanvasAgg(figure).print_figure(stream, format=out.suffix.lstrip(".") or "png", dpi=100)
    return write_bytes_atomic(stream.getvalue(), out)


def _waveform(axis, timeline: Timeline) -> None:
    times, low, high = timeline.envelope.T
    axis.fill_between(times, low, high, step="post", lw=0.3, color="0.35")
    segments = timeline.source == "speech segments"
    for window in timeline.result.windows if segments else []:  # windows cover everything
        axis.axvspan(window.start_s, window.end_s, color="C0", alpha=0.12, lw=0)
    result = timeline.result
    mean = "duration-weighted mean of the segments" if segments else "mean of the windows"
    summary = ("no speech found" if result.label is None
               else f"{result.label} ({result.score:.2f}, {mean})")
    axis.set_title(
        f"{Path(result.path).name}, {_clock(timeline.duration_s)}: {summary}; "
        f"{len(result.windows)} {timeline.source}{' shaded' if segments else ''}", fontsize=10,
    )
    axis.set_ylabel("waveform")


def _segment_strip(axis, timeline: Timeline, colours: dict[str, str]) -> None:
    windows = timeline.result.windows
    overlapping = timeline.source == "windows"
    for row, window in enumerate(windows):
        level = row % 2 if overlapping else 0  # overlapping windows on alternate rows
        axis.broken_barh([(window.start_s, window.end_s - window.start_s)], (level, 0.9),
                         color=colours[window.label], lw=0)
        if len(windows) <= _MAX_TEXT_LABELS:
            axis.text((window.start_s + window.end_s) / 2, level + 0.45, window.label,
                      ha="center", va="center", fontsize=8)
    axis.set_ylim(0, 1.9 if overlapping else 0.9)
    axis.set_yticks([])
    axis.set_ylabel("label", rotation=0, ha="right", va="center")


def _probabilities(axis, timeline: Timeline, colours: dict[str, str]) -> None:
    edges = np.linspace(0, timeline.duration_s, _PROBABILITY_BINS + 1)
    probs = binned_probabilities(timeline.result.windows, edges, len(timeline.labels))
    low = np.zeros(len(edges) - 1)
    for index, name in enumerate(timeline.labels):  # stacked: each class's share of 1
        high = low + probs[:, index]
        axis.fill_between(edges, np.append(low, low[-1]), np.append(high, high[-1]),
                          step="post", color=colours[name], lw=0, label=name)
        low = high
    axis.set_ylim(0, 1)
    axis.set_ylabel("probability (stacked)")
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


def binned_probabilities(windows: list, edges: np.ndarray, classes: int) -> np.ndarray:
    """Each bin's class probabilities: the mean of the segments it overlaps, weighted by overlap.

    Arguments
    ---------
    windows : list of WindowResult
        Segments or windows (may overlap).
    edges : numpy.ndarray
        ``(bins + 1,)`` bin edges in seconds.
    classes : int
        Number of classes (a file without speech has no segments to count them from).

    Returns
    -------
    numpy.ndarray
        ``(bins, classes)``; NaN in bins no segment reaches (pauses).

    Example
    -------
    >>> from speechbrain_drnsa.inference.windows import WindowResult
    >>> segments = [WindowResult(0.0, 1.0, "a", 0.8, [0.8, 0.2]),
    ...             WindowResult(1.5, 2.0, "b", 0.6, [0.4, 0.6])]
    >>> binned_probabilities(segments, np.array([0.0, 1.0, 2.0, 3.0]), 2).round(2).tolist()
    [[0.8, 0.2], [0.4, 0.6], [nan, nan]]
    >>> binned_probabilities([], np.array([0.0, 1.0]), 2).tolist()  # no speech
    [[nan, nan]]
    """
    total, weight = np.zeros((len(edges) - 1, classes)), np.zeros(len(edges) - 1)
    for window in windows:
        overlap = np.clip(np.minimum(edges[1:], window.end_s)
                          - np.maximum(edges[:-1], window.start_s), 0, None)
        total += overlap[:, None] * np.asarray(window.probabilities)
        weight += overlap
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight[:, None] > 0, total / weight[:, None], np.nan)


def _clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``.

    Example
    -------
    >>> _clock(75.4), _clock(3725)
    ('1:15', '1:02:05')
    """
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
