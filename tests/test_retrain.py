"""Retraining a fold on its training and validation speakers (``retrain_on_validation``)."""

import json

import torch

from speechbrain_drnsa.training.pretrained import resolve_checkpoint
from speechbrain_drnsa.training.retrain import epochs_of
from speechbrain_drnsa.training.settings import SETTINGS_FILE


def test_the_retrained_model_learns_from_the_validation_speakers_too(train_tiny, tmp_path):
    assert train_tiny(tmp_path, "--fold=0", "--max_epochs=3", "--retrain_on_validation=true") == 0
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_0"
    metrics = json.loads((fold / "metrics.json").read_text())
    selection = json.loads((fold / "checkpoints" / "training.json").read_text())
    # as many epochs as the checkpoint selected on validation had seen
    assert metrics["retrained_epochs"] == epochs_of(selection["best_model_path"])
    last = fold / "retrained" / "checkpoints" / "last.ckpt"
    assert metrics["checkpoint"] == "retrained/checkpoints/last.ckpt" and last.is_file()
    assert torch.load(last, weights_only=False)["epoch"] + 1 == metrics["retrained_epochs"]
    # more training utterances per epoch than the selection run: the validation speaker's
    per_epoch = sum(metrics["retrained_utterances_per_rank"]) / metrics["retrained_epochs"]
    assert per_epoch > sum(selection["train_utterances_per_rank"]) / selection["epochs"]
    # exporting and --init_from take the retrained model, not the selection run's
    assert resolve_checkpoint(fold) == last
    # the retrained run logs no validation: its validation speakers are training data now
    log = next((fold / "retrained" / "logs" / "csv").rglob("metrics.csv")).read_text()
    assert "train/loss" in log and "valid/UA" not in log

    # a rerun finds the fold finished
    before = (fold / "metrics.json").read_text()
    assert train_tiny(tmp_path, "--fold=0", "--max_epochs=3", "--retrain_on_validation=true") == 0
    assert (fold / "metrics.json").read_text() == before


def test_an_interrupted_retraining_resumes_and_tests_its_last_epoch(train_tiny, tmp_path):
    assert train_tiny(tmp_path, "--fold=0", "--max_epochs=3", "--retrain_on_validation=true") == 0
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_0"
    expected = json.loads((fold / "metrics.json").read_text())
    # as if killed after training, before testing: no report, training record kept
    (fold / "metrics.json").unlink()
    assert train_tiny(tmp_path, "--fold=0", "--max_epochs=3", "--retrain_on_validation=true") == 0
    again = json.loads((fold / "metrics.json").read_text())
    assert again["UA"] == expected["UA"] and again["confusion"] == expected["confusion"]


def test_a_fold_started_before_the_option_existed_still_resumes(train_tiny, tmp_path):
    assert train_tiny(tmp_path, "--fold=0") == 0
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_0"
    settings = json.loads((fold / SETTINGS_FILE).read_text())
    del settings["retrain_on_validation"]
    (fold / SETTINGS_FILE).write_text(json.dumps(settings))
    (fold / "metrics.json").unlink()
    assert train_tiny(tmp_path, "--fold=0") == 0  # off: the same settings as before
    assert train_tiny(tmp_path, "--fold=0", "--retrain_on_validation=true") == 2
