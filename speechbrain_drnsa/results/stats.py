"""Paired comparisons of two systems tested on the same speakers: does one really do better?

Only independent units count as samples. Seeds of one fold share the fold's
test speakers, so they are not independent of each other; a row's seeds are
averaged (or pooled) first and their spread stays a column of its own.

- :func:`pair_folds` pairs the two systems fold by fold (each fold's score
  first averaged over a system's seeds) and :func:`paired_wilcoxon` runs
  SciPy's Wilcoxon signed-rank test over those pairs. With 5 folds the
  smallest two-sided p-value the test can give is 2 / 2**5 = 0.0625.
- :func:`speaker_bootstrap` resamples the test speakers with replacement
  (every utterance of a drawn speaker comes along), the same resample for
  both systems, and gives the 95 % interval of the pooled UA difference and
  the share of resamples where it is <= 0.
"""

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

__all__ = [
    "BootstrapInterval",
    "PairedTest",
    "pair_folds",
    "paired_wilcoxon",
    "speaker_bootstrap",
]

Runs = Mapping[str, Mapping[int, Mapping[str, Any]]]  # seed -> fold -> metrics

#: Resamples of :func:`speaker_bootstrap` unless told otherwise.
DEFAULT_RESAMPLES = 10_000


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
    unit : str
        What one pair is, in the plural (``"folds"``).

    Example
    -------
    >>> str(PairedTest(5, 0.031, 0.0625))
    '+0.031 (p 0.0625, 5 folds)'
    """

    pairs: int
    mean_difference: float
    p_value: float
    unit: str = "folds"

    def __str__(self) -> str:
        return f"{self.mean_difference:+.3f} (p {self.p_value:.3g}, {self.pairs} {self.unit})"


@dataclass(frozen=True)
class BootstrapInterval:
    """A speaker-cluster bootstrap of a UA difference, system A minus system B.

    Arguments
    ---------
    difference : float
        Pooled UA of A minus that of B on every test utterance (no resampling).
    low, high : float
        The percentile interval of the resampled differences (95 % by default).
    share_at_most_zero : float
        Share of resamples where A's UA is not above B's (difference <= 0).
    speakers : int
        Test speakers resampled.
    resamples : int
        Number of resamples.

    Example
    -------
    >>> str(BootstrapInterval(0.02, -0.01, 0.05, 0.12, 10, 10000))
    '+0.020 [-0.010, +0.050], <= 0 in 0.12, 10 speakers'
    """

    difference: float
    low: float
    high: float
    share_at_most_zero: float
    speakers: int
    resamples: int

    def __str__(self) -> str:
        return (f"{self.difference:+.3f} [{self.low:+.3f}, {self.high:+.3f}], "
                f"<= 0 in {self.share_at_most_zero:.2f}, {self.speakers} speakers")


def paired_wilcoxon(a: Sequence[float], b: Sequence[float], unit: str = "folds") -> PairedTest:
    """Wilcoxon signed-rank test of paired scores ``a`` against ``b``.

    Zero differences are split between the signs (Pratt's ``zsplit``), so ties
    count as evidence of no difference instead of being dropped. The pairs
    must be independent units: folds, never (fold, seed) pairs.

    Arguments
    ---------
    a, b : sequence of float
        Paired scores, e.g. UA per fold (:func:`pair_folds`).
    unit : str
        What one pair is, in the plural, for the report.

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
        return PairedTest(len(a), 0.0, 1.0, unit)
    result = wilcoxon(differences, zero_method="zsplit")
    return PairedTest(len(a), float(differences.mean()), float(result.pvalue), unit)


def pair_folds(a: Runs, b: Runs, score: str = "UA") -> tuple[list[float], list[float]]:
    """Pair two experiments fold by fold, each fold's score first averaged over its seeds.

    A fold is the unit: its test speakers are the same for every seed, so the
    seeds of a fold are one sample, not several. A deterministic system with
    one run (the SVM) and a system with three seeds give one pair per fold.

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
        The seed-averaged scores of ``a`` and of ``b``, one per fold that
        every seed of both finished, in fold order.

    Raises
    ------
    ValueError
        If the experiments share no finished fold.

    Example
    -------
    >>> net = {"1": {0: {"UA": 0.8}, 1: {"UA": 0.6}}, "2": {0: {"UA": 0.7}, 1: {"UA": 0.5}}}
    >>> svm = {"svm": {0: {"UA": 0.75}, 1: {"UA": 0.65}}}
    >>> pair_folds(net, svm)
    ([0.75, 0.55], [0.75, 0.65])
    """
    folds = sorted(set.intersection(*(set(run) for run in [*a.values(), *b.values()])))
    if not folds:
        raise ValueError("the two experiments share no finished fold")

    def averaged(runs: Runs) -> list[float]:
        return [statistics.fmean(run[fold][score] for run in runs.values()) for fold in folds]

    return averaged(a), averaged(b)


def speaker_bootstrap(
    truths: Sequence[int],
    speakers: Sequence[str],
    predicted_a: Sequence[Sequence[int]],
    predicted_b: Sequence[Sequence[int]],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Speaker-cluster bootstrap of the pooled UA difference of two systems (A minus B).

    Each resample draws as many speakers as the test set has, with
    replacement, and keeps every utterance of a drawn speaker (a speaker
    drawn twice counts twice); both systems are scored on the same resample.
    A system with several seeds gives one row of predictions per seed: its UA
    on a resample is the mean of its seeds' UAs there, so seeds are never
    samples. UA on a resample is the mean recall over the classes present in
    its utterances.

    Arguments
    ---------
    truths : sequence of int
        True class of every pooled test utterance (all folds).
    speakers : sequence of str
        Speaker of every utterance.
    predicted_a, predicted_b : sequence of sequence of int
        ``(seeds, utterances)`` predicted classes of each system, same
        utterance order as ``truths``.
    resamples : int
        Number of resamples (at least 1).
    seed : int
        Seed of the resampling, so that a table is reproducible.
    confidence : float
        Coverage of the percentile interval.

    Returns
    -------
    BootstrapInterval

    Example
    -------
    >>> truths = [0, 1, 0, 1, 0, 1]
    >>> speakers = ["s1", "s1", "s2", "s2", "s3", "s3"]
    >>> better = [[0, 1, 0, 1, 0, 1]]
    >>> worse = [[0, 0, 0, 0, 0, 0]]
    >>> result = speaker_bootstrap(truths, speakers, better, worse, resamples=200)
    >>> result.difference, result.low, result.share_at_most_zero
    (0.5, 0.5, 0.0)
    """
    truths = np.asarray(truths, dtype=np.int64)
    predicted = [np.atleast_2d(np.asarray(p, dtype=np.int64)) for p in (predicted_a, predicted_b)]
    if any(p.shape[1] != len(truths) for p in predicted) or len(speakers) != len(truths):
        raise ValueError("truths, speakers and every row of predictions need one entry per "
                         f"utterance: {len(truths)}, {len(speakers)}, "
                         f"{[p.shape[1] for p in predicted]}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    names, speaker_index = np.unique(np.asarray(speakers), return_inverse=True)
    classes = np.unique(truths)
    # per speaker and class: utterances, and correct ones per seed of each system
    totals = np.zeros((len(names), len(classes)))
    np.add.at(totals, (speaker_index, np.searchsorted(classes, truths)), 1.0)
    hits = [_hits_per_speaker(p, truths, speaker_index, classes, len(names)) for p in predicted]
    draws = np.random.default_rng(seed).multinomial(
        len(names), np.full(len(names), 1.0 / len(names)), size=resamples
    ).astype(float)
    everyone = np.ones((1, len(names)))
    observed = _ua(everyone, totals, hits[0]) - _ua(everyone, totals, hits[1])
    differences = _ua(draws, totals, hits[0]) - _ua(draws, totals, hits[1])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(differences, [tail, 100 - tail])
    return BootstrapInterval(
        difference=float(observed[0]),
        low=float(low),
        high=float(high),
        share_at_most_zero=float(np.mean(differences <= 0)),
        speakers=len(names),
        resamples=resamples,
    )


def _hits_per_speaker(
    predicted: np.ndarray, truths: np.ndarray, speaker_index: np.ndarray, classes: np.ndarray,
    n_speakers: int,
) -> np.ndarray:
    """``(seeds, speakers, classes)`` counts of correct predictions."""
    hits = np.zeros((len(predicted), n_speakers, len(classes)))
    class_index = np.searchsorted(classes, truths)
    for row, seed_predictions in enumerate(predicted):
        correct = (seed_predictions == truths).astype(float)
        np.add.at(hits[row], (speaker_index, class_index), correct)
    return hits


def _ua(draws: np.ndarray, totals: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """UA per resample ``(resamples,)``, averaged over seeds, from speaker draw counts."""
    support = draws @ totals  # (resamples, classes)
    present = support > 0
    recall = np.einsum("rs,ksc->krc", draws, hits) / np.where(present, support, 1.0)
    per_seed = np.where(present, recall, 0.0).sum(axis=2) / present.sum(axis=1)
    return per_seed.mean(axis=0)
