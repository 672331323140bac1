"""explain: the data's shapes, attention rows summing to 1 over valid frames, the figure."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.inference.explain import explain_file, plot_explanation

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"


@pytest.fixture(scope="module")
def model_folder(train_tiny, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    assert train_tiny(root, "--fold=0") == 0
    return export(root / "drn_mhsa" / "1234", root / "model")


@pytest.fixture(scope="module")
def recognizer(model_folder) -> EmotionRecognizer:
    return EmotionRecognizer.from_hparams(model_folder)


@pytest.fixture(scope="module")
def speech(demo_corpus) -> Path:
    return EMODB / "03a01Fa.wav" if EMODB.is_dir() else sorted(demo_corpus.rglob("*.wav"))[0]


def test_explanation_shapes_and_attention_rows(recognizer, speech):
    explanation = explain_file(recognizer, speech, heads=True)
    samples = soundfile.info(speech).frames
    assert explanation.waveform.shape == (samples,)
    frames = recognizer.extractor.num_frames(samples, explanation.sample_rate)
    assert explanation.llds.shape == (frames, 17)
    (window,) = explanation.windows
    out_frames = -(-frames // recognizer.total_stride)
    assert window.attention.shape == (out_frames, out_frames)
    heads = recognizer.models[0].encoder.blocks[-1].attention.attention.num_heads
    assert window.head_attention.shape == (heads, out_frames, out_frames)
    np.testing.assert_allclose(window.attention.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(window.head_attention.sum(axis=2), 1.0, atol=1e-5)
    np.testing.assert_allclose(window.head_attention.mean(axis=0), window.attention, atol=1e-6)
    # the same decision and probabilities as classification (fused attention)
    result = recognizer.classify_windows(speech)
    assert explanation.label == result.label
    np.testing.assert_allclose(explanation.probabilities, result.probabilities, atol=1e-5)


def test_long_file_has_per_window_labels_and_attention(recognizer, speech, tmp_path):
    signal, rate = soundfile.read(speech, dtype="float32")
    path = tmp_path / "long.wav"
    soundfile.write(path, np.tile(signal, int(np.ceil(25 * rate / signal.size))), rate)
    explanation = explain_file(recognizer, path, window_s=10)
    result = recognizer.classify_windows(path, window_s=10, hop_s=5)
    assert [(w.start_s, w.end_s, w.label) for w in explanation.windows] == [
        (w.start_s, w.end_s, w.label) for w in result.windows
    ]
    for window in explanation.windows:
        assert window.head_attention is None
        np.testing.assert_allclose(window.attention.sum(axis=1), 1.0, atol=1e-5)
    out = plot_explanation(explanation, tmp_path / "long.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_explain_writes_the_figure(model_folder, speech, tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert main(["explain", str(speech), "--model", str(model_folder), "--out", str(out),
                 "--heads"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "figure written" in capsys.readouterr().out
    assert main(["explain", str(tmp_path / "missing.wav"), "--model", str(model_folder),
                 "--out", str(out)]) == 2
    assert "missing.wav: file not found" in capsys.readouterr().err
