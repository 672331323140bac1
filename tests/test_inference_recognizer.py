"""EmotionRecognizer and the classify CLI: real speech, bad audio, long files, speakers, hub."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference import EmotionRecognizer, export, push
from speechbrain_drnsa.inference.folder import load_model_folder

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"
RATE = 16000


@pytest.fixture(scope="module")
def model_folder(train_tiny, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    assert train_tiny(root, "--fold=0") == 0
    return export(root / "drn_mhsa" / "1234", root / "model")


@pytest.fixture(scope="module")
def recognizer(model_folder) -> EmotionRecognizer:
    return EmotionRecognizer.from_hparams(model_folder)


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_classify_file_on_demo_and_real_speech(recognizer, demo_corpus):
    files = [sorted(demo_corpus.rglob("*.wav"))[0]]
    if EMODB.is_dir():
        files.append(sorted(EMODB.glob("*.wav"))[0])
    for path in files:
        out_prob, score, index, text_lab = recognizer.classify_file(path)
        assert out_prob.shape == (1, 4) and torch.isclose(out_prob.sum(), torch.tensor(1.0))
        assert text_lab == [recognizer.labels[int(index)]] and float(score) == out_prob.max()


@pytest.mark.skipif(not EMODB.is_dir(), reason=f"real EmoDB not present at {EMODB}")
def test_real_emodb_speech_end_to_end(recognizer):
    result = recognizer.classify_windows(sorted(EMODB.glob("*.wav"))[1])
    assert result.label in recognizer.labels and result.windows[0].start_s == 0.0


def test_classify_batch_and_encode_batch_shapes(recognizer):
    wavs = torch.from_numpy(np.stack([_tone(1.0), _tone(1.0)]))
    out_prob, score, index, labels = recognizer.classify_batch(wavs, torch.tensor([1.0, 0.5]))
    alone = recognizer.classify_batch(wavs[1:, : RATE // 2])[0]
    assert out_prob.shape == (2, 4) and len(labels) == 2
    assert torch.allclose(out_prob[1], alone[0], atol=1e-5)  # padding changes nothing
    assert recognizer.encode_batch(wavs).shape == (2, 1, 8)


def test_two_recognizers_of_one_loaded_folder_agree(model_folder, recognizer, demo_corpus):
    folder = load_model_folder(model_folder)
    first, second = EmotionRecognizer(folder), EmotionRecognizer(folder)  # folds folded once
    wav = sorted(demo_corpus.rglob("*.wav"))[0]
    expected = recognizer.classify_file(wav)[0]
    for other in (first, second):
        torch.testing.assert_close(other.classify_file(wav)[0], expected)


def test_bf16_precision_stays_close_to_fp32(model_folder, recognizer, demo_corpus, capsys):
    fast = EmotionRecognizer.from_hparams(model_folder, run_opts={"precision": "bf16"})
    assert {p.dtype for p in fast.models[0].parameters()} == {torch.bfloat16}
    for path in sorted(demo_corpus.rglob("*.wav"))[:4]:
        exact, close = recognizer.classify_file(path)[0], fast.classify_file(path)[0]
        assert close.dtype == torch.float32 and (close - exact).abs().max() < 0.01
    wavs = torch.from_numpy(np.stack([_tone(1.0), _tone(1.0)]))
    lengths = torch.tensor([1.0, 0.5])  # padded: the packed LSTM and attention masks in bf16
    exact = recognizer.classify_batch(wavs, lengths)[0]
    assert (fast.classify_batch(wavs, lengths)[0] - exact).abs().max() < 0.01
    assert fast.encode_batch(wavs).dtype == torch.float32
    wav = str(sorted(demo_corpus.rglob("*.wav"))[0])
    assert main(["classify", wav, "--model", str(model_folder), "--precision", "bf16"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1].startswith(wav)
    with pytest.raises(ValueError, match="precision must be one of"):
        EmotionRecognizer.from_hparams(model_folder, run_opts={"precision": "fp16"})
    with pytest.raises(ValueError, match="needs the torch backend"):
        EmotionRecognizer.from_hparams(model_folder, backend="onnx", run_opts={"precision": "bf16"})


def _write_bad(kind: str, path: Path) -> Path:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        soundfile.write(path, np.zeros(0, np.float32), RATE)
    elif kind == "not_audio":
        path.write_text("hello")
    elif kind == "nan":
        soundfile.write(path, np.full(RATE, np.nan, np.float32), RATE, subtype="FLOAT")
    elif kind == "folder":
        path.mkdir()
    elif kind == "truncated":
        soundfile.write(path, _tone(1.0), RATE)
        path.write_bytes(path.read_bytes()[:30])
    return path


@pytest.mark.parametrize("kind, message", [
    ("empty", "empty file"), ("header_only", "header only"), ("not_audio", "not a readable"),
    ("nan", "NaN"), ("folder", "is a folder"), ("truncated", "not a readable"),
])
def test_bad_audio_is_a_one_line_error_naming_the_file(recognizer, tmp_path, kind, message):
    path = _write_bad(kind, tmp_path / f"{kind}.wav")
    with pytest.raises(InputFileError, match=message) as err:
        recognizer.classify_file(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


@pytest.mark.parametrize("rate, subtype, channels", [
    (8000, "PCM_16", 1), (44100, "PCM_24", 2), (22050, "FLOAT", 6), (16000, "PCM_U8", 1),
])
def test_other_rates_depths_and_channels_are_classified(recognizer, tmp_path, rate, subtype,
                                                        channels):
    path = tmp_path / "a.wav"
    soundfile.write(path, np.tile(_tone(1.0, rate)[:, None], (1, channels)), rate, subtype=subtype)
    result = recognizer.classify_windows(path)
    narrowband = [f"{path}: sampled at 8000 Hz: the band above 4000 Hz"] if rate < RATE else []
    assert result.label in recognizer.labels
    assert [w[: len(n)] for w, n in zip(result.warnings, narrowband)] == narrowband
    assert len(result.warnings) == len(narrowband)


def test_silence_and_very_short_audio_give_a_result_and_a_warning(recognizer, tmp_path):
    soundfile.write(tmp_path / "silent.wav", np.zeros(RATE, np.float32), RATE)
    soundfile.write(tmp_path / "short.wav", _tone(0.02), RATE)
    assert "silent" in recognizer.classify_windows(tmp_path / "silent.wav").warnings[0]
    short = recognizer.classify_windows(tmp_path / "short.wav")
    assert short.label in recognizer.labels and "unreliable" in short.warnings[0]


def test_long_file_is_read_window_by_window(recognizer, tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    soundfile.write(path, np.tile(_tone(1.0), 150), RATE)  # 150 s
    reads = []
    original = soundfile.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        reads.append(frames)
        return original(self, frames, *args, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", spy)
    result = recognizer.classify_windows(path, window_s=10, hop_s=5)
    assert len(result.windows) == 29 and max(reads) == 10 * RATE and -1 not in reads
    assert (result.windows[-1].start_s, result.windows[-1].end_s) == (140.0, 150.0)
    mean = torch.tensor([w.probabilities for w in result.windows]).mean(0)
    assert torch.allclose(mean, torch.tensor(result.probabilities))


def test_enrolment_for_a_per_speaker_model(
    model_folder, tmp_path, demo_corpus, caplog, per_speaker_copy
):
    per_speaker = per_speaker_copy(model_folder, tmp_path / "model")
    recognizer = EmotionRecognizer.from_hparams(per_speaker)
    wavs = sorted(demo_corpus.rglob("*.wav"))[:3]
    own = recognizer.classify_file(wavs[0])[0]
    recognizer.classify_file(wavs[1])
    assert sum("own statistics" in r.message for r in caplog.records) == 1  # said once
    assert recognizer.enrol("F1", wavs) > 0
    enrolled = recognizer.classify_file(wavs[0], speaker="F1")[0]
    assert not torch.allclose(own, enrolled)
    recognizer.save_speakers(tmp_path / "speakers.json")
    again = EmotionRecognizer.from_hparams(per_speaker)
    assert again.load_speakers(tmp_path / "speakers.json") == ["F1"]
    assert torch.allclose(again.classify_file(wavs[0], speaker="F1")[0], enrolled)


def _hub_cache(model_folder: Path, cache: Path, repo: str = "org/ser") -> Path:
    """Lay a model folder out as huggingface_hub's cache does: blobs, snapshots, refs."""
    revision = "0" * 40
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo_dir / "blobs").mkdir()
    for file in model_folder.iterdir():
        blob = repo_dir / "blobs" / f"blob_{file.name}"
        shutil.copy(file, blob)
        (snapshot / file.name).symlink_to(Path("../../blobs") / blob.name)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(revision)
    return snapshot


def test_hub_id_loads_from_the_offline_cache(model_folder, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    snapshot = _hub_cache(model_folder, tmp_path / "hub")
    recognizer = EmotionRecognizer.from_hparams("org/ser", savedir=tmp_path / "hub")
    assert recognizer.folder.path == snapshot and recognizer.labels == ["neu", "hap", "sad", "ang"]
    with pytest.raises(InputFileError, match="org/other: cannot get it from the hub"):
        EmotionRecognizer.from_hparams("org/other", savedir=tmp_path / "hub")


def test_push_uploads_only_the_model_files(model_folder):
    calls = []

    class StandIn:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload", kwargs["repo_id"], kwargs))
            return "https://hub/commit/1"

    assert push(model_folder, "org/ser", api=StandIn()) == "https://hub/commit/1"
    upload = calls[1][2]
    assert upload["folder_path"] == str(model_folder) and "model.safetensors" in upload[
        "allow_patterns"] and calls[0][2]["exist_ok"]


def test_cli_classify_reports_every_file_and_fails_on_bad_ones(model_folder, tmp_path,
                                                               demo_corpus, capsys):
    good = sorted(demo_corpus.rglob("*.wav"))[:2]
    bad = _write_bad("not_audio", tmp_path / "bad.wav")
    status = main(["classify", str(good[0]), str(bad), str(good[1]), "--model",
                   str(model_folder), "--json"])
    out, err = capsys.readouterr()
    assert status == 1 and len(out.strip().splitlines()) == 2
    assert f"{bad}: not a readable audio file" in err and "Traceback" not in err
    assert main(["classify", str(good[0]), "--model", str(model_folder)]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.split("\t") == ["file", "label", "confidence", "neu", "hap", "sad", "ang"]
    assert row.startswith(str(good[0]))


def test_classifying_does_not_import_the_training_stack(model_folder, tmp_path):
    """Loading and classifying leave Lightning, SpeechBrain and matplotlib unimported."""
    wav = tmp_path / "tone.wav"
    soundfile.write(wav, 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000), 16000)
    script = (
        "import sys\n"
        "from speechbrain_drnsa.inference import EmotionRecognizer\n"
        f"recognizer = EmotionRecognizer.from_hparams({str(model_folder)!r})\n"
        f"probabilities, _, _, label = recognizer.classify_file({str(wav)!r})\n"
        "print(label[0], round(float(probabilities.sum()), 4))\n"
        "print(sorted(m for m in ('lightning', 'speechbrain', 'matplotlib') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    *_, classified, imported = done.stdout.strip().splitlines()
    label, total = classified.split()
    assert label in ["neu", "hap", "sad", "ang"] and float(total) == 1.0  # it did classify
    assert imported == "[]"
