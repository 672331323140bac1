"""Ensembles of finished runs: each fold's test utterances classified by the mean probabilities.

Several seeds of the same system disagree on a small corpus (EmoDB's mean UA
moves by 0.10 with the seed alone); the mean of their class probabilities is
usually better than any one of them. Every fold report keeps each test
utterance's probabilities (``predictions.csv``, columns ``p_<label>``), so an
ensemble needs no model, only the runs' reports: :func:`write_ensemble`
averages them fold by fold and writes the ensemble's reports in the layout
of a run, which ``compare`` and the paired tests read like any other.
"""

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.results.report import (
    FoldPredictions,
    fold_folder,
    read_finished_folds,
    read_predictions,
    write_fold_report,
    write_summary,
)
from speechbrain_drnsa.results.scores import Evaluation, scores_by_corpus, scores_from_confusion

__all__ = ["write_ensemble"]


def write_ensemble(
    runs: Sequence[str | PathLike], output_folder: str | PathLike, title: str = ""
) -> Path:
    """Write the reports of the ensemble of several runs (mean probabilities per fold).

    Arguments
    ---------
    runs : sequence of str or PathLike
        Run folders (``results/<experiment>/<seed>``) tested on the same folds
        with the same labels, their ``predictions.csv`` holding probabilities.
    output_folder : str or PathLike
        Where the ensemble's ``fold_<k>`` reports and summary go.
    title : str
        Heading of the summary.

    Returns
    -------
    pathlib.Path
        The ensemble's ``summary.md``.

    Raises
    ------
    InputFileError
        If a run has no finished fold, lacks probabilities, or tested other
        utterances or labels than the first.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_drnsa.results.report import write_fold_report
    >>> root = Path(tempfile.mkdtemp())
    >>> for seed, p in (("1", [[0.6, 0.4], [0.6, 0.4]]), ("2", [[0.7, 0.3], [0.1, 0.9]])):
    ...     ev = Evaluation({"UA": 0.5, "WA": 0.5, "F1": 0.3}, [[1, 0], [1, 0]], ["neu", "ang"],
    ...                     [("a", "neu", "neu"), ("b", "ang", "neu")], p)
    ...     _ = write_fold_report(root / seed / "fold_0", ev)
    >>> summary = write_ensemble([root / "1", root / "2"], root / "ensemble")
    >>> import json
    >>> json.loads((root / "ensemble" / "fold_0" / "metrics.json").read_text())["UA"]
    1.0
    """
    finished = {Path(run): read_finished_folds(run) for run in runs}
    empty = [run for run, folds in finished.items() if not folds]
    if empty:
        raise InputFileError(empty[0], "no finished fold (fold_<k>/metrics.json) to ensemble")
    folds = sorted(set.intersection(*(set(f) for f in finished.values())))
    reports = {}
    for fold in folds:
        tables = [_with_probabilities(read_predictions(fold_folder(run, fold)))
                  for run in finished]
        first = tables[0]
        for table, run in zip(tables[1:], list(finished)[1:]):
            if table.labels != first.labels or table.ids != first.ids:
                raise InputFileError(
                    fold_folder(run, fold), "tested other utterances or labels than the first run"
                )
        labels = first.labels
        probabilities = np.mean([table.probabilities for table in tables], axis=0)
        predicted = probabilities.argmax(axis=1)
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        np.add.at(confusion, ([labels.index(t) for t in first.truths], predicted), 1)
        evaluation = Evaluation(
            scores=scores_from_confusion(torch.from_numpy(confusion)),
            confusion=confusion.tolist(),
            labels=labels,
            predictions=[(u, t, labels[p]) for u, t, p in zip(first.ids, first.truths, predicted)],
            probabilities=probabilities.tolist(),
            # any member's speakers: the members tested the same utterances
            speakers=next((t.speakers for t in tables if t.speakers is not None), None),
        )
        # several corpora: a merged manifest's ids start with their corpus ("savee.DC_a01")
        corpora = finished[next(iter(finished))][fold].get("corpora", {})
        by_corpus = scores_by_corpus(
            evaluation, {utt: corpus for utt in first.ids if (corpus := utt.split(".", 1)[0]) in corpora}
        )
        reports[fold] = write_fold_report(
            fold_folder(output_folder, fold),
            evaluation,
            {"fold": fold, "ensemble_of": [str(run) for run in finished],
             **({"corpora": by_corpus} if by_corpus else {})},
        )
    return write_summary(
        output_folder, reports, title or f"ensemble of {len(finished)} runs (mean probabilities)"
    )


def _with_probabilities(table: FoldPredictions) -> FoldPredictions:
    """The table, checked to hold class probabilities."""
    if table.probabilities is None:
        raise InputFileError(table.path, "holds no class probabilities (p_<label> columns): "
                                         "written by a version before ensembles; test the fold "
                                         "again")
    return table
