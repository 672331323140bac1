"""Richer frame features (`frame_features`): extracted, cached apart, trained, exported, loaded."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from ruamel import yaml

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.lld_sets import FRAME_FEATURE_SIZES, OpenSmileLLDSet
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.training.hparams import recipe_model_overrides
from speechbrain_drnsa.training.module import CHECKPOINT_KEY

MODEL = hparams_path("drn_mhsa.yaml")


@pytest.mark.parametrize("feature_set", ["eGeMAPSv02", "ComParE_2016"])
def test_a_set_gives_its_llds_then_their_regression_deltas(feature_set):
    extractor = OpenSmileLLDSet(feature_set)
    signal = 0.3 * torch.sin(torch.linspace(0, 2000, 16000)) * torch.linspace(0, 1, 16000)
    feats = extractor.extract(signal, 16000)
    size = FRAME_FEATURE_SIZES[feature_set]
    assert feats.shape == (96, size) and len(extractor.feature_names) == size
    llds, deltas = feats[:, : size // 2].numpy(), feats[:, size // 2:].numpy()
    # openSMILE's delta regression over +-2 frames, checked on the interior frames
    expected = sum(k * (llds[2 + k: 94 + k] - llds[2 - k: 94 - k]) for k in (1, 2)) / 10
    np.testing.assert_allclose(deltas[2:94], expected, rtol=1e-4, atol=1e-4)
    assert extractor.feature_names[size // 2] == extractor.feature_names[0] + "_de"


def test_each_set_keys_its_own_cache_and_pickles_without_its_smile_object():
    hashes = {OpenSmileLLD().config_hash, OpenSmileLLDSet("eGeMAPSv02").config_hash,
              OpenSmileLLDSet("ComParE_2016").config_hash}
    assert len(hashes) == 3
    extractor = OpenSmileLLDSet("eGeMAPSv02")
    extractor.extract(torch.zeros(100), 8000)  # builds the openSMILE object; padded, resampled
    copy = pickle.loads(pickle.dumps(extractor))
    assert copy._smile is None and copy.config_hash == extractor.config_hash
    with pytest.raises(ValueError, match="unknown frame feature set 'MFCC'"):
        OpenSmileLLDSet("MFCC")


def test_the_model_input_follows_the_set_and_a_conflicting_size_is_refused():
    hparams = {"model_file": str(MODEL), "labels": ["a", "b"], "frame_features": "ComParE_2016"}
    assert recipe_model_overrides(hparams)["input_size"] == 130
    assert "input_size" not in recipe_model_overrides({**hparams, "frame_features": None})
    with pytest.raises(InputFileError, match="input_size: 17 but frame_features ComParE_2016"):
        recipe_model_overrides({**hparams, "model_overrides": {"input_size": 17}})


def test_frame_features_and_perturbations_are_refused_before_any_work(train_tiny, tmp_path,
                                                                      caplog):
    assert train_tiny(tmp_path, "--fold=0", "--frame_features=eGeMAPSv02",
                      "--perturbations=[{speed: 1.1}]") == 2
    assert "perturbations are extracted as the paper's 17 LLDs only" in caplog.text
    assert not list(tmp_path.rglob("*.npy"))


@pytest.fixture(scope="module")
def egemaps_fold(train_tiny, tmp_path_factory) -> Path:
    """A tiny DRN-MHSA trained on eGeMAPSv02 LLDs and deltas."""
    root = tmp_path_factory.mktemp("egemaps_frames")
    assert train_tiny(root, "--fold=0", "--frame_features=eGeMAPSv02") == 0
    return root / "drn_mhsa" / "1234" / "fold_0"


def test_a_model_on_egemaps_frames_trains_exports_and_classifies(
    egemaps_fold, tmp_path, tiny_training_data
):
    checkpoint = torch.load(egemaps_fold / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint[CHECKPOINT_KEY]["frame_features"] == "eGeMAPSv02"
    state = checkpoint["state_dict"]
    assert state["normalizer.mean"].shape == (50,)
    assert state["model.encoder.blocks.0.conv1.weight"].shape[1] == 50
    # the set's arrays sit in a cache folder of their own, keyed by its config hash
    folder = tiny_training_data["feature_cache"] / OpenSmileLLDSet("eGeMAPSv02").config_hash[:16]
    assert np.load(next(folder.glob("*.npy"))).shape[1] == 50

    model = export(egemaps_fold, tmp_path / "model")
    config = yaml.YAML(typ="safe").load((model / "hyperparams.yaml").read_text())
    assert config["features"]["extractor"] == "OpenSmileLLDSet"
    assert config["features"]["feature_set"] == "eGeMAPSv02"
    assert len(config["features"]["names"]) == 50
    recognizer = EmotionRecognizer.from_hparams(model)
    assert isinstance(recognizer.extractor, OpenSmileLLDSet)
    wav = next(tiny_training_data["data_folder"].glob("Session*/sentences/wav/*/*.wav"))
    out_prob, _, index, label = recognizer.classify_file(wav)
    assert out_prob.shape == (1, 4) and float(out_prob.sum()) == pytest.approx(1.0, abs=1e-5)
    assert label[0] == recognizer.labels[int(index)]


def test_the_onnx_graph_of_such_a_model_takes_its_50_values_per_frame(
    egemaps_fold, tmp_path, tiny_training_data
):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    model = export(egemaps_fold, tmp_path / "model", onnx=True)  # checked against torch
    wav = next(tiny_training_data["data_folder"].glob("Session*/sentences/wav/*/*.wav"))
    by_torch = EmotionRecognizer.from_hparams(model).classify_file(wav)[0]
    by_onnx = EmotionRecognizer.from_hparams(model, backend="onnx").classify_file(wav)[0]
    torch.testing.assert_close(by_onnx, by_torch, atol=1e-4, rtol=0)
