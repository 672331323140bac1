"""Compare finished experiments in one markdown table, as docs/results.md reports them.

Every row is read from the fold reports of an experiment folder
(``results/<experiment>/<seed>``, one ``fold_<k>/metrics.json`` per finished
fold): UA, WA and macro-F1 as mean ± population std over the folds, the
recall of each class pooled over all test utterances of all folds (the sum
of the folds' confusion matrices), UA and epochs trained per fold.
"""

import statistics
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.training.metrics import SCORE_NAMES
from speechbrain_drnsa.training.report import read_fold_metrics

__all__ = ["comparison_table", "read_experiment"]


def read_experiment(folder: str | PathLike) -> dict[int, dict[str, Any]]:
    """The metrics of every finished fold of an experiment folder.

    Arguments
    ---------
    folder : str or PathLike
        ``results/<experiment>/<seed>``, holding ``fold_<k>`` folders.

    Returns
    -------
    dict
        ``{fold: metrics}`` of the folds with a ``metrics.json``.

    Raises
    ------
    InputFileError
        If no fold of ``folder`` has finished.

    Example
    -------
    >>> import tempfile
    >>> read_experiment(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...: no finished fold (fold_<k>/metrics.json) here
    """
    path = Path(folder)
    folds = {
        int(fold.name.removeprefix("fold_")): metrics
        for fold in sorted(path.glob("fold_*"))
        if (metrics := read_fold_metrics(fold)) is not None
    }
    if not folds:
        raise InputFileError(path, "no finished fold (fold_<k>/metrics.json) here")
    return folds


def comparison_table(experiments: Mapping[str, str | PathLike]) -> str:
    """A markdown table with one row per experiment.

    Arguments
    ---------
    experiments : mapping
        Row name to experiment folder; all with the same labels.

    Returns
    -------
    str
        The table: UA, WA, F1 (mean ± std over folds), pooled recall per
        class, UA and epochs per fold.

    Raises
    ------
    InputFileError
        If a folder has no finished fold or other labels than the first.

    Example
    -------
    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for fold, confusion in enumerate([[[2, 0], [1, 1]], [[1, 1], [1, 1]]]):
    ...     score = (confusion[0][0] + confusion[1][1]) / 4
    ...     metrics = {"UA": score, "WA": score, "F1": score, "epochs": 9 + fold,
    ...                "labels": ["neu", "ang"], "confusion": confusion}
    ...     (folder / f"fold_{fold}").mkdir()
    ...     _ = (folder / f"fold_{fold}" / "metrics.json").write_text(json.dumps(metrics))
    >>> print(comparison_table({"tiny": folder}).splitlines()[-1].replace(" ± 0.1250", ""))
    | tiny | 0.6250 | 0.6250 | 0.6250 | 0.750 | 0.500 | 0.750, 0.500 | 9, 10 |
    """
    rows, labels = [], None
    for name, folder in experiments.items():
        folds = read_experiment(folder)
        fold_labels = {tuple(metrics["labels"]) for metrics in folds.values()}
        if labels is None:
            labels = next(iter(fold_labels))
        if fold_labels != {labels}:
            raise InputFileError(folder, f"labels {sorted(fold_labels)} differ from {labels}")
        rows.append(_row(name, folds))
    header = ["system", *SCORE_NAMES, *(f"recall {label}" for label in labels)]
    header += ["UA per fold", "epochs per fold"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + rows) + "\n"


def _row(name: str, folds: Mapping[int, Mapping[str, Any]]) -> str:
    ordered = [folds[fold] for fold in sorted(folds)]
    scores = [
        f"{statistics.fmean(values):.4f} ± {statistics.pstdev(values):.4f}"
        for values in ([m[score] for m in ordered] for score in SCORE_NAMES)
    ]
    confusion = sum(np.array(m["confusion"]) for m in ordered)
    recall = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    cells = [
        name,
        *scores,
        *(f"{r:.3f}" for r in recall),
        ", ".join(f"{m['UA']:.3f}" for m in ordered),
        ", ".join(str(m.get("epochs", "")) for m in ordered),
    ]
    return "| " + " | ".join(cells) + " |"
