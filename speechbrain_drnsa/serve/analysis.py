"""What the server answers for one uploaded file: the ``classify --json`` line, timeline, figures.

:func:`analyse_upload` checks the upload against :class:`UploadLimits`,
classifies it window by window as ``speechbrain-drnsa classify`` does, adds
the emotion timeline (speech segments when the ``vad`` extra is installed, as
``speechbrain-drnsa timeline``) and, on request, the timeline and explain
figures as PNG data URLs. The model runs under a lock, one request at a time:
Silero VAD keeps its state between calls, and torch already spreads one
request over every core. Nothing here imports the web stack.
"""

import base64
import importlib.util
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.audio import audio_info
from speechbrain_drnsa.inference.batch import format_json_line
from speechbrain_drnsa.inference.explain import explain_file, plot_explanation
from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.timeline import draw_timeline, make_timeline, timeline_rows

__all__ = ["UploadLimits", "UploadTooLarge", "analyse_upload", "upload_name"]

_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 100


@dataclass(frozen=True)
class UploadLimits:
    """The largest upload the server takes.

    Arguments
    ---------
    max_bytes : int
        Request body, in bytes (the file and a few hundred bytes of form).
        The default, 64 MiB, holds 5 minutes of 48 kHz 24-bit stereo WAV.
    max_seconds : float
        Audio length; each minute costs several seconds of CPU per request.

    Example
    -------
    >>> UploadLimits(max_bytes=2**20, max_seconds=30).describe()
    'at most 1.0 MB and 30 s of audio'
    """

    max_bytes: int = 64 * 2**20
    max_seconds: float = 300.0

    def __post_init__(self):
        if self.max_bytes <= 0 or not self.max_seconds > 0:
            raise ValueError(f"upload limits must be positive, got {self}")

    def describe(self) -> str:
        """The limits in words, for messages and the page."""
        return f"at most {self.max_bytes / 2**20:.1f} MB and {self.max_seconds:g} s of audio"


class UploadTooLarge(InputFileError):
    """An upload over :class:`UploadLimits` (HTTP 413)."""


def upload_name(filename: str | None) -> str:
    """A safe file name for an upload: its base name, plain characters only.

    Example
    -------
    >>> upload_name("../../etc/passwd"), upload_name("my voice (1).wav"), upload_name(None)
    ('passwd', 'my_voice_1_.wav', 'upload')
    """
    name = _NAME_CHARACTERS.sub("_", Path(filename or "").name).strip("._")[-_MAX_NAME:]
    return name or "upload"


def analyse_upload(
    recognizer: EmotionRecognizer,
    path: Path,
    name: str,
    limits: UploadLimits,
    lock: threading.Lock,
    figures: bool = False,
) -> dict[str, Any]:
    """Classify an uploaded file and describe it as JSON.

    Arguments
    ---------
    recognizer : EmotionRecognizer
        The server's model, loaded once.
    path : pathlib.Path
        The upload, saved in a folder of its own (figures are written beside it).
    name : str
        The name the client gave it, used in the answer and in messages.
    limits : UploadLimits
        Longer audio is refused.
    lock : threading.Lock
        Held while the model runs.
    figures : bool
        Also draw the timeline and explain figures.

    Returns
    -------
    dict
        The fields of ``classify --json`` (``file``, ``label``, ``confidence``,
        ``probabilities``, ``windows``, ``warnings``), ``duration_s``,
        ``timeline`` (``source`` and ``segments``) and, with ``figures``,
        ``figures`` (``timeline`` and ``explain`` PNG data URLs; a file
        without speech has a timeline with its waveform and no segments).

    Raises
    ------
    InputFileError
        An unreadable file, named ``name``.
    UploadTooLarge
        Audio longer than ``limits.max_seconds``.
    """
    try:
        info = audio_info(path)
    except InputFileError as err:
        raise InputFileError(name, err.problem.replace(str(path), name)) from None
    duration_s = info.frames / info.samplerate
    if duration_s > limits.max_seconds:
        raise UploadTooLarge(name, f"{duration_s:.1f} s of audio; this server takes "
                             f"{limits.describe()}")
    vad = importlib.util.find_spec("silero_vad") is not None
    with lock:
        timeline = make_timeline(recognizer, path, vad=vad)
        result = (timeline.result if timeline.source == "windows"
                  else recognizer.classify_windows(path))
        explanation = explain_file(recognizer, path) if figures else None
    answer = json.loads(format_json_line(result, recognizer.labels))
    answer.update(
        file=name, duration_s=round(duration_s, 3),
        warnings=[warning.replace(str(path), name) for warning in result.warnings],
        timeline={"source": timeline.source, "label": timeline.result.label,
                  "segments": timeline_rows(timeline)},
    )
    if figures:
        answer["figures"] = {
            "timeline": _png_data_url(draw_timeline(timeline, path.with_suffix(".timeline.png"))),
            "explain": _png_data_url(plot_explanation(explanation,
                                                      path.with_suffix(".explain.png"))),
        }
    return answer


def _png_data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
