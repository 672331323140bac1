"""Any emotional speech corpus described by a CSV table, to a SpeechBrain manifest and folds.

The CSV has one row per utterance and the columns ``path``, ``speaker`` and
``emotion``; optional columns ``duration`` (seconds; computed from the audio
when absent or empty), ``gender`` (kept in the manifest, where the
leave-one-speaker-out protocol uses it to pick a validation speaker of the
same gender) and ``id`` (the utterance id; the file name without its
extension otherwise). Other columns are ignored. Paths are relative to the
CSV's folder, or absolute. The label set is the set of emotions found.

The manifest ``corpus.json`` maps each utterance id to::

    {"wav": "{data_root}/wav/03a01Fa.wav", "duration": 1.8982, "emo": "happy",
     "speaker": "emodb_03", "gender": "male"}

with ``{data_root}`` standing for the CSV's folder (absolute paths stay
absolute), the same keys as the IEMOCAP manifest, and ``folds_<protocol>.json``
beside it (see :mod:`speechbrain_drnsa.data.folds`: ``loso`` or
``speaker_kfold<N>``). Corpus recipes that read their labels from file names
(EmoDB) build the same :class:`CorpusRow` s and call :func:`write_corpus`.
"""

import csv
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple


from speechbrain_drnsa.data.fold_files import folds_file, save_folds
from speechbrain_drnsa.data.folds import make_folds
from speechbrain_drnsa.features.audio import audio_info
from speechbrain_drnsa.io import load_json, write_json_atomic
from speechbrain_drnsa.errors import InputFileError

__all__ = [
    "REQUIRED_COLUMNS",
    "MANIFEST_NAME",
    "CorpusRow",
    "read_corpus_csv",
    "audio_duration",
    "write_corpus",
    "prepare_csv_corpus",
]

logger = logging.getLogger(__name__)

#: Columns every corpus CSV must have.
REQUIRED_COLUMNS = ("path", "speaker", "emotion")

#: File name of the manifest inside ``save_folder``.
MANIFEST_NAME = "corpus.json"

# Written last: its presence and content say the outputs match the inputs.
_RECORD_NAME = "corpus_prepared.json"
# Bump when the manifest or folds change for the same inputs, to force re-preparation.
_FORMAT_VERSION = 1


class CorpusRow(NamedTuple):
    """One utterance of a corpus, as a CSV row or a parsed file name describes it.

    Arguments
    ---------
    utt_id : str
        Utterance id, unique in the corpus.
    audio : pathlib.Path
        The audio file.
    wav : str
        The path written to the manifest: ``{data_root}/...`` or absolute.
    speaker : str
        Speaker id.
    emotion : str
        Emotion label.
    gender : str or None
        Speaker gender, when known.
    duration : float or None
        Duration in seconds, when known.
    origin : str
        Where the row comes from, for error messages (``file.csv, line 3``).
    corpus : str or None
        The corpus's name when several are merged (the manifest's ``corpus`` key).

    Example
    -------
    >>> row = CorpusRow("a01", Path("/c/a01.wav"), "{data_root}/a01.wav", "s1", "sad",
    ...                 None, None, "c.csv, line 2")
    >>> row.emotion, row.wav
    ('sad', '{data_root}/a01.wav')
    """

    utt_id: str
    audio: Path
    wav: str
    speaker: str
    emotion: str
    gender: str | None
    duration: float | None
    origin: str
    corpus: str | None = None


def read_corpus_csv(csv_path: str | PathLike) -> list[CorpusRow]:
    """Read and check a corpus CSV; every audio file it names must exist.

    Arguments
    ---------
    csv_path : str or PathLike
        The CSV (comma-separated, header line first, UTF-8 with or without BOM).

    Returns
    -------
    list of CorpusRow
        One row per utterance, in file order.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.wav").write_bytes(b"")
    >>> _ = (folder / "c.csv").write_text("path,speaker,emotion,duration\\na.wav,s1,sad,1.5\\n")
    >>> row = read_corpus_csv(folder / "c.csv")[0]
    >>> row.utt_id, row.wav, row.duration
    ('a', '{data_root}/a.wav', 1.5)
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputFileError(csv_path, "corpus CSV not found")
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = [(name or "").strip() for name in reader.fieldnames or []]
            if not columns:
                raise InputFileError(csv_path, "empty: expected a header line with path,"
                                     "speaker,emotion[,duration] and one row per utterance")
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise InputFileError(
                    csv_path, f"missing column(s) {', '.join(missing)}; the header has "
                    f"{', '.join(columns)}; expected path,speaker,emotion[,duration]"
                )
            reader.fieldnames = columns
            rows = [
                _row(csv_path, reader.line_num, record)
                for record in reader
                if any((value or "").strip() for value in record.values())
            ]
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputFileError(csv_path, f"not a readable CSV file ({err})") from None
    if not rows:
        raise InputFileError(csv_path, "has a header but no utterance rows")
    _check_unique_ids(csv_path, rows)
    return rows


def audio_duration(path: str | PathLike) -> float:
    """Duration in seconds of an audio file, or an error naming it.

    Arguments
    ---------
    path : str or PathLike
        Any file libsndfile reads (wav, flac, ogg...).

    Returns
    -------
    float
        Frames divided by the sample rate.

    Example
    -------
    >>> import tempfile
    >>> import numpy as np, soundfile as sf
    >>> path = tempfile.mkdtemp() + "/x.wav"
    >>> sf.write(path, np.zeros(8000), 16000)
    >>> audio_duration(path)
    0.5
    """
    info = audio_info(path)
    return info.frames / info.samplerate


def write_corpus(
    rows: Sequence[CorpusRow],
    save_folder: str | PathLike,
    protocol: str = "loso",
    seed: int = 1234,
    source: Any = None,
    title: str = "corpus",
    test_corpus: str | None = None,
) -> Path:
    """Write the manifest of ``rows`` and the folds of ``protocol``, unless up to date.

    Work is skipped when ``save_folder`` already holds outputs made from the
    same rows, audio files (size and modification time) and options. The
    per-emotion and per-speaker counts are printed. Outputs are written
    atomically, the preparation record last.

    Arguments
    ---------
    rows : sequence of CorpusRow
        The utterances, with unique ids.
    save_folder : str or PathLike
        Where ``corpus.json`` and ``folds_<protocol>.json`` go.
    protocol : str
        Fold protocol, see :func:`speechbrain_drnsa.data.folds.make_folds`.
    seed : int
        Seed of the shuffled protocols.
    source : Any
        JSON-serialisable description of the input (the CSV's digest, the
        class subset...), part of what makes the outputs up to date.
    title : str
        Name of the corpus in the printed table.
    test_corpus : str, optional
        The corpus the ``cross_corpus`` protocol tests.

    Returns
    -------
    pathlib.Path
        Path of ``corpus.json``.

    Example
    -------
    >>> import tempfile
    >>> import numpy as np, soundfile as sf
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = []
    >>> for i, (spk, emo) in enumerate([("a", "sad"), ("b", "sad"), ("c", "ang")]):
    ...     sf.write(folder / f"{i}.wav", np.zeros(1600), 16000)
    ...     rows.append(CorpusRow(str(i), folder / f"{i}.wav", f"{{data_root}}/{i}.wav",
    ...                           spk, emo, None, None, "example"))
    >>> path = write_corpus(rows, folder / "prep", title="demo")
    demo: 3 utterances, 3 speakers, 2 emotions
    ...
    >>> load_json(path)["2"]
    {'wav': '{data_root}/2.wav', 'duration': 0.1, 'emo': 'ang', 'speaker': 'c'}
    """
    save_folder = Path(save_folder)
    manifest_path = save_folder / MANIFEST_NAME
    record = {
        "format": _FORMAT_VERSION,
        "protocol": protocol,
        "seed": seed,
        "source": source,
        "rows": [_row_record(row) for row in rows],
    }
    if _up_to_date(save_folder, record):
        logger.info("%s is up to date, skipping preparation", manifest_path)
        return manifest_path
    manifest = {row.utt_id: _entry(row) for row in rows}
    _report_counts(title, manifest)
    try:
        folds = make_folds(manifest, protocol, seed=seed, test_corpus=test_corpus)
    except ValueError as err:  # too few speakers or corpora for the protocol
        raise InputFileError(save_folder, str(err)) from None
    save_folds(folds, folds_file(save_folder, protocol))
    write_json_atomic(manifest, manifest_path)
    record["outputs"] = [MANIFEST_NAME, folds_file(".", protocol).name]
    write_json_atomic(record, save_folder / _RECORD_NAME)
    return manifest_path


def prepare_csv_corpus(
    csv_path: str | PathLike,
    save_folder: str | PathLike,
    protocol: str = "loso",
    seed: int = 1234,
    skip_prep: bool = False,
) -> Path:
    """Write the manifest and folds of a corpus described by a CSV.

    Arguments
    ---------
    csv_path : str or PathLike
        The corpus CSV (see the module docstring for its columns).
    save_folder : str or PathLike
        Where ``corpus.json`` and ``folds_<protocol>.json`` go.
    protocol : str
        ``loso`` (leave one speaker out, the default) or ``speaker_kfold<N>``
        (speakers in N groups).
    seed : int
        Seed of the shuffled protocols.
    skip_prep : bool
        Do nothing and return the manifest path, as SpeechBrain's prepare scripts do.

    Returns
    -------
    pathlib.Path
        Path of ``corpus.json``; its ``{data_root}`` is the CSV's folder.

    Example
    -------
    >>> import tempfile
    >>> import numpy as np, soundfile as sf
    >>> folder = Path(tempfile.mkdtemp())
    >>> lines = ["path,speaker,emotion"]
    >>> for i, spk in enumerate("abcabc"):
    ...     sf.write(folder / f"{i}.wav", np.zeros(1600), 16000)
    ...     lines.append(f"{i}.wav,{spk},{['sad', 'ang'][i % 2]}")
    >>> _ = (folder / "corpus.csv").write_text("\\n".join(lines) + "\\n")
    >>> path = prepare_csv_corpus(folder / "corpus.csv", folder / "prep")
    corpus.csv: 6 utterances, 3 speakers, 2 emotions
    ...
    >>> sorted(p.name for p in path.parent.glob("*.json"))
    ['corpus.json', 'corpus_prepared.json', 'folds_loso.json']
    """
    manifest_path = Path(save_folder) / MANIFEST_NAME
    if skip_prep:
        return manifest_path
    csv_path = Path(csv_path)
    rows = read_corpus_csv(csv_path)
    digest = hashlib.sha1(csv_path.read_bytes()).hexdigest()
    return write_corpus(
        rows, save_folder, protocol=protocol, seed=seed,
        source={"csv": str(csv_path.resolve()), "sha1": digest}, title=csv_path.name,
    )


def _row(csv_path: Path, line: int, record: dict[str, str | None]) -> CorpusRow:
    """One checked CSV record."""
    origin = f"{csv_path}, line {line}"

    def value(name: str) -> str:
        return (record.get(name) or "").strip()

    for name in REQUIRED_COLUMNS:
        if not value(name):
            raise InputFileError(csv_path, f"line {line}: empty {name!r}")
    relative = Path(value("path"))
    audio = relative if relative.is_absolute() else csv_path.parent / relative
    if audio.is_dir():
        raise InputFileError(csv_path, f"line {line}: {audio} is a folder, expected an audio file")
    if not audio.exists():
        raise InputFileError(csv_path, f"line {line}: audio file {audio} not found")
    duration = None
    if value("duration"):
        try:
            duration = float(value("duration"))
        except ValueError:
            duration = -1.0
        if not duration > 0:
            raise InputFileError(
                csv_path, f"line {line}: duration {value('duration')!r} is not a positive number"
            )
    return CorpusRow(
        utt_id=value("id") or relative.stem,
        audio=audio,
        wav=str(relative) if relative.is_absolute() else "{data_root}/" + relative.as_posix(),
        speaker=value("speaker"),
        emotion=value("emotion"),
        gender=value("gender") or None,
        duration=duration,
        origin=origin,
    )


def _check_unique_ids(csv_path: Path, rows: Sequence[CorpusRow]) -> None:
    """Utterance ids must be unique; name both rows of a clash."""
    seen: dict[str, CorpusRow] = {}
    for row in rows:
        if row.utt_id in seen:
            raise InputFileError(
                csv_path,
                f"{row.origin.rsplit(', ', 1)[1]}: utterance id {row.utt_id!r} is also the id "
                f"of {seen[row.utt_id].origin.rsplit(', ', 1)[1]}; add an 'id' column to "
                "tell files with the same name apart",
            )
        seen[row.utt_id] = row


def _entry(row: CorpusRow) -> dict[str, Any]:
    """The manifest entry of one row, measuring its duration when not given."""
    duration = row.duration if row.duration is not None else audio_duration(row.audio)
    entry = {"wav": row.wav, "duration": round(duration, 4), "emo": row.emotion,
             "speaker": row.speaker}
    if row.gender is not None:
        entry["gender"] = row.gender
    if row.corpus is not None:
        entry["corpus"] = row.corpus
    return entry


def _row_record(row: CorpusRow) -> list[Any]:
    """What the outputs depend on for one row, audio file size and time included."""
    try:
        stat = row.audio.stat()
    except OSError as err:
        raise InputFileError(row.audio, f"cannot read the audio file ({err.strerror})") from None
    record = [row.utt_id, row.wav, row.speaker, row.emotion, row.gender, row.duration,
              stat.st_size, stat.st_mtime_ns]
    return record if row.corpus is None else [*record, row.corpus]


def _up_to_date(save_folder: Path, record: dict[str, Any]) -> bool:
    """Whether the outputs in ``save_folder`` were made from the same inputs."""
    path = save_folder / _RECORD_NAME
    if not path.is_file():
        return False
    try:
        previous = load_json(path)
    except InputFileError:
        return False
    if not isinstance(previous, dict):
        return False
    outputs = previous.pop("outputs", None)
    # compare with the record as JSON reads it back (tuples become lists)
    if previous != json.loads(json.dumps(record)) or not isinstance(outputs, list):
        return False
    return all((save_folder / str(name)).is_file() for name in outputs)


def _report_counts(title: str, manifest: dict[str, dict[str, Any]]) -> None:
    """Print the utterances per emotion; warn about speakers lacking an emotion."""
    emotions = Counter(entry["emo"] for entry in manifest.values())
    by_speaker: dict[str, Counter] = {}
    for entry in manifest.values():
        by_speaker.setdefault(entry["speaker"], Counter())[entry["emo"]] += 1
    lines = [
        f"{title}: {len(manifest)} utterances, {len(by_speaker)} speakers, "
        f"{len(emotions)} emotions",
        "  emotion     utterances",
        *(f"  {emo:<12}{count:>10}" for emo, count in sorted(emotions.items())),
    ]
    print("\n".join(lines))
    for speaker, counts in sorted(by_speaker.items()):
        lacking = sorted(set(emotions) - set(counts))
        if lacking:
            # a speaker tested alone then scores UA over fewer classes
            logger.warning("speaker %s has no utterance of %s", speaker, ", ".join(lacking))
