"""SSL front ends (`frame_features: ssl`) on tiny random WavLM and wav2vec 2.0 models, offline.

No hub is reachable here: each model is a random configuration of a few
thousand weights, saved with ``save_pretrained`` to a folder that serves as
``ssl_source``. The whole path runs on the demo corpus: extraction into the
cache (reused, and keyed by the layer choice), two epochs of training,
export, classification, the refused ONNX export, fine-tuning, and the error
for a source that cannot be fetched.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from ruamel import yaml

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.cache import index_features
from speechbrain_drnsa.features.ssl import SSLFeatures, SSLSettings, WaveformFrames
from speechbrain_drnsa.training.hparams import recipe_model_overrides
from speechbrain_drnsa.training.module import CHECKPOINT_KEY

transformers = pytest.importorskip("transformers", reason="the ssl extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
MODEL = hparams_path("wavlm_drn_mhsa.yaml")
# the real models' convolutions (20 ms hop, 25 ms window) at 16 channels, 2 layers of 32
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2}


def save_tiny_model(folder: Path, model_type: str) -> Path:
    """A random tiny WavLM or wav2vec 2.0 with its feature extractor, as the hub lays it out."""
    torch.manual_seed(0)
    if model_type == "wavlm":
        config = transformers.WavLMConfig(**TINY, num_buckets=16, max_bucket_distance=80)
        model = transformers.WavLMModel(config)
    else:
        model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**TINY))
    model.save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=model_type != "wavlm").save_pretrained(
        folder)
    return folder


@pytest.fixture(scope="module")
def tiny_wavlm(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_wavlm"), "wavlm")


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_wav2vec2"), "wav2vec2")


@pytest.fixture(scope="module")
def train_ssl(tiny_recipe_args):
    """``train_ssl(root, *overrides)``: the IEMOCAP recipe's wavlm_drn_mhsa.yaml, tiny."""
    spec = importlib.util.spec_from_file_location(
        "iemocap_train_ssl", ROOT / "recipes" / "IEMOCAP" / "train.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    recipe = str(ROOT / "recipes" / "IEMOCAP" / "hparams" / "wavlm_drn_mhsa.yaml")

    def train(root: Path, *overrides: str) -> int:
        return script.main([
            recipe, *tiny_recipe_args, f"--output_root={root}",
            f"--prepared_folder={root / 'prepared'}", f"--feature_cache={root / 'features'}",
            "--fold=0", *overrides,
        ])

    return train


def test_the_model_sizes_come_from_the_ssl_models_config(tiny_wavlm):
    hparams = {"model_file": str(MODEL), "labels": ["a", "b"], "frame_features": "ssl",
               "ssl_source": str(tiny_wavlm)}
    assert recipe_model_overrides(hparams) == {"n_classes": 2, "input_size": 32, "ssl_layers": 3}
    one_layer = recipe_model_overrides({**hparams, "ssl_layer": 2})
    assert (one_layer["input_size"], one_layer["ssl_layers"]) == (32, 1)
    with pytest.raises(InputFileError, match="ssl_layer: weighted needs a model that sums"):
        recipe_model_overrides({**hparams, "model_file": str(hparams_path("drn_mhsa"))})
    with pytest.raises(InputFileError, match="ssl_layer 3: the model has layers 0 to 2"):
        recipe_model_overrides({**hparams, "ssl_layer": 3})
    with pytest.raises(ValueError, match="ssl_layer must be a layer number"):
        SSLSettings(str(tiny_wavlm), layer=-1)


def test_the_model_sums_the_cached_layers_with_its_softmax_weights():
    from speechbrain_drnsa.lobes import WeightedLayerEncoder

    class Frames(torch.nn.Module):  # hands the summed frames on
        total_stride = 1

        def forward(self, feats, lengths):
            return feats, lengths

    encoder = WeightedLayerEncoder(Frames(), num_layers=3)
    layers = torch.randn(2, 5, 3, 4)  # (batch, time, layers, size), as the cache lays them
    summed, _ = encoder(layers.flatten(2), None)
    torch.testing.assert_close(summed, layers.mean(dim=2))  # zero weights: the mean
    with torch.no_grad():
        encoder.layer_weights.copy_(torch.tensor([0.0, 2.0, -1.0]))
    weights = torch.tensor([0.0, 2.0, -1.0]).softmax(dim=0)
    summed, _ = encoder(layers.flatten(2), None)
    torch.testing.assert_close(summed, (layers * weights[:, None]).sum(dim=2))
    assert not list(WeightedLayerEncoder(Frames(), num_layers=1).parameters())


@pytest.mark.parametrize("model_type", ["wavlm", "wav2vec2"])
def test_states_are_cached_once_per_model_revision_and_layer_choice(
    model_type, tiny_wavlm, tiny_wav2vec2, tiny_training_data, tmp_path
):
    source = tiny_wavlm if model_type == "wavlm" else tiny_wav2vec2
    manifest = tiny_training_data["prepared_folder"] / "iemocap.json"
    data_root = tiny_training_data["data_folder"]
    weighted = SSLFeatures(SSLSettings(str(source)))
    index = index_features(manifest, tmp_path, extractor=weighted, data_root=data_root)
    utterance = next(iter(index.entries))
    states = np.load(index.path(utterance))
    assert states.shape[1] == 3 * 32 and weighted.model_type == model_type
    folder = tmp_path / weighted.config_hash[:16]
    assert (folder / "config.json").read_bytes() == (source / "config.json").read_bytes()
    # a second run reuses every array: nothing is extracted again
    arrays = {path: path.stat().st_mtime_ns for path in folder.glob("*.npy")}
    again = index_features(manifest, tmp_path, extractor=SSLFeatures(SSLSettings(str(source))),
                           data_root=data_root)
    assert again.entries == index.entries
    assert {path: path.stat().st_mtime_ns for path in folder.glob("*.npy")} == arrays
    # one layer is another cache folder, holding that layer's slice of the weighted frames
    layer = SSLFeatures(SSLSettings(str(source), layer=1))
    assert layer.config_hash != weighted.config_hash
    single = index_features(manifest, tmp_path, extractor=layer, data_root=data_root)
    assert Path(single.path(utterance)).parent == tmp_path / layer.config_hash[:16]
    np.testing.assert_allclose(np.load(single.path(utterance)), states[:, 32:64], atol=1e-5)
    # frames every 20 ms, as the real models
    wav = Path(weighted.record()["source"])
    assert weighted.hop == 320 and weighted.window == 400 and wav == source.resolve()


def test_other_weights_in_the_same_folder_are_another_revision(tiny_wavlm, tmp_path):
    copy = save_tiny_model(tmp_path / "copy", "wavlm")
    assert SSLFeatures(SSLSettings(str(copy))).revision == SSLFeatures(
        SSLSettings(str(tiny_wavlm))).revision
    torch.manual_seed(1)
    transformers.WavLMModel.from_pretrained(copy).apply(
        lambda m: torch.nn.init.normal_(m.weight) if isinstance(m, torch.nn.Linear) else None
    ).save_pretrained(copy)
    changed = SSLFeatures(SSLSettings(str(copy)))
    assert changed.revision != SSLFeatures(SSLSettings(str(tiny_wavlm))).revision
    assert changed.revision.startswith("sha256-")


def test_a_source_that_cannot_be_fetched_says_which_and_how_to_pass_a_folder(monkeypatch):
    import huggingface_hub.constants

    # read by huggingface_hub at import, and looked up at each call: nothing tries the network
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputFileError) as err:
        SSLFeatures(SSLSettings("nobody-here/no-such-ssl-model"))
    message = str(err.value)
    assert message.startswith("nobody-here/no-such-ssl-model: cannot fetch the SSL model")
    assert "--ssl_source=/path/to/model" in message and "HF_HUB_OFFLINE" in message
    with pytest.raises(InputFileError, match="not a folder: ssl_source must be a hub id or"):
        SSLFeatures(SSLSettings("/no/such/folder/wavlm"))


def test_without_the_ssl_extra_the_error_says_how_to_install_it(tiny_wavlm, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "transformers" else real(name, *args))
    with pytest.raises(InputFileError, match=r"needs transformers: pip install "
                       r"'speechbrain-drnsa\[ssl\]'"):
        SSLFeatures(SSLSettings(str(tiny_wavlm)))


def test_a_bad_layer_choice_is_refused_before_any_work(train_ssl, tiny_wavlm, tmp_path, caplog):
    assert train_ssl(tmp_path, f"--ssl_source={tiny_wavlm}", "--ssl_layer=last") == 2
    assert "ssl_layer must be a layer number (0, 1, ...) or 'weighted'" in caplog.text
    assert not list(tmp_path.rglob("*.npy"))


@pytest.fixture(scope="module")
def wavlm_run(train_ssl, tiny_wavlm, tmp_path_factory) -> Path:
    """Two epochs of the tiny DRN-MHSA on the tiny WavLM's weighted layers."""
    root = tmp_path_factory.mktemp("wavlm_run")
    assert train_ssl(root, f"--ssl_source={tiny_wavlm}", "--max_epochs=2") == 0
    return root


def test_a_model_on_ssl_states_trains_exports_and_classifies(
    wavlm_run, tiny_wavlm, tiny_training_data, tmp_path
):
    from speechbrain_drnsa.inference import EmotionRecognizer, export

    fold = wavlm_run / "wavlm_drn_mhsa" / "1234" / "fold_0"
    checkpoint = torch.load(fold / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1  # two epochs, from 0
    block = checkpoint[CHECKPOINT_KEY]
    assert block["frame_features"] == "ssl"
    assert block["ssl"]["source"] == str(tiny_wavlm.resolve())
    assert block["ssl"]["revision"].startswith("sha256-") and block["ssl"]["layer"] == "weighted"
    state = checkpoint["state_dict"]
    assert state["normalizer.mean"].shape == (3 * 32,)
    assert state["model.encoder.layer_weights"].shape == (3,)
    assert state["model.encoder.encoder.blocks.0.conv1.weight"].shape[1] == 32
    assert not any("ssl" in name for name in state)  # the SSL weights stay at their source

    model = export(fold, tmp_path / "model")
    config = yaml.YAML(typ="safe").load((model / "hyperparams.yaml").read_text())
    assert config["features"]["extractor"] == "SSLFeatures"
    assert config["features"]["ssl"] == {**block["ssl"]}
    assert config["features"]["frame_hop"] == 320 and "names" not in config["features"]
    card = (model / "README.md").read_text()
    assert "its weights are loaded from their own source" in card
    assert str(tiny_wavlm.resolve()) in card

    recognizer = EmotionRecognizer.from_hparams(model)
    assert isinstance(recognizer.extractor, SSLFeatures)
    assert recognizer.extractor.config_hash == block["feature_config_hash"]
    wav = next(tiny_training_data["data_folder"].glob("Session*/sentences/wav/*/*.wav"))
    out_prob, _, index, label = recognizer.classify_file(wav)
    assert out_prob.shape == (1, 4) and float(out_prob.sum()) == pytest.approx(1.0, abs=1e-5)
    assert label[0] == recognizer.labels[int(index)]
    # inference computes the states training read from the cache
    cached = next((wavlm_run / "features" / block["feature_config_hash"][:16]).glob(
        f"{wav.stem}.*.npy"))
    np.testing.assert_allclose(recognizer.extractor.extract_file(wav).numpy(), np.load(cached),
                               atol=1e-5)
    assert recognizer.encode_batch(torch.zeros(1, 8000)).shape == (1, 1, 8)


def test_onnx_export_of_an_ssl_model_is_refused_with_the_reason(wavlm_run, tmp_path):
    from speechbrain_drnsa.inference import export

    fold = wavlm_run / "wavlm_drn_mhsa" / "1234" / "fold_0"
    with pytest.raises(InputFileError, match="ONNX export of a model on SSL features .* not "
                       "supported: the graph would have to hold the SSL model; export without"):
        export(fold, tmp_path / "model", onnx=True)


@pytest.mark.parametrize("layer", ["weighted", 2])
def test_a_fine_tuned_wrapper_gives_every_layer_in_every_training_step(layer, tiny_wavlm):
    from speechbrain_drnsa.lobes import SSLClassifier

    class States(torch.nn.Module):  # the classifier sees what the wrapper gives
        def forward(self, states, lengths):
            self.seen = states
            return states.mean(dim=(1, 2)).unsqueeze(1)

    wrapper = SSLFeatures(SSLSettings(str(tiny_wavlm), layer=layer, freeze=False)).load_wrapper(
        freeze=False)
    model = SSLClassifier(wrapper, States(), layer=None if layer == "weighted" else layer)
    assert model.training and any(p.requires_grad for p in wrapper.parameters())
    torch.manual_seed(0)
    for _ in range(20):  # the tiny models' config has LayerDrop 0.1, as the real ones
        model(torch.randn(2, 8000, 1), torch.tensor([1.0, 0.8]))
        assert model.classifier.seen.shape == (2, 24, 32)


def test_fine_tuning_trains_the_ssl_model_from_the_cached_waveform(
    train_ssl, tiny_wav2vec2, tmp_path
):
    from speechbrain_drnsa.inference import export

    assert train_ssl(tmp_path, f"--ssl_source={tiny_wav2vec2}", "--ssl_freeze=false",
                     "--ssl_layer=weighted", "--max_epochs=2", "--batch_size=4",
                     "--precision=bf16-mixed") == 0  # as on a GPU, here on the CPU
    fold = tmp_path / "wavlm_drn_mhsa" / "1234" / "fold_0"
    state = torch.load(fold / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    # SpeechBrain's WeightedSSLModel: its layer weights and the transformer both trained
    assert state["model.ssl.weights"].abs().sum() > 0
    before = transformers.Wav2Vec2Model.from_pretrained(tiny_wav2vec2).state_dict()
    name = "encoder.layers.0.attention.q_proj.weight"
    assert not torch.equal(state[f"model.ssl.model.{name}"], before[name])
    # the feature extractor stays frozen, as SpeechBrain's recipes fine-tune
    conv = "feature_extractor.conv_layers.1.conv.weight"
    assert torch.equal(state[f"model.ssl.model.{conv}"], before[conv])
    # the cache holds 16 kHz waveforms, one value per sample
    waveforms = tmp_path / "features" / WaveformFrames().config_hash[:16]
    assert np.load(next(waveforms.glob("*.npy"))).shape[1] == 1
    with pytest.raises(InputFileError, match=r"fine-tuned \(ssl_freeze: false\) cannot be "
                       "exported yet"):
        export(fold, tmp_path / "model")


def test_speechbrain_wrappers_are_found_under_either_module_name(monkeypatch):
    import importlib

    from speechbrain_drnsa.features.ssl import speechbrain_ssl_module

    real = importlib.import_module
    refused = []

    def before_speechbrain_1_1(name, *args):
        if name == "speechbrain.integrations.huggingface" and not refused:
            refused.append(name)
            raise ModuleNotFoundError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", before_speechbrain_1_1)
    wrappers = speechbrain_ssl_module()
    assert refused and all(hasattr(wrappers, name) for name in (
        "WavLM", "Wav2Vec2", "HuBERT", "WeightedSSLModel"))


@pytest.mark.parametrize("corpus", ["IEMOCAP", "EmoDB", "CSV"])
def test_each_recipe_takes_the_ssl_source_as_an_override(corpus, tiny_wav2vec2, tmp_path):
    from speechbrain_drnsa.training.hparams import load_recipe_hparams

    overrides = {"ssl_source": str(tiny_wav2vec2), "ssl_layer": 2, "data_folder": str(tmp_path)}
    if corpus == "CSV":
        table = tmp_path / "corpus.csv"
        table.write_text("path,speaker,emotion\na.wav,s1,angry\nb.wav,s2,sad\n")
        for name in ("a.wav", "b.wav"):
            soundfile.write(tmp_path / name, np.zeros(1600), 16000)
        overrides = {"ssl_source": str(tiny_wav2vec2), "ssl_layer": 2, "csv": str(table)}
    recipe = ROOT / "recipes" / corpus / "hparams" / "wavlm_drn_mhsa.yaml"
    hparams, _ = load_recipe_hparams(recipe, overrides)
    assert hparams["model_file"] == MODEL.resolve() and hparams["frame_features"] == "ssl"
    sizes = recipe_model_overrides(hparams)
    assert (sizes["input_size"], sizes["ssl_layers"]) == (32, 1)
    assert SSLSettings.from_hparams(hparams) == SSLSettings(str(tiny_wav2vec2), None, 2, True)
