"""Training through the real recipe machinery (train.py, Trainer on CPU), tiny models."""

import csv
import errno
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from speechbrain_drnsa.io import write_json_atomic
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.features.cache import FeatureIndex
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.preparation import PreparedData
from speechbrain_drnsa.results.scores import scores_from_confusion
from speechbrain_drnsa.training.module import CHECKPOINT_KEY


def _scores(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {key: metrics[key] for key in ("UA", "WA", "F1", "confusion")}


def test_every_fold_trains_and_writes_the_results_layout(train_tiny, tmp_path):
    assert train_tiny(tmp_path) == 0
    experiment = tmp_path / "drn_mhsa" / "1234"
    folds = sorted(experiment.glob("fold_*"))
    assert [f.name for f in folds] == [f"fold_{k}" for k in range(5)]
    tested = []
    for fold in folds:
        metrics = json.loads((fold / "metrics.json").read_text())
        assert metrics["UA"] == pytest.approx(
            scores_from_confusion(torch.tensor(metrics["confusion"]))["UA"]
        )
        assert metrics["checkpoint"].startswith("best-epoch=")
        with open(fold / "predictions.csv") as f:
            tested += [row["utt_id"] for row in csv.DictReader(f)]
        for name in ["confusion_matrix.csv", "confusion_matrix.png", "hparams.yaml"]:
            assert (fold / name).is_file(), name
        assert (fold / "checkpoints" / "last.ckpt").is_file()
        assert (fold / "checkpoints" / metrics["checkpoint"]).is_file()
        assert list((fold / "logs" / "tensorboard").glob("events.out.tfevents.*"))
        assert "valid/UA" in (fold / "logs" / "csv" / "version_0" / "metrics.csv").read_text()
    # session5 tests every utterance exactly once over the folds
    assert len(tested) == len(set(tested)) == 80
    summary = json.loads((experiment / "summary.json").read_text())
    assert [row["fold"] for row in summary["folds"]] == list(range(5))
    assert set(summary["mean"]) == set(summary["std"]) == {"UA", "WA", "F1"}
    assert (experiment / "summary.csv").is_file() and (experiment / "summary.md").is_file()
    assert not list(tmp_path.rglob("*.tmp"))

    # the checkpoint rebuilds the classifier without the training yaml
    checkpoint = torch.load(folds[0] / "checkpoints" / "last.ckpt", weights_only=False)
    block = checkpoint[CHECKPOINT_KEY]
    assert block["labels"] == ["neu", "hap", "sad", "ang"]
    assert "!new:speechbrain_drnsa.lobes.DRNEncoder" in block["model_config"]["yaml"]
    assert block["model_config"]["overrides"]["n_classes"] == 4
    assert checkpoint["state_dict"]["normalizer.count"] > 0

    # a second run finds every fold finished and rewrites the same summary
    before = (experiment / "summary.json").read_text()
    assert train_tiny(tmp_path) == 0
    assert json.loads((experiment / "summary.json").read_text())["folds"] == json.loads(
        before
    )["folds"]


def test_same_seed_gives_identical_fold_metrics(train_tiny, tmp_path):
    for run in ("a", "b"):
        assert train_tiny(tmp_path / run, "--fold=1") == 0
    folders = [tmp_path / run / "drn_mhsa" / "1234" / "fold_1" for run in ("a", "b")]
    assert _scores(folders[0]) == _scores(folders[1])
    predictions = [(folder / "predictions.csv").read_text() for folder in folders]
    assert predictions[0] == predictions[1]


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_on_cpu(train_tiny, tmp_path, caplog, precision):
    status = train_tiny(tmp_path, "--fold=0", "--max_epochs=1", f"--precision={precision}")
    assert status == 0
    assert (tmp_path / "drn_mhsa" / "1234" / "fold_0" / "metrics.json").is_file()
    if precision == "16-mixed":
        assert "precision 16-mixed is not available on CPU" in caplog.text
        assert "bf16-mixed instead" in caplog.text


def test_failed_checkpoint_write_keeps_the_previous_one(train_tiny, tmp_path, caplog,
                                                        monkeypatch):
    real_save = torch.save
    last_saves = []

    def disk_full_on_second_last(obj, f, *args, **kwargs):
        if ".last.ckpt." in getattr(f, "name", ""):
            last_saves.append(f.name)
            if len(last_saves) == 2:
                f.write(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_on_second_last)
    assert train_tiny(tmp_path, "--fold=0", "--max_epochs=3") == 2
    last = tmp_path / "drn_mhsa" / "1234" / "fold_0" / "checkpoints" / "last.ckpt"
    assert "last.ckpt: checkpoint not written (No space left on device)" in caplog.text
    assert "the previous last.ckpt is intact" in caplog.text
    assert torch.load(last, weights_only=False)["epoch"] == 0
    assert not list(last.parent.glob("*.tmp"))


def _hand_made_fold(root: Path, train_labels: list[str]) -> SERDataModule:
    labels = ["neu", "hap", "sad", "ang"]
    manifest, index = {}, {}
    for part, part_labels in (("train", train_labels), ("valid", labels), ("test", labels)):
        for i, emo in enumerate(part_labels):
            utt = f"{part}_{i}"
            np.save(root / f"{utt}.npy", np.ones((20, 17), dtype=np.float32))
            manifest[utt] = {"wav": f"{{data_root}}/{utt}.wav", "emo": emo, "speaker": part}
            index[utt] = (str(root / f"{utt}.npy"), 20)
    write_json_atomic(manifest, root / "iemocap.json")
    folds = [{part: sorted(u for u in manifest if u.startswith(part))
              for part in ("train", "valid", "test")}]
    write_json_atomic(folds, root / "folds_speaker10.json")
    prepared = PreparedData(root / "iemocap.json", root / "folds_speaker10.json",
                            FeatureIndex("hand made", index))
    return SERDataModule(prepared, fold=0, normalizer=FeatureNormalizer())


def test_a_training_part_without_a_class_is_a_clear_error(tmp_path):
    data = _hand_made_fold(tmp_path, ["neu", "hap", "ang", "neu"])
    with pytest.raises(InputFileError, match=r"folds_speaker10.json: fold 0 .* no utterance "
                                             r"labelled 'sad'"):
        data.setup("fit")


def test_hand_made_fold_with_every_class_loads(tmp_path):
    data = _hand_made_fold(tmp_path, ["neu", "hap", "sad", "ang"])
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch.feats.data.shape == (4, 20, 17)
    assert sorted(batch.label.tolist()) == [0, 1, 2, 3]


def test_loaders_pickle_and_run_in_worker_processes(tmp_path):
    data = _hand_made_fold(tmp_path, ["neu", "hap", "sad", "ang"] * 3)
    data.num_workers = 2
    data.setup("fit")
    loader = data.train_dataloader()
    for part in (data, loader.dataset, loader.batch_sampler, loader.collate_fn):
        pickle.loads(pickle.dumps(part))
    seen = [utt for epoch in range(2) for batch in loader for utt in batch.id]
    assert sorted(seen) == sorted(data.datasets["train"].data_ids * 2)
