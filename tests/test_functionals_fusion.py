"""Early fusion of utterance functionals: prepared, normalised, batched, trained, checkpointed."""

import json
from pathlib import Path

import numpy as np
import opensmile
import pytest
import torch
from ruamel import yaml

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.cli import main
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.functionals import FEATURE_SET_SIZES, FEATURE_SETS
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.inference.explain import explain_file
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.results.report import read_predictions
from speechbrain_drnsa.training.hparams import build_model, recipe_model_overrides
from speechbrain_drnsa.training.module import CHECKPOINT_KEY

FUSION_MODEL = hparams_path("drn_mhsa_functionals.yaml")


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


def test_a_fusion_model_trains_on_perturbed_copies_with_their_own_functionals(
    train_tiny, tmp_path, tiny_training_data
):
    assert train_tiny(tmp_path, "--fold=0", f"--model_file={FUSION_MODEL}",
                      "--functionals=eGeMAPSv02", "--perturbations=[{gain_db: -6}]") == 0
    assert list(tmp_path.rglob("fold_0/metrics.json"))
    record = json.loads((tiny_training_data["prepared_folder"] / "prepared.json").read_text())
    assert set(record["features"]) == {"", "functionals", "gain-6dB", "functionals@gain-6dB"}


@pytest.fixture(scope="module")
def fusion_runs(train_tiny, tmp_path_factory) -> dict[str, Path]:
    """A tiny fusion model trained per speaker, and one on training-part statistics."""
    runs = {}
    for name, per_speaker in (("speaker", "true"), ("train", "false")):
        root = tmp_path_factory.mktemp(f"fusion_{name}")
        assert train_tiny(root, "--fold=0", f"--model_file={FUSION_MODEL}",
                          "--functionals=eGeMAPSv02", f"--speaker_normalization={per_speaker}") == 0
        runs[name] = root / "drn_mhsa" / "1234" / "fold_0"
    return runs


def test_an_exported_fusion_model_classifies_with_its_functionals(
    fusion_runs, tmp_path, tiny_training_data
):
    folder = export(fusion_runs["train"], tmp_path / "model")
    config = yaml.YAML(typ="safe").load((folder / "hyperparams.yaml").read_text())
    assert config["functionals"] == {"extractor": "OpenSmileFunctionals",
                                     "feature_set": "eGeMAPSv02", "size": 88}
    recognizer = EmotionRecognizer.from_hparams(folder)
    wav = next(tiny_training_data["data_folder"].glob("Session*/sentences/wav/*/*.wav"))
    out_prob, score, index, label = recognizer.classify_file(wav)
    assert out_prob.shape == (1, 4) and float(out_prob.sum()) == pytest.approx(1.0, abs=1e-5)
    assert label[0] == recognizer.labels[int(index)]
    with pytest.raises(InputFileError, match="ONNX export of a model that takes utterance"):
        export(fusion_runs["train"], tmp_path / "onnx", onnx=True)


def test_a_per_speaker_fusion_model_needs_an_enrolled_speaker(
    fusion_runs, tmp_path, tiny_training_data
):
    recognizer = EmotionRecognizer.from_hparams(export(fusion_runs["speaker"], tmp_path / "m"))
    wavs = sorted(tiny_training_data["data_folder"].glob("Session1/sentences/wav/*/*F0*.wav"))
    with pytest.raises(ValueError, match="enrol the speaker first"):
        recognizer.classify_file(wavs[0])
    recognizer.enrol("F1", wavs[:4])
    assert recognizer.classify_file(wavs[0], speaker="F1")[0].shape == (1, 4)
    recognizer.save_speakers(tmp_path / "speakers.json")
    again = EmotionRecognizer.from_hparams(tmp_path / "m")
    assert again.load_speakers(tmp_path / "speakers.json") == ["F1"]
    torch.testing.assert_close(again.classify_file(wavs[1], speaker="F1")[0],
                               recognizer.classify_file(wavs[1], speaker="F1")[0])


def test_the_functional_set_sizes_the_model_input():
    hparams = {"model_file": FUSION_MODEL, "labels": ["ang", "hap", "neu", "sad"],
               "model_overrides": {"lstm_hidden": 8}, "functionals": "ComParE_2016"}
    model, _ = build_model(FUSION_MODEL, recipe_model_overrides(hparams))
    assert model.functionals_embedding.layers[0].in_features == 6373
    assert model.classifier.layers[0].in_features == 8 + 64  # lstm_hidden + embedding
    # a model that takes no functionals gets no functionals_size
    plain = {**hparams, "model_file": FUSION_MODEL.with_name("drn_mhsa.yaml")}
    assert "functionals_size" not in recipe_model_overrides(plain)


def test_a_functionals_size_that_contradicts_the_set_is_refused(train_tiny, tmp_path, caplog):
    assert train_tiny(tmp_path, "--fold=0", f"--model_file={FUSION_MODEL}",
                      "--functionals=ComParE_2016", "--model_overrides={functionals_size: 88}") == 2
    assert "ComParE_2016 has 6373 values per utterance" in caplog.text
    assert not list(tmp_path.rglob("metrics.json"))


@pytest.mark.parametrize("feature_set", ["eGeMAPSv02", "ComParE_2016"])
def test_the_set_sizes_are_opensmiles(feature_set):
    smile = opensmile.Smile(feature_set=FEATURE_SETS[feature_set],
                            feature_level=opensmile.FeatureLevel.Functionals)
    assert FEATURE_SET_SIZES[feature_set] == len(smile.feature_names)


def test_a_fusion_model_is_explained_with_its_functionals(fusion_runs, tmp_path,
                                                          tiny_training_data):
    recognizer = EmotionRecognizer.from_hparams(export(fusion_runs["speaker"], tmp_path / "m"))
    wavs = sorted(tiny_training_data["data_folder"].glob("Session1/sentences/wav/*/*F0*.wav"))
    with pytest.raises(ValueError, match="enrol the speaker first"):
        explain_file(recognizer, wavs[0])
    recognizer.enrol("F1", wavs[:4])
    explanation = explain_file(recognizer, wavs[0], speaker="F1")
    [window] = explanation.windows
    # the figure's probabilities are the classifier's, functionals included
    expected = recognizer.classify_file(wavs[0], speaker="F1")[0][0]
    np.testing.assert_allclose(explanation.probabilities, expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(window.attention.sum(axis=-1), 1.0, atol=1e-5)


def test_cli_explain_enrols_the_speaker_of_a_per_speaker_model(fusion_runs, tmp_path,
                                                               tiny_training_data, capsys):
    model = export(fusion_runs["speaker"], tmp_path / "m")
    wavs = sorted(tiny_training_data["data_folder"].glob("Session1/sentences/wav/*/*F0*.wav"))
    speaker_dir = tmp_path / "speaker"
    speaker_dir.mkdir()
    for wav in wavs[:4]:
        (speaker_dir / wav.name).symlink_to(wav)
    out = tmp_path / "fig.png"
    args = ["explain", str(wavs[0]), "--model", str(model), "--out", str(out)]
    assert main(args) == 2 and "enrol the speaker first" in capsys.readouterr().err
    assert main([*args, "--speaker-dir", str(speaker_dir)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("statistics", ["speaker", "train"])
def test_the_exported_fusion_model_gives_the_fold_models_test_probabilities(
    fusion_runs, tmp_path, tiny_training_data, statistics
):
    """Fold model (its predictions.csv) and exported EmotionRecognizer agree file by file."""
    fold = fusion_runs[statistics]
    tested = read_predictions(fold)
    manifest = load_json(tiny_training_data["prepared_folder"] / "iemocap.json")
    root = str(tiny_training_data["data_folder"])

    def wav(utt_id: str) -> Path:
        return Path(manifest[utt_id]["wav"].replace("{data_root}", root))

    recognizer = EmotionRecognizer.from_hparams(export(fold, tmp_path / "model"))
    assert recognizer.labels == tested.labels
    if statistics == "speaker":  # enrolled as training saw them: every utterance of the speaker
        for speaker in sorted(set(tested.speakers)):
            recognizer.enrol(speaker, [wav(u) for u, e in manifest.items()
                                       if e["speaker"] == speaker])
    for row, utt_id in enumerate(tested.ids):
        speaker = tested.speakers[row] if statistics == "speaker" else None
        probabilities = recognizer.classify_file(wav(utt_id), speaker=speaker)[0][0]
        # predictions.csv keeps 6 decimals; padding in the test batch changes nothing
        np.testing.assert_allclose(probabilities.numpy(), tested.probabilities[row], atol=1e-4,
                                   err_msg=f"{utt_id} ({statistics} statistics)")
    assert len(tested.ids) > 0
