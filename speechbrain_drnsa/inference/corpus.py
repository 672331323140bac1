"""Classify a whole corpus from a CSV manifest: speakers enrolled, in parallel, resumable.

The manifest has a ``path`` column (relative paths are taken from the CSV's
folder), an optional ``speaker`` column and any others, all kept in the
output. The output table (CSV, or JSON lines) has one line per classified
row: ``row`` (the manifest row, from 0), the input columns, ``label``,
``confidence`` and ``prob_<class>`` per class.

Work comes in units: a row, or, for a per-speaker model, a speaker with all
their rows. A speaker's files are read once; their features enrol the speaker
and are then classified (:meth:`EmotionRecognizer.enrol_features`).
``jobs`` worker processes take units in turn and the table is written in unit
order, so any ``jobs`` writes the same table. ``shard="K/N"`` takes every
N-th unit from the K-th (1 <= K <= N, as ``extract --shard``): a speaker's
rows stay in one shard, so a shard's labels are those of a single run, and
:func:`merge_tables` puts the shards' tables back into manifest order.

Each unit's lines are appended (flushed to the system) as soon as it is
done, and synced to disk at most every :data:`SYNC_S` seconds and at the end:
a killed run loses nothing written, a system crash at most the last second's
rows, which a rerun classifies again. A rerun skips the rows already in the
table (a line cut short by a crash is dropped
first), so an interrupted run resumes without classifying a row twice. A row
that cannot be classified (empty path, missing or unreadable audio) goes to
``<table>.errors.csv`` with its reason, and the rest goes on; a rerun tries
it again.
"""

import csv
import functools
import io
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from tqdm import tqdm

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.cache import parse_shard
from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.windows import FileFeatures, FileResult
from speechbrain_drnsa.io import write_text_atomic

__all__ = [
    "CorpusReport", "ManifestRow", "classify_corpus", "classify_unit", "merge_tables",
    "read_manifest", "table_columns", "work_units",
]

logger = logging.getLogger(__name__)

#: Column of the manifest row number in the output table.
ROW_COLUMN = "row"
#: Seconds between syncs of the table to disk (one fsync per file cost 5 to 10 % of a 5 s file).
SYNC_S = 1.0
_PROB_PREFIX = "prob_"


@dataclass(frozen=True)
class ManifestRow:
    """One row of a manifest: its number (from 0), its columns, its file and speaker."""

    index: int
    columns: dict[str, str]
    path: Path | None  # None: the path cell is empty
    speaker: str | None


@dataclass
class CorpusReport:
    """What :func:`classify_corpus` did: rows classified now, found done, and failed."""

    table: Path
    classified: int = 0
    resumed: int = 0
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every row of the run is in the table."""
        return not self.failures

    @property
    def errors(self) -> Path:
        """The side file listing the failed rows with their reasons."""
        return errors_path(self.table)


def read_manifest(path: str | PathLike) -> tuple[list[str], list[ManifestRow]]:
    """Read a CSV manifest: its column names and its rows.

    Arguments
    ---------
    path : str or PathLike
        A CSV file with a header naming a ``path`` column.

    Returns
    -------
    tuple
        ``(columns, rows)``; relative paths are joined to the CSV's folder,
        an empty speaker cell is no speaker.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "m.csv").write_text("path,speaker,emo\\na.wav,F1,ang\\n,,\\n")
    >>> columns, rows = read_manifest(folder / "m.csv")
    >>> columns, rows[0].path == folder / "a.wav", rows[0].speaker, rows[1].path
    (['path', 'speaker', 'emo'], True, 'F1', None)
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            columns = list(reader.fieldnames or [])
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputFileError(path, f"not a readable CSV manifest ({err})") from None
    if "path" not in columns:
        raise InputFileError(path, f"has no 'path' column (columns: {columns})")
    clashes = sorted({ROW_COLUMN, "label", "confidence"} & set(columns))
    if clashes:
        raise InputFileError(path, f"columns {clashes} clash with the output's: rename them")
    rows = []
    for index, record in enumerate(records):
        cells = {name: record.get(name) or "" for name in columns}
        wav = cells["path"].strip()
        speaker = cells.get("speaker", "").strip() or None
        rows.append(ManifestRow(index, cells, path.parent / wav if wav else None, speaker))
    return columns, rows


def work_units(rows: Sequence[ManifestRow], per_speaker: bool) -> list[list[ManifestRow]]:
    """Rows grouped as they are classified: a speaker's together for a per-speaker model.

    Example
    -------
    >>> rows = [ManifestRow(i, {}, Path(f"{i}.wav"), s) for i, s in enumerate("ABA")]
    >>> [[r.index for r in unit] for unit in work_units(rows, per_speaker=True)]
    [[0, 2], [1]]
    >>> [[r.index for r in unit] for unit in work_units(rows, per_speaker=False)]
    [[0], [1], [2]]
    """
    units: dict[object, list[ManifestRow]] = {}
    for row in rows:
        key = ("speaker", row.speaker) if per_speaker and row.speaker else ("row", row.index)
        units.setdefault(key, []).append(row)
    return list(units.values())


def table_columns(manifest_columns: Sequence[str], labels: Sequence[str]) -> list[str]:
    """The output table's columns.

    Example
    -------
    >>> table_columns(["path", "speaker"], ["neu", "ang"])
    ['row', 'path', 'speaker', 'label', 'confidence', 'prob_neu', 'prob_ang']
    """
    return [ROW_COLUMN, *manifest_columns, "label", "confidence",
            *(_PROB_PREFIX + label for label in labels)]


def errors_path(table: str | PathLike) -> Path:
    """The failed rows' side file of a table: ``table.csv`` -> ``table.errors.csv``."""
    table = Path(table)
    return table.with_name(f"{table.stem}.errors.csv")


def classify_unit(
    recognizer: EmotionRecognizer,
    rows: Sequence[ManifestRow],
    skip: frozenset[int] = frozenset(),
    window_s: float | None = None,
) -> list[tuple[int, FileResult | None, str | None]]:
    """Classify a unit of rows, enrolling their speaker first for a per-speaker model.

    Arguments
    ---------
    recognizer : EmotionRecognizer
        The model.
    rows : sequence of ManifestRow
        One unit (:func:`work_units`): one row, or all the rows of a speaker.
    skip : frozenset of int
        Rows already classified: they still enrol their speaker.
    window_s : float, optional
        Window length for long files (hop: half of it).

    Returns
    -------
    list of tuple
        ``(row, result, None)`` or ``(row, None, reason)`` per row not skipped.
    """
    hop_s = window_s / 2 if window_s else None
    speaker = rows[0].speaker if recognizer.speaker_normalization else None
    features: dict[int, FileFeatures] = {}
    reasons: dict[int, str] = {}
    for row in rows:
        if row.index in skip and speaker is None:
            continue
        if row.path is None:
            reasons[row.index] = f"row {row.index}: empty path"
            continue
        try:
            features[row.index] = recognizer.file_features(row.path, window_s, hop_s)
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
            reasons[row.index] = _reason(row.path, err)
    if speaker is not None and features:
        try:
            recognizer.enrol_features(speaker, list(features.values()))
        except Exception as err:  # noqa: BLE001
            reason = f"speaker {speaker!r} could not be enrolled: {err}".replace("\n", " ")
            return [(row.index, None, reason) for row in rows if row.index not in skip]
    outcomes = []
    for row in rows:
        if row.index in skip:
            continue
        if row.index in reasons:
            outcomes.append((row.index, None, reasons[row.index]))
            continue
        try:
            result = recognizer.classify_features(features[row.index], speaker)
            for warning in result.warnings:  # returned by the recognizer, said here
                logger.warning(warning)
            outcomes.append((row.index, result, None))
        except Exception as err:  # noqa: BLE001
            outcomes.append((row.index, None, _reason(row.path, err)))
    return outcomes


def classify_corpus(
    model: str | PathLike,
    manifest: str | PathLike,
    table: str | PathLike,
    jobs: int = 1,
    shard: str | None = None,
    window_s: float | None = None,
    backend: str = "torch",
    precision: str = "fp32",
    output_format: str | None = None,
) -> CorpusReport:
    """Classify every row of a manifest (or of a shard of it) into one table.

    Arguments
    ---------
    model : str or PathLike
        A model folder or hub id.
    manifest : str or PathLike
        The CSV manifest (:func:`read_manifest`).
    table : str or PathLike
        The output table; rows already in it are skipped (a resumed run).
    jobs : int
        Worker processes (spawned, one torch or ONNX Runtime thread each); 1
        runs here, on one thread too, so that every ``jobs`` gives the same
        numbers.
    shard : str, optional
        ``"K/N"``: every N-th unit from the K-th (see the module).
    window_s : float, optional
        Window length for long files (hop: half of it).
    backend, precision : str
        As :class:`EmotionRecognizer`.
    output_format : str, optional
        ``"csv"`` or ``"jsonl"``; default: ``jsonl`` for a ``.jsonl``/``.json``
        table, else ``csv``.

    Returns
    -------
    CorpusReport
        Rows classified, found done, and failed (also written to
        :attr:`CorpusReport.errors`).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    table = Path(table)
    output_format = output_format or _format_of(table)
    if output_format not in ("csv", "jsonl"):
        raise ValueError(f"output_format must be 'csv' or 'jsonl', got {output_format!r}")
    columns, rows = read_manifest(manifest)
    run_opts = {"precision": precision, **({"num_threads": 1} if backend == "onnx" else {})}
    load = functools.partial(EmotionRecognizer.from_hparams, model, backend=backend,
                             run_opts=run_opts)
    recognizer = load()
    units = work_units(rows, recognizer.speaker_normalization)
    if shard is not None:
        index, count = parse_shard(shard)
        units = units[index - 1 :: count]
    header = table_columns(columns, recognizer.labels)
    done = _rows_done(table, header, output_format)
    report = CorpusReport(table, resumed=sum(r.index in done for u in units for r in u))
    todo = [unit for unit in units if any(row.index not in done for row in unit)]
    tasks = [(unit, frozenset(r.index for r in unit if r.index in done), window_s)
             for unit in todo]
    progress = tqdm(total=sum(len(u) for u in units) - report.resumed, unit="file",
                    desc="classify", disable=None)
    table.parent.mkdir(parents=True, exist_ok=True)
    with open(table, "a", newline="", encoding="utf-8") as stream:
        synced = time.monotonic()
        if output_format == "csv" and stream.tell() == 0:
            _append(stream, _csv_line(header), sync=True)
        for outcomes in _run(tasks, load, recognizer, jobs):
            lines = []
            for index, result, reason in outcomes:
                if result is None:
                    report.failures[index] = reason
                    continue
                record = _record(rows[index], result, recognizer.labels)
                lines.append(
                    _csv_line([record[name] for name in header]) if output_format == "csv"
                    else json.dumps(record) + "\n"
                )
            sync = time.monotonic() - synced >= SYNC_S
            _append(stream, "".join(lines), sync)
            synced = time.monotonic() if sync else synced
            report.classified += len(lines)
            progress.update(len(outcomes))
        _append(stream, "", sync=True)
    progress.close()
    _write_errors(report, rows)
    return report


def merge_tables(parts: Sequence[str | PathLike], out: str | PathLike) -> Path:
    """Join the tables of several shards (or runs) into one, in manifest order.

    Arguments
    ---------
    parts : sequence of str or PathLike
        Tables written by :func:`classify_corpus`, all CSV or all JSON lines,
        of the same columns.
    out : str or PathLike
        The merged table (written atomically; its format is the parts').

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    InputFileError
        For a missing part, one with other columns or a record cut short,
        or a row two parts disagree on.
    """
    formats = {_format_of(Path(part)) for part in parts}
    if len(formats) != 1:
        raise ValueError(f"parts mix CSV and JSON lines tables: {[str(p) for p in parts]}")
    output_format = formats.pop()
    header, lines = None, {}
    for part in parts:
        if not Path(part).is_file():
            raise InputFileError(part, "no such table (has its shard run?)")
        part_header, part_lines, cut = _read_table(Path(part), output_format)
        if cut:
            raise InputFileError(part, "ends in a record cut short: rerun its command to finish it")
        if header is not None and part_header != header:
            raise InputFileError(part, f"has columns {part_header}, not {header}")
        header = part_header
        for index, line in part_lines.items():
            if lines.setdefault(index, line) != line:
                raise InputFileError(part, f"row {index} differs from another part's")
    text = "".join(lines[index] for index in sorted(lines))
    if output_format == "csv" and header is not None:
        text = _csv_line(header) + text
    return write_text_atomic(text, out)


_Task = tuple[list[ManifestRow], frozenset[int], float | None]
_WORKER: dict[str, EmotionRecognizer] = {}


def _run(
    tasks: list[_Task], load: functools.partial, recognizer: EmotionRecognizer, jobs: int
) -> Iterator[list[tuple[int, FileResult | None, str | None]]]:
    """Each task's outcomes in task order, from ``jobs`` spawned workers when > 1."""
    if jobs == 1 or len(tasks) < 2:
        # as a worker: the same arithmetic, so the same numbers
        threads = _set_torch_threads(recognizer.backend, 1)
        try:
            yield from (classify_unit(recognizer, *task) for task in tasks)
        finally:
            _set_torch_threads(recognizer.backend, threads)
        return
    context = multiprocessing.get_context("spawn")  # fork is unsafe with torch threads
    with context.Pool(min(jobs, len(tasks)), initializer=_start_worker, initargs=(load,)) as pool:
        yield from pool.imap(_classify_in_worker, tasks)


def _set_torch_threads(backend: str, threads: int | None) -> int | None:
    """Set torch's threads on the torch backend (ONNX imports no torch); the previous number."""
    if backend != "torch" or threads is None:
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    return previous


def _start_worker(load: functools.partial) -> None:
    _set_torch_threads(load.keywords["backend"], 1)
    _WORKER["recognizer"] = load()


def _classify_in_worker(task: _Task) -> list[tuple[int, FileResult | None, str | None]]:
    return classify_unit(_WORKER["recognizer"], *task)


def _record(row: ManifestRow, result: FileResult, labels: Sequence[str]) -> dict:
    return {
        ROW_COLUMN: row.index, **row.columns, "label": result.label,
        "confidence": round(result.score, 6),
        **{_PROB_PREFIX + label: round(p, 6) for label, p in zip(labels, result.probabilities)},
    }


def _reason(path: Path, err: Exception) -> str:
    reason = str(err) if str(path) in str(err) else f"{path}: {err}"
    return reason.replace("\n", " ")


def _format_of(table: Path) -> str:
    return "jsonl" if table.suffix.lower() in (".jsonl", ".json") else "csv"


def _csv_line(values: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _append(stream: io.TextIOBase, text: str, sync: bool) -> None:
    """Append, flush and perhaps sync: a crash leaves whole lines, but perhaps a cut last one."""
    stream.write(text)
    stream.flush()
    if sync:
        os.fsync(stream.fileno())


def _rows_done(table: Path, header: list[str], output_format: str) -> set[int]:
    """Rows already in a table from an earlier run; a record cut short by a crash is dropped."""
    if not table.is_file():
        return set()
    found, records, cut = _read_table(table, output_format)
    if found is not None and found != header:
        raise InputFileError(table, f"has columns {found}, not this run's {header}: "
                                    "write to another file")
    if cut:
        text = _csv_line(header) if output_format == "csv" and records else ""
        write_text_atomic(text + "".join(records.values()), table)
    return set(records)


def _read_table(
    table: Path, output_format: str
) -> tuple[list[str] | None, dict[int, str], bool]:
    """A table's columns (None when empty), its records' text by row, and whether one was cut.

    Records are parsed, not split at line ends (a CSV cell may hold one), and
    written again as :func:`classify_corpus` writes them.
    """
    text = table.read_text(encoding="utf-8")
    cut = bool(text) and not text.endswith("\n")
    try:
        if output_format == "jsonl":
            lines = [line for line in text.splitlines() if line.strip()]
            objects = [json.loads(line) for line in (lines[:-1] if cut else lines)]
            records = {int(obj[ROW_COLUMN]): json.dumps(obj) + "\n" for obj in objects}
            return (list(objects[0]) if objects else None), records, cut
        header, *body = list(csv.reader(io.StringIO(text))) or [None]
        if body and len(body[-1]) != len(header):  # a record cut inside a quoted cell
            cut = True
        if cut:
            body = body[:-1]
        if not body and cut:  # the header itself was cut
            return None, {}, True
        return header, {int(record[0]): _csv_line(record) for record in body}, cut
    except (ValueError, KeyError, IndexError, csv.Error) as err:
        raise InputFileError(table, f"not a table classify --csv wrote ({err})") from None


def _write_errors(report: CorpusReport, rows: Sequence[ManifestRow]) -> None:
    """The failed rows and their reasons beside the table; none: no side file."""
    if not report.failures:
        report.errors.unlink(missing_ok=True)
        return
    text = _csv_line([ROW_COLUMN, "path", "reason"]) + "".join(
        _csv_line([index, rows[index].columns["path"], reason])
        for index, reason in sorted(report.failures.items())
    )
    write_text_atomic(text, report.errors)
