"""Results on disk: one folder per fold, one summary per experiment.

Layout (``<seed>`` is the seed of the run, ``<k>`` the fold number)::

    results/<experiment>/<seed>/
        summary.md  summary.csv  summary.json    per-fold UA, WA, F1, mean, std, wall time
        fold_<k>/
            metrics.json                         scores, confusion, test size, wall time
            confusion_matrix.csv  confusion_matrix.png
            predictions.csv                      utt_id, true, predicted, speaker, p_<label>...
            checkpoints/  hparams.yaml  logs/

Every file is written to a temporary name in its folder and renamed over
the target, so an interrupted run never leaves a half-written report; a
fold counts as finished exactly when its ``metrics.json`` exists.
"""

import csv
import io
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import (
    load_json,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from speechbrain_drnsa.results.scores import SCORE_NAMES
from speechbrain_drnsa.results.scores import Evaluation

__all__ = [
    "METRICS_FILE",
    "PREDICTIONS_FILE",
    "FoldPredictions",
    "corpus_means",
    "fold_folder",
    "read_finished_folds",
    "read_fold_metrics",
    "read_predictions",
    "write_fold_report",
    "summarize",
    "write_seeds_summary",
    "write_summary",
]

#: Written last in a fold's folder: its presence marks the fold as finished.
METRICS_FILE = "metrics.json"

#: Each test utterance's true and predicted label, speaker and class probabilities.
PREDICTIONS_FILE = "predictions.csv"


def fold_folder(experiment_folder: str | PathLike, fold: int) -> Path:
    """Return the folder of fold ``fold`` (from 0, as in the fold files) of an experiment.

    Arguments
    ---------
    experiment_folder : str or PathLike
        ``results/<experiment>/<seed>``.
    fold : int
        Fold number.

    Returns
    -------
    pathlib.Path
        ``<experiment_folder>/fold_<fold>``.

    Example
    -------
    >>> fold_folder("results/drn_mhsa/1234", 3).as_posix()
    'results/drn_mhsa/1234/fold_3'
    """
    return Path(experiment_folder) / f"fold_{fold}"


def read_fold_metrics(folder: str | PathLike) -> dict[str, Any] | None:
    """Read a fold's ``metrics.json``, or ``None`` when the fold has not finished.

    Arguments
    ---------
    folder : str or PathLike
        The fold's folder.

    Returns
    -------
    dict or None
        The metrics written by :func:`write_fold_report`.

    Example
    -------
    >>> import tempfile
    >>> read_fold_metrics(tempfile.mkdtemp()) is None
    True
    """
    path = Path(folder) / METRICS_FILE
    return load_json(path) if path.is_file() else None


def read_finished_folds(experiment_folder: str | PathLike) -> dict[int, dict[str, Any]]:
    """The metrics of every finished fold of a run, by fold number.

    Arguments
    ---------
    experiment_folder : str or PathLike
        ``results/<experiment>/<seed>``, holding ``fold_<k>`` folders.

    Returns
    -------
    dict
        ``{fold: metrics}`` of the folds with a ``metrics.json``.

    Example
    -------
    >>> import tempfile
    >>> read_finished_folds(tempfile.mkdtemp())
    {}
    """
    return {
        int(path.name.removeprefix("fold_")): metrics
        for path in sorted(Path(experiment_folder).glob("fold_*"))
        if (metrics := read_fold_metrics(path)) is not None
    }


def write_fold_report(
    folder: str | PathLike,
    evaluation: Evaluation,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a fold's confusion matrix (CSV, PNG), predictions and, last, its metrics.

    Arguments
    ---------
    folder : str or PathLike
        The fold's folder (created if needed).
    evaluation : Evaluation
        The test outcome of the fold's selected checkpoint.
    extra : mapping, optional
        More JSON-serialisable entries for ``metrics.json`` (wall time,
        selected checkpoint, epochs trained...).

    Returns
    -------
    dict
        The content of ``metrics.json``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> ev = Evaluation({"UA": 0.75, "WA": 0.75, "F1": 0.73}, [[2, 0], [1, 1]],
    ...                 ["neu", "ang"], [("a", "neu", "neu"), ("b", "neu", "neu"),
    ...                                  ("c", "ang", "neu"), ("d", "ang", "ang")])
    >>> metrics = write_fold_report(folder, ev, {"wall_time_s": 1.5})
    >>> metrics["UA"], metrics["n_test"]
    (0.75, 4)
    >>> sorted(p.name for p in Path(folder).iterdir())
    ['confusion_matrix.csv', 'confusion_matrix.png', 'metrics.json', 'predictions.csv']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [["true\\predicted", *evaluation.labels]]
    rows += [[label, *counts] for label, counts in zip(evaluation.labels, evaluation.confusion)]
    write_text_atomic(_csv_text(rows), folder / "confusion_matrix.csv")
    write_bytes_atomic(
        _confusion_png(evaluation.confusion, evaluation.labels), folder / "confusion_matrix.png"
    )
    predictions = [["utt_id", "true", "predicted"], *map(list, evaluation.predictions)]
    if evaluation.speakers is not None:
        predictions[0].append("speaker")
        for row, speaker in zip(predictions[1:], evaluation.speakers, strict=True):
            row.append(speaker)
    if evaluation.probabilities is not None:
        predictions[0] += [f"p_{label}" for label in evaluation.labels]
        for row, probabilities in zip(predictions[1:], evaluation.probabilities, strict=True):
            row += [f"{p:.6f}" for p in probabilities]
    write_text_atomic(_csv_text(predictions), folder / PREDICTIONS_FILE)
    metrics = {
        **{name: evaluation.scores[name] for name in SCORE_NAMES},
        "n_test": len(evaluation.predictions),
        "labels": list(evaluation.labels),
        "confusion": evaluation.confusion,
        **(extra or {}),
    }
    write_json_atomic(metrics, folder / METRICS_FILE)
    return metrics


@dataclass(frozen=True)
class FoldPredictions:
    """A fold's ``predictions.csv``: every test utterance once, in the file's order.

    Arguments
    ---------
    path : pathlib.Path
        The file read.
    labels : list of str
        Class names, in the order of the probability columns (empty without them).
    ids, truths, predicted : list of str
        Utterance ids, true and predicted labels.
    speakers : list of str or None
        Each utterance's speaker; None when the file has no ``speaker`` column
        (written before speakers were recorded).
    probabilities : numpy.ndarray or None
        ``(utterances, labels)``; None without ``p_<label>`` columns.

    Example
    -------
    >>> import tempfile
    >>> ev = Evaluation({"UA": 0.5, "WA": 0.5, "F1": 0.3}, [[1, 0], [1, 0]], ["neu", "ang"],
    ...                 [("a", "neu", "neu"), ("b", "ang", "neu")], speakers=["s1", "s2"])
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_fold_report(folder, ev)
    >>> read_predictions(folder).speakers
    ['s1', 's2']
    """

    path: Path
    labels: list[str]
    ids: list[str]
    truths: list[str]
    predicted: list[str]
    speakers: list[str] | None
    probabilities: np.ndarray | None


def read_predictions(folder: str | PathLike) -> FoldPredictions:
    """Read the ``predictions.csv`` of a fold's folder, its columns found by name.

    Arguments
    ---------
    folder : str or PathLike
        The fold's folder.

    Returns
    -------
    FoldPredictions

    Raises
    ------
    InputFileError
        If the file is missing or lacks the ``utt_id``, ``true`` or ``predicted`` column.

    Example
    -------
    >>> import tempfile
    >>> read_predictions(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...predictions.csv: file not found
    """
    path = Path(folder) / PREDICTIONS_FILE
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            rows, header = list(reader), list(reader.fieldnames or [])
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    missing = [name for name in ("utt_id", "true", "predicted") if name not in header]
    if missing:
        raise InputFileError(path, f"has no {missing[0]!r} column (header: {header})")
    probability_columns = [name for name in header if name.startswith("p_")]
    return FoldPredictions(
        path=path,
        labels=[name.removeprefix("p_") for name in probability_columns],
        ids=[row["utt_id"] for row in rows],
        truths=[row["true"] for row in rows],
        predicted=[row["predicted"] for row in rows],
        speakers=[row["speaker"] for row in rows] if "speaker" in header else None,
        probabilities=np.array(
            [[float(row[name]) for name in probability_columns] for row in rows], dtype=np.float64
        ) if probability_columns else None,
    )


def summarize(folds: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Collect per-fold scores with their mean and (population) standard deviation.

    Arguments
    ---------
    folds : mapping
        ``{fold: metrics}`` as returned by :func:`write_fold_report`.

    Returns
    -------
    dict
        ``{"folds": [{"fold", "UA", "WA", "F1", "n_test", "wall_time_s"}],
        "mean": {...}, "std": {...}, "wall_time_s": total}``.

    Example
    -------
    >>> summary = summarize({1: {"UA": 0.5, "WA": 0.6, "F1": 0.4, "n_test": 10},
    ...                      2: {"UA": 0.7, "WA": 0.8, "F1": 0.6, "n_test": 12}})
    >>> summary["mean"]["UA"], round(summary["std"]["UA"], 6)
    (0.6, 0.1)
    """
    rows = [
        {
            "fold": fold,
            **{name: metrics[name] for name in SCORE_NAMES},
            "n_test": metrics["n_test"],
            "wall_time_s": metrics.get("wall_time_s", 0.0),
        }
        for fold, metrics in sorted(folds.items())
    ]
    columns = {name: [row[name] for row in rows] for name in SCORE_NAMES}
    corpora = corpus_means(folds)
    return {
        "folds": rows,
        "mean": {name: statistics.fmean(values) for name, values in columns.items()},
        "std": {name: statistics.pstdev(values) for name, values in columns.items()},
        "wall_time_s": sum(row["wall_time_s"] for row in rows),
        **({"corpora": corpora} if corpora else {}),
    }


def corpus_means(folds: Mapping[int, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Scores per test corpus: each corpus's scores averaged over the folds that test it.

    Arguments
    ---------
    folds : mapping
        ``{fold: metrics}``; folds of several corpora have ``corpora``
        (``{corpus: {"UA", "WA", "F1", "n_test"}}``, see
        :func:`~speechbrain_drnsa.results.scores.scores_by_corpus`).

    Returns
    -------
    dict
        ``{corpus: {"UA", "WA", "F1", "n_test", "folds"}}``: mean scores over
        those folds, their test utterances and the fold numbers; empty for one
        unnamed corpus.

    Example
    -------
    >>> folds = {0: {"corpora": {"x": {"UA": 0.5, "WA": 0.5, "F1": 0.5, "n_test": 4}}},
    ...          1: {"corpora": {"x": {"UA": 0.7, "WA": 0.7, "F1": 0.7, "n_test": 4},
    ...                          "y": {"UA": 0.4, "WA": 0.4, "F1": 0.4, "n_test": 2}}}}
    >>> means = corpus_means(folds)
    >>> round(means["x"]["UA"], 6), means["x"]["folds"], means["y"]["n_test"]
    (0.6, [0, 1], 2)
    """
    tested: dict[str, dict[int, Mapping[str, Any]]] = {}
    for fold, metrics in sorted(folds.items()):
        for corpus, scores in (metrics.get("corpora") or {}).items():
            tested.setdefault(corpus, {})[fold] = scores
    return {
        corpus: {
            **{name: statistics.fmean(s[name] for s in by_fold.values()) for name in SCORE_NAMES},
            "n_test": sum(s["n_test"] for s in by_fold.values()),
            "folds": list(by_fold),
        }
        for corpus, by_fold in sorted(tested.items())
    }


def write_summary(
    experiment_folder: str | PathLike,
    folds: Mapping[int, Mapping[str, Any]],
    title: str = "",
) -> Path:
    """Write ``summary.json``, ``summary.csv`` and ``summary.md`` of an experiment.

    Arguments
    ---------
    experiment_folder : str or PathLike
        ``results/<experiment>/<seed>``.
    folds : mapping
        ``{fold: metrics}`` of the finished folds.
    title : str
        Heading of ``summary.md`` (experiment, protocol, seed...).

    Returns
    -------
    pathlib.Path
        The path of ``summary.md``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = write_summary(folder, {1: {"UA": 0.5, "WA": 0.6, "F1": 0.4, "n_test": 10}})
    >>> print(path.read_text())
    # Summary
    ...
    | 1 | 0.5000 | 0.6000 | 0.4000 | 10 | 0 |
    | mean | 0.5000 | 0.6000 | 0.4000 |  |  |
    ...
    """
    folder = Path(experiment_folder)
    summary = summarize(folds)
    write_json_atomic({"title": title, **summary}, folder / "summary.json")
    header = ["fold", *SCORE_NAMES, "n_test", "wall_time_s"]
    rows = [header] + [[row[name] for name in header] for row in summary["folds"]]
    n_test = sum(row["n_test"] for row in summary["folds"])
    for name in ("mean", "std"):
        rows.append([name, *(summary[name][score] for score in SCORE_NAMES), "", ""])
    write_text_atomic(_csv_text(rows), folder / "summary.csv")
    lines = [
        f"# Summary{': ' + title if title else ''}",
        "",
        f"{len(summary['folds'])} folds, {n_test} test utterances, "
        f"wall time {summary['wall_time_s']:.0f} s. UA: mean per-class recall; "
        "WA: accuracy; F1: macro-F1; std over folds (population).",
        "",
        "| fold | UA | WA | F1 | test utts | wall time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["folds"]:
        lines.append(_markdown_row(row["fold"], row, row["n_test"], row["wall_time_s"]))
    lines.append(_markdown_row("mean", summary["mean"], "", ""))
    lines.append(_markdown_row("std", summary["std"], "", ""))
    if summary.get("corpora"):
        lines += [
            "", "Per test corpus: each corpus's scores, averaged over the folds that test it.", "",
            "| test corpus | UA | WA | F1 | test utts | folds |", "|---|---|---|---|---|---|",
            *(_markdown_row(corpus, scores, scores["n_test"], len(scores["folds"]))
              for corpus, scores in summary["corpora"].items()),
        ]
    path = folder / "summary.md"
    write_text_atomic("\n".join(lines) + "\n", path)
    return path


def write_seeds_summary(
    experiment_folder: str | PathLike,
    runs: Mapping[str, Mapping[int, Mapping[str, Any]]],
    title: str = "",
) -> Path:
    """Write ``summary.{json,csv,md}`` of an experiment run with several seeds.

    Each seed's mean over its folds, then the mean over seeds with two
    spreads side by side: seed to seed (the std of the seeds' means) and
    fold to fold (the std over folds of each fold's scores averaged over
    the seeds).

    Arguments
    ---------
    experiment_folder : str or PathLike
        ``results/<experiment>``, holding one folder per seed.
    runs : mapping
        ``{seed: {fold: metrics}}``; every seed with the same folds.
    title : str
        Heading of ``summary.md``.

    Returns
    -------
    pathlib.Path
        The path of ``summary.md``.

    Example
    -------
    >>> import tempfile
    >>> runs = {"1": {0: {"UA": 0.5, "WA": 0.5, "F1": 0.5}, 1: {"UA": 0.7, "WA": 0.7, "F1": 0.7}},
    ...         "2": {0: {"UA": 0.7, "WA": 0.7, "F1": 0.7}, 1: {"UA": 0.9, "WA": 0.9, "F1": 0.9}}}
    >>> print(write_seeds_summary(tempfile.mkdtemp(), runs).read_text())
    # Summary over seeds
    ...
    | 1 | 0.6000 | 0.6000 | 0.6000 |
    | 2 | 0.8000 | 0.8000 | 0.8000 |
    | mean over seeds | 0.7000 | 0.7000 | 0.7000 |
    | std seed to seed | 0.1000 | 0.1000 | 0.1000 |
    | std fold to fold | 0.1000 | 0.1000 | 0.1000 |
    """
    folder = Path(experiment_folder)
    folds = sorted(next(iter(runs.values())))
    seed_means = {
        seed: {name: statistics.fmean(run[f][name] for f in folds) for name in SCORE_NAMES}
        for seed, run in runs.items()
    }
    fold_means = {
        name: [statistics.fmean(run[f][name] for run in runs.values()) for f in folds]
        for name in SCORE_NAMES
    }
    summary = {
        "title": title,
        "seeds": seed_means,
        "mean": {n: statistics.fmean(m[n] for m in seed_means.values()) for n in SCORE_NAMES},
        "std_seed_to_seed": {
            n: statistics.pstdev(m[n] for m in seed_means.values()) for n in SCORE_NAMES
        },
        "std_fold_to_fold": {n: statistics.pstdev(fold_means[n]) for n in SCORE_NAMES},
        "folds": folds,
    }
    write_json_atomic(summary, folder / "summary.json")
    rows = [["row", *SCORE_NAMES]]
    rows += [[seed, *(m[n] for n in SCORE_NAMES)] for seed, m in seed_means.items()]
    labelled = (("mean over seeds", "mean"), ("std seed to seed", "std_seed_to_seed"),
                ("std fold to fold", "std_fold_to_fold"))
    rows += [[label, *(summary[key][n] for n in SCORE_NAMES)] for label, key in labelled]
    write_text_atomic(_csv_text(rows), folder / "summary.csv")
    lines = [
        f"# Summary over seeds{': ' + title if title else ''}",
        "",
        f"{len(runs)} seeds x {len(folds)} folds. Each seed's row: the mean over its folds. "
        "Seed to seed: std of the seeds' means; fold to fold: std over folds of each fold's "
        "scores averaged over the seeds (population std).",
        "",
        "| seed | UA | WA | F1 |",
        "|---|---|---|---|",
    ]
    lines += ["| " + " | ".join([str(r[0]), *(f"{v:.4f}" for v in r[1:])]) + " |" for r in rows[1:]]
    path = folder / "summary.md"
    write_text_atomic("\n".join(lines) + "\n", path)
    return path


def _markdown_row(name: Any, scores: Mapping[str, float], n_test: Any, wall: Any) -> str:
    cells = [f"{scores[score]:.4f}" for score in SCORE_NAMES]
    wall_text = f"{wall:.0f}" if isinstance(wall, float | int) else wall
    return f"| {name} | {' | '.join(cells)} | {n_test} | {wall_text} |"


def _csv_text(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _confusion_png(confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> bytes:
    """Render counts with row-normalised colours (recall per class) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 3.6), dpi=100)
    axes = figure.add_subplot()
    shares = [[count / max(sum(row), 1) for count in row] for row in confusion]
    axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            colour = "white" if shares[i][j] > 0.5 else "black"
            axes.text(j, i, str(count), ha="center", va="center", color=colour)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
