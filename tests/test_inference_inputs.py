"""Inputs the inference path refuses or warns about: options, tensors, audio, model folders."""

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import soundfile
import torch

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference import EmotionRecognizer
from speechbrain_drnsa.inference.architecture import spec_from_model_yaml
from speechbrain_drnsa.inference.folder import label_encoder_text, load_model_folder

RATE = 16000
# 1.7 KB that expands to 10^9 nodes when its aliases are followed
LAUGHS = "a: &a [" + ", ".join(["lol"] * 10) + "]\n" + "".join(
    f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail with TimeoutError instead of hanging (main thread, Unix)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def tone(seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(6 * np.pi * t))).astype(
        np.float32)


@pytest.fixture(scope="module")
def recognizer(tiny_model_folder) -> EmotionRecognizer:
    return EmotionRecognizer.from_hparams(tiny_model_folder)


@pytest.fixture
def wav(tmp_path) -> Path:
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone(), RATE)
    return path


def _copy(model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model, tmp_path / "model"))


# -- 1. inputs that hang or exhaust memory -------------------------------------------------

@pytest.mark.parametrize("window, hop", [(-1, None), (0, None), (1e9, None), (10, 0),
                                         (10, -5), (10, 0.01), (10, 11), (float("nan"), None)])
def test_absurd_windows_are_refused_at_once(recognizer, wav, window, hop):
    with deadline(10), pytest.raises(ValueError, match="must be between"):
        recognizer.classify_windows(wav, window_s=window, hop_s=hop)


@pytest.mark.parametrize("window", ["-1", "0", "1e9", "nan"])
def test_cli_refuses_absurd_windows(tiny_model_folder, wav, window, capsys):
    with deadline(10), pytest.raises(SystemExit) as status:
        main(["classify", str(wav), "--model", str(tiny_model_folder), f"--window={window}"])
    assert status.value.code == 2 and "window must be between" in capsys.readouterr().err


@pytest.mark.parametrize("text, problem", [
    (LAUGHS, "alias"),
    ("labels: &a [neu, *a]\n", "alias"),
    ("labels: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    ("labels: [neu]\n" + "# padding\n" * 200_000, "bytes"),
], ids=["billion_laughs", "recursive_alias", "deep", "huge"])
def test_hostile_yaml_in_a_model_folder_is_refused_naming_it(tiny_model_folder, tmp_path,
                                                             text, problem):
    folder = _copy(tiny_model_folder, tmp_path)
    (folder / "hyperparams.yaml").write_text(text)
    with deadline(10), pytest.raises(InputFileError, match=problem) as err:
        load_model_folder(folder)
    assert str(err.value).startswith(str(folder / "hyperparams.yaml"))


def test_hostile_yaml_in_a_checkpoint_is_refused():
    with deadline(10), pytest.raises(InputFileError, match="nodes once its aliases"):
        spec_from_model_yaml(LAUGHS + "model: 1\n", path="last.ckpt")
    with pytest.raises(InputFileError, match="recursive"):
        spec_from_model_yaml("model: &m [1, *m]\n", path="last.ckpt")


@pytest.mark.parametrize("old, new, key", [
    ("labels: [neu, hap, sad, ang]", "labels: 5", "labels"),
    ("folds: [0]", "folds: zero", "folds"),
    ("{length_s: 10.0, hop_s: 5.0}", "{length_s: -1, hop_s: 5.0}", "inference_window"),
    ("speaker_normalization: false", "speaker_normalization: 'no'", "speaker_normalization"),
    ("  sample_rate: 16000", "  sample_rate: fast", "features.sample_rate"),
])
def test_config_values_of_the_wrong_type_are_refused(tiny_model_folder, tmp_path,
                                                     old, new, key):
    folder = _copy(tiny_model_folder, tmp_path)
    config = folder / "hyperparams.yaml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    with pytest.raises(InputFileError, match=f"{key}: ") as err:
        load_model_folder(folder)
    assert str(err.value).startswith(str(config))


# -- 2. inputs that gave silently wrong answers --------------------------------------------

def test_channels_last_batch_is_averaged_to_mono_as_files_are(recognizer):
    mono = torch.from_numpy(tone())
    stereo = torch.stack([mono, 0.5 * mono], dim=-1).unsqueeze(0)  # (1, time, 2)
    expected = recognizer.classify_batch((0.75 * mono).unsqueeze(0))[0]
    torch.testing.assert_close(recognizer.classify_batch(stereo)[0], expected)
    with pytest.raises(ValueError, match=r"\(1, time, channels\)"):
        recognizer.classify_batch(stereo[0])  # (time, 2): not 16000 two-sample utterances
    with pytest.raises(ValueError, match="transpose"):
        recognizer.classify_batch(stereo.transpose(1, 2))  # (batch, channels, time)


def test_integer_samples_are_refused(recognizer):
    pcm = torch.from_numpy((tone() * 32767).astype(np.int16)).unsqueeze(0)
    with pytest.raises(TypeError, match="torch.int16.*32768"):
        recognizer.classify_batch(pcm)


@pytest.mark.parametrize("length", [0.0, -1.0, 1.5, float("nan")])
def test_relative_lengths_outside_0_1_are_refused(recognizer, length):
    wavs = torch.from_numpy(np.stack([tone(), tone()]))
    with pytest.raises(ValueError, match=r"wav_lens\[1\].*\(0, 1\]"):
        recognizer.classify_batch(wavs, torch.tensor([1.0, length]))
    with pytest.raises(ValueError, match="2 utterances"):
        recognizer.classify_batch(wavs, torch.tensor([1.0]))


def test_silent_batch_is_classified_with_a_warning(recognizer, caplog):
    wavs = torch.stack([torch.zeros(RATE), torch.from_numpy(tone())])
    labels = recognizer.classify_batch(wavs)[3]
    assert len(labels) == 2
    silent = [r.message for r in caplog.records if "silent" in r.message]
    assert len(silent) == 1 and silent[0].startswith("wavs[0]: silent")


def test_weights_holding_nan_are_refused_naming_the_tensor(tiny_model_folder, tmp_path,
                                                           wav, capsys):
    folder = _copy(tiny_model_folder, tmp_path)
    tensors = safetensors.torch.load_file(folder / "model.safetensors")
    name = sorted(n for n in tensors if n.endswith("weight"))[0]
    tensors[name][...] = float("nan")
    safetensors.torch.save_file(tensors, folder / "model.safetensors", {"format": "pt"})
    with pytest.raises(InputFileError, match=f"NaN or infinite values in .*{name}"):
        load_model_folder(folder)
    assert main(["classify", str(wav), "--model", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(folder / "model.safetensors") in err[0]


def test_narrowband_audio_is_classified_with_a_warning(recognizer, tmp_path):
    path = tmp_path / "phone.wav"
    soundfile.write(path, tone(rate=8000), 8000)
    result = recognizer.classify_windows(path)
    assert result.label in recognizer.labels and len(result.warnings) == 1
    assert "8000 Hz" in result.warnings[0] and "above 4000 Hz" in result.warnings[0]
    soundfile.write(path, tone(rate=44100), 44100)
    assert recognizer.classify_windows(path).warnings == []


# -- 3. messages ---------------------------------------------------------------------------

def test_ten_thousand_labels_give_a_short_line(tiny_model_folder, tmp_path):
    folder = _copy(tiny_model_folder, tmp_path)
    labels = [f"emotion_{i}" for i in range(10_000)]
    (folder / "label_encoder.txt").write_text(label_encoder_text(labels))
    with pytest.raises(InputFileError) as err:
        load_model_folder(folder)
    message = str(err.value)
    assert message.startswith(str(folder / "label_encoder.txt")) and len(message) < 400
    assert "9995 more" in message


def test_binary_label_file_is_named(tiny_model_folder, tmp_path):
    folder = _copy(tiny_model_folder, tmp_path)
    (folder / "label_encoder.txt").write_bytes(bytes(range(128, 256)) * 3)
    with pytest.raises(InputFileError, match="not UTF-8 text") as err:
        load_model_folder(folder)
    assert str(err.value).startswith(str(folder / "label_encoder.txt"))


def test_cli_prints_each_warning_once(tiny_model_folder, tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(RATE, np.float32), RATE)
    done = subprocess.run(
        [sys.executable, "-m", "speechbrain_drnsa.cli", "classify", str(silent),
         "--model", str(tiny_model_folder)], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("silent (peak") == 1, done.stderr


def test_speaker_on_a_model_without_speaker_statistics_is_refused(tiny_model_folder,
                                                                  recognizer, wav, capsys):
    with pytest.raises(ValueError, match="without per-speaker statistics"):
        recognizer.classify_file(wav, speaker="F1")
    with pytest.raises(ValueError, match="without per-speaker statistics"):
        recognizer.enrol("F1", [wav])
    assert main(["classify", str(wav), "--model", str(tiny_model_folder),
                 "--speaker-dir", str(wav.parent)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--speaker-dir" in err[0]


# -- issue 27: recognizers sharing a loaded folder -----------------------------------------

def test_bf16_recognizer_leaves_a_shared_folder_in_fp32(tiny_model_folder, recognizer, wav):
    folder = load_model_folder(tiny_model_folder)
    fast = EmotionRecognizer(folder, precision="bf16")
    exact = EmotionRecognizer(folder)
    assert {p.dtype for p in fast.models[0].parameters()} == {torch.bfloat16}
    assert {p.dtype for p in exact.models[0].parameters()} == {torch.float32}
    torch.testing.assert_close(exact.classify_file(wav)[0], recognizer.classify_file(wav)[0])
    assert (fast.classify_file(wav)[0] - exact.classify_file(wav)[0]).abs().max() < 0.01
