"""EmoDB data preparation: the Berlin Database of Emotional Speech to a SpeechBrain manifest.

Reads the corpus as distributed (Burkhardt et al., Interspeech 2005): a ``wav/``
folder of 535 files whose names carry speaker, text, emotion and version, e.g.
``03a01Fa.wav`` = speaker 03, text a01, emotion F (Freude, happiness), version a.
The German emotion letters become the label codes of the IEMOCAP manifest
(``ang``, ``hap``, ``neu``, ``sad``, and ``bor``, ``dis``, ``fea`` for the three
emotions IEMOCAP's four classes lack), so that the 4-class subset has exactly
IEMOCAP's labels. Speaker genders come from the corpus documentation.

The manifest ``corpus.json`` maps each utterance id (the file name without
``.wav``) to::

    {"wav": "{data_root}/wav/03a01Fa.wav", "duration": 1.8982, "emo": "hap",
     "speaker": "emodb_03", "gender": "M"}

with ``folds_<protocol>.json`` beside it, written by
:func:`speechbrain_drnsa.data.csv_corpus.write_corpus`. When the corpus
folder holds the ``manifest.csv`` of its distribution (``path, speaker,
gender, emotion, duration_s``), every label is checked against it.
"""

import csv
import logging
import re
from collections import Counter
from os import PathLike
from pathlib import Path
from typing import NamedTuple

from speechbrain_drnsa.data.csv_corpus import MANIFEST_NAME, CorpusRow, write_corpus
from speechbrain_drnsa.errors import InputFileError

__all__ = [
    "EMOTION_CODES",
    "EMOTION_NAMES",
    "SPEAKER_GENDERS",
    "CLASS_SETS",
    "OFFICIAL_COUNTS",
    "EmoDBName",
    "parse_emodb_name",
    "emodb_rows",
    "prepare_emodb",
]

logger = logging.getLogger(__name__)

#: German emotion letter of the file names -> label code of the manifest.
EMOTION_CODES = {
    "W": "ang",  # Wut (anger)
    "L": "bor",  # Langeweile (boredom)
    "E": "dis",  # Ekel (disgust)
    "A": "fea",  # Angst (fear)
    "F": "hap",  # Freude (happiness)
    "T": "sad",  # Trauer (sadness)
    "N": "neu",  # neutral
}

#: Label code -> English name, as the corpus documentation names the emotions.
EMOTION_NAMES = {
    "ang": "angry", "bor": "boredom", "dis": "disgust", "fea": "fear",
    "hap": "happy", "sad": "sad", "neu": "neutral",
}

#: Speaker number of the file names -> gender, from the official speaker list.
SPEAKER_GENDERS = {
    "03": "M", "08": "F", "09": "F", "10": "M", "11": "M",
    "12": "M", "13": "F", "14": "F", "15": "M", "16": "F",
}

#: Label subsets selectable with ``classes``: all seven, or IEMOCAP's four.
CLASS_SETS = {
    "all7": ("ang", "bor", "dis", "fea", "hap", "neu", "sad"),
    "4class": ("ang", "hap", "neu", "sad"),
}

#: Utterances per label code in the official release: 535 in all.
OFFICIAL_COUNTS = {
    "ang": 127, "bor": 81, "dis": 46, "fea": 69, "hap": 71, "neu": 79, "sad": 62,
}

_NAME = re.compile(r"(\d\d)([a-z]\d\d)([A-Z])([a-z])\.wav")
_CHECK_FILE = "manifest.csv"
_CSV_GENDERS = {"male": "M", "female": "F"}


class EmoDBName(NamedTuple):
    """What an EmoDB file name says.

    Arguments
    ---------
    speaker : str
        Speaker number, e.g. ``"03"``.
    text : str
        Sentence code, e.g. ``"a01"``.
    emotion : str
        Label code, e.g. ``"hap"``.
    version : str
        Version letter, e.g. ``"a"``.

    Example
    -------
    >>> EmoDBName("03", "a01", "hap", "a").emotion
    'hap'
    """

    speaker: str
    text: str
    emotion: str
    version: str


def parse_emodb_name(name: str) -> EmoDBName:
    """Read speaker, text, emotion and version from an EmoDB file name.

    Arguments
    ---------
    name : str
        File name such as ``03a01Fa.wav``.

    Returns
    -------
    EmoDBName
        The four fields, the emotion as a label code.

    Example
    -------
    >>> parse_emodb_name("03a01Fa.wav")
    EmoDBName(speaker='03', text='a01', emotion='hap', version='a')
    >>> parse_emodb_name("16b10Wb.wav").emotion
    'ang'
    """
    match = _NAME.fullmatch(name)
    if not match:
        raise ValueError(
            f"{name!r} is not an EmoDB file name: expected speaker (2 digits), text "
            "(a letter and 2 digits), emotion letter and version letter, e.g. 03a01Fa.wav"
        )
    speaker, text, letter, version = match.groups()
    if letter not in EMOTION_CODES:
        raise ValueError(
            f"{name!r}: unknown emotion letter {letter!r}, expected one of "
            f"{', '.join(EMOTION_CODES)}"
        )
    if speaker not in SPEAKER_GENDERS:
        raise ValueError(
            f"{name!r}: speaker {speaker} is not one of EmoDB's ten speakers "
            f"({', '.join(SPEAKER_GENDERS)})"
        )
    return EmoDBName(speaker, text, EMOTION_CODES[letter], version)


def emodb_rows(data_folder: str | PathLike) -> list[CorpusRow]:
    """Scan ``data_folder/wav`` into corpus rows, sorted by utterance id.

    Hidden files (such as AppleDouble ``._*`` copies), subfolders and files
    that are not ``.wav`` are skipped with a warning; a ``.wav`` whose name
    does not parse is an error naming it.

    Arguments
    ---------
    data_folder : str or PathLike
        The EmoDB folder, which holds ``wav/``.

    Returns
    -------
    list of CorpusRow
        One row per utterance, ``wav`` relative to ``{data_root}`` = ``data_folder``,
        duration not yet measured.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "wav").mkdir()
    >>> _ = (folder / "wav" / "08b02Tc.wav").write_bytes(b"")
    >>> row = emodb_rows(folder)[0]
    >>> row.utt_id, row.wav, row.speaker, row.gender, row.emotion
    ('08b02Tc', '{data_root}/wav/08b02Tc.wav', 'emodb_08', 'F', 'sad')
    """
    data_folder = Path(data_folder)
    wav_folder = data_folder / "wav"
    if not data_folder.is_dir():
        raise InputFileError(data_folder, "EmoDB data folder not found")
    if not wav_folder.is_dir():
        raise InputFileError(
            data_folder, "no wav/ folder; data_folder must be the EmoDB folder as "
            "distributed, holding wav/03a01Fa.wav ..."
        )
    rows = []
    for path in sorted(wav_folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() != ".wav":
            logger.warning("%s: not an EmoDB recording, skipped", path)
            continue
        if not path.is_file():
            raise InputFileError(path, "is a folder, expected an audio file")
        try:
            fields = parse_emodb_name(path.name)
        except ValueError as err:
            raise InputFileError(path, str(err)) from None
        rows.append(
            CorpusRow(
                utt_id=path.stem,
                audio=path,
                wav=f"{{data_root}}/wav/{path.name}",
                speaker=f"emodb_{fields.speaker}",
                emotion=fields.emotion,
                gender=SPEAKER_GENDERS[fields.speaker],
                duration=None,
                origin=str(path),
            )
        )
    if not rows:
        raise InputFileError(wav_folder, "holds no EmoDB .wav file")
    return rows


def prepare_emodb(
    data_folder: str | PathLike,
    save_folder: str | PathLike,
    classes: str = "all7",
    protocol: str = "loso",
    seed: int = 1234,
    skip_prep: bool = False,
) -> Path:
    """Write the EmoDB manifest of a class set and the folds of a protocol.

    On the complete corpus the per-class counts match the official release
    (535 utterances, 10 speakers); on any other count a warning gives the
    numbers. When ``data_folder/manifest.csv`` exists, each file's speaker,
    gender and emotion must agree with it. Skipped when ``save_folder`` is up
    to date.

    Arguments
    ---------
    data_folder : str or PathLike
        The EmoDB folder, which holds ``wav/``; it is the manifest's ``{data_root}``.
    save_folder : str or PathLike
        Where ``corpus.json`` and ``folds_<protocol>.json`` go; one class set per folder.
    classes : str
        ``"all7"`` (the seven emotions) or ``"4class"`` (neutral, happiness,
        sadness and anger, IEMOCAP's four).
    protocol : str
        ``loso`` (leave one speaker out, 10 folds) or ``speaker_kfold<N>``.
    seed : int
        Seed of the shuffled protocols.
    skip_prep : bool
        Do nothing and return the manifest path, as SpeechBrain's prepare scripts do.

    Returns
    -------
    pathlib.Path
        Path of ``corpus.json``.

    Example
    -------
    >>> import tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "wav").mkdir()
    >>> for name in ["03a01Wa", "08a01Na", "09a01Ta", "10a01Ea"]:
    ...     sf.write(folder / "wav" / f"{name}.wav", np.zeros(1600), 16000)
    >>> path = prepare_emodb(folder, folder / "prep", classes="4class")
    EmoDB (4class): 3 utterances, 3 speakers, 3 emotions
    ...
    >>> from speechbrain_drnsa.io import load_json
    >>> sorted(load_json(path))
    ['03a01Wa', '08a01Na', '09a01Ta']
    """
    manifest_path = Path(save_folder) / MANIFEST_NAME
    if skip_prep:
        return manifest_path
    if classes not in CLASS_SETS:
        raise ValueError(f"unknown classes {classes!r}; expected one of {', '.join(CLASS_SETS)}")
    data_folder = Path(data_folder)
    rows = emodb_rows(data_folder)
    if (data_folder / _CHECK_FILE).is_file():
        _check_against_csv(rows, data_folder / _CHECK_FILE)
    _check_counts(data_folder, Counter(row.emotion for row in rows))
    kept = [row for row in rows if row.emotion in CLASS_SETS[classes]]
    return write_corpus(
        kept, save_folder, protocol=protocol, seed=seed,
        source={"corpus": "emodb", "classes": classes}, title=f"EmoDB ({classes})",
    )


def _check_against_csv(rows: list[CorpusRow], csv_path: Path) -> None:
    """Every file's labels must agree with the distribution's manifest.csv."""
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as f:
            listed = {record["path"]: record for record in csv.DictReader(f)}
    except (KeyError, UnicodeDecodeError, csv.Error) as err:
        raise InputFileError(csv_path, f"not EmoDB's manifest.csv ({err!r})") from None
    for row in rows:
        record = listed.pop(f"wav/{row.audio.name}", None)
        if record is None:
            logger.warning("%s: %s is not listed", csv_path, row.audio.name)
            continue
        expected = (
            record.get("speaker"),
            _CSV_GENDERS.get(record.get("gender", "")),
            record.get("emotion"),
        )
        found = (row.speaker, row.gender, EMOTION_NAMES[row.emotion])
        if found != expected:
            raise InputFileError(
                csv_path,
                f"{row.audio.name}: the file name gives speaker, gender, emotion {found} "
                f"but this file lists {expected}",
            )
    if listed:
        logger.warning("%s lists %d files missing from wav/, e.g. %s",
                       csv_path, len(listed), sorted(listed)[0])


def _check_counts(data_folder: Path, counts: Counter) -> None:
    """Warn when the corpus differs from the official release's 535 utterances."""
    if dict(counts) != OFFICIAL_COUNTS:
        found = ", ".join(f"{emo} {counts[emo]}" for emo in OFFICIAL_COUNTS)
        official = ", ".join(f"{emo} {n}" for emo, n in OFFICIAL_COUNTS.items())
        logger.warning(
            "%s: found %d utterances (%s), the official release has %d (%s); carrying on",
            data_folder, sum(counts.values()), found, sum(OFFICIAL_COUNTS.values()), official,
        )
