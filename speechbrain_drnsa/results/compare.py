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

Rows are compared with reference rows on independent units only
(:mod:`speechbrain_drnsa.results.stats`): a Wilcoxon signed-rank test over
folds (each fold's UA averaged over a row's seeds), and a speaker-cluster
bootstrap of the pooled UA difference on every test utterance of the folds
both rows finished, read from each fold's ``predictions.csv``. That needs
each utterance's speaker: the ``speaker`` column that runs write, or, for
runs written before it, a mapping from the corpus manifest.
"""

import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.results.report import (
    corpus_means, fold_folder, read_finished_folds, read_predictions,
)
from speechbrain_drnsa.results.scores import SCORE_NAMES
from speechbrain_drnsa.results.stats import (
    DEFAULT_RESAMPLES,
    BootstrapInterval,
    pair_folds,
    paired_wilcoxon,
    speaker_bootstrap,
)

__all__ = ["RowPredictions", "bootstrap_against", "comparison_table", "manifest_speakers",
           "read_row_predictions", "read_runs", "run_folders"]

Runs = dict[str, dict[int, dict[str, Any]]]  # seed folder name -> fold -> metrics


def run_folders(folder: str | PathLike) -> list[Path]:
    """The run folders of a row: the folder itself when it holds folds, else its seed folders.

    Arguments
    ---------
    folder : str or PathLike
        ``results/<experiment>/<seed>`` or ``results/<experiment>``.

    Returns
    -------
    list of pathlib.Path
        The folders holding ``fold_<k>`` folders, in name order.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "2" / "fold_0").mkdir(parents=True); (root / "1" / "fold_0").mkdir(parents=True)
    >>> [run.name for run in run_folders(root)], run_folders(root / "1") == [root / "1"]
    (['1', '2'], True)
    """
    path = Path(folder)
    if any(path.glob("fold_*")):
        return [path]
    return sorted(sub for sub in path.glob("*") if sub.is_dir() and any(sub.glob("fold_*")))


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
    runs = {run.name: folds for run in run_folders(path) if (folds := read_finished_folds(run))}
    if not runs:
        raise InputFileError(
            path, "no finished fold (fold_<k>/metrics.json) here or in its seed folders"
        )
    fold_sets = {seed: sorted(folds) for seed, folds in runs.items()}
    if len({tuple(folds) for folds in fold_sets.values()}) > 1:
        raise InputFileError(path, f"its seeds finished different folds: {fold_sets}")
    return runs


@dataclass(frozen=True)
class RowPredictions:
    """Every test prediction of one row, pooled over its folds, one mapping per seed.

    Arguments
    ---------
    folder : pathlib.Path
        The row's folder (for error messages).
    fold_of : dict
        Utterance id to the fold that tested it.
    truths : dict
        Utterance id to its true label.
    speakers : dict
        Utterance id to its speaker.
    predicted : list of dict
        Per seed (run folder), utterance id to the predicted label.
    """

    folder: Path
    fold_of: dict[str, int]
    truths: dict[str, str]
    speakers: dict[str, str]
    predicted: list[dict[str, str]]


def read_row_predictions(
    folder: str | PathLike | Sequence[str | PathLike],
    speakers: Mapping[str, str] | None = None,
    folds: Collection[int] | None = None,
) -> RowPredictions:
    """Read the ``predictions.csv`` of every finished fold of every seed of a row.

    Arguments
    ---------
    folder : str or PathLike or sequence
        A run or experiment folder (:func:`read_runs`), or a list of run folders.
    speakers : mapping, optional
        Utterance id to speaker, for predictions written before they had a
        ``speaker`` column (e.g. from the corpus manifest).
    folds : collection of int, optional
        Only these folds (default: every finished one).

    Returns
    -------
    RowPredictions

    Raises
    ------
    InputFileError
        If a fold has no predictions, no speakers (column or mapping), or its
        seeds tested other utterances.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_drnsa.results.report import write_fold_report
    >>> from speechbrain_drnsa.results.scores import Evaluation
    >>> root = Path(tempfile.mkdtemp())
    >>> ev = Evaluation({"UA": 1.0, "WA": 1.0, "F1": 1.0}, [[1]], ["neu"], [("a", "neu", "neu")])
    >>> _ = write_fold_report(root / "1" / "fold_0", ev)
    >>> read_row_predictions(root / "1")
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../1/fold_0/predictions.csv: has no speaker column ...
    >>> read_row_predictions(root / "1", {"a": "s1"}).speakers
    {'a': 's1'}
    """
    single = isinstance(folder, str | PathLike)
    runs = run_folders(folder) if single else [Path(run) for run in folder]
    path = Path(folder) if single else Path(runs[0]).parent
    fold_of: dict[str, int] = {}
    truths: dict[str, str] = {}
    found: dict[str, str] = {}
    predicted: list[dict[str, str]] = []
    for run in runs:
        seed_predictions: dict[str, str] = {}
        for fold in read_finished_folds(run):
            if folds is not None and fold not in folds:
                continue
            table = read_predictions(fold_folder(run, fold))
            if table.speakers is None and speakers is None:
                raise InputFileError(
                    table.path, "has no speaker column (written before runs recorded speakers): "
                    "give the corpus manifest (compare --speakers MANIFEST), or no bootstrap "
                    "(compare --resamples 0)"
                )
            for index, utt in enumerate(table.ids):
                speaker = table.speakers[index] if table.speakers is not None else speakers.get(utt)
                if speaker is None:
                    raise InputFileError(table.path, f"no speaker given for utterance {utt!r}")
                if fold_of.setdefault(utt, fold) != fold or truths.setdefault(
                        utt, table.truths[index]) != table.truths[index]:
                    raise InputFileError(table.path, f"utterance {utt!r} tested in another fold "
                                                     "or with another label by another seed")
                found[utt] = speaker
                seed_predictions[utt] = table.predicted[index]
        predicted.append(seed_predictions)
    if any(set(seed) != set(truths) for seed in predicted):
        raise InputFileError(path, "its seeds tested other utterances")
    return RowPredictions(path, fold_of, truths, found, predicted)


def manifest_speakers(manifest: str | PathLike) -> dict[str, str]:
    """Utterance id to speaker, from a SpeechBrain JSON manifest (a ``speaker`` per entry).

    Arguments
    ---------
    manifest : str or PathLike
        The corpus's manifest, e.g. the ``prepared`` folder's of a recipe.

    Returns
    -------
    dict

    Raises
    ------
    InputFileError
        If the file is not such a manifest.

    Example
    -------
    >>> import json, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.json"
    >>> _ = path.write_text(json.dumps({"03a01Fa": {"wav": "x.wav", "speaker": "03"}}))
    >>> manifest_speakers(path)
    {'03a01Fa': '03'}
    >>> _ = path.write_text(json.dumps({"03a01Fa": {"wav": "x.wav"}}))
    >>> manifest_speakers(path)
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...m.json: entry '03a01Fa' has no speaker: not a ...
    """
    entries = load_json(manifest)
    if not isinstance(entries, dict):
        raise InputFileError(manifest, "is not a manifest (a JSON object of utterances)")
    bad = next((utt for utt, entry in entries.items()
                if not isinstance(entry, dict) or "speaker" not in entry), None)
    if bad is not None:
        raise InputFileError(manifest, f"entry {bad!r} has no speaker: not a corpus manifest")
    return {utt: str(entry["speaker"]) for utt, entry in entries.items()}


def bootstrap_against(
    row: RowPredictions,
    reference: RowPredictions,
    labels: Sequence[str],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> BootstrapInterval:
    """Speaker-cluster bootstrap of a row's pooled UA minus a reference row's.

    Both rows are scored on the utterances of the folds both finished; each
    seed is a separate set of predictions of the same utterances, averaged in
    UA on every resample (:func:`~speechbrain_drnsa.results.stats.speaker_bootstrap`).

    Arguments
    ---------
    row, reference : RowPredictions
        From :func:`read_row_predictions`.
    labels : sequence of str
        Class names, to turn labels into class indices.
    resamples : int
        Number of resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    BootstrapInterval

    Raises
    ------
    InputFileError
        If the rows tested other utterances in their shared folds.
    """
    folds = set(row.fold_of.values()) & set(reference.fold_of.values())
    ids = sorted(utt for utt, fold in row.fold_of.items() if fold in folds)
    shared = sorted(utt for utt, fold in reference.fold_of.items() if fold in folds)
    if ids != shared:
        raise InputFileError(reference.folder, f"tested other utterances than {row.folder} "
                                               "in the folds both finished")
    index = {label: k for k, label in enumerate(labels)}
    return speaker_bootstrap(
        [index[row.truths[utt]] for utt in ids],
        [row.speakers[utt] for utt in ids],
        [[index[seed_predictions[utt]] for utt in ids] for seed_predictions in row.predicted],
        [[index[seed_predictions[utt]] for utt in ids] for seed_predictions in reference.predicted],
        resamples=resamples,
        seed=seed,
    )


def comparison_table(
    experiments: Mapping[str, str | PathLike],
    paired_with: Sequence[str] | None = None,
    speakers: Mapping[str, str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> str:
    """A markdown table with one row per experiment, each paired against reference rows.

    Arguments
    ---------
    experiments : mapping
        Row name to a run or experiment folder (:func:`read_runs`); all with
        the same labels.
    paired_with : sequence of str, optional
        Rows every other row is compared with, two columns each: the Wilcoxon
        signed-rank test over folds (each fold's UA averaged over a row's
        seeds) and the speaker-cluster bootstrap of the pooled UA difference
        (:mod:`speechbrain_drnsa.results.stats`). None: the first row; empty:
        no comparison.
    speakers : mapping, optional
        Utterance id to speaker, for runs whose predictions have no
        ``speaker`` column (:func:`read_row_predictions`).
    resamples : int
        Bootstrap resamples; 0 leaves the bootstrap columns out (and needs
        no predictions).
    seed : int
        Seed of the bootstrap's resampling.

    Returns
    -------
    str
        The table: UA, WA, F1 (mean ± std over folds, each fold averaged over
        seeds), pooled recall per class, UA per fold, epochs per fold and mean
        UA per seed, then the comparisons.

    Raises
    ------
    InputFileError
        If a folder has no finished fold or other labels than the first, or
        (bootstrap) predictions without speakers.
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
    labels = None
    for name, folder in experiments.items():
        run_labels = {tuple(m["labels"]) for folds in every_runs[name].values()
                      for m in folds.values()}
        labels = labels or next(iter(run_labels))
        if run_labels != {labels}:
            raise InputFileError(folder, f"labels {sorted(run_labels)} differ from {labels}")
    # predictions are read only when some row is compared with another
    bootstrap = resamples > 0 and bool(references) and len(experiments) > 1
    predictions = {name: read_row_predictions(folder, speakers)
                   for name, folder in experiments.items()} if bootstrap else {}
    rows = []
    for name in experiments:
        cells = []
        for ref in references:
            if ref == name:
                cells += ["(reference)"] * (2 if bootstrap else 1)
                continue
            cells.append(_wilcoxon_cell(every_runs[name], every_runs[ref]))
            if bootstrap:
                cells.append(str(bootstrap_against(predictions[name], predictions[ref], labels,
                                                   resamples, seed)))
        rows.append(_row(name, every_runs[name], cells, by_corpus))
    header = ["system", *SCORE_NAMES, *(f"recall {label}" for label in labels)]
    header += ["UA per fold", *(["UA per test corpus"] if by_corpus else []),
               "epochs per fold", "mean UA per seed"]
    for ref in references:
        header.append(f"UA vs {ref}: mean difference (Wilcoxon p, folds)")
        if bootstrap:
            header.append(f"UA vs {ref}: pooled difference [95% speaker bootstrap], "
                          "share <= 0, speakers")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + rows) + "\n"


def _wilcoxon_cell(runs: Runs, reference: Runs) -> str:
    try:
        return str(paired_wilcoxon(*pair_folds(runs, reference)))
    except ValueError as err:  # no shared fold
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
