"""The model definitions in hparams/: parameter counts of DRN-MHSA and its balanced ablations."""

from pathlib import Path

import pytest
from hyperpyyaml import load_hyperpyyaml

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.lobes import DRNEncoder, EmotionClassifier

HPARAMS = hparams_path()
PAPER_PARAMETERS = 9.9e6
# (residual, dilation, attention_heads, tolerance): the proposed model within 2%,
# the ablations parameter-balanced within 5%.
MODELS = {
    "drn_mhsa": (True, True, 4, 0.02),
    "drn_sha": (True, True, 1, 0.05),
    "drn": (True, True, 0, 0.05),
    "cnn_res": (True, False, 0, 0.05),
    "cnn": (False, False, 0, 0.05),
}


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list(MODELS))
def test_model_definition_is_balanced_at_the_papers_size(name: str) -> None:
    residual, dilation, heads, tolerance = MODELS[name]
    with open(HPARAMS / f"{name}.yaml") as stream:
        hparams = load_hyperpyyaml(stream)
    model = hparams["model"]
    assert isinstance(model, EmotionClassifier)
    assert model.encoder is hparams["encoder"]
    encoder = model.encoder
    assert (encoder.input_size, hparams["n_classes"]) == (17, 4)
    assert encoder.total_stride == (4 if dilation else 16)
    assert all(block.residual == residual for block in encoder.blocks)
    assert {b.attention.attention.num_heads if b.attention else 0 for b in encoder.blocks} == {
        heads
    }
    assert _count(model) == pytest.approx(PAPER_PARAMETERS, rel=tolerance)


def test_default_lobes_are_the_proposed_model() -> None:
    with open(HPARAMS / "drn_mhsa.yaml") as stream:
        hparams = load_hyperpyyaml(stream)
    assert _count(DRNEncoder()) == _count(hparams["encoder"])


def test_recipe_can_include_a_definition_with_another_class_count(tmp_path: Path) -> None:
    recipe = tmp_path / "train.yaml"
    recipe.write_text(
        "n_classes: 7\n"
        f"arch: !include:{HPARAMS / 'drn.yaml'}\n"
        "    n_classes: !ref <n_classes>\n"
        "model: !ref <arch[model]>\n"
    )
    with open(recipe) as stream:
        hparams = load_hyperpyyaml(stream)
    assert hparams["model"].classifier.layers[-1].out_features == 7
