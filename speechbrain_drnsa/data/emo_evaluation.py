"""IEMOCAP's EmoEvaluation files: the labelled turns of a dialog, and whose they are.

Each ``SessionN/dialog/EmoEvaluation/<dialog>.txt`` of the release (Busso et
al., 2008) opens every turn's block with a summary line
``[start - end] <utterance id> <label> [valence, activation, dominance]``;
the speaker is the session and the letter after the last underscore of the id.
"""

import re
from os import PathLike
from pathlib import Path
from typing import NamedTuple

from speechbrain_drnsa.errors import InputFileError

__all__ = ["LABEL_CODES", "Turn", "parse_emo_evaluation", "speaker_of"]

#: Every label code of the summary lines of the release.
LABEL_CODES = ("neu", "hap", "exc", "sad", "ang", "fru", "sur", "fea", "oth", "dis", "xxx")

_UTTERANCE = re.compile(r"(Ses\d\d)[FM]_.+_([FM])[^_]*")
_SUMMARY = re.compile(
    r"\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]\s+(\S+)\s+(\S+)\s+"
    r"\[\s*([-+.\d]+)\s*,\s*([-+.\d]+)\s*,\s*([-+.\d]+)\s*\]"
)


class Turn(NamedTuple):
    """The summary line of one turn of an EmoEvaluation file.

    Arguments
    ---------
    utt_id : str
        Utterance id, e.g. ``Ses01F_impro01_F000``.
    label : str
        Majority label code, one of :data:`LABEL_CODES`.
    start : float
        Start of the turn in the dialog, in seconds.
    end : float
        End of the turn in the dialog, in seconds.
    vad : tuple of float
        Mean valence, activation and dominance of the evaluators.

    Example
    -------
    >>> Turn("Ses01F_impro01_F000", "neu", 6.2901, 8.2357, (2.5, 2.5, 2.5)).label
    'neu'
    """

    utt_id: str
    label: str
    start: float
    end: float
    vad: tuple[float, float, float]


def speaker_of(utt_id: str) -> str:
    """Speaker of an utterance: its session plus the letter after the last underscore.

    The letter in the dialog name says who wore the markers, not who speaks, and
    dialogs such as ``Ses03M_impro05a`` or ``Ses05M_script01_1b`` break fixed
    character positions.

    Arguments
    ---------
    utt_id : str
        Utterance id, e.g. ``Ses03M_impro05a_F001``.

    Returns
    -------
    str
        Speaker id, e.g. ``Ses03F``.

    Example
    -------
    >>> speaker_of("Ses03M_impro05a_F001"), speaker_of("Ses05M_script01_1b_M002")
    ('Ses03F', 'Ses05M')
    """
    match = _UTTERANCE.fullmatch(utt_id)
    if not match:
        raise ValueError(
            f"{utt_id!r} is not an IEMOCAP utterance id such as Ses01F_impro01_M000"
        )
    return match.group(1) + match.group(2)


def parse_emo_evaluation(path: str | PathLike) -> list[Turn]:
    """Read the summary line of every turn of an EmoEvaluation file.

    Only lines starting with ``[`` are turn summaries; the header (``%``), the
    evaluator lines (``C-E2:``, ``A-F1:`` ...) and blank lines are skipped.

    Arguments
    ---------
    path : str or PathLike
        ``SessionN/dialog/EmoEvaluation/<dialog>.txt``.

    Returns
    -------
    list of Turn
        The turns, in file order.

    Example
    -------
    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/Ses01F_impro01.txt"
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\\n\\n"
    ...         "[6.2901 - 8.2357]\\tSes01F_impro01_F000\\tneu\\t[2.5000, 2.5000, 2.5000]\\n"
    ...         "C-E2:\\tNeutral;\\t()\\n"
    ...         "A-E3:\\tval 3; act 2; dom  2;\\t()\\n\\n"
    ...     )
    >>> parse_emo_evaluation(path)
    [Turn(utt_id='Ses01F_impro01_F000', label='neu', start=6.2901, end=8.2357, vad=(2.5, 2.5, 2.5))]
    """
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise InputFileError(path, f"cannot read EmoEvaluation file ({err.strerror})") from None
    turns = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line.startswith("["):
            continue
        turns.append(_parse_summary(path, lineno, line))
    if not turns:
        raise InputFileError(path, "no turn line '[start - end] utterance label [v, a, d]': "
                             "the EmoEvaluation file is empty or of another kind")
    return turns


def _parse_summary(path: str | PathLike, lineno: int, line: str) -> Turn:
    """One ``[start - end]<TAB>utt<TAB>label<TAB>[v, a, d]`` line, checked."""
    match = _SUMMARY.fullmatch(line)
    if not match:
        raise InputFileError(
            path,
            f"line {lineno}: malformed turn line {line[:80]!r}, expected "
            "'[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]'",
        )
    start, end, utt, label, *vad = match.groups()
    if label not in LABEL_CODES:
        raise InputFileError(path, f"line {lineno}: unknown emotion label {label!r} for {utt}")
    try:
        speaker_of(utt)
        values = tuple(float(v) for v in vad)
    except ValueError as err:
        raise InputFileError(path, f"line {lineno}: {err}") from None
    if float(end) < float(start):
        raise InputFileError(path, f"line {lineno}: {utt} ends before it starts")
    return Turn(utt, label, float(start), float(end), values)
