"""Mixup of training batches in SERModule (``mixup_alpha``)."""

from pathlib import Path

import pytest
import torch
from speechbrain.dataio.batch import PaddedBatch
from torch import nn

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.training.module import SERModule
from speechbrain_drnsa.training.hparams import load_recipe_hparams

# a real model definition: loading recipe hparams checks the model against the labels
MODEL_FILE = str(hparams_path("drn_mhsa.yaml"))

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
LABELS = ["a", "b", "c", "d"]


class _Recording(nn.Module):
    """Mean-pooled linear classifier that keeps the last inputs it saw."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(17, 4)
        self.seen: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.seen = (feats, lengths)
        return self.out(feats.mean(dim=1))


class _Identity(nn.Module):
    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, speakers=None) -> torch.Tensor:
        return feats


def _batch() -> PaddedBatch:
    generator = torch.Generator().manual_seed(0)
    items = [
        {"id": f"u{i}", "feats": torch.randn(20 + 5 * i, 17, generator=generator), "label": i % 4}
        for i in range(6)
    ]
    return PaddedBatch(items, padded_keys=["feats"])


def test_off_draws_no_random_numbers_and_keeps_the_plain_loss():
    torch.manual_seed(3)
    system = SERModule(_Recording(), _Identity(), LABELS)
    assert system.hparams.mixup_alpha == 0.0
    batch = _batch()
    state = torch.get_rng_state()
    logits, loss = system._shared_step(batch, "train")
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(system.model.seen[0], batch.feats[0])
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(logits, batch.label).item())


def test_on_mixes_features_lengths_and_targets_of_training_batches():
    alpha = 0.4
    torch.manual_seed(3)
    system = SERModule(_Recording(), _Identity(), LABELS, mixup_alpha=alpha)
    batch = _batch()
    feats, lengths = batch.feats
    torch.manual_seed(11)
    logits, loss = system._shared_step(batch, "train")
    mixed_feats, mixed_lengths = system.model.seen
    # the same draws, in the same order, as the module makes them
    torch.manual_seed(11)
    weight = torch.distributions.Beta(torch.tensor(alpha), torch.tensor(alpha)).sample()
    order = torch.randperm(len(batch.id))
    assert not torch.equal(order, torch.arange(len(batch.id)))
    assert torch.allclose(mixed_feats, weight * feats + (1 - weight) * feats[order])
    assert torch.equal(mixed_lengths, torch.maximum(lengths, lengths[order]))
    one_hot = nn.functional.one_hot(batch.label, 4).float()
    targets = weight * one_hot + (1 - weight) * one_hot[order]
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(logits, targets).item())
    assert loss.item() != pytest.approx(nn.functional.cross_entropy(logits, batch.label).item())


def test_on_never_touches_validation_or_test_batches():
    system = SERModule(_Recording(), _Identity(), LABELS, mixup_alpha=1.0)
    batch = _batch()
    for stage in ("valid", "test"):
        state = torch.get_rng_state()
        logits, loss = system._shared_step(batch, stage)
        assert torch.equal(torch.get_rng_state(), state)
        assert torch.equal(system.model.seen[0], batch.feats[0])
        assert torch.equal(system.model.seen[1], batch.feats[1])
        assert loss.item() == pytest.approx(
            nn.functional.cross_entropy(logits, batch.label).item()
        )


def test_mixup_works_with_label_smoothing():
    torch.manual_seed(3)
    system = SERModule(_Recording(), _Identity(), LABELS, mixup_alpha=0.4, label_smoothing=0.1)
    batch = _batch()
    torch.manual_seed(11)
    logits, loss = system._shared_step(batch, "train")
    torch.manual_seed(11)
    weight = torch.distributions.Beta(torch.tensor(0.4), torch.tensor(0.4)).sample()
    order = torch.randperm(len(batch.id))
    one_hot = nn.functional.one_hot(batch.label, 4).float()
    targets = weight * one_hot + (1 - weight) * one_hot[order]
    expected = nn.functional.cross_entropy(logits, targets, label_smoothing=0.1)
    assert loss.item() == pytest.approx(expected.item())


def test_negative_alpha_is_refused():
    with pytest.raises(ValueError, match="mixup_alpha"):
        SERModule(_Recording(), _Identity(), LABELS, mixup_alpha=-0.1)


@pytest.mark.parametrize("recipe", ["IEMOCAP", "EmoDB"])
def test_mixup_is_off_in_the_recipes_by_default(recipe):
    hparams, _ = load_recipe_hparams(
        RECIPES / recipe / "hparams" / "common.yaml",
        {"experiment": "x", "model_file": MODEL_FILE, "data_folder": "d"},
    )
    assert hparams["mixup_alpha"] == 0.0
