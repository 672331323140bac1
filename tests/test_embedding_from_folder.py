"""load_embedding_model: a model folder's encoder and pooling as a trainable DRNMHSAEmbedding."""

from pathlib import Path

import pytest
import safetensors.torch
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.inference import EmotionRecognizer, load_embedding_model
from speechbrain_drnsa.inference.architecture import build_from_spec, spec_from_model_yaml
from speechbrain_drnsa.inference.exporter import config_yaml_text
from speechbrain_drnsa.inference.folder import label_encoder_text, load_model_folder
from speechbrain_drnsa.lobes import DRNMHSAEmbedding

LABELS = ["neu", "hap", "sad", "ang"]
TINY = {"channels": [8, 8, 16, 16, 16], "out_channels": 16, "lstm_hidden": 12,
        "lin_neurons": [8], "n_classes": len(LABELS)}
RATE = 16000


def _model_folder(folder: Path, folds: list[int]) -> Path:
    """A model folder of the packaged drn_mhsa.yaml at tiny widths, random trained-like weights."""
    spec = spec_from_model_yaml(hparams_path("drn_mhsa.yaml").read_text(), TINY)
    tensors = {}
    for fold in folds:
        torch.manual_seed(fold)
        model = build_from_spec(spec, "drn_mhsa.yaml")
        for module in model.modules():  # batch-norm statistics other than the fresh 0 / 1
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        normalizer = FeatureNormalizer().fit([3 * torch.randn(500, 17) + fold])
        tensors |= {f"fold_{fold}.model.{k}": v.contiguous() for k, v in model.state_dict().items()}
        tensors |= {f"fold_{fold}.normalizer.{k}": v for k, v in normalizer.state_dict().items()
                    if isinstance(v, torch.Tensor)}
    folder.mkdir(parents=True)
    safetensors.torch.save_file(tensors, folder / "model.safetensors")
    config = {
        "labels": LABELS, "folds": folds, "model": spec,
        "normalizer": {"class": "FeatureNormalizer", "args": {"num_features": 17}},
        "features": {"extractor": "OpenSmileLLD", "sample_rate": RATE},
        "speaker_normalization": False,
    }
    (folder / "hyperparams.yaml").write_text(config_yaml_text(config))
    (folder / "label_encoder.txt").write_text(label_encoder_text(LABELS))
    return folder


def _speech_like(seconds: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE)) / RATE
    f0 = 140 + 30 * torch.sin(2 * torch.pi * 0.7 * t)
    syllables = torch.sin(2 * torch.pi * 3 * t) > 0
    voiced = torch.sin(2 * torch.pi * torch.cumsum(f0, 0) / RATE) * syllables
    return 0.3 * voiced + 0.01 * torch.randn(t.shape, generator=generator)


def test_loaded_lobe_embeds_as_the_exported_models_pooled_vector(tmp_path):
    folder = _model_folder(tmp_path / "model", folds=[3, 7])
    lobe = load_embedding_model(folder, fold=7)
    assert isinstance(lobe, DRNMHSAEmbedding) and lobe.training
    assert lobe.embedding_size == 12

    wavs = torch.zeros(2, int(2.5 * RATE))
    wavs[0] = _speech_like(2.5, 0)
    wavs[1, : int(1.5 * RATE)] = _speech_like(1.5, 1)
    wav_lens = torch.tensor([1.0, 0.6])
    expected = EmotionRecognizer.from_hparams(source=folder).encode_batch(wavs, wav_lens)[:, 1]

    extractor = OpenSmileLLD()
    feats = [extractor.extract(wavs[0], RATE), extractor.extract(wavs[1, : int(1.5 * RATE)], RATE)]
    padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    lengths = torch.tensor([len(f) / padded.shape[1] for f in feats])
    normalizer = load_model_folder(folder).normalizers[1]  # fold 7's
    with torch.no_grad():
        embeddings = lobe.eval()(normalizer(padded, lengths), lengths)
    assert embeddings.shape == (2, 1, 12)
    torch.testing.assert_close(embeddings.squeeze(1), expected, atol=1e-4, rtol=1e-4)
    # the other fold's weights give other embeddings: the fold chosen is the one loaded
    other = load_embedding_model(folder, fold=3).eval()
    assert not torch.allclose(other(normalizer(padded, lengths), lengths), embeddings, atol=1e-3)


def test_loaded_lobe_fine_tunes_from_a_recipe_yaml(tmp_path):
    folder = _model_folder(tmp_path / "model", folds=[0])
    hparams = load_hyperpyyaml(
        "embedding_model: !apply:speechbrain_drnsa.inference.load_embedding_model\n"
        f"    source: {folder}\n"
    )
    lobe = hparams["embedding_model"]
    loaded = load_model_folder(folder).models[0]
    for name, tensor in loaded.encoder.state_dict().items():
        assert torch.equal(lobe.encoder.state_dict()[name], tensor), name
    lobe(torch.randn(2, 40, 17), torch.tensor([1.0, 0.5])).sum().backward()
    assert all(p.grad is not None for p in lobe.parameters())


def test_a_folder_with_several_folds_needs_one_named(tmp_path):
    folder = _model_folder(tmp_path / "model", folds=[1, 2])
    with pytest.raises(InputFileError, match=r"hyperparams.yaml: pick one of the folds \[1, 2\]"):
        load_embedding_model(folder)
    with pytest.raises(InputFileError, match="fold=5 given"):
        load_embedding_model(folder, fold=5)
