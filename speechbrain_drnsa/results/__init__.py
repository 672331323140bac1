"""Results: scores (UA, WA, macro-F1, confusion), fold and summary reports, comparisons.

Used by :mod:`speechbrain_drnsa.training` and :mod:`speechbrain_drnsa.baselines`
alike, so a network and a classic baseline tested in the same folds are
scored and reported by the same code.
"""

from speechbrain_drnsa.results.compare import comparison_table, read_runs
from speechbrain_drnsa.results.ensemble import write_ensemble
from speechbrain_drnsa.results.report import (
    fold_folder,
    read_finished_folds,
    read_fold_metrics,
    summarize,
    write_fold_report,
    write_summary,
)
from speechbrain_drnsa.results.scores import (
    SCORE_NAMES,
    Evaluation,
    confusion_matrix,
    emotion_scores,
    scores_from_confusion,
)

__all__ = [
    "SCORE_NAMES",
    "Evaluation",
    "comparison_table",
    "confusion_matrix",
    "emotion_scores",
    "fold_folder",
    "read_finished_folds",
    "read_fold_metrics",
    "read_runs",
    "scores_from_confusion",
    "summarize",
    "write_ensemble",
    "write_fold_report",
    "write_summary",
]
