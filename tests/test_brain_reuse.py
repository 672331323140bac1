"""The lobes reused outside our Lightning path: a plain SpeechBrain Brain built from a yaml."""

import math

import torch
from hyperpyyaml import load_hyperpyyaml
import speechbrain as sb
from torch.utils.data import DataLoader

HPARAMS = """
n_classes: 4
encoder: !new:speechbrain_drnsa.lobes.DRNEncoder
    input_size: 17
    channels: [8, 8, 16, 16, 16]
    blocks: [1, 1, 1, 1, 1]
    attention_heads: 2
pooling: !new:speechbrain_drnsa.lobes.LSTMPooling
    input_size: 16
    hidden_size: 8
classifier: !new:speechbrain_drnsa.lobes.DNNClassifier
    input_size: 8
    lin_neurons: [8]
    out_neurons: !ref <n_classes>
modules:
    encoder: !ref <encoder>
    pooling: !ref <pooling>
    classifier: !ref <classifier>
opt_class: !name:torch.optim.Adam
    lr: 0.01
"""


class _EmotionBrain(sb.Brain):
    def compute_forward(self, batch, stage):
        feats, lengths, _ = batch
        frames, lengths = self.modules.encoder(feats.to(self.device), lengths.to(self.device))
        return self.modules.classifier(self.modules.pooling(frames, lengths))

    def compute_objectives(self, logits, batch, stage):
        _, _, labels = batch
        return torch.nn.functional.cross_entropy(logits, labels.to(self.device))

    def on_stage_end(self, stage, stage_loss, epoch=None):
        self.train_loss = stage_loss


def test_plain_brain_trains_the_lobes_from_a_speechbrain_yaml() -> None:
    torch.manual_seed(0)
    hparams = load_hyperpyyaml(HPARAMS)
    brain = _EmotionBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        run_opts={"device": "cpu"},
    )
    batches = [
        (torch.randn(4, 60, 17), torch.tensor([1.0, 0.8, 0.5, 0.2]), torch.tensor([0, 1, 2, 3])),
        (torch.randn(3, 45, 17), torch.tensor([0.3, 1.0, 0.6]), torch.tensor([2, 1, 0])),
    ]
    before = {k: v.clone() for k, v in brain.modules.state_dict().items()}
    # Two optimisation steps through Brain.fit, one per batch.
    brain.fit(range(1), DataLoader(batches, batch_size=None), progressbar=False)
    assert brain.optimizer_step == 2
    assert math.isfinite(brain.train_loss) and brain.train_loss > 0
    after = brain.modules.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("encoder.") for k in changed)
    assert any(k.startswith("pooling.") for k in changed)
    assert any(k.startswith("classifier.") for k in changed)
