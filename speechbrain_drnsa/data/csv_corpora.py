"""Several corpus CSVs in one manifest: corpus names, a label map, speakers kept apart.

The CSV recipe's ``csv`` is one corpus CSV (:mod:`speechbrain_drnsa.data.csv_corpus`,
unchanged) or several, each with the name of its corpus, written as a mapping or a
list (the list form replaces a recipe's value on the command line, where hyperpyyaml
would merge two mappings)::

    csv: {emodb: ../shared/data/emodb/manifest.csv, savee: ../shared/data/savee/manifest.csv}
    --csv=[emodb=../shared/data/emodb/manifest.csv, savee=../shared/data/savee/manifest.csv]

A path without ``name=`` takes its folder's name (``.../savee/manifest.csv``:
``savee``). In the merged manifest every utterance id and speaker id is prefixed
with its corpus (``savee.DC_a01``, ``savee/savee_DC``): the same speaker id in two
corpora is two speakers, for the folds and for per-speaker normalisation. Each entry
gets a ``corpus`` key, and ``{data_root}`` stands for the folder that holds every CSV's
folder (the deepest common one).

``label_map`` renames emotions: ``{anger: angry, joy: happy, neutral: neutral}``. When
it is given, only the emotions it names are kept (an emotion mapped to null, or not
named, is dropped); the dropped rows are counted per corpus and emotion in the log and
in ``corpora.json``, which :func:`prepare_csv_corpora` writes beside the manifest
(corpora, their CSVs, utterances, speakers, dropped rows, the label map) for the
reports and the model card.

``test_csv`` names the corpus the ``cross_corpus`` protocol tests whole
(:func:`speechbrain_drnsa.data.folds.cross_corpus`); its emotions must be among the
training corpora's (after the label map). ``leave_one_corpus_out`` tests each corpus
of ``csv`` in turn.
"""

import argparse
import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from speechbrain_drnsa.data.csv_corpus import (
    MANIFEST_NAME,
    CorpusRow,
    prepare_csv_corpus,
    read_corpus_csv,
    write_corpus,
)
from speechbrain_drnsa.data.folds import CROSS_CORPUS_PROTOCOLS
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import load_json, write_json_atomic

__all__ = [
    "add_corpora_options",
    "CORPORA_RECORD_NAME",
    "CorpusSpec",
    "corpus_csvs",
    "corpora_data_root",
    "corpora_labels",
    "corpus_of",
    "map_labels",
    "parse_label_map",
    "prepare_csv_corpora",
    "read_corpora_record",
]

logger = logging.getLogger(__name__)

#: Written beside the manifest: the corpora, their sizes and the label map.
CORPORA_RECORD_NAME = "corpora.json"

#: ``csv`` or ``test_csv`` as a recipe gives it: a path, ``name=path``, or several.
CorpusSpec = str | PathLike | Mapping[str, Any] | Sequence[Any] | None

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]*")


def corpus_csvs(spec: CorpusSpec) -> dict[str, Path]:
    """The corpora a ``csv`` (or ``test_csv``) setting names, in its order.

    Arguments
    ---------
    spec : str, PathLike, mapping or sequence
        ``path``, ``name=path``, a list of those, or ``{name: path}``; None or
        empty: no corpus.

    Returns
    -------
    dict of str to pathlib.Path
        Corpus name to its CSV.

    Example
    -------
    >>> corpus_csvs(["emodb=data/emodb/m.csv", "data/savee/manifest.csv"])
    {'emodb': PosixPath('data/emodb/m.csv'), 'savee': PosixPath('data/savee/manifest.csv')}
    >>> corpus_csvs({"a": "x.csv", "b": "y.csv"})["b"]
    PosixPath('y.csv')
    """
    if not spec:
        return {}
    if isinstance(spec, Mapping):
        items = [(str(name), Path(str(path))) for name, path in spec.items()]
    else:
        entries = [spec] if isinstance(spec, str | PathLike) else list(spec)
        items = [_named(entry) for entry in entries]
    corpora: dict[str, Path] = {}
    for name, path in items:
        if not _NAME.fullmatch(name):
            raise InputFileError(path, f"corpus name {name!r}: use letters, digits, _ + -")
        if name in corpora:
            raise InputFileError(path, f"corpus name {name!r} is also {corpora[name]}'s; "
                                 "name them: [name1=path1, name2=path2]")
        corpora[name] = path
    return corpora


def corpora_data_root(csv: CorpusSpec, test_csv: CorpusSpec = None) -> str:
    """The manifest's ``{data_root}``: the CSV's folder, or the folder holding all of them.

    Arguments
    ---------
    csv, test_csv : see :func:`corpus_csvs`
        The training corpora and the tested one.

    Returns
    -------
    str
        A single plain CSV path's folder as given (the one-corpus recipe's
        value), else the deepest folder common to every CSV's folder, absolute.

    Example
    -------
    >>> corpora_data_root("data/savee/manifest.csv")
    'data/savee'
    >>> corpora_data_root(["/d/emodb/m.csv", "/d/savee/m.csv"], "tess=/d/tess/m.csv")
    '/d'
    """
    if _single(csv, test_csv):
        return os.path.dirname(str(csv))
    folders = [str(path.resolve().parent) for path in _all_csvs(csv, test_csv).values()]
    return os.path.commonpath(folders)


def map_labels(
    rows: Sequence[CorpusRow], label_map: Mapping[str, str | None] | None
) -> tuple[list[CorpusRow], Counter]:
    """Rename emotions with ``label_map``; rows whose emotion maps to nothing are dropped.

    Arguments
    ---------
    rows : sequence of CorpusRow
        One corpus's rows.
    label_map : mapping, optional
        Emotion to new emotion; an emotion mapped to null, or absent, is dropped.
        None or empty: every row is kept as it is.

    Returns
    -------
    rows : list of CorpusRow
        The kept rows, renamed.
    dropped : collections.Counter
        Dropped rows per original emotion.

    Example
    -------
    >>> rows = [CorpusRow(str(i), Path("a.wav"), "a.wav", "s", emo, None, None, "")
    ...         for i, emo in enumerate(["anger", "joy", "boredom", "anger"])]
    >>> kept, dropped = map_labels(rows, {"anger": "angry", "joy": "happy"})
    >>> [row.emotion for row in kept], dict(dropped)
    (['angry', 'happy', 'angry'], {'boredom': 1})
    """
    if not label_map:
        return list(rows), Counter()
    kept, dropped = [], Counter()
    for row in rows:
        target = label_map.get(row.emotion)
        if target is None:
            dropped[row.emotion] += 1
        else:
            kept.append(row._replace(emotion=str(target)))
    return kept, dropped


def parse_label_map(items: Sequence[str]) -> dict[str, str | None]:
    """A label map from the command line's ``FROM=TO`` items (``FROM=``: dropped).

    Arguments
    ---------
    items : sequence of str
        ``["anger=angry", "joy=happy", "boredom="]``.

    Returns
    -------
    dict
        ``{"anger": "angry", "joy": "happy", "boredom": None}``.

    Example
    -------
    >>> parse_label_map(["anger=angry", "boredom="])
    {'anger': 'angry', 'boredom': None}
    """
    label_map: dict[str, str | None] = {}
    for item in items:
        source, equals, target = item.partition("=")
        if not equals or not source.strip():
            raise ValueError(f"label map item {item!r}: expected FROM=TO (FROM= drops FROM)")
        label_map[source.strip()] = target.strip() or None
    return label_map


def add_corpora_options(parser: argparse.ArgumentParser) -> None:
    """The options every CSV-recipe script takes about its folds and corpora.

    ``--protocol``, ``--test_csv`` (for ``cross_corpus``), ``--label_map FROM=TO ...``
    (:func:`parse_label_map`) and ``--seed`` (of the fold split).

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The script's parser, given the options.

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> add_corpora_options(parser)
    >>> args = parser.parse_args(["--label_map", "anger=angry", "--protocol", "cross_corpus"])
    >>> args.protocol, args.test_csv, args.label_map, args.seed
    ('cross_corpus', None, ['anger=angry'], 1234)
    """
    parser.add_argument(
        "--protocol", default="loso",
        help="loso (leave one speaker out), speaker_kfold<N> (speakers in N groups), "
        "leave_one_corpus_out or cross_corpus (with --test_csv)",
    )
    parser.add_argument("--test_csv", default=None, metavar="[NAME=]CSV",
                        help="the corpus protocol cross_corpus tests")
    parser.add_argument("--label_map", nargs="*", default=[], metavar="FROM=TO",
                        help="emotion renames; only the emotions named are kept")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the fold split")


def corpora_labels(
    csv: CorpusSpec, label_map: Mapping[str, str | None] | None = None
) -> list[str]:
    """The sorted label set of the training corpora, after the label map.

    Arguments
    ---------
    csv : see :func:`corpus_csvs`
        The training corpora (the tested one of ``cross_corpus`` must use these labels).
    label_map : mapping, optional
        See :func:`map_labels`.

    Returns
    -------
    list of str
        Each emotion kept, once, sorted: the model's outputs.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.wav").write_bytes(b"")
    >>> _ = (folder / "c.csv").write_text(
    ...     "path,speaker,emotion,id\\na.wav,s,anger,1\\na.wav,t,fear,2\\na.wav,u,sad,3\\n")
    >>> corpora_labels([f"x={folder / 'c.csv'}"], {"anger": "angry", "sad": "sad"})
    ['angry', 'sad']
    """
    corpora = {"": Path(str(csv))} if _single(csv, None) else corpus_csvs(csv)
    if not corpora:
        raise InputFileError("csv", "no corpus CSV given: set csv to a CSV path or to "
                             "[name1=path1, name2=path2]")
    labels = set()
    for path in corpora.values():
        rows, _ = map_labels(read_corpus_csv(path), label_map)
        labels.update(row.emotion for row in rows)
    if not labels:
        raise InputFileError(next(iter(corpora.values())),
                             f"the label map {dict(label_map or {})} keeps no emotion")
    return sorted(labels)


def prepare_csv_corpora(
    csv: CorpusSpec,
    save_folder: str | PathLike,
    protocol: str = "loso",
    seed: int = 1234,
    skip_prep: bool = False,
    test_csv: CorpusSpec = None,
    label_map: Mapping[str, str | None] | None = None,
) -> Path:
    """Write the merged manifest of several corpus CSVs and the folds of ``protocol``.

    A single plain CSV without ``test_csv`` or ``label_map`` is prepared by
    :func:`~speechbrain_drnsa.data.csv_corpus.prepare_csv_corpus`, as before.

    Arguments
    ---------
    csv : see :func:`corpus_csvs`
        The training corpora (every corpus, for ``leave_one_corpus_out``).
    save_folder : str or PathLike
        Where ``corpus.json``, ``corpora.json`` and ``folds_<protocol>.json`` go.
    protocol : str
        Any fold protocol; ``cross_corpus`` needs ``test_csv``, ``leave_one_corpus_out``
        at least two corpora.
    seed : int
        Seed of the shuffled protocols.
    skip_prep : bool
        Do nothing and return the manifest path, as SpeechBrain's prepare scripts do.
    test_csv : see :func:`corpus_csvs`
        The one corpus ``cross_corpus`` tests.
    label_map : mapping, optional
        See :func:`map_labels`.

    Returns
    -------
    pathlib.Path
        Path of ``corpus.json``; its ``{data_root}`` is :func:`corpora_data_root`.

    Example
    -------
    >>> import tempfile
    >>> import numpy as np, soundfile as sf
    >>> root = Path(tempfile.mkdtemp())
    >>> for corpus, speakers in [("x", "abc"), ("y", "ab")]:
    ...     (root / corpus).mkdir()
    ...     lines = ["path,speaker,emotion"]
    ...     for i, spk in enumerate(speakers * 2):
    ...         sf.write(root / corpus / f"{i}.wav", np.zeros(1600), 16000)
    ...         lines.append(f"{i}.wav,{spk},{['sad', 'anger', 'fear'][i % 3]}")
    ...     _ = (root / corpus / "c.csv").write_text("\\n".join(lines) + "\\n")
    >>> path = prepare_csv_corpora([f"{root}/x/c.csv", f"{root}/y/c.csv"], root / "prep",
    ...     protocol="leave_one_corpus_out", label_map={"sad": "sad", "anger": "angry"})
    x+y: ...
    >>> load_json(path)["y.1"]
    {'wav': '{data_root}/y/1.wav', 'duration': 0.1, 'emo': 'angry', 'speaker': 'y/b', 'corpus': 'y'}
    >>> load_json(root / "prep" / "corpora.json")["corpora"]["x"]["dropped"]
    {'fear': 2}
    """
    save_folder = Path(save_folder)
    manifest_path = save_folder / MANIFEST_NAME
    if skip_prep:
        return manifest_path
    if test_csv and protocol != "cross_corpus":
        raise InputFileError(next(iter(corpus_csvs(test_csv).values())),
                             f"test_csv is the corpus protocol cross_corpus tests; protocol "
                             f"{protocol} does not use it (set test_csv: null)")
    if _single(csv, test_csv) and not label_map:
        if protocol in CROSS_CORPUS_PROTOCOLS:
            raise InputFileError(csv, f"protocol {protocol} tests whole corpora: give several, "
                                 "csv=[name1=path1, name2=path2]" + (
                                     "" if protocol != "cross_corpus" else ", and test_csv"))
        # a record of other corpora prepared here before would describe the wrong ones
        (save_folder / CORPORA_RECORD_NAME).unlink(missing_ok=True)
        return prepare_csv_corpus(csv, save_folder, protocol=protocol, seed=seed)
    training = _training_corpora(csv, test_csv)
    tested = corpus_csvs(test_csv)
    if protocol == "cross_corpus" and len(tested) != 1:
        raise InputFileError(save_folder, "protocol cross_corpus needs test_csv: the one "
                             f"corpus to test (name=path), got {len(tested)}")
    corpora = {**training, **tested}
    overlap = set(training) & set(tested)
    if overlap:
        raise InputFileError(tested[min(overlap)], f"corpus {min(overlap)!r} is in csv too")
    named = not _single(csv, test_csv)
    root = Path(corpora_data_root(csv, test_csv)) if named else None
    rows, record = [], {}
    for name, path in corpora.items():
        kept, dropped = map_labels(read_corpus_csv(path), label_map)
        if not kept:
            raise InputFileError(path, f"the label map {dict(label_map or {})} drops every row")
        if dropped:
            logger.info("%s: %d of %d rows dropped by the label map (%s)", name,
                        sum(dropped.values()), len(kept) + sum(dropped.values()),
                        ", ".join(f"{emo} {n}" for emo, n in sorted(dropped.items())))
        if named:
            kept = [_in_corpus(row, name, path, root) for row in kept]
        rows += kept
        record[name] = {
            "csv": str(path.resolve()),
            "role": "test" if name in tested else "train",
            "utterances": len(kept),
            "speakers": len({row.speaker for row in kept}),
            "emotions": dict(sorted(Counter(row.emotion for row in kept).items())),
            "dropped": dict(sorted(dropped.items())),
        }
    _check_test_labels(record, tested)
    if protocol == "leave_one_corpus_out":
        _warn_unlearnt_labels(record)
    source = {
        "csv": {name: [str(path.resolve()), _sha1(path)] for name, path in corpora.items()},
        "test_corpus": next(iter(tested), None),
        "label_map": dict(label_map or {}),
    }
    manifest = write_corpus(
        rows, save_folder, protocol=protocol, seed=seed, source=source,
        title="+".join(corpora) if named else next(iter(training.values())).name,
        test_corpus=next(iter(tested), None),
    )
    write_json_atomic({"corpora": record, "label_map": dict(label_map or {})},
                      save_folder / CORPORA_RECORD_NAME)
    return manifest


def read_corpora_record(folder: str | PathLike) -> dict[str, Any] | None:
    """The ``corpora.json`` of a folder, or None when it has none (one corpus, no label map).

    Arguments
    ---------
    folder : str or PathLike
        A prepared folder, or a results folder it was copied to.

    Returns
    -------
    dict or None
        ``{"corpora": {name: {"csv", "role", "utterances", "speakers", "emotions",
        "dropped"}}, "label_map": {...}}``.

    Example
    -------
    >>> import tempfile
    >>> read_corpora_record(tempfile.mkdtemp()) is None
    True
    """
    path = Path(folder) / CORPORA_RECORD_NAME
    return load_json(path) if path.is_file() else None


def corpus_of(manifest: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Utterance id to corpus, for the entries of a merged manifest (``corpus`` key).

    Arguments
    ---------
    manifest : mapping
        A manifest; entries without a ``corpus`` key (one unnamed corpus) are left out.

    Returns
    -------
    dict of str to str

    Example
    -------
    >>> corpus_of({"x.1": {"corpus": "x"}, "2": {"speaker": "s"}})
    {'x.1': 'x'}
    """
    return {utt: str(entry["corpus"]) for utt, entry in manifest.items() if "corpus" in entry}


def _named(entry: Any) -> tuple[str, Path]:
    """``name=path``, ``{name: path}`` or a path named after its folder."""
    if isinstance(entry, Mapping) and len(entry) == 1:
        (name, path), = entry.items()
        return str(name), Path(str(path))
    text = str(entry)
    name, equals, path = text.partition("=")
    if equals and _NAME.fullmatch(name):
        return name, Path(path)
    return Path(text).parent.resolve().name, Path(text)


def _single(csv: CorpusSpec, test_csv: CorpusSpec) -> bool:
    """One plain CSV path and no tested corpus: the one-corpus recipe, unchanged."""
    if test_csv or not isinstance(csv, str | PathLike):
        return False
    name, equals, _ = str(csv).partition("=")
    return not (equals and _NAME.fullmatch(name))


def _all_csvs(csv: CorpusSpec, test_csv: CorpusSpec) -> dict[str, Path]:
    return {**_training_corpora(csv, test_csv), **corpus_csvs(test_csv)}


def _training_corpora(csv: CorpusSpec, test_csv: CorpusSpec) -> dict[str, Path]:
    corpora = corpus_csvs(csv)
    if not corpora:
        raise InputFileError("csv", "no corpus CSV given: set csv to a CSV path or to "
                             "[name1=path1, name2=path2]")
    return corpora


def _in_corpus(row: CorpusRow, corpus: str, csv_path: Path, root: Path) -> CorpusRow:
    """The row with corpus-prefixed ids and its path relative to the common ``{data_root}``."""
    wav = row.wav
    if wav.startswith("{data_root}/"):
        folder = csv_path.resolve().parent.relative_to(root).as_posix()
        prefix = "{data_root}" if folder == "." else "{data_root}/" + folder
        wav = prefix + wav.removeprefix("{data_root}")
    return row._replace(utt_id=f"{corpus}.{row.utt_id}", speaker=f"{corpus}/{row.speaker}",
                        wav=wav, corpus=corpus)


def _check_test_labels(record: Mapping[str, Any], tested: Mapping[str, Path]) -> None:
    """The tested corpus's emotions must be ones the model learns."""
    learnt = {emo for info in record.values() if info["role"] == "train"
              for emo in info["emotions"]}
    for name, path in tested.items():
        unknown = sorted(set(record[name]["emotions"]) - learnt)
        if unknown:
            raise InputFileError(
                path, f"emotions {', '.join(unknown)} of test corpus {name!r} are in no training "
                f"corpus ({', '.join(sorted(learnt))}); map them with label_map or drop them"
            )


def _warn_unlearnt_labels(record: Mapping[str, Any]) -> None:
    """Leaving a corpus out, its emotions that no other corpus has are never learnt."""
    for name, info in record.items():
        others = {emo for other, o in record.items() if other != name for emo in o["emotions"]}
        unlearnt = sorted(set(info["emotions"]) - others)
        if unlearnt:
            logger.warning("%s: emotions %s are in no other corpus: its fold of "
                           "leave_one_corpus_out tests them without training on them",
                           name, ", ".join(unlearnt))


def _sha1(path: Path) -> str:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError as err:
        raise InputFileError(path, f"cannot read the corpus CSV ({err.strerror})") from None
