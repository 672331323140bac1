"""Paired statistics on constructed runs whose answer is known: folds, not seeds, are samples;
the speaker bootstrap resamples whole speakers."""

import numpy as np
import pytest
import torch

from speechbrain_drnsa.results.scores import scores_from_confusion
from speechbrain_drnsa.results.stats import pair_folds, paired_wilcoxon, speaker_bootstrap

SPEAKERS = 10
CLASSES = 4
PER_CLASS = 3  # utterances of each class per speaker


def _corpus() -> tuple[np.ndarray, list[str]]:
    truths = np.tile(np.repeat(np.arange(CLASSES), PER_CLASS), SPEAKERS)
    speakers = [f"s{k:02d}" for k in range(SPEAKERS) for _ in range(CLASSES * PER_CLASS)]
    return truths, speakers


def _predictions(truths: np.ndarray, speakers: list[str], correct_per_speaker: dict) -> np.ndarray:
    """Each speaker's first ``n`` utterances of every class right, the others wrong."""
    predicted = (truths + 1) % CLASSES
    for k, name in enumerate(sorted(set(speakers))):
        rows = np.flatnonzero(np.asarray(speakers) == name)
        for c in range(CLASSES):
            right = rows[truths[rows] == c][: correct_per_speaker.get(name, 1)]
            predicted[right] = c
    return predicted


def _ua(truths: np.ndarray, predicted: np.ndarray) -> float:
    confusion = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(confusion, (truths, predicted), 1)
    return scores_from_confusion(torch.from_numpy(confusion))["UA"]


def test_identical_rows_differ_by_zero_in_every_resample():
    truths, speakers = _corpus()
    predicted = _predictions(truths, speakers, {"s03": 2, "s07": 3})
    result = speaker_bootstrap(truths, speakers, [predicted], [predicted.copy()], resamples=500)
    assert result.difference == 0.0 and result.low == 0.0 and result.high == 0.0
    assert result.share_at_most_zero == 1.0  # "<= 0": a tie counts as not better
    assert result.speakers == SPEAKERS and result.resamples == 500


def test_a_row_better_on_every_speaker_has_an_interval_above_zero():
    truths, speakers = _corpus()
    worse = _predictions(truths, speakers, {})  # 1 of 3 right per class and speaker
    better = _predictions(truths, speakers, {name: 2 for name in set(speakers)})
    result = speaker_bootstrap(truths, speakers, [better], [worse], resamples=2000)
    # the unresampled difference is the plain difference of pooled UAs
    assert result.difference == pytest.approx(_ua(truths, better) - _ua(truths, worse))
    assert result.difference == pytest.approx(1 / 3)
    assert result.low > 0 and result.share_at_most_zero == 0.0


def test_a_row_better_on_one_speaker_only_has_a_wide_interval_containing_zero():
    truths, speakers = _corpus()
    reference = _predictions(truths, speakers, {})
    one_speaker = _predictions(truths, speakers, {"s04": 3})
    result = speaker_bootstrap(truths, speakers, [one_speaker], [reference], resamples=4000)
    assert result.difference == pytest.approx(2 / 3 / SPEAKERS)
    # resamples without speaker s04 (about (9/10)**10 = 35 % of them) show no gain at all
    assert result.low <= 0 < result.high
    assert 0.25 < result.share_at_most_zero < 0.45
    assert result.high - result.low > result.difference


def test_seeds_are_averaged_in_ua_not_counted_as_samples():
    truths, speakers = _corpus()
    reference = _predictions(truths, speakers, {})
    perfect, wrong = truths.copy(), (truths + 1) % CLASSES
    two_seeds = speaker_bootstrap(truths, speakers, [perfect, wrong], [reference], resamples=300)
    # mean of the seeds' UAs (1.0 and 0.0) against 1/3: the same in every resample
    assert two_seeds.difference == pytest.approx(0.5 - 1 / 3)
    assert two_seeds.low == pytest.approx(0.5 - 1 / 3) == pytest.approx(two_seeds.high)


def test_the_resampling_is_seeded():
    truths, speakers = _corpus()
    a = _predictions(truths, speakers, {"s01": 3, "s02": 2})
    b = _predictions(truths, speakers, {"s05": 2})
    first = speaker_bootstrap(truths, speakers, [a], [b], resamples=300, seed=3)
    assert speaker_bootstrap(truths, speakers, [a], [b], resamples=300, seed=3) == first
    assert speaker_bootstrap(truths, speakers, [a], [b], resamples=300, seed=4) != first


def test_folds_are_the_pairs_and_seeds_are_averaged_first():
    a = {seed: {fold: {"UA": 0.8 + 0.01 * fold + 0.001 * int(seed)} for fold in range(5)}
         for seed in ("1", "2", "3")}
    b = {"svm": {fold: {"UA": 0.7} for fold in range(5)}}
    scores_a, scores_b = pair_folds(a, b)
    assert len(scores_a) == len(scores_b) == 5
    assert scores_a[2] == pytest.approx(0.822)
    test = paired_wilcoxon(scores_a, scores_b)
    # five folds all in favour: the smallest two-sided p the signed-rank test can give
    assert (test.pairs, test.unit, round(test.p_value, 4)) == (5, "folds", 0.0625)
    assert str(test).endswith("(p 0.0625, 5 folds)")
    with pytest.raises(ValueError, match="share no finished fold"):
        pair_folds(a, {"svm": {7: {"UA": 0.7}}})


def test_inconsistent_inputs_are_refused():
    truths, speakers = _corpus()
    with pytest.raises(ValueError, match="one entry per utterance"):
        speaker_bootstrap(truths, speakers[:-1], [truths], [truths])
    with pytest.raises(ValueError, match="at least 1"):
        speaker_bootstrap(truths, speakers, [truths], [truths], resamples=0)
