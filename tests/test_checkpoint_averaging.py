"""Testing the mean weights of the k best checkpoints of a fold (``average_top_k``)."""

import json
from pathlib import Path

import pytest
import torch

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.training.checkpoint import average_checkpoint_files
from speechbrain_drnsa.training.hparams import load_recipe_hparams

# a real model definition: loading recipe hparams checks the model against the labels
MODEL_FILE = str(hparams_path("drn_mhsa.yaml"))

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"


def _checkpoint(path: Path, weight: float, count: int) -> Path:
    torch.save(
        {
            "epoch": count,
            "state_dict": {"w": torch.full((2, 3), weight), "count": torch.tensor(count)},
        },
        path,
    )
    return path


def test_one_checkpoint_averages_to_itself(tmp_path):
    best = _checkpoint(tmp_path / "best.ckpt", 0.25, 7)
    out = torch.load(average_checkpoint_files([best], tmp_path / "avg.ckpt"))
    original = torch.load(best)
    assert out["epoch"] == original["epoch"]
    for name, value in original["state_dict"].items():
        assert torch.equal(out["state_dict"][name], value) and out["state_dict"][name].dtype == (
            value.dtype
        )


def test_two_checkpoints_average_to_their_mean_keeping_dtypes(tmp_path):
    first = _checkpoint(tmp_path / "a.ckpt", 1.0, 4)
    second = _checkpoint(tmp_path / "b.ckpt", 2.0, 6)
    out = torch.load(average_checkpoint_files([first, second], tmp_path / "avg.ckpt"))
    assert torch.allclose(out["state_dict"]["w"], torch.full((2, 3), 1.5))
    assert out["state_dict"]["count"].dtype == torch.int64 and out["state_dict"]["count"] == 5
    assert out["epoch"] == 4  # everything else from the best (first) checkpoint
    # the inputs are untouched
    assert torch.load(first)["state_dict"]["w"][0, 0] == 1.0
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_unusable_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InputFileError, match="no checkpoints"):
        average_checkpoint_files([], tmp_path / "avg.ckpt")
    first = _checkpoint(tmp_path / "a.ckpt", 1.0, 4)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"v": torch.zeros(1)}}, other)
    with pytest.raises(InputFileError, match="other.ckpt: holds other weights"):
        average_checkpoint_files([first, other], tmp_path / "avg.ckpt")
    with pytest.raises(InputFileError, match="missing.ckpt: cannot read"):
        average_checkpoint_files([tmp_path / "missing.ckpt"], tmp_path / "avg.ckpt")
    assert not (tmp_path / "avg.ckpt").exists()


def test_averaging_is_off_in_the_recipes_by_default():
    for recipe in ("IEMOCAP", "EmoDB"):
        hparams, _ = load_recipe_hparams(
            RECIPE.parent / recipe / "hparams" / "common.yaml",
            {"experiment": "x", "model_file": MODEL_FILE, "data_folder": "d"},
        )
        assert hparams["average_top_k"] == 1, recipe


def test_a_fold_tests_the_mean_of_its_two_best_checkpoints(train_tiny, tmp_path):
    assert train_tiny(tmp_path, "--fold=1", "--average_top_k=2") == 0
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_1"
    metrics = json.loads((fold / "metrics.json").read_text())
    assert metrics["checkpoint"] == "average-top2.ckpt"
    averaged = metrics["averaged_checkpoints"]
    # two epochs, both kept, best validation UA first
    assert len(averaged) == 2 and all(name.startswith("best-epoch=") for name in averaged)
    scores = [float(name.split("UA=")[1].removesuffix(".ckpt")) for name in averaged]
    assert scores == sorted(scores, reverse=True)
    states = [
        torch.load(fold / "checkpoints" / name, weights_only=False)["state_dict"]
        for name in averaged
    ]
    mean = torch.load(fold / "checkpoints" / "average-top2.ckpt", weights_only=False)
    for name, value in mean["state_dict"].items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            assert torch.allclose(value, (states[0][name] + states[1][name]) / 2), name
        elif not isinstance(value, torch.Tensor):  # the normaliser's speakers: the first's
            assert value == states[0][name], name
    # the two epochs' weights differ, so the mean is not either of them
    assert not torch.equal(mean["state_dict"]["model.classifier.layers.3.weight"],
                           states[0]["model.classifier.layers.3.weight"])
