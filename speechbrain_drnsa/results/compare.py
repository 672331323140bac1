"""Compare finished experiments in one markdown table, as docs/results.md reports them.

Every row is read from the fold reports of an experiment: one run
(``results/<experiment>/<seed>``, one ``fold_<k>/metrics.json`` per finished
fold) or every seed of it (``results/<experiment>``, each seed folder a run of
the same folds). Each fold's scores are first averaged over the seeds; the row
gives UA, WA and macro-F1 as mean ± population std over the folds, the recall
of each class pooled over all test utterances of all folds and seeds (the sum
of the confusion matrices), UA per fold, epochs trained per fold (one figure
per seed) and the mean UA of each seed, whose spread shows what the seed alone
does. Experiments on several corpora (fold reports with ``corpora``) add UA per
test corpus: each corpus's UA averaged over the folds that test it and the seeds.
"""

import statistics
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.results.report import corpus_means, read_finished_folds
from speechbrain_drnsa.results.scores import SCORE_NAMES
from speechbrain_drnsa.results.stats import pair_runs, paired_wilcoxon

__all__ = ["comparison_table", "read_runs"]

Runs = dict[str, dict[int, dict[str, Any]]]  # seed folder name -> fold -> metrics


def read_runs(folder: str | PathLike) -> Runs:
    """The metrics of every finished fold of one run, or of every seed of an experiment.

    Arguments
    ---------
    folder : str or PathLike
        ``results/<experiment>/<seed>`` (holding ``fold_<k>`` folders), or
        ``results/<experiment>`` (holding one such folder per seed).

    Returns
    -------
    dict
        ``{seed folder name: {fold: metrics}}`` of the finished folds.

    Raises
    ------
    InputFileError
        If no fold has finished, or the seeds finished different folds.

    Example
    -------
    >>> import tempfile
    >>> read_runs(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...: no finished fold (fold_<k>/metrics.json) here ...
    """
    path = Path(folder)
    runs_folders = [path] if any(path.glob("fold_*")) else sorted(
        sub for sub in path.glob("*") if sub.is_dir() and any(sub.glob("fold_*"))
    )
    runs = {run.name: folds for run in runs_folders if (folds := read_finished_folds(run))}
    if not runs:
        raise InputFileError(
            path, "no finished fold (fold_<k>/metrics.json) here or in its seed folders"
        )
    fold_sets = {seed: sorted(folds) for seed, folds in runs.items()}
    if len({tuple(folds) for folds in fold_sets.values()}) > 1:
        raise InputFileError(path, f"its seeds finished different folds: {fold_sets}")
    return runs


def comparison_table(
    experiments: Mapping[str, str | PathLike], paired_with: Sequence[str] | None = None
) -> str:
    """A markdown table with one row per experiment, each paired against reference rows.

    Arguments
    ---------
    experiments : mapping
        Row name to a run or experiment folder (:func:`read_runs`); all with
        the same labels.
    paired_with : sequence of str, optional
        Rows every other row is tested against (Wilcoxon signed-rank over
        paired fold x seed UAs, :mod:`speechbrain_drnsa.results.stats`): one
        column each. None: the first row; empty: no paired test.

    Returns
    -------
    str
        The table: UA, WA, F1 (mean ± std over folds, each fold averaged over
        seeds), pooled recall per class, UA per fold, epochs per fold and mean
        UA per seed, then the paired tests.

    Raises
    ------
    InputFileError
        If a folder has no finished fold or other labels than the first.
    ValueError
        If a reference row is not among the experiments.

    Example
    -------
    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for fold, confusion in enumerate([[[2, 0], [1, 1]], [[1, 1], [1, 1]]]):
    ...     score = (confusion[0][0] + confusion[1][1]) / 4
    ...     metrics = {"UA": score, "WA": score, "F1": score, "epochs": 9 + fold,
    ...                "labels": ["neu", "ang"], "confusion": confusion}
    ...     (folder / "1" / f"fold_{fold}").mkdir(parents=True)
    ...     _ = (folder / "1" / f"fold_{fold}" / "metrics.json").write_text(json.dumps(metrics))
    >>> table = comparison_table({"tiny": folder}, paired_with=[])
    >>> print(table.splitlines()[-1].replace(" ± 0.1250", ""))
    | tiny | 0.6250 | 0.6250 | 0.6250 | 0.750 | 0.500 | 0.750, 0.500 | 9, 10 | 0.625 (1) |
    """
    references = list(experiments)[:1] if paired_with is None else list(paired_with)
    unknown = [name for name in references if name not in experiments]
    if unknown:
        raise ValueError(f"no row named {unknown[0]!r} to pair with; rows: {list(experiments)}")
    every_runs = {name: read_runs(folder) for name, folder in experiments.items()}
    by_corpus = any("corpora" in m for runs in every_runs.values()
                    for folds in runs.values() for m in folds.values())
    rows, labels = [], None
    for name, folder in experiments.items():
        runs = every_runs[name]
        run_labels = {tuple(m["labels"]) for folds in runs.values() for m in folds.values()}
        if labels is None:
            labels = next(iter(run_labels))
        if run_labels != {labels}:
            raise InputFileError(folder, f"labels {sorted(run_labels)} differ from {labels}")
        tests = [_paired_cell(runs, every_runs[ref]) if ref != name else "(reference)"
                 for ref in references]
        rows.append(_row(name, runs, tests, by_corpus))
    header = ["system", *SCORE_NAMES, *(f"recall {label}" for label in labels)]
    header += ["UA per fold", *(["UA per test corpus"] if by_corpus else []),
               "epochs per fold", "mean UA per seed"]
    header += [f"UA vs {ref}: mean difference (Wilcoxon p, pairs)" for ref in references]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + rows) + "\n"


def _paired_cell(runs: Runs, reference: Runs) -> str:
    try:
        return str(paired_wilcoxon(*pair_runs(runs, reference)))
    except ValueError as err:  # no shared fold or seed
        return f"not paired: {err}"


def _row(name: str, runs: Runs, tests: Sequence[str] = (), by_corpus: bool = False) -> str:
    folds = sorted(next(iter(runs.values())))
    # each fold's scores averaged over the seeds, then mean and std over the folds
    per_fold = {
        score: [statistics.fmean(runs[seed][fold][score] for seed in runs) for fold in folds]
        for score in SCORE_NAMES
    }
    scores = [
        f"{statistics.fmean(values):.4f} ± {statistics.pstdev(values):.4f}"
        for values in per_fold.values()
    ]
    confusion = sum(np.array(m["confusion"]) for run in runs.values() for m in run.values())
    recall = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    epochs = ["/".join(str(runs[seed][fold].get("epochs", "-")) for seed in runs) for fold in folds]
    seed_means = [
        f"{statistics.fmean(m['UA'] for m in run.values()):.3f} ({seed})"
        for seed, run in runs.items()
    ]
    cells = [
        name,
        *scores,
        *(f"{r:.3f}" for r in recall),
        ", ".join(f"{ua:.3f}" for ua in per_fold["UA"]),
        *([_corpus_cell(runs)] if by_corpus else []),
        ", ".join(epochs),
        ", ".join(seed_means),
        *tests,
    ]
    return "| " + " | ".join(cells) + " |"


def _corpus_cell(runs: Runs) -> str:
    """UA per test corpus: over the folds that test it (corpus_means), then over the seeds."""
    means = [corpus_means(run) for run in runs.values()]
    corpora = sorted(set().union(*means))
    if not corpora:
        return "-"
    return ", ".join(
        f"{corpus} {statistics.fmean(m[corpus]['UA'] for m in means if corpus in m):.3f}"
        for corpus in corpora
    )
