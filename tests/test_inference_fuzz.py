"""Fuzz the inference path: generated bad audio, tensors and model folders, CLI and Python API.

Every case ends with a correct result, or a one-line error naming the file (the
command line: exit status 1 for a bad audio file among others, 2 for a bad
model folder), within a deadline, with no traceback and nothing written
beside the inputs. Subprocesses are few: one classifies every audio case
(the CLI goes on past bad files), one loads a hostile model folder; the rest
runs in this process.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import soundfile
import torch

import speechbrain_drnsa
from speechbrain_drnsa.cli import main
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference import EmotionRecognizer
from speechbrain_drnsa.inference.folder import label_encoder_text
from test_inference_inputs import LAUGHS, deadline

RATE = 16000
# subprocesses import the package this process tests
ENV = {**os.environ, "PYTHONPATH": str(Path(speechbrain_drnsa.__file__).resolve().parents[1])}
RESULT, ERROR = "result", "error"  # None: either, as long as it is well formed


def _tone(seconds: float = 0.5, rate: int = RATE, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(6 * np.pi * t))
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def _sound(data: np.ndarray, rate: int = RATE, **kwargs: str) -> Callable[[Path], None]:
    return lambda path: soundfile.write(path, data, rate, **kwargs)


def _patched(offset: int, data: bytes) -> Callable[[Path], None]:
    """A 16-bit WAV whose canonical 44-byte header has ``data`` written at ``offset``."""
    def write(path: Path) -> None:
        soundfile.write(path, _tone(), RATE, subtype="PCM_16")
        raw = bytearray(path.read_bytes())
        raw[offset: offset + len(data)] = data
        path.write_bytes(bytes(raw))
    return write


def _mutated(seed: int) -> Callable[[Path], None]:
    """A 16-bit WAV with 3 random header bytes replaced."""
    def write(path: Path) -> None:
        soundfile.write(path, _tone(), RATE, subtype="PCM_16")
        raw = bytearray(path.read_bytes())
        rng = np.random.default_rng(seed)
        for offset in rng.choice(44, size=3, replace=False):
            raw[offset] = int(rng.integers(256))
        path.write_bytes(bytes(raw))
    return write


def _with_sample(value: float) -> Callable[[Path], None]:
    data = _tone().astype(np.float32)
    data[100] = value
    return _sound(data, subtype="FLOAT")


u32 = (lambda n: int(n).to_bytes(4, "little"))
u16 = (lambda n: int(n).to_bytes(2, "little"))

AUDIO = {  # name: (file name, writer, expected)
    "empty": ("empty.wav", lambda p: p.write_bytes(b""), ERROR),
    "one_sample": ("one.wav", _sound(np.array([0.1])), None),
    "nan": ("nan.wav", _with_sample(np.nan), ERROR),
    "inf": ("inf.wav", _with_sample(-np.inf), ERROR),
    "huge_amplitude": ("huge.wav", _sound(_tone() * 1e6, subtype="FLOAT"), RESULT),
    "max_float": ("maxfloat.wav", _sound(_tone() * 1e38, subtype="FLOAT"), RESULT),
    "six_channels": ("six.wav", _sound(_tone(channels=6)), RESULT),
    "rate_384k": ("fast.wav", _sound(_tone(rate=384000), 384000), RESULT),
    "rate_4k": ("slow.wav", _sound(_tone(rate=4000), 4000), RESULT),
    "pcm_u8": ("u8.wav", _sound(_tone(), subtype="PCM_U8"), RESULT),
    "flac": ("a.flac", _sound(_tone(), format="FLAC"), RESULT),
    "ogg": ("a.ogg", _sound(_tone(), format="OGG", subtype="VORBIS"), RESULT),
    "mp3": ("a.mp3", _sound(_tone(), format="MP3", subtype="MPEG_LAYER_III"), RESULT),
    "random_bytes_mp3": ("noise.mp3", lambda p: p.write_bytes(os.urandom(3000)), ERROR),
    "text_flac": ("text.flac", lambda p: p.write_text("fLaC? no\n" * 40), ERROR),
    "header_only": ("header.wav", _sound(np.zeros(0)), ERROR),
    "zero_channels": ("ch0.wav", _patched(22, u16(0)), ERROR),
    "zero_rate": ("rate0.wav", _patched(24, u32(0)), ERROR),
    "huge_rate": ("rateffff.wav", _patched(24, u32(0xFFFFFFFF)), None),
    "bits_3": ("bits3.wav", _patched(34, u16(3)), None),
    "format_tag_ffff": ("tag.wav", _patched(20, u16(0xFFFF)), ERROR),
    "block_align_0": ("align0.wav", _patched(32, u16(0)), None),
    "fmt_renamed": ("fmtx.wav", _patched(12, b"fmx "), ERROR),
    "rifx": ("rifx.wav", _patched(0, b"RIFX"), None),
    "data_size_huge": ("datahuge.wav", _patched(40, u32(0xFFFFFFF0)), None),
    **{f"mutated_{seed}": (f"mut{seed}.wav", _mutated(seed), None) for seed in range(10)},
}


def _write_audio(folder: Path) -> dict[str, tuple[Path, str | None]]:
    folder.mkdir()
    cases = {}
    for name, (file_name, write, expected) in AUDIO.items():
        path = folder / file_name
        write(path)
        cases[name] = (path, expected)
    return cases


def _snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for folder in folders for p in sorted(folder.rglob("*"))}


def _check_result(result, labels: list[str]) -> None:
    probs = torch.tensor(result.probabilities)
    assert result.label in labels and bool(probs.isfinite().all())
    assert abs(float(probs.sum()) - 1) < 1e-4 and abs(result.score - float(probs.max())) < 1e-6
    assert all("\n" not in warning for warning in result.warnings)


def test_bad_audio_through_the_api_and_one_cli_process(tiny_model_folder, tmp_path):
    cases = _write_audio(tmp_path / "audio")
    recognizer = EmotionRecognizer.from_hparams(tiny_model_folder)
    before = _snapshot(tmp_path / "audio", tiny_model_folder)
    outcomes = {}
    for name, (path, expected) in cases.items():
        try:
            with deadline(20):
                result = recognizer.classify_windows(path)
        except (InputFileError, ValueError) as err:
            message = str(err)
            assert message.startswith(str(path)) and "\n" not in message, (name, message)
            outcomes[name] = ERROR
        else:
            _check_result(result, recognizer.labels)
            outcomes[name] = RESULT
        assert expected in (None, outcomes[name]), (name, outcomes[name])

    out = tmp_path / "out"
    out.mkdir()
    paths = [str(path) for path, _ in cases.values()]
    done = subprocess.run(
        [sys.executable, "-m", "speechbrain_drnsa.cli", "classify", *paths,
         "--model", str(tiny_model_folder), "--json"],
        capture_output=True, text=True, timeout=90, cwd=out,
        env=ENV,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    classified = {json.loads(line)["file"] for line in done.stdout.splitlines()}
    failed = [line.strip() for line in done.stderr.splitlines()  # not the progress bar's
              if line.startswith(f"  {tmp_path}")]
    for name, (path, _) in cases.items():  # the CLI and the API agree, file by file
        named = [line for line in failed if line.startswith(f"{path}: ")]
        if outcomes[name] == RESULT:
            assert str(path) in classified and not named, (name, named)
        else:
            assert str(path) not in classified and len(named) == 1, (name, done.stderr)
    assert len(failed) == sum(o == ERROR for o in outcomes.values())
    assert list(out.iterdir()) == [] and _snapshot(tmp_path / "audio", tiny_model_folder) == before


@pytest.mark.parametrize("wavs, wav_lens", [
    (torch.zeros(0), None), (torch.zeros(1, 0), None), (torch.zeros(0, 16000), None),
    (torch.full((1, 8000), float("nan")), None), (torch.full((1, 8000), float("inf")), None),
    (torch.zeros(1, 8000, dtype=torch.int16), None), (torch.zeros(1, 8000, dtype=torch.bool), None),
    (torch.zeros(1, 8000, dtype=torch.complex64), None), (np.zeros((1, 8000)), None),
    ([[0.0] * 8000], None), (torch.zeros(1, 1, 8000, 2), None), (torch.zeros(8000, 2), None),
    (torch.zeros(1, 2, 8000), None), (torch.zeros(2, 8000), torch.tensor([1.0])),
    (torch.zeros(2, 8000), torch.tensor([[1.0, 0.5]])), (torch.zeros(1, 8000), "1"),
    (torch.zeros(1, 8000), torch.tensor([float("nan")])),
    (torch.from_numpy(_tone()).float().unsqueeze(0) * 1e30, None),
    (torch.from_numpy(_tone()).half().unsqueeze(0), None), (torch.zeros(1, 1), None),
], ids=lambda value: str(getattr(value, "shape", value))[:20])
def test_bad_tensors_are_refused_in_one_line_or_classified(tiny_model_folder, wavs, wav_lens):
    recognizer = EmotionRecognizer.from_hparams(tiny_model_folder)
    try:
        with deadline(20):
            out_prob, score, index, labels = recognizer.classify_batch(wavs, wav_lens)
    except (TypeError, ValueError) as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert bool(out_prob.isfinite().all()) and set(labels) <= set(recognizer.labels)
        assert torch.allclose(out_prob.sum(dim=-1), torch.ones(len(labels)))


def _edit_yaml(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = folder / "hyperparams.yaml"
        text = config.read_text()
        assert old in text, old
        config.write_text(text.replace(old, new, 1))
    return edit


def _tensors(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        tensors = safetensors.torch.load_file(folder / "model.safetensors")
        change(tensors)
        safetensors.torch.save_file(tensors, folder / "model.safetensors", {"format": "pt"})
    return edit


def _swap(a: str, b: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data_a, data_b = (folder / a).read_bytes(), (folder / b).read_bytes()
        (folder / a).write_bytes(data_b)
        (folder / b).write_bytes(data_a)
    return edit


def _truncate(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    return edit


def _write(name: str, data: str | bytes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return edit


def _first_weight(tensors: dict) -> str:
    return sorted(name for name in tensors if name.endswith("weight"))[0]


FOLDERS = {  # name: (how to spoil a copy of the model folder, whether it still loads)
    "missing_folder": (lambda f: shutil.rmtree(f), False),
    "a_file": (lambda f: (shutil.rmtree(f), f.write_text("model")), False),
    **{f"no_{n}": ((lambda n: lambda f: (f / n).unlink())(n), False)
       for n in ("hyperparams.yaml", "label_encoder.txt", "model.safetensors")},
    "no_card": (lambda f: (f / "README.md").unlink(), True),
    **{f"truncated_{n}": (_truncate(n), False)
       for n in ("hyperparams.yaml", "label_encoder.txt", "model.safetensors")},
    **{f"empty_{n}": (_write(n, b""), False)
       for n in ("hyperparams.yaml", "label_encoder.txt", "model.safetensors")},
    "swapped_yaml_labels": (_swap("hyperparams.yaml", "label_encoder.txt"), False),
    "swapped_yaml_weights": (_swap("hyperparams.yaml", "model.safetensors"), False),
    "swapped_labels_weights": (_swap("label_encoder.txt", "model.safetensors"), False),
    "labels_int": (_edit_yaml("labels: [neu, hap, sad, ang]", "labels: 5"), False),
    "labels_duplicate": (_edit_yaml("labels: [neu, hap, sad, ang]", "labels: [neu, neu, sad, ang]"),
                         False),
    "folds_str": (_edit_yaml("folds: [0]", "folds: zero"), False),
    "folds_absent_weights": (_edit_yaml("folds: [0]", "folds: [0, 7]"), False),
    "folds_bool": (_edit_yaml("folds: [0]", "folds: [true]"), False),
    "model_list": (
        _edit_yaml("model:\n  class: EmotionClassifier", "model: [1, 2]\nx:\n  class: E"), False),
    "model_class": (_edit_yaml("class: EmotionClassifier", "class: os.system"), False),
    "model_arg_type": (_edit_yaml("kernel_size: 3", "kernel_size: three"), False),
    "model_arg_negative": (_edit_yaml("kernel_size: 3", "kernel_size: -3"), False),
    "normalizer_int": (_edit_yaml(
        "normalizer:\n  class: FeatureNormalizer\n  args: {num_features: 17}", "normalizer: 3"),
        False),
    "features_list": (_edit_yaml("features:\n  extractor", "features: []\nx:\n  extractor"), False),
    "feature_set_int": (_edit_yaml("  extractor: OpenSmileLLD", "  extractor: OpenSmileLLD\n"
                                   "  feature_set: 5"), False),
    "feature_set_unknown": (_edit_yaml("  extractor: OpenSmileLLD", "  extractor: OpenSmileLLD\n"
                                       "  feature_set: MFCC_999"), False),
    "window_int": (_edit_yaml("inference_window: {length_s: 10.0, hop_s: 5.0}",
                              "inference_window: 3"), False),
    "window_zero": (_edit_yaml("{length_s: 10.0, hop_s: 5.0}", "{length_s: 0, hop_s: 0}"), False),
    "speaker_str": (_edit_yaml("speaker_normalization: false", "speaker_normalization: maybe"),
                    False),
    "functionals_alone": (_edit_yaml("speaker_normalization: false", "speaker_normalization: false"
                                     "\nfunctionals: {feature_set: eGeMAPSv02, size: 88}"), False),
    "tag": (_edit_yaml("format: 1", "format: !!python/object:os.system 1"), False),
    "timestamp": (_edit_yaml("format: 1", "format: 2001-12-14"), False),
    "billion_laughs": (_write("hyperparams.yaml", LAUGHS), False),
    "recursive_alias": (_write("hyperparams.yaml", "labels: &a [neu, *a]\n"), False),
    "deep": (_write("hyperparams.yaml", "labels: " + "[" * 5000 + "]" * 5000 + "\n"), False),
    "huge_yaml": (_write("hyperparams.yaml", "# x\n" * 400_000), False),
    "top_level_list": (_write("hyperparams.yaml", "- 1\n- 2\n"), False),
    "labels_binary": (_write("label_encoder.txt", bytes(range(256)) * 4), False),
    "labels_10000": (
        _write("label_encoder.txt", label_encoder_text([f"e{i}" for i in range(10_000)])), False),
    "labels_nested": (_write("label_encoder.txt", "(" * 100_000 + " => 0\n"), False),
    "labels_gap": (_write("label_encoder.txt", "'neu' => 0\n'hap' => 5\n"), False),
    "weights_nan": (_tensors(lambda t: t[_first_weight(t)].fill_(float("nan"))), False),
    "weights_int": (_tensors(lambda t: t.update({k: t[k].to(torch.int32) for k in t})), None),
    "weights_fp16": (_tensors(lambda t: t.update({k: t[k].half() for k in t})), True),
    "weights_extra": (_tensors(lambda t: t.update({"fold_0.model.extra": torch.zeros(2)})), False),
    "weights_missing": (_tensors(lambda t: t.pop(_first_weight(t))), False),
    "weights_reshaped": (
        _tensors(lambda t: t.update({_first_weight(t): t[_first_weight(t)].flatten()})), False),
    "pickle_beside": (_write("extra.pt", b"\x80\x04K\x01."), False),
    "onnx_garbage": (_write("model.onnx", b"not onnx"), True),
}


@pytest.mark.parametrize("spoil, loads", FOLDERS.values(), ids=FOLDERS.keys())
def test_bad_model_folders_are_refused_in_one_line(tiny_model_folder, tmp_path, capsys,
                                                   spoil, loads):
    folder = Path(shutil.copytree(tiny_model_folder, tmp_path / "model"))
    spoil(folder)
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, _tone(), RATE)
    before = _snapshot(tmp_path)
    try:
        with deadline(20):
            recognizer = EmotionRecognizer.from_hparams(folder)
            result = recognizer.classify_windows(wav)
    except (InputFileError, ValueError) as err:
        assert loads is not True, err
        message = str(err)
        assert message.startswith(str(folder)) and "\n" not in message and len(message) < 600
    else:
        assert loads is not False, "accepted"
        _check_result(result, recognizer.labels)
    capsys.readouterr()
    with deadline(20):
        status = main(["classify", str(wav), "--model", str(folder)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if status == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {folder}")
    else:
        assert status == 0 and out.splitlines()[1].startswith(str(wav))
    assert _snapshot(tmp_path) == before


def test_a_hostile_model_folder_fails_a_real_process_in_one_line(tiny_model_folder, tmp_path):
    folder = Path(shutil.copytree(tiny_model_folder, tmp_path / "model"))
    (folder / "hyperparams.yaml").write_text(LAUGHS)
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, _tone(), RATE)
    done = subprocess.run(
        [sys.executable, "-m", "speechbrain_drnsa.cli", "classify", str(wav), "--model",
         str(folder)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env=ENV,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: {folder / 'hyperparams.yaml'}: line 2: yaml alias *a refused (a model "
        "folder's config is plain data, written without)"
    ]
