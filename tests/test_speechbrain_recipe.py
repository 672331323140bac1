"""DRNMHSAEmbedding in SpeechBrain's own training loop, built as its IEMOCAP emotion recipe is.

SpeechBrain's recipes live in its GitHub repository, not in its wheel, so the
test rebuilds the interface of ``recipes/IEMOCAP/emotion_recognition`` with
SpeechBrain's classes: a ``speechbrain.Brain`` that computes Fbank features,
normalises them per sentence, calls ``embedding_model(feats, lens)`` then
``classifier``, trains with ``LogSoftmaxWrapper(AdditiveAngularMargin)``,
measures ``MetricStats(classification_error)``, checkpoints with SpeechBrain's
``Checkpointer`` and writes one prediction per test utterance. The model is
README.md's yaml block for that recipe, at tiny widths; the corpus the demo
corpus in IEMOCAP's layout (sessions 1-3 train, 4 validate, 5 test).
"""

import csv
import json
from pathlib import Path

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from readme_yaml import readme_recipe_yaml
from speechbrain_drnsa.data.iemocap import prepare_iemocap
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.io import load_json

# The stock recipe's yaml around its model (hparams/train.yaml), at a short schedule.
RECIPE_YAML = """
seed: 1968
__set_seed: !apply:torch.manual_seed [!ref <seed>]
output_folder: !PLACEHOLDER
save_folder: !ref <output_folder>/save
train_log: !ref <output_folder>/train_log.txt
train_logger: !new:speechbrain.utils.train_logger.FileTrainLogger
    save_file: !ref <train_log>
error_stats: !name:speechbrain.utils.metric_stats.MetricStats
    metric: !name:speechbrain.nnet.losses.classification_error
        reduction: batch
number_of_epochs: 2
batch_size: 8
lr: 0.001
n_mels: 80
out_n_neurons: 4
dataloader_options:
    batch_size: !ref <batch_size>
    shuffle: True
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
    limit: !ref <number_of_epochs>
compute_cost: !new:speechbrain.nnet.losses.LogSoftmaxWrapper
    loss_fn: !new:speechbrain.nnet.losses.AdditiveAngularMargin
        margin: 0.2
        scale: 30
opt_class: !name:torch.optim.Adam
    lr: !ref <lr>
lr_annealing: !new:speechbrain.nnet.schedulers.CyclicLRScheduler
    base_lr: 0.00001
    max_lr: !ref <lr>
    step_size: 24
modules:
    compute_features: !ref <compute_features>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
    mean_var_norm: !ref <mean_var_norm>
checkpointer: !new:speechbrain.utils.checkpoints.Checkpointer
    checkpoints_dir: !ref <save_folder>
    recoverables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        normalizer: !ref <mean_var_norm>
        counter: !ref <epoch_counter>
"""
TINY = {
    "embedding_model": {"channels": [4, 4, 8, 8, 8], "blocks": [1, 1, 1, 1, 1],
                        "attention_heads": 2, "lstm_hidden": 8},
    "classifier": {"input_size": 8},
}
SPLITS = {"train": ("Session1", "Session2", "Session3"), "valid": ("Session4",),
          "test": ("Session5",)}


class EmotionBrain(sb.Brain):
    """The recipe's Brain: features, sentence normalisation, embedding_model, classifier."""

    def features(self, batch):
        wavs, lens = batch.sig
        return self.modules.compute_features(wavs), lens

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        feats, lens = self.features(batch)
        feats = self.modules.mean_var_norm(feats, lens)
        embeddings = self.modules.embedding_model(feats, lens)
        return self.modules.classifier(embeddings)

    def compute_objectives(self, predictions, batch, stage):
        _, lens = self.features_lengths(batch)
        emoid, _ = batch.emo_encoded
        if stage == sb.Stage.TRAIN:
            self.hparams.lr_annealing.on_batch_end(self.optimizer)
        loss = self.hparams.compute_cost(predictions, emoid, lens)
        if stage != sb.Stage.TRAIN:
            self.error_metrics.append(batch.id, predictions, emoid, lens)
        return loss

    def features_lengths(self, batch):
        return batch.sig

    def on_fit_start(self):
        super().on_fit_start()  # recovers the latest checkpoint, if any
        self.weights_at_start = {
            name: tensor.clone()
            for name, tensor in self.modules.embedding_model.state_dict().items()
        }
        self.epochs_trained = []

    def on_stage_start(self, stage, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.epochs_trained.append(epoch)
        else:
            self.error_metrics = self.hparams.error_stats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        stats = {"loss": stage_loss, "error": self.error_metrics.summarize("average")}
        if stage == sb.Stage.VALID:
            self.valid_stats = stats
            old_lr, new_lr = self.hparams.lr_annealing(epoch)
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                {"Epoch": epoch, "lr": old_lr}, train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(meta=stats, min_keys=["error"])
        else:
            self.test_stats = stats

    def write_predictions(self, test_set, path: Path, loader_kwargs: dict) -> None:
        """As the recipe's ``output_predictions_test_set``: id, prediction, true value."""
        kwargs = {**loader_kwargs, "ckpt_prefix": None}
        loader = self.make_dataloader(test_set, sb.Stage.TEST, **kwargs)
        self.on_evaluate_start(min_key="error")
        self.modules.eval()
        with path.open("w", newline="") as stream, torch.no_grad():
            writer = csv.writer(stream)
            writer.writerow(["id", "prediction", "true_value"])
            for batch in loader:
                output = self.compute_forward(batch, stage=sb.Stage.TEST)
                predictions = torch.argmax(output, dim=-1).squeeze(dim=1).tolist()
                true_values = batch.emo_encoded.data.squeeze(dim=1).tolist()
                writer.writerows(zip(batch.id, predictions, true_values))


class LLDEmotionBrain(EmotionBrain):
    """The same recipe on the package's 17 openSMILE LLDs, provided by the data pipeline."""

    def features(self, batch):
        return batch.feats

    def features_lengths(self, batch):
        return batch.feats


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: batches this small wait on a second one on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def manifests(tiny_training_data, tmp_path_factory) -> dict[str, Path]:
    """The recipe's train/valid/test JSON manifests ({id: {wav, length, emo}}), demo corpus."""
    folder = tmp_path_factory.mktemp("sb_recipe_manifests")
    manifest = load_json(prepare_iemocap(tiny_training_data["data_folder"], folder))
    paths = {}
    for split, sessions in SPLITS.items():
        entries = {utt: {"wav": entry["wav"], "length": entry["duration"], "emo": entry["emo"]}
                   for utt, entry in manifest.items() if entry["session"] in sessions}
        paths[split] = folder / f"{split}.json"
        paths[split].write_text(json.dumps(entries, indent=1))
    return paths


def _datasets(hparams: dict, manifests: dict[str, Path], data_folder: Path, lld: bool) -> dict:
    """The recipe's dataio_prep, plus LLDs from the wavs for the LLD variant."""
    extractor = OpenSmileLLD()

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig", "feats")
    def audio_pipeline(wav):
        yield sb.dataio.dataio.read_audio(wav)
        yield extractor.extract_file(wav) if lld else None

    label_encoder = sb.dataio.encoder.CategoricalEncoder()

    @sb.utils.data_pipeline.takes("emo")
    @sb.utils.data_pipeline.provides("emo", "emo_encoded")
    def label_pipeline(emo):
        yield emo
        yield label_encoder.encode_label_torch(emo)

    keys = ["id", "sig", "emo_encoded", *(["feats"] if lld else [])]
    datasets = {
        split: sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path, replacements={"data_root": str(data_folder)},
            dynamic_items=[audio_pipeline, label_pipeline], output_keys=keys,
        )
        for split, path in manifests.items()
    }
    label_encoder.load_or_create(
        path=Path(hparams["save_folder"]) / "label_encoder.txt",
        from_didatasets=[datasets["train"]], output_key="emo",
    )
    return datasets


def _run_recipe(output: Path, manifests, data_folder: Path, lld: bool, epochs: int):
    """The recipe's main: load the yaml, build the Brain, fit, evaluate, write predictions."""
    block = readme_recipe_yaml()["iemocap-voxceleb"]
    overrides = {**TINY, "output_folder": str(output), "number_of_epochs": epochs}
    if lld:
        overrides["embedding_model"] = {**TINY["embedding_model"], "input_size": 17}
    hparams = load_hyperpyyaml(RECIPE_YAML + block, overrides)
    Path(hparams["save_folder"]).mkdir(parents=True, exist_ok=True)
    datasets = _datasets(hparams, manifests, data_folder, lld)
    brain = (LLDEmotionBrain if lld else EmotionBrain)(
        modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
        run_opts={"device": "cpu", "noprogressbar": True}, checkpointer=hparams["checkpointer"],
    )
    loader_kwargs = hparams["dataloader_options"]
    brain.fit(brain.hparams.epoch_counter, datasets["train"], datasets["valid"],
              train_loader_kwargs=loader_kwargs, valid_loader_kwargs=loader_kwargs)
    brain.weights_after_fit = {
        name: tensor.clone() for name, tensor in brain.modules.embedding_model.state_dict().items()
    }
    # evaluate() sets ckpt_prefix in the kwargs it gets: a copy keeps the recipe's dict intact
    brain.evaluate(datasets["test"], min_key="error", test_loader_kwargs=dict(loader_kwargs))
    brain.write_predictions(datasets["test"], output / "predictions.csv", loader_kwargs)
    return brain


@pytest.mark.slow
@pytest.mark.parametrize("lld", [False, True], ids=["fbank80", "lld17"])
def test_stock_recipe_trains_resumes_and_writes_predictions(lld, manifests, tiny_training_data,
                                                            tmp_path):
    data_folder = tiny_training_data["data_folder"]
    first = _run_recipe(tmp_path, manifests, data_folder, lld, epochs=2)
    input_size = first.modules.embedding_model.encoder.input_size
    assert input_size == (17 if lld else 80)
    assert first.epochs_trained == [1, 2]

    # validation and test error: a proportion of the utterances, as classification_error
    # gives only on (batch, 1, classes) outputs
    n_valid, n_test = (len(json.loads(manifests[s].read_text())) for s in ("valid", "test"))
    for stats, n in ((first.valid_stats, n_valid), (first.test_stats, n_test)):
        assert 0.0 <= stats["error"] <= 1.0
        assert stats["error"] * n == pytest.approx(round(stats["error"] * n), abs=1e-4)

    # one prediction per test utterance, with its true label's index
    with (tmp_path / "predictions.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    test_manifest = json.loads(manifests["test"].read_text())
    assert sorted(row["id"] for row in rows) == sorted(test_manifest)
    labels = sb.dataio.encoder.CategoricalEncoder()
    labels.load(tmp_path / "save" / "label_encoder.txt")
    for row in rows:
        assert int(row["prediction"]) in range(4)
        assert labels.decode_ndim(int(row["true_value"])) == test_manifest[row["id"]]["emo"]

    # a rerun with one more epoch resumes from the last checkpoint: it trains epoch 3 only,
    # from the weights the first run ended with
    second = _run_recipe(tmp_path, manifests, data_folder, lld, epochs=3)
    assert second.epochs_trained == [3]
    for name, tensor in first.weights_after_fit.items():
        assert torch.equal(second.weights_at_start[name], tensor), name
