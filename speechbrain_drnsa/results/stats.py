"""Paired comparisons of two systems tested in the same folds: does one really do better?

With five folds and a seed spread as large as most options' effects, a mean
difference says little alone. :func:`paired_wilcoxon` runs SciPy's Wilcoxon
signed-rank test over paired scores (the same fold, and the same seed where
both systems have it), and :func:`pair_runs` builds the pairs from two
experiments' fold reports.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

__all__ = ["PairedTest", "pair_runs", "paired_wilcoxon"]

Runs = Mapping[str, Mapping[int, Mapping[str, Any]]]  # seed -> fold -> metrics


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of system A against system B.

    Arguments
    ---------
    pairs : int
        Paired scores compared.
    mean_difference : float
        Mean of A minus B.
    p_value : float
        Two-sided Wilcoxon signed-rank p-value (1.0 when every pair ties).

    Example
    -------
    >>> str(PairedTest(15, 0.031, 0.042))
    '+0.031 (p 0.042, 15 pairs)'
    """

    pairs: int
    mean_difference: float
    p_value: float

    def __str__(self) -> str:
        return f"{self.mean_difference:+.3f} (p {self.p_value:.2g}, {self.pairs} pairs)"


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Wilcoxon signed-rank test of paired scores ``a`` against ``b``.

    Zero differences are split between the signs (Pratt's ``zsplit``), so ties
    count as evidence of no difference instead of being dropped.

    Arguments
    ---------
    a, b : sequence of float
        Paired scores, e.g. UA per (fold, seed).

    Returns
    -------
    PairedTest

    Example
    -------
    >>> test = paired_wilcoxon([0.8, 0.7, 0.9, 0.75, 0.85], [0.7, 0.6, 0.8, 0.7, 0.8])
    >>> test.pairs, round(test.mean_difference, 3), round(test.p_value, 4)
    (5, 0.08, 0.0625)
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"need paired scores of equal, non-zero length, got {len(a)} and {len(b)}")
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if np.allclose(differences, 0.0):
        return PairedTest(len(a), 0.0, 1.0)
    result = wilcoxon(differences, zero_method="zsplit")
    return PairedTest(len(a), float(differences.mean()), float(result.pvalue))


def pair_runs(a: Runs, b: Runs, score: str = "UA") -> tuple[list[float], list[float]]:
    """Pair two experiments' fold scores: same fold, and same seed when both have several.

    A deterministic system with one run (the SVM) is paired with every seed of
    the other; two systems with several seeds are paired seed by seed, over
    the seeds they share.

    Arguments
    ---------
    a, b : mapping
        ``{seed: {fold: metrics}}`` of each experiment
        (:func:`~speechbrain_drnsa.results.compare.read_runs`).
    score : str
        The score to pair.

    Returns
    -------
    tuple of list of float
        The paired scores of ``a`` and of ``b``.

    Raises
    ------
    ValueError
        If the experiments share no fold, or no seed when both have several.

    Example
    -------
    >>> net = {"1": {0: {"UA": 0.8}, 1: {"UA": 0.6}}, "2": {0: {"UA": 0.7}, 1: {"UA": 0.5}}}
    >>> svm = {"svm": {0: {"UA": 0.75}, 1: {"UA": 0.65}}}
    >>> pair_runs(net, svm)
    ([0.8, 0.7, 0.6, 0.5], [0.75, 0.75, 0.65, 0.65])
    """
    folds = sorted(set.intersection(*(set(run) for run in [*a.values(), *b.values()])))
    if not folds:
        raise ValueError("the two experiments share no finished fold")
    if len(a) > 1 and len(b) > 1:
        seeds = [(seed, seed) for seed in a if seed in b]
        if not seeds:
            raise ValueError(f"no seed in common: {sorted(a)} and {sorted(b)}")
    else:
        seeds = [(sa, sb) for sa in a for sb in b]
    pairs = [(a[sa][f][score], b[sb][f][score]) for f in folds for sa, sb in seeds]
    return [x for x, _ in pairs], [y for _, y in pairs]
