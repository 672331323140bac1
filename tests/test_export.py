"""Export: a trained run becomes a safe, hub-ready model folder that classifies like training."""

from pathlib import Path

import pytest
import ruamel.yaml
import safetensors.torch
import torch
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.training.checkpoint import load_checkpoint
from speechbrain_drnsa.training.hparams import build_model
from speechbrain_drnsa.training.module import CHECKPOINT_KEY, SERModule
from speechbrain_drnsa.training.pretrained import resolve_checkpoint


@pytest.fixture(scope="module")
def experiment(train_tiny, tmp_path_factory) -> Path:
    """A finished two-fold experiment folder of the tiny recipe."""
    root = tmp_path_factory.mktemp("runs")
    for fold in (0, 1):
        assert train_tiny(root, f"--fold={fold}") == 0
    return root / "drn_mhsa" / "1234"


def test_experiment_exports_every_fold_as_one_folder(experiment, tmp_path):
    out = export(experiment, tmp_path / "model")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "hyperparams.yaml", "label_encoder.txt", "model.safetensors"
    ]
    tensors = safetensors.torch.load_file(out / "model.safetensors")
    assert {name.split(".")[0] for name in tensors} == {"fold_0", "fold_1"}
    assert "fold_1.normalizer.mean" in tensors
    text = (out / "hyperparams.yaml").read_text()
    assert "!" not in text.replace("# ", "")  # no tags at all
    config = ruamel.yaml.YAML(typ="safe").load(text)
    assert config["folds"] == [0, 1] and config["model"]["class"] == "EmotionClassifier"
    assert config["features"]["config_hash"] == OpenSmileLLD().config_hash
    assert config["speaker_normalization"] is False
    encoder = CategoricalEncoder()
    encoder.load(out / "label_encoder.txt")
    assert list(encoder.lab2ind) == config["labels"] == ["neu", "hap", "sad", "ang"]


def test_model_card_has_hub_metadata_and_scores(experiment, tmp_path):
    card = (export(experiment, tmp_path / "m", corpus="IEMOCAP") / "README.md").read_text()
    front = ruamel.yaml.YAML(typ="safe").load(card.split("---")[1])
    assert front["library_name"] == "speechbrain-drnsa"
    assert {"license", "tags", "datasets", "metrics"} <= set(front)
    assert "| UA |" in card and "± " in card and "Folds in this folder: 2" in card
    assert "protocol: session5" in card and "research only" in card
    assert "Speaker normalisation: none" in card


def test_fold_folder_and_checkpoint_export_one_model(experiment, tmp_path):
    from_folder = export(experiment / "fold_1", tmp_path / "a")
    from_file = export(resolve_checkpoint(experiment / "fold_1"), tmp_path / "b")
    for out in (from_folder, from_file):
        assert ruamel.yaml.YAML(typ="safe").load(out / "hyperparams.yaml")["folds"] == [1]
        # the fold's tested checkpoint, alone or by its folder: its own scores
        assert "Test scores of fold 1" in (out / "README.md").read_text()


def test_not_a_run_is_refused(tmp_path):
    with pytest.raises(InputFileError, match="nothing to export"):
        export(tmp_path, tmp_path / "out")


def test_recognizer_matches_the_training_module(experiment, tmp_path, demo_corpus):
    """Parity: the exported model's probabilities are the training module's on the same LLDs."""
    checkpoint_path = resolve_checkpoint(experiment / "fold_0")
    checkpoint = load_checkpoint(checkpoint_path)
    block = checkpoint[CHECKPOINT_KEY]
    model_file = tmp_path / "model.yaml"
    model_file.write_text(block["model_config"]["yaml"])
    model, _ = build_model(model_file, block["model_config"]["overrides"])
    module = SERModule(model, FeatureNormalizer(), block["labels"])
    module.load_state_dict(checkpoint["state_dict"], strict=False)
    module.eval()
    recognizer = EmotionRecognizer.from_hparams(export(checkpoint_path, tmp_path / "one"))
    wav = sorted(demo_corpus.rglob("*.wav"))[0]
    feats = OpenSmileLLD().extract_file(wav)
    with torch.no_grad():
        expected = module(feats[None], torch.ones(1)).softmax(-1)[0]
    out_prob, score, index, text_lab = recognizer.classify_file(wav)
    assert torch.allclose(out_prob[0], expected, atol=1e-5)
    assert text_lab == [block["labels"][int(expected.argmax())]] and index.shape == (1,)


def test_cli_export(experiment, tmp_path, capsys):
    assert main(["export", str(experiment), str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert main(["export", str(tmp_path), str(tmp_path / "n")]) == 2
    assert "nothing to export" in capsys.readouterr().err
