"""Early fusion of utterance functionals: prepared, normalised, batched, trained, checkpointed."""

import json
from pathlib import Path

import torch

from speechbrain_drnsa.training.module import CHECKPOINT_KEY

FUSION_MODEL = Path(__file__).resolve().parents[1] / "hparams" / "drn_mhsa_functionals.yaml"


def test_a_fusion_model_trains_on_llds_and_functionals(train_tiny, tmp_path):
    assert train_tiny(tmp_path, "--fold=0", f"--model_file={FUSION_MODEL}",
                      "--functionals=eGeMAPSv02", "--speaker_normalization=true") == 0
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_0"
    assert json.loads((fold / "metrics.json").read_text())["n_test"] > 0
    checkpoint = torch.load(fold / "checkpoints" / "last.ckpt", weights_only=True)
    block = checkpoint[CHECKPOINT_KEY]
    assert block["functionals"] == "eGeMAPSv02" and block["speaker_normalization"]
    state = checkpoint["state_dict"]
    # the functionals' own normaliser travels with the model: 88 eGeMAPS statistics
    assert state["functionals_normalizer.mean"].shape == (88,)
    assert int(state["functionals_normalizer.count"]) > 0
    assert state["model.functionals_embedding.layers.0.weight"].shape[1] == 88


def test_functionals_and_the_model_must_agree(train_tiny, tmp_path, caplog):
    assert train_tiny(tmp_path, "--fold=0", f"--model_file={FUSION_MODEL}") == 2
    assert "drn_mhsa_functionals.yaml: the model takes utterance functionals" in caplog.text
    assert train_tiny(tmp_path, "--fold=0", "--functionals=eGeMAPSv02") == 2
    assert "is set but the model does not take them" in caplog.text
    assert not list(tmp_path.rglob("metrics.json"))


def test_functionals_and_perturbations_are_refused_before_any_work(train_tiny, tmp_path, caplog):
    assert train_tiny(tmp_path, "--fold=0", "--functionals=eGeMAPSv02",
                      "--perturbations=[{speed: 1.1}]") == 2
    assert "perturbations and functionals cannot be combined" in caplog.text
