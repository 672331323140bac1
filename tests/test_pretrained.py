"""Starting a model from an earlier run's weights (pretrain on one corpus, fine-tune on another)."""

import json
import logging
from pathlib import Path

import pytest
import torch

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.training.hparams import build_model
from speechbrain_drnsa.training.pretrained import load_pretrained_weights, resolve_checkpoint
from speechbrain_drnsa.training.hparams import load_recipe_hparams

# a real model definition: loading recipe hparams checks the model against the labels
MODEL_FILE = str(hparams_path("drn_mhsa.yaml"))

ROOT = Path(__file__).resolve().parents[1]
TINY_WIDTHS = {"channels": [4, 4, 8, 8, 8], "out_channels": 8, "lstm_hidden": 8, "lin_neurons": [8]}


@pytest.fixture(scope="module")
def pretrained_fold(train_tiny, tmp_path_factory) -> Path:
    """A finished fold of a tiny 4-class run."""
    root = tmp_path_factory.mktemp("pretrain")
    assert train_tiny(root, "--fold=0", "--max_epochs=1", "--experiment=pretrain") == 0
    return root / "pretrain" / "1234" / "fold_0"


def _tiny_model(n_classes: int) -> torch.nn.Module:
    overrides = {**TINY_WIDTHS, "n_classes": n_classes}
    return build_model(hparams_path("drn_mhsa.yaml"), overrides)[0]


def _weights(fold: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(resolve_checkpoint(fold), weights_only=True)
    return {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()
            if k.startswith("model.")}


def test_a_fold_folder_resolves_to_its_best_checkpoint(pretrained_fold):
    record = json.loads((pretrained_fold / "checkpoints" / "training.json").read_text())
    assert resolve_checkpoint(pretrained_fold) == Path(record["best_model_path"])
    assert resolve_checkpoint(record["best_model_path"]) == Path(record["best_model_path"])


def test_same_labels_copy_every_weight(pretrained_fold):
    model = _tiny_model(4)
    assert load_pretrained_weights(model, pretrained_fold, ["neu", "hap", "sad", "ang"]) == []
    for name, value in model.state_dict().items():
        assert torch.equal(value, _weights(pretrained_fold)[name]), name


def test_other_labels_keep_a_fresh_output_layer_and_copy_the_rest(pretrained_fold):
    torch.manual_seed(0)
    model = _tiny_model(7)
    fresh = {name: value.clone() for name, value in model.state_dict().items()}
    skipped = load_pretrained_weights(model, pretrained_fold, list("abcdefg"))
    assert skipped == ["classifier.layers.3.weight", "classifier.layers.3.bias"]
    pretrained = _weights(pretrained_fold)
    for name, value in model.state_dict().items():
        expected = fresh[name] if name in skipped else pretrained[name]
        assert torch.equal(value, expected), name


def test_another_architecture_or_file_is_a_clear_error(pretrained_fold, tmp_path):
    wider = build_model(hparams_path("drn_mhsa.yaml"), {**TINY_WIDTHS, "lstm_hidden": 16})[0]
    with pytest.raises(InputFileError, match="other widths: .*pooling"):
        load_pretrained_weights(wider, pretrained_fold, ["neu", "hap", "sad", "ang"])
    cnn = build_model(hparams_path("cnn.yaml"), {"n_classes": 4})[0]
    with pytest.raises(InputFileError, match="another architecture"):
        load_pretrained_weights(cnn, pretrained_fold, ["neu", "hap", "sad", "ang"])
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="junk.ckpt.*not a readable checkpoint"):
        load_pretrained_weights(_tiny_model(4), junk, ["neu"])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(InputFileError, match="foreign.ckpt.*not a checkpoint of speechbrain_drnsa"):
        load_pretrained_weights(_tiny_model(4), foreign, ["neu"])


def test_recipes_start_from_init_from(pretrained_fold, train_tiny, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert train_tiny(tmp_path, "--fold=1", "--max_epochs=1", f"--init_from={pretrained_fold}") == 0
    assert any("initialised from" in r.getMessage() for r in caplog.records)
    hparams = (tmp_path / "drn_mhsa" / "1234" / "fold_1" / "hparams.yaml").read_text()
    assert f"init_from: {pretrained_fold}" in hparams
    caplog.clear()
    missing = tmp_path / "nowhere"
    assert train_tiny(tmp_path / "b", "--fold=1", f"--init_from={missing}") == 2
    assert any(str(missing) in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "recipe, required",
    [("IEMOCAP", {"data_folder": "d"}), ("EmoDB", {"data_folder": "d"}),
     ("CSV", {"csv": "c.csv", "labels": ["a"]})],
)
def test_recipes_start_from_scratch_and_unperturbed_by_default(recipe, required):
    hparams, _ = load_recipe_hparams(
        ROOT / "recipes" / recipe / "hparams" / "common.yaml",
        {"experiment": "x", "model_file": MODEL_FILE, **required},
    )
    assert hparams["init_from"] is None and hparams["perturbations"] == []
