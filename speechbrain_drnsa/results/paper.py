"""The paper's Tables 1 and 2, and ours beside them: parameters, UA, F1, paired tests.

Li et al. (ICASSP 2019) report on IEMOCAP 4 classes, 10-fold cross-validation:
Table 1 compares DRN-MHSA with four earlier systems, Table 2 is the ablation
from a plain CNN to DRN-MHSA (S4). :data:`PAPER_TABLES` holds their numbers;
:func:`paper_table` sets the numbers of finished experiments beside them
(mean ± std over folds, each fold averaged over seeds, the difference to the
paper, per-class recall pooled over folds and seeds, UA per fold) and compares
every system with S4 on independent units: the Wilcoxon signed-rank test over
folds (each fold's UA averaged over the seeds,
:func:`~speechbrain_drnsa.results.stats.pair_folds`) and the speaker-cluster
bootstrap of the pooled UA difference
(:func:`~speechbrain_drnsa.results.compare.bootstrap_against`).
"""

import csv
import io
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import write_text_atomic
from speechbrain_drnsa.results.compare import (
    Runs,
    bootstrap_against,
    read_row_predictions,
    read_runs,
)
from speechbrain_drnsa.results.report import read_finished_folds
from speechbrain_drnsa.results.stats import (
    DEFAULT_RESAMPLES,
    BootstrapInterval,
    PairedTest,
    pair_folds,
    paired_wilcoxon,
)

__all__ = ["PAPER_TABLES", "REFERENCE_SYSTEM", "PaperRow", "paper_table", "write_paper_table"]


@dataclass(frozen=True)
class PaperRow:
    """One system as the paper reports it.

    Arguments
    ---------
    system : str
        Our name for it: its model yaml in ``hparams/`` and its recipe yaml.
    label : str
        The paper's name for it.
    parameters : float
        The paper's parameter count.
    ua : float
        The paper's unweighted accuracy (0 to 1).
    f1 : float
        The paper's macro-F1.

    Example
    -------
    >>> PAPER_TABLES[2][-1]
    PaperRow(system='drn_mhsa', label='S4: DRN-MHSA (proposed)', parameters=9900000.0, ...)
    """

    system: str
    label: str
    parameters: float
    ua: float
    f1: float


#: The system every other one is tested against: the proposed DRN-MHSA.
REFERENCE_SYSTEM = "drn_mhsa"

_PROPOSED = PaperRow(REFERENCE_SYSTEM, "S4: DRN-MHSA (proposed)", 9.9e6, 0.674, 0.671)

#: The paper's rows, by table number.
PAPER_TABLES: dict[int, tuple[PaperRow, ...]] = {
    1: (
        PaperRow("xia2017", "Xia 2017", 9.5e6, 0.603, 0.599),
        PaperRow("poria2016", "Poria 2016", 9.3e6, 0.605, 0.602),
        PaperRow("poria2017", "Poria 2017", 9.4e6, 0.568, 0.571),
        PaperRow("mirsamadi2017", "Mirsamadi 2017", 9.6e6, 0.597, 0.589),
        _PROPOSED,
    ),
    2: (
        PaperRow("cnn", "CNN (baseline)", 9.9e6, 0.603, 0.599),
        PaperRow("cnn_res", "S1: + residual", 9.9e6, 0.618, 0.621),
        PaperRow("drn", "S2: + dilation", 9.9e6, 0.631, 0.637),
        PaperRow("drn_sha", "S3: + single-head attention", 9.9e6, 0.669, 0.670),
        _PROPOSED,
    ),
}


def paper_table(
    table: int,
    experiments: Mapping[str, str | PathLike | Sequence[str | PathLike]],
    parameters: Mapping[str, int],
    resamples: int = DEFAULT_RESAMPLES,
) -> tuple[str, str]:
    """The paper's table with our numbers beside it, as markdown and as CSV.

    Arguments
    ---------
    table : int
        1 or 2.
    experiments : mapping
        System name (:attr:`PaperRow.system`) to its experiment folder (a run
        or every seed of it, :func:`~speechbrain_drnsa.results.compare.read_runs`)
        or to a list of run folders (the seeds to show, over their common
        folds); systems left out are left out of the table. All share labels.
    parameters : mapping
        System name to the parameter count of our model.
    resamples : int
        Resamples of the speaker bootstrap against S4 (0: none).

    Returns
    -------
    markdown : str
        One row per system: parameters, UA and F1 (ours, mean ± std over
        folds; the paper's; the difference), pooled recall per class, UA per
        fold, the folds and seeds, and the comparison with S4 (``drn_mhsa``):
        Wilcoxon over folds, speaker bootstrap (or why there is none).
    csv : str
        The same numbers unformatted, one column each.

    Raises
    ------
    ValueError
        For an unknown table or system.

    Example
    -------
    >>> import json, tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for system, hits in [("cnn", [3, 2]), ("drn_mhsa", [4, 3])]:
    ...     for fold, hit in enumerate(hits):
    ...         metrics = {"UA": hit / 4, "WA": hit / 4, "F1": hit / 4, "labels": ["neu", "ang"],
    ...                    "confusion": [[2, 0], [2 - hit + 2, hit - 2]]}
    ...         (root / system / "1" / f"fold_{fold}").mkdir(parents=True)
    ...         _ = (root / system / "1" / f"fold_{fold}" / "metrics.json").write_text(
    ...             json.dumps(metrics))
    >>> markdown, table_csv = paper_table(
    ...     2, {"cnn": root / "cnn", "drn_mhsa": root / "drn_mhsa"}, {"cnn": 9, "drn_mhsa": 10})
    >>> print(markdown.splitlines()[2].split(" | ")[-1])
    no bootstrap: ...predictions.csv: file not found |
    >>> print(markdown.splitlines()[2].split(" | ")[:6])
    ['| CNN (baseline)', '9.9M', '9', '60.3', '62.5 ± 12.5', '+2.2']
    >>> table_csv.splitlines()[2].split(",")[:7]
    ['drn_mhsa', 'S4: DRN-MHSA (proposed)', '9900000', '10', '0.674', '0.875', '0.125']
    """
    if table not in PAPER_TABLES:
        raise ValueError(f"no table {table} in the paper; tables: {sorted(PAPER_TABLES)}")
    rows = [row for row in PAPER_TABLES[table] if row.system in experiments]
    unknown = sorted(set(experiments) - {row.system for row in PAPER_TABLES[table]})
    if unknown:
        raise ValueError(f"table {table} has no system {unknown[0]!r}")
    runs = {row.system: _read_runs(experiments[row.system]) for row in rows}
    labels = _labels(next(iter(runs.values()))) if runs else []
    reference = runs.get(REFERENCE_SYSTEM)
    header = ["system", "paper params", "params", "paper UA %", "UA % (± std over folds)",
              "UA diff", "paper F1", "F1 (± std over folds)", "F1 diff",
              *(f"recall {label}" for label in labels), "UA % per fold", "folds x seeds",
              "UA vs S4: mean diff (Wilcoxon p, folds)",
              "UA vs S4: pooled diff [95% speaker bootstrap], share <= 0, speakers"]
    columns = ["system", "label", "paper_parameters", "parameters", "paper_UA", "UA", "UA_std",
               "UA_difference", "paper_F1", "F1", "F1_std", "F1_difference",
               *(f"recall_{label}" for label in labels), "UA_per_fold", "folds", "seeds",
               "vs_S4_UA_difference", "vs_S4_p", "vs_S4_folds", "vs_S4_pooled_UA_difference",
               "vs_S4_bootstrap_low", "vs_S4_bootstrap_high", "vs_S4_bootstrap_share_at_most_zero",
               "vs_S4_speakers"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    records = []
    for row in rows:
        scores = _fold_scores(runs[row.system])
        is_reference = row.system == REFERENCE_SYSTEM
        test = None if is_reference else _paired(runs[row.system], reference)
        interval = None if is_reference else _bootstrap(
            experiments[row.system], experiments.get(REFERENCE_SYSTEM), runs[row.system],
            reference, labels, resamples,
        )
        ua, ua_std = statistics.fmean(scores["UA"]), statistics.pstdev(scores["UA"])
        f1, f1_std = statistics.fmean(scores["F1"]), statistics.pstdev(scores["F1"])
        recall = _pooled_recall(runs[row.system])
        folds, seeds = len(scores["UA"]), len(runs[row.system])
        lines.append("| " + " | ".join([
            row.label, f"{row.parameters / 1e6:.1f}M", _millions(parameters[row.system]),
            f"{100 * row.ua:.1f}", f"{100 * ua:.1f} ± {100 * ua_std:.1f}",
            f"{100 * (ua - row.ua):+.1f}", f"{row.f1:.3f}", f"{f1:.3f} ± {f1_std:.3f}",
            f"{f1 - row.f1:+.3f}", *(f"{r:.3f}" for r in recall),
            ", ".join(f"{100 * u:.1f}" for u in scores["UA"]), f"{folds} x {seeds}",
            "(reference)" if test is None else str(test),
            "(reference)" if interval is None else str(interval),
        ]) + " |")
        records.append([
            row.system, row.label, int(row.parameters), parameters[row.system], row.ua, ua,
            ua_std, ua - row.ua, row.f1, f1, f1_std, f1 - row.f1, *recall,
            " ".join(f"{u:.6f}" for u in scores["UA"]), folds, seeds, *_test_cells(test),
            *_interval_cells(interval),
        ])
    return "\n".join(lines) + "\n", _csv_text([columns, *records])


def write_paper_table(
    table: int,
    experiments: Mapping[str, str | PathLike | Sequence[str | PathLike]],
    parameters: Mapping[str, int],
    output_folder: str | PathLike,
    title: str = "",
) -> tuple[Path, Path]:
    """Write :func:`paper_table` as ``table<N>.md`` (with a title) and ``table<N>.csv``.

    Arguments
    ---------
    table : int
        1 or 2.
    experiments : mapping
        System name to its experiment folder or run folders (:func:`paper_table`).
    parameters : mapping
        System name to our parameter count.
    output_folder : str or PathLike
        Where to write the two files.
    title : str
        A line under the heading, e.g. the corpus and protocol.

    Returns
    -------
    tuple of pathlib.Path
        The markdown and CSV files.
    """
    markdown, table_csv = paper_table(table, experiments, parameters)
    folder = Path(output_folder)
    heading = f"# Table {table} of Li et al. (ICASSP 2019), reproduced\n\n"
    notes = (f"{title}\n\n" if title else "") + (
        "Paper: IEMOCAP 4 classes, 10 folds. Ours: mean ± std over folds (each fold averaged "
        "over seeds); recall pooled over every test utterance; against S4 (DRN-MHSA): "
        "Wilcoxon signed-rank over folds (each fold's UA averaged over the seeds; seeds are "
        "not samples) and a speaker-cluster bootstrap of the pooled UA difference (test "
        "speakers resampled with replacement, each seed's predictions scored on every "
        "resample and averaged).\n\n"
    )
    md_path, csv_path = folder / f"table{table}.md", folder / f"table{table}.csv"
    write_text_atomic(heading + notes + markdown, md_path)
    write_text_atomic(table_csv, csv_path)
    return md_path, csv_path


def _read_runs(source: str | PathLike | Sequence[str | PathLike]) -> Runs:
    """An experiment folder's runs, or those of a list of run folders over their common folds."""
    if isinstance(source, (str, PathLike)):
        return read_runs(source)
    runs = {Path(folder).name: folds for folder in source if (folds := read_finished_folds(folder))}
    if not runs:
        raise InputFileError(source[0], "no finished fold (fold_<k>/metrics.json) here")
    common = sorted(set.intersection(*(set(folds) for folds in runs.values())))
    return {seed: {fold: folds[fold] for fold in common} for seed, folds in runs.items()}


def _fold_scores(runs: Runs) -> dict[str, list[float]]:
    """UA and F1 per fold, each averaged over the seeds."""
    folds = sorted(next(iter(runs.values())))
    return {
        score: [statistics.fmean(runs[seed][fold][score] for seed in runs) for fold in folds]
        for score in ("UA", "F1")
    }


def _pooled_recall(runs: Runs) -> list[float]:
    confusion = sum(np.array(m["confusion"]) for run in runs.values() for m in run.values())
    return (np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)).tolist()


def _labels(runs: Runs) -> list[str]:
    return list(next(iter(next(iter(runs.values())).values()))["labels"])


def _paired(runs: Runs, reference: Runs | None) -> PairedTest | str:
    if reference is None:
        return "no S4 run"
    try:
        return paired_wilcoxon(*pair_folds(runs, reference))
    except ValueError as err:  # no shared fold
        return f"not paired: {err}"


def _bootstrap(
    source: str | PathLike | Sequence[str | PathLike],
    reference_source: str | PathLike | Sequence[str | PathLike] | None,
    runs: Runs,
    reference: Runs | None,
    labels: Sequence[str],
    resamples: int,
) -> BootstrapInterval | str:
    """The speaker bootstrap against S4, or why there is none (the table is still written)."""
    if reference_source is None or reference is None:
        return "no S4 run"
    if resamples < 1:
        return "no bootstrap asked"
    try:
        row = read_row_predictions(source, folds=set(next(iter(runs.values()))))
        s4 = read_row_predictions(reference_source, folds=set(next(iter(reference.values()))))
        return bootstrap_against(row, s4, labels, resamples)
    except InputFileError as err:  # predictions without speakers, other utterances
        return f"no bootstrap: {err}"


def _test_cells(test: PairedTest | str | None) -> tuple[object, object, object]:
    """CSV cells of a paired test: mean difference, p-value, folds (or why there is none)."""
    if isinstance(test, PairedTest):
        return test.mean_difference, test.p_value, test.pairs
    return "", test or "", ""


def _interval_cells(interval: BootstrapInterval | str | None) -> tuple[object, ...]:
    """CSV cells of a bootstrap: difference, interval, share <= 0, speakers (or why none)."""
    if isinstance(interval, BootstrapInterval):
        return (interval.difference, interval.low, interval.high, interval.share_at_most_zero,
                interval.speakers)
    return "", "", "", interval or "", ""


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e6 else f"{count:,}"


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
