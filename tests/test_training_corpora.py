"""Training on other corpora (CSV, EmoDB recipes) and the small-corpus options."""

import csv
import functools
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from speechbrain.dataio.batch import PaddedBatch
from torch import nn

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus
from speechbrain_drnsa.data.emodb import CLASS_SETS
from speechbrain_drnsa.data.iemocap import MANIFEST_NAME as IEMOCAP_MANIFEST
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.module import CHECKPOINT_KEY, SERModule
from speechbrain_drnsa.training.hparams import load_recipe_hparams

# a real model definition: loading recipe hparams checks the model against the labels
MODEL_FILE = str(hparams_path("drn_mhsa.yaml"))

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TINY = [
    "--model_overrides={channels: [4, 4, 8, 8, 8], out_channels: 8, lstm_hidden: 8, "
    "lin_neurons: [8]}",
    "--max_epochs=1",
    "--batch_size=8",
    "--lr=0.01",
    "--num_threads=1",
    "--enable_progress_bar=false",
]


@pytest.fixture(scope="module")
def corpus_csv(tiny_training_data: dict[str, Path], tmp_path_factory) -> Path:
    """The tiny demo corpus exported as a corpus CSV (paths relative to the CSV)."""
    manifest = load_json(tiny_training_data["prepared_folder"] / IEMOCAP_MANIFEST)
    path = tmp_path_factory.mktemp("csv_corpus") / "corpus.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "speaker", "emotion", "gender"])
        for entry in manifest.values():
            root = str(tiny_training_data["data_folder"])
            audio = Path(entry["wav"].replace("{data_root}", root))
            writer.writerow([audio, entry["speaker"], entry["emo"], entry["gender"]])
    return path


def _run_recipe(recipe: str, hparams: str, *args: str) -> int:
    spec = importlib.util.spec_from_file_location(f"{recipe}_train", RECIPES / recipe / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main([str(RECIPES / recipe / "hparams" / hparams), *args])


def test_csv_recipe_trains_with_the_labels_of_the_csv(corpus_csv, tiny_training_data, tmp_path):
    status = _run_recipe(
        "CSV", "drn_mhsa.yaml", f"--csv={corpus_csv}", "--corpus=demo", "--fold=0",
        f"--output_root={tmp_path}", f"--feature_cache={tiny_training_data['feature_cache']}",
        *TINY,
    )
    assert status == 0
    experiment = tmp_path / "demo" / "drn_mhsa" / "1234"
    metrics = json.loads((experiment / "fold_0" / "metrics.json").read_text())
    assert metrics["protocol"] == "loso"
    manifest = load_json(tmp_path / "demo" / "prepared" / "corpus.json")
    with open(experiment / "fold_0" / "predictions.csv") as f:
        tested = [row["utt_id"] for row in csv.DictReader(f)]
    # leave one speaker out: fold 0 tests exactly one speaker's utterances
    assert len({manifest[utt]["speaker"] for utt in tested}) == 1
    checkpoint = torch.load(experiment / "fold_0" / "checkpoints" / "last.ckpt",
                            weights_only=False)
    assert checkpoint[CHECKPOINT_KEY]["labels"] == ["ang", "hap", "neu", "sad"]
    assert (experiment / "summary.json").is_file()


def test_csv_recipe_needs_its_csv(tmp_path, caplog):
    assert _run_recipe("CSV", "cnn.yaml", f"--csv={tmp_path / 'none.csv'}") == 2
    assert "none.csv" in caplog.text


def test_emodb_hparams_choose_the_emodb_preparation_and_label_set():
    for name, classes in [("drn_mhsa.yaml", "all7"), ("cnn_4class.yaml", "4class"),
                          ("cpu_drn_mhsa_4class.yaml", "4class")]:
        hparams, _ = load_recipe_hparams(
            RECIPES / "EmoDB" / "hparams" / name, {"data_folder": "/data/emodb"}
        )
        assert tuple(hparams["labels"]) == CLASS_SETS[classes]
        assert hparams["prepare"].keywords == {"data_folder": "/data/emodb", "classes": classes}
        assert not hparams["speaker_normalization"] and hparams["label_smoothing"] == 0.0


def _data_module(corpus_csv: Path, tiny: dict, tmp_path: Path, prepare_corpus,
                 per_speaker: bool = False) -> SERDataModule:
    prepared = prepare_corpus(
        functools.partial(prepare_csv_corpus, csv_path=corpus_csv), tmp_path / "prep",
        tiny["feature_cache"], protocol="loso",
    )
    normalizer = FeatureNormalizer(per_speaker=per_speaker)
    data = SERDataModule(prepared, fold=0, normalizer=normalizer)
    data.setup("fit")
    return data


def _features_by_speaker(data: SERDataModule) -> dict[str, torch.Tensor]:
    """Every utterance of the fold after the per-speaker stage of the normaliser, if any."""
    manifest = load_json(data.prepared.manifest)
    norm = data.normalizer
    frames: dict[str, list[torch.Tensor]] = {}
    for dataset in data.datasets.values():
        for item in dataset:
            speaker = manifest[item["id"]]["speaker"]
            feats = norm.standardize_speaker(item["feats"], speaker) if norm.per_speaker else (
                item["feats"])
            frames.setdefault(speaker, []).append(feats)
    return {speaker: torch.cat(parts) for speaker, parts in frames.items()}


def test_speaker_normalization_standardises_every_speaker_test_speaker_included(
    corpus_csv, tiny_training_data, tmp_path, prepare_corpus
):
    plain = _features_by_speaker(
        _data_module(corpus_csv, tiny_training_data, tmp_path, prepare_corpus))
    data = _data_module(corpus_csv, tiny_training_data, tmp_path, prepare_corpus,
                        per_speaker=True)
    normed = _features_by_speaker(data)
    test_speaker = load_json(data.prepared.manifest)[data.datasets["test"].data_ids[0]]["speaker"]
    assert test_speaker in normed and set(normed) == set(plain)
    for speaker, feats in normed.items():
        varying = plain[speaker].std(dim=0) > 1e-3
        assert torch.allclose(feats.mean(dim=0), torch.zeros(17), atol=1e-4)
        assert torch.allclose(feats.std(dim=0, unbiased=False)[varying],
                              torch.ones(int(varying.sum())), atol=1e-3)
        assert not torch.allclose(plain[speaker].mean(dim=0), torch.zeros(17), atol=1e-2)
    # the fold's normaliser is fitted on the standardised training features
    assert torch.allclose(data.normalizer.mean, torch.zeros(17), atol=0.2)


class _Mean(nn.Module):
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(17, 4)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.out(feats.mean(dim=1))


class _Identity(nn.Module):
    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, speakers=None) -> torch.Tensor:
        return feats


class _Recorder(nn.Module):
    """Zeroes the batch and remembers that it was called."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.zeros_like(feats)


def _batch() -> PaddedBatch:
    torch.manual_seed(0)
    items = [{"id": f"u{i}", "feats": torch.randn(20 + i, 17) + 3, "label": i % 4}
             for i in range(4)]
    return PaddedBatch(items, padded_keys=["feats"])


def test_augmentation_changes_training_batches_only():
    recorder = _Recorder()
    system = SERModule(_Mean(), _Identity(), ["a", "b", "c", "d"], augment=recorder)
    batch = _batch()
    logits, _ = system._shared_step(batch, "train")
    # zeroed input: every utterance gets the bias only
    assert recorder.calls == 1 and torch.allclose(logits, system.model.out.bias.expand(4, 4))
    for stage in ("valid", "test"):
        logits, _ = system._shared_step(batch, stage)
        assert torch.allclose(logits, system(*batch.feats))
    assert recorder.calls == 1


@pytest.mark.parametrize("recipe", ["IEMOCAP", "EmoDB"])
def test_recipe_masking_is_off_by_default_and_masks_when_asked(recipe):
    common = RECIPES / recipe / "hparams" / "common.yaml"
    feats = torch.randn(3, 200, 17) + 5
    off, _ = load_recipe_hparams(common, {"experiment": "x", "model_file": MODEL_FILE,
                                          "data_folder": "d"})
    assert off["augment"] is None  # no module, no random draws: training exactly as before
    on, _ = load_recipe_hparams(common, {"experiment": "x", "model_file": MODEL_FILE,
                                         "data_folder": "d", "time_masks": 2,
                                         "feature_masks": 1})
    masked = on["augment"](feats)
    zero_frames = (masked == 0).all(dim=2).sum(dim=1)
    zero_features = (masked == 0).all(dim=1).sum(dim=1)
    assert (zero_frames >= 1).all() and (zero_frames <= 2 * 19).all()
    assert (zero_features >= 1).all() and (zero_features <= 2).all()


def test_label_smoothing_applies_to_the_training_loss_only():
    system = SERModule(_Mean(), _Identity(), ["a", "b", "c", "d"], label_smoothing=0.2)
    batch = _batch()
    logits, train_loss = system._shared_step(batch, "train")
    _, valid_loss = system._shared_step(batch, "valid")
    labels = batch.label
    plain = nn.functional.cross_entropy(logits, labels)
    smoothed = nn.functional.cross_entropy(logits, labels, label_smoothing=0.2)
    assert valid_loss.item() == pytest.approx(plain.item())
    assert train_loss.item() == pytest.approx(smoothed.item())
    assert train_loss.item() != pytest.approx(plain.item())


def test_the_recommended_small_corpus_system_runs_through_the_csv_recipe(
    corpus_csv, tiny_training_data, tmp_path
):
    status = _run_recipe(
        "CSV", "small_corpus.yaml", f"--csv={corpus_csv}", "--corpus=demo", "--fold=0",
        "--seeds=[1, 2]", f"--output_root={tmp_path}",
        f"--feature_cache={tiny_training_data['feature_cache']}", *TINY,
    )
    assert status == 0
    experiment = tmp_path / "demo" / "small_corpus"
    block = torch.load(experiment / "1" / "fold_0" / "checkpoints" / "last.ckpt",
                       weights_only=True)[CHECKPOINT_KEY]
    assert block["functionals"] == "ComParE_2016" and block["speaker_normalization"]
    assert (tmp_path / "demo" / "small_corpus_seed_ensemble" / "fold_0" / "metrics.json").is_file()
    assert set(json.loads((experiment / "summary.json").read_text())["seeds"]) == {"1", "2"}
    # exported, it classifies a file of an enrolled speaker with the ComParE functionals too
    recognizer = EmotionRecognizer.from_hparams(export(experiment / "1", tmp_path / "model"))
    with open(corpus_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    speaker = rows[0]["speaker"]
    wavs = sorted(Path(row["path"]) for row in rows if row["speaker"] == speaker)
    recognizer.enrol(speaker, wavs[:4])
    out_prob, _, _, label = recognizer.classify_file(wavs[0], speaker=speaker)
    assert out_prob.shape == (1, 4) and label[0] in recognizer.labels
    assert recognizer.functionals is not None


def test_the_emodb_small_corpus_yaml_is_the_csv_one_on_emodb_4_classes():
    emodb, _ = load_recipe_hparams(RECIPES / "EmoDB" / "hparams" / "small_corpus.yaml",
                                   {"data_folder": "/data/emodb"})
    assert tuple(emodb["labels"]) == CLASS_SETS["4class"] and emodb["protocol"] == "speaker_kfold5"
    assert emodb["functionals"] == "ComParE_2016" and emodb["seeds"] == [1234, 2, 3]
    assert emodb["weight_decay"] == pytest.approx(1e-4)
    assert emodb["model_file"].name == "drn_mhsa_functionals.yaml"
