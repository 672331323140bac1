"""ONNX export and backend: parity with torch on padded batches, the recognizer and CLI, safety."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.inference.folder import ModelFolder
from speechbrain_drnsa.lobes import DNNClassifier, DRNEncoder, EmotionClassifier, LSTMPooling
from speechbrain_drnsa.nnet.attention import MultiHeadSelfAttention, explicit_attention
from speechbrain_drnsa.nnet.lengths import frame_mask

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from speechbrain_drnsa.inference.onnx_backend import OnnxEnsemble  # noqa: E402
from speechbrain_drnsa.inference.onnx_export import export_onnx  # noqa: E402

LABELS = ["neu", "hap", "sad", "ang"]
# (frames, relative lengths): mixed padding, batch sizes 1 to 5, shorter than one stride
BATCHES = [
    (123, [1.0, 0.5, 0.31]),
    (57, [1.0]),
    (200, [0.2, 1.0, 0.77, 0.5, 0.93]),
    (4, [1.0, 0.5]),
    (1, [1.0]),
    (1500, [1.0, 0.1]),
]


def _fold(seed: int) -> tuple[EmotionClassifier, FeatureNormalizer]:
    torch.manual_seed(seed)
    model = EmotionClassifier(
        DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 2, 2]),
        LSTMPooling(input_size=16, hidden_size=8, num_layers=2),
        DNNClassifier(input_size=8, lin_neurons=[8], out_neurons=len(LABELS)),
    ).eval()
    for module in model.modules():  # trained-looking batch-norm statistics, not 0 and 1
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    normalizer = FeatureNormalizer().fit([3 * torch.randn(200, 17) + seed])
    return model, normalizer


@pytest.fixture(scope="module")
def ensemble_folder(tmp_path_factory) -> ModelFolder:
    (model_a, norm_a), (model_b, norm_b) = _fold(1), _fold(2)
    path = tmp_path_factory.mktemp("ensemble")
    folder = ModelFolder(path, {"folds": [0, 3]}, LABELS, [model_a, model_b], [norm_a, norm_b])
    export_onnx(folder)
    return folder


@pytest.mark.parametrize("frames, lengths", BATCHES)
def test_onnx_runtime_matches_torch_on_padded_batches(ensemble_folder, frames, lengths):
    session = OnnxEnsemble(ensemble_folder.path / "model.onnx", LABELS, [0, 3])
    feats, lengths = torch.randn(len(lengths), frames, 17), torch.tensor(lengths)
    with torch.no_grad():
        expected = torch.stack([
            model(norm(feats, lengths), lengths)
            for model, norm in zip(ensemble_folder.models, ensemble_folder.normalizers)
        ], dim=1)
    got = session.logits(feats.numpy(), lengths.numpy())
    assert got.shape == (len(lengths), 2, len(LABELS))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)
    # and each utterance alone, unpadded, gives its row of the padded batch
    last = len(lengths) - 1
    alone = feats[last:, : max(1, round(float(lengths[last]) * frames))]
    np.testing.assert_allclose(
        session.logits(alone.numpy(), np.ones(1, np.float32))[0], got[last], atol=1e-4, rtol=0
    )
    probs = session.probabilities(feats.numpy(), lengths.numpy())
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_masked_lstm_pooling_equals_packed_pooling():
    torch.manual_seed(0)
    pooling = LSTMPooling(input_size=6, hidden_size=5, num_layers=3).eval()
    x, lengths = torch.randn(6, 40, 6), torch.tensor([1.0, 0.025, 0.5, 0.33, 0.9, 0.61])
    with torch.no_grad():
        torch.testing.assert_close(pooling.forward_masked(x, lengths), pooling(x, lengths))
    with pytest.raises(ValueError, match="bidirectional"):
        LSTMPooling(6, 5, bidirectional=True).forward_masked(x, lengths)


def test_explicit_attention_equals_fused_and_torch_attention_and_keeps_weights():
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(input_size=8, nhead=4).eval()
    x, lengths = torch.randn(3, 9, 8), torch.tensor([1.0, 0.56, 0.12])
    padded = ~frame_mask(lengths, 9)
    with torch.no_grad():
        fused, no_weights = attention(x, lengths)
        torch_out, torch_weights = attention.attention(x, x, x, key_padding_mask=padded)
        with explicit_attention(attention) as layers:
            explicit, weights = attention(x, lengths, need_weights=True)
            kept = layers[0].last_weights
    assert no_weights is None
    torch.testing.assert_close(explicit, fused, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(explicit[~padded], torch_out[~padded], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights, torch_weights, atol=1e-6, rtol=1e-5)
    assert kept.shape == (3, 4, 9, 9) and attention.last_weights is None
    # utterance 3 has one valid frame of 9: rows sum to 1 over it, padded keys get 0
    torch.testing.assert_close(kept.sum(dim=-1), torch.ones(3, 4, 9))
    assert bool((kept[2, :, :, 1:] == 0).all()) and bool((kept[1, :, :, 5:] == 0).all())
    assert not attention.explicit_weights


def _onnx_with(path: Path, edit) -> None:
    model = onnx.load(path)
    edit(model)
    path.write_bytes(model.SerializeToString())


def test_graph_with_external_data_or_other_labels_is_refused(ensemble_folder, tmp_path):
    graph = tmp_path / "model.onnx"
    shutil.copy(ensemble_folder.path / "model.onnx", graph)
    with pytest.raises(InputFileError, match="the folder's hyperparams.yaml says"):
        OnnxEnsemble(graph, ["neu", "ang"], [0, 3])

    def external(model):
        tensor = model.graph.initializer[0]
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value="../../etc/passwd")
    _onnx_with(graph, external)
    with pytest.raises(InputFileError, match="external tensor data"):
        OnnxEnsemble(graph, LABELS, [0, 3])
    graph.write_bytes(b"not a graph")
    with pytest.raises(InputFileError, match="not a readable ONNX graph"):
        OnnxEnsemble(graph, LABELS, [0, 3])


@pytest.fixture(scope="module")
def model_folder(train_tiny, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    assert train_tiny(root, "--fold=0") == 0
    return export(root / "drn_mhsa" / "1234", root / "model", onnx=True)


def test_onnx_recognizer_builds_no_torch_model_and_matches_torch(model_folder, demo_corpus,
                                                                 monkeypatch):
    wav = sorted(demo_corpus.rglob("*.wav"))[0]
    expected = EmotionRecognizer.from_hparams(model_folder).classify_file(wav)[0]

    def refuse(*args, **kwargs):
        raise AssertionError("a torch model was built on the ONNX path")
    monkeypatch.setattr("speechbrain_drnsa.inference.architecture.build_from_spec", refuse)
    recognizer = EmotionRecognizer.from_hparams(model_folder, backend="onnx")
    assert recognizer.models == [] and recognizer.total_stride == 4
    out_prob, score, index, text_lab = recognizer.classify_file(wav)
    torch.testing.assert_close(out_prob, expected, atol=1e-4, rtol=0)
    assert text_lab == [recognizer.labels[int(index)]]
    with pytest.raises(ValueError, match="torch backend"):
        recognizer.encode_batch(torch.zeros(1, 16000))


def test_cli_export_onnx_and_classify_with_the_onnx_backend(model_folder, demo_corpus, tmp_path,
                                                            capsys):
    wav = sorted(demo_corpus.rglob("*.wav"))[1]
    assert main(["classify", str(wav), "--model", str(model_folder), "--json"]) == 0
    with_torch = json.loads(capsys.readouterr().out)
    assert main(["classify", str(wav), "--model", str(model_folder), "--json",
                 "--backend", "onnx"]) == 0
    with_onnx = json.loads(capsys.readouterr().out)
    assert with_onnx["label"] == with_torch["label"]
    for label, p in with_torch["probabilities"].items():
        assert abs(with_onnx["probabilities"][label] - p) < 1e-4
    run = model_folder.parent / "drn_mhsa" / "1234"
    assert main(["export", str(run), str(tmp_path / "exported"), "--onnx"]) == 0
    assert (tmp_path / "exported" / "model.onnx").is_file()
    copy = tmp_path / "copy"
    shutil.copytree(model_folder, copy)
    (copy / "model.onnx").unlink()
    assert main(["classify", str(wav), "--model", str(copy), "--backend", "onnx"]) == 2
    assert "model.onnx: missing" in capsys.readouterr().err


def test_onnx_symlink_out_of_the_folder_is_refused(model_folder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(model_folder, copy)
    outside = tmp_path / "elsewhere.onnx"
    (copy / "model.onnx").rename(outside)
    (copy / "model.onnx").symlink_to(outside)
    with pytest.raises(InputFileError, match="symlink leading outside"):
        EmotionRecognizer.from_hparams(copy, backend="onnx")
