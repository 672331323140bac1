"""IEMOCAP data preparation: EmoEvaluation files to a 4-class SpeechBrain manifest.

Reads ``IEMOCAP_full_release`` as released (Busso et al., 2008):
``SessionN/dialog/EmoEvaluation/<dialog>.txt`` for the labels and
``SessionN/sentences/wav/<dialog>/<utterance>.wav`` for the audio. Keeps neutral,
happy, sad and angry, merges excited into happy and drops every other label, which
gives the 5531 utterances of Li et al. (2019) on the full corpus.

The manifest ``iemocap.json`` maps each utterance id to::

    {"wav": "{data_root}/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav",
     "duration": 1.9456, "emo": "neu", "speaker": "Ses01F", "session": "Session1",
     "gender": "F"}

and one ``folds_<protocol>.json`` per protocol of :mod:`speechbrain_drnsa.data.folds`
sits beside it.
"""

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from speechbrain_drnsa.data.emo_evaluation import Turn, parse_emo_evaluation, speaker_of
from speechbrain_drnsa.data.fold_files import folds_file, save_folds
from speechbrain_drnsa.data.folds import check_protocol, make_folds
from speechbrain_drnsa.features.audio import audio_info
from speechbrain_drnsa.io import load_json, write_json_atomic
from speechbrain_drnsa.errors import InputFileError

__all__ = [
    "EMOTION_MAP",
    "PAPER_COUNTS",
    "MANIFEST_NAME",
    "prepare_iemocap",
]

logger = logging.getLogger(__name__)

#: The labels kept, and the class each becomes (excited merges into happy).
EMOTION_MAP = {"neu": "neu", "hap": "hap", "exc": "hap", "sad": "sad", "ang": "ang"}

#: Utterances per class on the full release, as used by Li et al. (2019): 5531 in all.
PAPER_COUNTS = {"neu": 1708, "hap": 1636, "sad": 1084, "ang": 1103}

#: File name of the manifest inside ``save_folder``.
MANIFEST_NAME = "iemocap.json"

# Written last: its presence and content say the outputs match the inputs.
_RECORD_NAME = "iemocap_prepared.json"
# Bump when the manifest or folds change for the same inputs, to force re-preparation.
_FORMAT_VERSION = 1

_SESSION_DIR = re.compile(r"Session(\d+)")


def prepare_iemocap(
    data_folder: str | PathLike,
    save_folder: str | PathLike,
    protocols: Sequence[str] = ("speaker10", "session5", "random"),
    seed: int = 1234,
    skip_prep: bool = False,
) -> Path:
    """Write the 4-class IEMOCAP manifest and the folds of each protocol.

    Work is skipped when ``save_folder`` already holds outputs made from the same
    EmoEvaluation files (compared by content) with the same options. Every kept turn's
    wav is checked (present, readable, not truncated) before anything is written, and
    each output is written atomically, so bad input never leaves a half-written
    manifest. On the full release the per-class table matches the paper's 5531
    utterances; on any other count (a subset) a warning gives the numbers.

    Arguments
    ---------
    data_folder : str or PathLike
        ``IEMOCAP_full_release``: the folder holding ``Session1`` ... ``Session5``.
    save_folder : str or PathLike
        Where ``iemocap.json`` and ``folds_<protocol>.json`` go.
    protocols : sequence of str
        Fold protocols to write, see :func:`speechbrain_drnsa.data.folds.make_folds`; an
        unknown name raises ValueError. A protocol the corpus is too small for (a subset)
        is skipped with a warning.
    seed : int
        Seed of the shuffled protocols.
    skip_prep : bool
        Do nothing and return the manifest path, as SpeechBrain's prepare scripts do.

    Returns
    -------
    pathlib.Path
        Path of ``iemocap.json``, whose ``wav`` entries start with ``{data_root}``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_drnsa.data.demo import make_demo_corpus
    >>> root = make_demo_corpus(tempfile.mkdtemp(), utterances_per_class=1,
    ...                         dropped_per_speaker=1)
    >>> manifest = prepare_iemocap(root, tempfile.mkdtemp())  # doctest: +ELLIPSIS
    IEMOCAP 4-class utterances in ...
      total      40    5531  differs from the paper (a subset?)
    >>> sorted(p.name for p in manifest.parent.iterdir() if p.suffix == ".json")
    ['folds_random.json', 'folds_session5.json', 'folds_speaker10.json', 'iemocap.json', ...]
    """
    save_folder = Path(save_folder)
    manifest_path = save_folder / MANIFEST_NAME
    if skip_prep:
        return manifest_path
    if isinstance(protocols, str):
        protocols = [protocols]
    protocols = [check_protocol(protocol) for protocol in protocols]
    data_folder = Path(data_folder)
    sessions = _session_folders(data_folder)
    files = {session: _emo_evaluation_files(session) for session in sessions}
    record = _input_record(data_folder, files, protocols, seed)
    last = _read_record(save_folder)
    if (
        last is not None
        and {key: value for key, value in last.items() if key != "outputs"} == record
        and all((save_folder / name).is_file() for name in _outputs(last))
    ):
        logger.info("%s is up to date with %s, skipping preparation", manifest_path, data_folder)
        return manifest_path

    manifest, raw_counts = _build_manifest(data_folder, files)
    counts = Counter(entry["emo"] for entry in manifest.values())
    _report_counts(data_folder, counts, raw_counts)
    folds = {}
    for protocol in protocols:
        try:
            folds[protocol] = make_folds(manifest, protocol, seed=seed)
        except ValueError as err:
            logger.warning("no folds for protocol %r on this corpus: %s", protocol, err)

    for protocol, protocol_folds in folds.items():
        save_folds(protocol_folds, folds_file(save_folder, protocol))
    write_json_atomic(manifest, manifest_path)
    record["outputs"] = [MANIFEST_NAME] + [folds_file(".", p).name for p in folds]
    write_json_atomic(record, save_folder / _RECORD_NAME)
    # Folds of an earlier run that this run did not rebuild would not match the manifest.
    for name in set(_outputs(last) if last else []) - set(record["outputs"]):
        (save_folder / name).unlink(missing_ok=True)
    return manifest_path


def _session_folders(data_folder: Path) -> list[Path]:
    """``SessionN`` folders in numeric order, or a clear error."""
    if not data_folder.exists():
        raise InputFileError(data_folder, "IEMOCAP data folder not found")
    if not data_folder.is_dir():
        raise InputFileError(data_folder, "IEMOCAP data folder is not a folder")
    sessions = [
        p for p in data_folder.iterdir() if p.is_dir() and _SESSION_DIR.fullmatch(p.name)
    ]
    if not sessions:
        raise InputFileError(
            data_folder,
            "no Session* folder; data_folder must be IEMOCAP_full_release, which holds "
            "Session1 ... Session5",
        )
    return sorted(sessions, key=lambda p: int(_SESSION_DIR.fullmatch(p.name).group(1)))


def _emo_evaluation_files(session: Path) -> list[Path]:
    """The ``<dialog>.txt`` files of a session, skipping subfolders and stray files."""
    folder = session / "dialog" / "EmoEvaluation"
    if not folder.is_dir():
        raise InputFileError(folder, "folder not found; every SessionN needs dialog/EmoEvaluation")
    # Subfolders (Categorical/, Attribute/ ...) hold other formats; hidden files include
    # the AppleDouble ._*.txt copies that some archives carry.
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix == ".txt" and not p.name.startswith(".")
    )
    if not files:
        raise InputFileError(folder, "no EmoEvaluation <dialog>.txt file")
    return files


def _input_record(
    data_folder: Path, files: dict[Path, list[Path]], protocols: Sequence[str], seed: int
) -> dict[str, Any]:
    """What the outputs depend on: the options and a digest of each EmoEvaluation file."""
    digests = {
        path.relative_to(data_folder).as_posix(): _digest(path)
        for session_files in files.values()
        for path in session_files
    }
    return {
        "format": _FORMAT_VERSION,
        "protocols": list(protocols),
        "seed": seed,
        "emo_evaluation": digests,
    }


def _digest(path: Path) -> str:
    """SHA-1 of a file's bytes, which changes with any edit (mtimes can be coarse)."""
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError as err:
        raise InputFileError(path, f"cannot read EmoEvaluation file ({err.strerror})") from None


def _read_record(save_folder: Path) -> dict[str, Any] | None:
    """The record of the last run in ``save_folder``, or None if absent or unreadable."""
    path = save_folder / _RECORD_NAME
    if not path.is_file():
        return None
    try:
        record = load_json(path)
    except InputFileError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("outputs"), list):
        return None
    return record


def _outputs(record: dict[str, Any]) -> list[str]:
    """Output names listed in a record: only ours, never a path that leaves save_folder."""
    return [
        name for name in map(str, record["outputs"])
        if name == MANIFEST_NAME or re.fullmatch(r"folds_\w+\.json", name)
    ]


def _build_manifest(
    data_folder: Path, files: dict[Path, list[Path]]
) -> tuple[dict[str, dict[str, Any]], Counter]:
    """Parse every file, keep the 4 classes, check each kept turn's wav.

    Returns the manifest and the count of each kept label as the release writes it.
    """
    seen: dict[str, Path] = {}
    kept: list[tuple[Path, Turn]] = []
    for session, session_files in files.items():
        number = int(_SESSION_DIR.fullmatch(session.name).group(1))
        for path in session_files:
            for turn in parse_emo_evaluation(path):
                if turn.utt_id in seen:
                    raise InputFileError(
                        path, f"{turn.utt_id} is also listed in {seen[turn.utt_id]}"
                    )
                seen[turn.utt_id] = path
                if int(turn.utt_id[3:5]) != number:
                    raise InputFileError(path, f"{turn.utt_id} does not belong to {session.name}")
                if turn.label in EMOTION_MAP:
                    kept.append((session, turn))

    manifest = {}
    for session, turn in sorted(kept, key=lambda item: item[1].utt_id):
        dialog = turn.utt_id.rsplit("_", 1)[0]
        relative = f"{session.name}/sentences/wav/{dialog}/{turn.utt_id}.wav"
        speaker = speaker_of(turn.utt_id)
        manifest[turn.utt_id] = {
            "wav": "{data_root}/" + relative,
            "duration": _wav_duration(data_folder / relative),
            "emo": EMOTION_MAP[turn.label],
            "speaker": speaker,
            "session": session.name,
            "gender": speaker[-1],
        }
    return manifest, Counter(turn.label for _, turn in kept)


def _wav_duration(path: Path) -> float:
    """Duration in seconds of a wav that is present, readable and complete."""
    if not path.exists():
        raise InputFileError(path, "wav file of a kept turn not found")
    info = audio_info(path)
    return info.frames / info.samplerate


def _report_counts(data_folder: Path, counts: Counter, raw: Counter) -> None:
    """Print the per-class table; warn when it differs from the paper's 5531."""
    total = sum(counts.values())
    paper_total = sum(PAPER_COUNTS.values())
    matches = dict(counts) == PAPER_COUNTS
    lines = [f"IEMOCAP 4-class utterances in {data_folder}", "  class   found   paper"]
    for emo, expected in PAPER_COUNTS.items():
        note = f"  (hap {raw['hap']} + exc {raw['exc']})" if emo == "hap" else ""
        lines.append(f"  {emo:<6}{counts[emo]:>7}{expected:>8}{note}")
    verdict = "matches the paper" if matches else "differs from the paper (a subset?)"
    lines.append(f"  {'total':<6}{total:>7}{paper_total:>8}  {verdict}")
    print("\n".join(lines))
    if not matches:
        per_class = ", ".join(f"{emo} {counts[emo]}" for emo in PAPER_COUNTS)
        logger.warning(
            "found %d utterances (%s), the paper uses %d (%s); carrying on",
            total, per_class, paper_total,
            ", ".join(f"{emo} {n}" for emo, n in PAPER_COUNTS.items()),
        )
