"""The ONNX backend imports no torch: classify, speech segments and enrolment in numpy.

A cold ``classify --backend onnx`` runs in a subprocess, which must end with no
torch (nor torchaudio, SpeechBrain, Lightning, the ``onnx`` package or the
``silero_vad`` package) imported, and print what the torch backend prints
within the ONNX tests' tolerance. The torch-free pieces it rests on are each
checked against what they replace: Silero's own frame loop and timestamps,
torchaudio's deltas, and the ``onnx`` package's view of external tensor data.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.features.lld_sets import deltas
from speechbrain_drnsa.inference import vad
from speechbrain_drnsa.inference.folder import load_model_folder

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from speechbrain_drnsa.inference.onnx_backend import OnnxEnsemble, has_external_data  # noqa: E402
from speechbrain_drnsa.inference.onnx_export import export_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "data" / "emodb" / "wav"
HEAVY = ("torch", "torchaudio", "speechbrain", "lightning", "onnx", "silero_vad")
# a cold process: the command, then the heavy packages it imported, on stderr's last line
PROBE = (
    "import json, sys\n"
    "from speechbrain_drnsa.cli import main\n"
    "status = main(sys.argv[1:])\n"
    f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
    "print(json.dumps({'status': status, 'heavy': heavy}), file=sys.stderr)\n"
)


@pytest.fixture(scope="module")
def onnx_folder(tiny_model_folder, tmp_path_factory, per_speaker_copy) -> Path:
    """The tiny model, per speaker (each file's or speaker's statistics first), with model.onnx."""
    folder = per_speaker_copy(tiny_model_folder, tmp_path_factory.mktemp("torch_free") / "model")
    export_onnx(load_model_folder(folder))
    return folder


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """Three EmoDB sentences with a second of faint noise before, between and after them."""
    if not EMODB.is_dir():
        pytest.skip(f"real EmoDB not present at {EMODB}")
    rng = np.random.default_rng(0)
    parts = []
    for path in sorted(EMODB.glob("03*.wav"))[:3]:
        speech, _ = soundfile.read(path, dtype="float32")
        parts += [1e-4 * rng.standard_normal(16000).astype(np.float32), speech]
    path = tmp_path_factory.mktemp("recording") / "recording.wav"
    soundfile.write(path, np.concatenate([*parts, parts[0]]), 16000)
    return path


def _cold(args: list[str]) -> tuple[list[dict], list[str]]:
    """Run the command line in a new process: its JSON lines and the heavy packages imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    assert probe["status"] == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], probe["heavy"]


def _assert_same_results(onnx_lines: list[dict], torch_lines: list[dict]) -> None:
    assert len(onnx_lines) == len(torch_lines)
    for got, expected in zip(onnx_lines, torch_lines):
        assert got["label"] == expected["label"]
        for label, p in expected["probabilities"].items():
            assert abs(got["probabilities"][label] - p) < 1e-4  # test_inference_onnx's tolerance
        assert [(w["start_s"], w["end_s"]) for w in got["windows"]] == [
            (w["start_s"], w["end_s"]) for w in expected["windows"]]


def test_cold_onnx_classify_imports_no_torch_and_matches_torch(onnx_folder, demo_corpus,
                                                               capsys):
    files = [str(path) for path in sorted(demo_corpus.rglob("*.wav"))[:3]]
    speaker = sorted(demo_corpus.rglob("*.wav"))[3].parent
    args = ["classify", *files, "--model", str(onnx_folder), "--json", "--speaker-dir",
            str(speaker)]
    got, heavy = _cold([*args, "--backend", "onnx"])
    assert heavy == []
    assert main(args) == 0
    _assert_same_results(got, [json.loads(line) for line in capsys.readouterr().out.splitlines()])


def test_cold_onnx_speech_segments_import_no_torch_and_match_torch(onnx_folder, recording,
                                                                   capsys):
    args = ["classify", str(recording), "--vad", "--model", str(onnx_folder), "--json"]
    got, heavy = _cold([*args, "--backend", "onnx"])
    assert heavy == []
    assert len(got[0]["windows"]) == 3  # each sentence found
    assert main(args) == 0
    _assert_same_results(got, [json.loads(line) for line in capsys.readouterr().out.splitlines()])


def test_silero_model_run_here_equals_silero_vad_package(recording):
    import silero_vad

    samples, _ = soundfile.read(recording, dtype="float32")
    frames = samples[: samples.size // 512 * 512].reshape(-1, 512)
    theirs = silero_vad.load_silero_vad(onnx=True)
    ours = vad.load_vad()
    expected = [float(theirs(torch.from_numpy(frame), 16000)) for frame in frames]
    assert [ours(frame) for frame in frames] == expected
    probs, samples_16k, _ = vad._speech_probabilities(recording, ours)
    assert probs[: len(expected)] == expected  # read in blocks, the same frames
    for threshold in (0.5, 0.3):
        spans = silero_vad.get_speech_timestamps_from_probs(
            probs, sampling_rate=16000, threshold=threshold, audio_length_samples=samples_16k)
        assert vad.speech_spans(probs, threshold, samples_16k) == [
            (s["start"], s["end"]) for s in spans]


def test_speech_spans_equal_silero_state_machine_on_random_probabilities():
    import silero_vad

    rng = random.Random(0)
    levels = [0.0, 0.3, 0.35, 0.36, 0.5, 0.51, 0.9, 1.0]  # around both thresholds
    for _ in range(500):
        frames = rng.randrange(0, 400)
        probs = [rng.random() if rng.random() < 0.3 else rng.choice(levels)
                 for _ in range(frames)]
        samples = max(0, frames * 512 - rng.randrange(512))
        threshold = rng.choice([0.5, 0.3, 0.1])
        expected = silero_vad.get_speech_timestamps_from_probs(
            list(probs), sampling_rate=16000, threshold=threshold,
            audio_length_samples=samples)
        assert vad.speech_spans(probs, threshold, samples) == [
            (s["start"], s["end"]) for s in expected]


def test_numpy_deltas_equal_torchaudio_compute_deltas():
    import torchaudio.functional

    features = 100 * np.random.default_rng(0).standard_normal((130, 1003)).astype(np.float32)
    expected = torchaudio.functional.compute_deltas(torch.from_numpy(features), win_length=5)
    assert np.array_equal(deltas(features, 5), expected.numpy())


def _with_external(model: "onnx.ModelProto", tensor: "onnx.TensorProto") -> bytes:
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/passwd")
    return model.SerializeToString()


def test_external_data_is_found_wherever_a_tensor_can_be(onnx_folder, tmp_path):
    """Initializers, attributes, subgraphs, sparse initializers, functions: as onnx walks them."""
    from onnx import helper

    path = onnx_folder / "model.onnx"
    assert not has_external_data(path.read_bytes())
    places = {
        "initializer": lambda m: m.graph.initializer[0],
        "constant": lambda m: m.graph.node.add(op_type="Constant").attribute.add(
            name="value", type=onnx.AttributeProto.TENSOR).t,
        "subgraph": lambda m: m.graph.node.add(op_type="If").attribute.add(
            name="then_branch", type=onnx.AttributeProto.GRAPH).g.initializer.add(),
        "sparse": lambda m: m.graph.sparse_initializer.add().values,
        "function": lambda m: m.functions.add().node.add().attribute.add(name="value").t,
    }
    for place, tensor_of in places.items():
        model = onnx.load(path)
        graph = tmp_path / f"{place}.onnx"
        graph.write_bytes(_with_external(model, tensor_of(model)))
        assert has_external_data(graph.read_bytes()), place
        with pytest.raises(Exception, match="external tensor data"):
            OnnxEnsemble(graph, ["neu", "hap", "sad", "ang"], [0])
    plain = helper.make_tensor("w", onnx.TensorProto.FLOAT, [1], [1.0])
    assert not has_external_data(helper.make_model(helper.make_graph(
        [], "g", [], [], [plain])).SerializeToString())
