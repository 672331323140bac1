"""Scores, length-bucketed batches and reports of the training package."""

import csv
import json

import pytest
import torch

from speechbrain_drnsa.results.scores import (
    confusion_matrix,
    emotion_scores,
    scores_from_confusion,
)
from speechbrain_drnsa.results.scores import Evaluation
from speechbrain_drnsa.results.report import write_fold_report, write_summary
from speechbrain_drnsa.training.sampler import (
    BucketBatchSampler,
    LengthSortedSampler,
    padded_share,
)

# 10 utterances, 3 classes. Per class (true -> predicted):
#   class 0: 4 utts, 3 right, 1 -> class 1      recall 3/4
#   class 1: 4 utts, 2 right, 2 -> class 2      recall 2/4
#   class 2: 2 utts, 2 right                    recall 2/2
TARGETS = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
PREDICTIONS = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])


def test_scores_match_hand_computed_values():
    scores = {k: v.item() for k, v in emotion_scores(3)(PREDICTIONS, TARGETS).items()}
    assert scores["UA"] == pytest.approx((3 / 4 + 2 / 4 + 2 / 2) / 3)
    assert scores["WA"] == pytest.approx(7 / 10)
    # F1 per class: 2PR/(P+R); class 0: P=3/3, R=3/4; class 1: P=2/3, R=2/4; class 2: P=2/4, R=1
    f1 = [2 * 1 * 0.75 / 1.75, 2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), 2 * 0.5 * 1 / 1.5]
    assert scores["F1"] == pytest.approx(sum(f1) / 3)


def test_scores_accept_logits_and_accumulate_over_batches():
    scores = emotion_scores(3, prefix="test/")
    logits = torch.nn.functional.one_hot(PREDICTIONS, 3).float() * 5
    scores.update(logits[:4], TARGETS[:4])
    scores.update(logits[4:], TARGETS[4:])
    assert scores.compute()["test/WA"].item() == pytest.approx(0.7)


def test_confusion_matrix_and_scores_from_it_agree():
    matrix = confusion_matrix(3)(PREDICTIONS, TARGETS)
    assert matrix.tolist() == [[3, 1, 0], [0, 2, 2], [0, 0, 2]]
    direct = {k: v.item() for k, v in emotion_scores(3)(PREDICTIONS, TARGETS).items()}
    assert scores_from_confusion(matrix) == pytest.approx(direct)


def _lengths(n: int = 200) -> list[int]:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(n, generator=generator) * 400 + 100).int().tolist()


def test_bucketing_keeps_padding_under_ten_percent():
    lengths = _lengths()
    bucketed = list(BucketBatchSampler(LengthSortedSampler(lengths, shuffle=True), 16))
    unsorted = [list(range(i, min(i + 16, len(lengths)))) for i in range(0, len(lengths), 16)]
    assert padded_share(bucketed, lengths) < 0.10
    assert padded_share(unsorted, lengths) > 0.2


def test_training_batches_reshuffle_by_epoch_and_repeat_for_a_seed():
    lengths = _lengths()

    def epoch(e: int, seed: int = 1) -> list[list[int]]:
        sampler = BucketBatchSampler(LengthSortedSampler(lengths, True, seed), 8, even_batches=True)
        sampler.set_epoch(e)
        return list(sampler)

    assert epoch(0) == epoch(0)
    assert epoch(0) != epoch(1)
    assert epoch(0) != epoch(0, seed=2)
    assert sorted(i for batch in epoch(3) for i in batch) == list(range(len(lengths)))


def test_max_batch_frames_bounds_padded_batch_size():
    lengths = _lengths()
    sampler = BucketBatchSampler(LengthSortedSampler(lengths), 32, max_batch_frames=2000)
    for batch in sampler:
        assert len(batch) * max(lengths[i] for i in batch) <= 2000


@pytest.mark.parametrize("world", [2, 3])
def test_ddp_training_shares_are_even_and_evaluation_sees_each_item_once(world):
    lengths = _lengths(29)
    train = [
        list(BucketBatchSampler(LengthSortedSampler(lengths, True, 7), 4, None, world, rank, True))
        for rank in range(world)
    ]
    assert len({len(share) for share in train}) == 1
    assert {i for share in train for batch in share for i in batch} == set(range(29))
    evaluation = [
        list(BucketBatchSampler(LengthSortedSampler(lengths), 4, None, world, rank))
        for rank in range(world)
    ]
    seen = sorted(i for share in evaluation for batch in share for i in batch)
    assert seen == list(range(29))


def test_fold_report_and_summary(tmp_path):
    labels = ["neu", "hap", "sad"]
    names = [f"u{i}" for i in range(10)]
    evaluation = Evaluation(
        scores={k: v.item() for k, v in emotion_scores(3)(PREDICTIONS, TARGETS).items()},
        confusion=confusion_matrix(3)(PREDICTIONS, TARGETS).tolist(),
        labels=labels,
        predictions=[
            (n, labels[t], labels[p])
            for n, t, p in zip(names, TARGETS.tolist(), PREDICTIONS.tolist())
        ],
    )
    first = write_fold_report(tmp_path / "fold_0", evaluation, {"wall_time_s": 2.0})
    second = dict(first, UA=first["UA"] - 0.1, wall_time_s=3.0)
    write_summary(tmp_path, {0: first, 1: second}, title="toy")

    saved = json.loads((tmp_path / "fold_0" / "metrics.json").read_text())
    assert saved["UA"] == pytest.approx(0.75) and saved["n_test"] == 10
    with open(tmp_path / "fold_0" / "confusion_matrix.csv") as f:
        assert list(csv.reader(f))[1] == ["neu", "3", "1", "0"]
    assert (tmp_path / "fold_0" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["mean"]["UA"] == pytest.approx(0.70)
    assert summary["std"]["UA"] == pytest.approx(0.05)
    assert summary["wall_time_s"] == pytest.approx(5.0)
    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.reader(f))
    assert [row[0] for row in rows] == ["fold", "0", "1", "mean", "std"]
    assert "| mean | 0.7000 |" in (tmp_path / "summary.md").read_text()
    assert not list(tmp_path.rglob("*.tmp"))
