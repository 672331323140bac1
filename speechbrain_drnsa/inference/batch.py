"""Classify many files for the command line: every file reported, one failure never stops the rest.

:func:`classify_paths` expands folders into their audio files and yields a
result or a one-line reason for each; :func:`format_table` and
:func:`format_json_line` render them.
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from os import PathLike
from pathlib import Path

from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.vad import SegmentLengths
from speechbrain_drnsa.inference.windows import FileResult
from speechbrain_drnsa.inference.speakers import is_audio_name

__all__ = ["classify_paths", "expand_inputs", "format_json_line", "format_table_row"]


def expand_inputs(inputs: Iterable[str | PathLike]) -> list[Path]:
    """Files to classify: each file given, and the audio files under each folder given.

    Arguments
    ---------
    inputs : iterable of str or PathLike
        Files and folders.

    Returns
    -------
    list of pathlib.Path
        In the given order, folders' files sorted; a missing path, or a folder
        without audio files, is kept (it fails with its own reason).

    Example
    -------
    >>> expand_inputs(["a.wav", "missing/"])
    [PosixPath('a.wav'), PosixPath('missing')]
    """
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and is_audio_name(p))
            paths += files or [item]
        else:
            paths.append(item)
    return paths


def classify_paths(
    recognizer: EmotionRecognizer,
    paths: Sequence[Path],
    window_s: float | None = None,
    speaker: str | None = None,
    segments: SegmentLengths | None = None,
) -> Iterator[tuple[Path, FileResult | None, str | None]]:
    """Classify files one by one, turning any error into a one-line reason.

    Arguments
    ---------
    recognizer : EmotionRecognizer
        The model.
    paths : sequence of pathlib.Path
        Files (see :func:`expand_inputs`).
    window_s : float, optional
        Window length for long files (hop: half of it).
    speaker : str, optional
        An enrolled speaker, applied to every file.
    segments : SegmentLengths, optional
        Classify the speech segments Silero VAD finds instead of windows.

    Yields
    ------
    tuple
        ``(path, result, None)`` or ``(path, None, reason)``.
    """
    for path in paths:
        try:
            if segments is not None:
                yield path, recognizer.classify_segments(path, speaker, segments), None
                continue
            hop_s = window_s / 2 if window_s is not None else None
            yield path, recognizer.classify_windows(path, speaker, window_s, hop_s), None
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
            reason = str(err) if str(path) in str(err) else f"{path}: {err}"
            yield path, None, reason.replace("\n", " ")


def format_table_row(result: FileResult, labels: Sequence[str]) -> list[str]:
    """Table lines of a file: the aggregate, then each window when there are several.

    Arguments
    ---------
    result : FileResult
        A classified file.
    labels : sequence of str
        Class names, in probability order.

    Returns
    -------
    list of str
        Tab-separated lines: file, label, confidence, one probability per class.

    Example
    -------
    >>> from speechbrain_drnsa.inference.windows import WindowResult
    >>> window = WindowResult(0.0, 2.0, "ang", 0.7, [0.3, 0.7])
    >>> format_table_row(FileResult("a.wav", "ang", 0.7, [0.3, 0.7], [window]), ["neu", "ang"])
    ['a.wav\\tang\\t0.700\\t0.300\\t0.700']
    >>> format_table_row(FileResult("b.wav", None, None, [], []), ["neu", "ang"])
    ['b.wav\\t-\\t-\\t-\\t-']
    """
    def line(name: str, label: str | None, score: float | None, probs: Sequence[float]) -> str:
        if label is None:  # no speech: nothing to report
            return "\t".join([name, "-", "-", *("-" for _ in labels)])
        return "\t".join([name, label, f"{score:.3f}", *(f"{p:.3f}" for p in probs)])

    lines = [line(result.path, result.label, result.score, result.probabilities)]
    if len(result.windows) > 1:
        lines += [
            line(f"  {w.start_s:.2f}-{w.end_s:.2f} s", w.label, w.score, w.probabilities)
            for w in result.windows
        ]
    return lines


def format_json_line(result: FileResult, labels: Sequence[str]) -> str:
    """One JSON line of a file: label, confidence, probabilities by class, windows, warnings.

    Arguments
    ---------
    result : FileResult
        A classified file.
    labels : sequence of str
        Class names.

    Returns
    -------
    str
        A JSON object on one line.

    Example
    -------
    >>> from speechbrain_drnsa.inference.windows import WindowResult
    >>> window = WindowResult(0.0, 2.0, "ang", 0.75, [0.25, 0.75])
    >>> format_json_line(FileResult("a.wav", "ang", 0.75, [0.25, 0.75], [window]), ["neu", "ang"])
    '{"file": "a.wav", "label": "ang", "confidence": 0.75, "probabilities": {"neu": 0.25, ...'
    """
    def probs(values: Sequence[float]) -> dict[str, float] | None:
        return dict(zip(labels, values, strict=True)) if values else None

    return json.dumps({
        "file": result.path,
        "label": result.label,
        "confidence": result.score,
        "probabilities": probs(result.probabilities),
        "windows": [
            {"start_s": w.start_s, "end_s": w.end_s, "label": w.label, "confidence": w.score,
             "probabilities": probs(w.probabilities)}
            for w in result.windows
        ],
        "warnings": result.warnings,
    })
