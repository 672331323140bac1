"""EmotionRecognizer answers SpeechBrain's Pretrained calls, without importing SpeechBrain."""

import inspect
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.inference import EmotionRecognizer

RATE = 16000


@pytest.fixture(scope="module")
def recognizer(tiny_model_folder) -> EmotionRecognizer:
    return EmotionRecognizer.from_hparams(tiny_model_folder)


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(6 * np.pi * t))).astype(
        np.float32)


def test_from_hparams_takes_speechbrains_leading_arguments_in_order(tiny_model_folder):
    from speechbrain.inference.interfaces import pretrained_from_hparams

    ours = list(inspect.signature(EmotionRecognizer.from_hparams).parameters)
    theirs = list(inspect.signature(pretrained_from_hparams).parameters)[1:]  # after cls
    expected = ["source", "hparams_file", "overrides", "savedir"]
    assert ours[:4] == theirs[:3] + ["savedir"] == expected
    recognizer = EmotionRecognizer.from_hparams(
        str(tiny_model_folder), "hyperparams.yaml", {}, None, huggingface_cache_dir=None,
        freeze_params=True, use_auth_token=False,  # SpeechBrain's defaults change nothing
    )
    assert recognizer.labels == ["neu", "hap", "sad", "ang"]


@pytest.mark.parametrize("options, reason", [
    ({"hparams_file": "inference.yaml"}, "always hyperparams.yaml"),
    ({"overrides": {"labels": ["a"]}}, "trained network as it is"),
    ({"pymodule_file": "my_code.py"}, "none is ever run"),
    ({"use_auth_token": "x"}, "HF_TOKEN"),
    ({"savedir": "a", "huggingface_cache_dir": "b"}, "not both"),
    ({"run_opts": {"jit": True}}, "'jit' is not used here"),
    ({"no_such_option": 1}, "not an option of from_hparams"),
])
def test_speechbrain_options_that_cannot_apply_are_refused_by_name(tiny_model_folder, options,
                                                                   reason):
    with pytest.raises(ValueError, match=reason):
        EmotionRecognizer.from_hparams(tiny_model_folder, **options)


def test_huggingface_cache_dir_is_the_hub_cache_and_download_only_builds_nothing(
        tiny_model_folder, tmp_path, monkeypatch):
    import huggingface_hub.constants
    from test_inference_recognizer import _hub_cache

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    snapshot = _hub_cache(tiny_model_folder, tmp_path / "hub")
    loaded = EmotionRecognizer.from_hparams("org/ser", huggingface_cache_dir=tmp_path / "hub")
    assert loaded.folder.path == snapshot
    assert EmotionRecognizer.from_hparams(
        "org/ser", savedir=tmp_path / "hub", download_only=True) is None


def test_load_audio_gives_what_classify_batch_takes(recognizer, tmp_path):
    path = tmp_path / "phone.wav"
    tone = _tone(1.0, 8000)
    soundfile.write(path, np.stack([tone, tone], axis=1), 8000)  # 8 kHz stereo
    signal = recognizer.load_audio(path)
    assert signal.shape == (RATE,) and signal.dtype == torch.float32
    torch.testing.assert_close(recognizer.classify_batch(signal.unsqueeze(0))[0],
                               recognizer.classify_file(path)[0], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="local files only"):
        recognizer.load_audio(path, savedir=tmp_path)


def test_forward_and_call_are_classify_batch(recognizer):
    wavs = torch.from_numpy(np.stack([_tone(1.0, RATE), _tone(1.0, RATE)]))
    lens = torch.tensor([1.0, 0.6])
    expected = recognizer.classify_batch(wavs, lens)
    for out in (recognizer.forward(wavs, lens), recognizer(wavs, lens)):
        torch.testing.assert_close(out[0], expected[0])
        assert out[3] == expected[3]


def test_to_device(tiny_model_folder, recognizer):
    moved = EmotionRecognizer.from_hparams(tiny_model_folder)
    assert moved.to("cpu") is moved and moved.device == torch.device("cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        moved.to("gpu0")
    wavs = torch.from_numpy(_tone(1.0, RATE)).unsqueeze(0)
    if torch.cuda.is_available():
        moved.to("cuda")
        assert {p.device.type for p in moved.models[0].parameters()} == {"cuda"}
        assert (moved.classify_batch(wavs)[0] - recognizer.classify_batch(wavs)[0]).abs().max(
        ) < 1e-4
        assert {p.device.type for p in recognizer.models[0].parameters()} == {"cpu"}
    else:
        with pytest.raises(ValueError, match="CUDA device"):
            moved.to("cuda")


def test_cli_device_option(tiny_model_folder, tmp_path, capsys):
    path = tmp_path / "a.wav"
    soundfile.write(path, _tone(1.0, RATE), RATE)
    assert main(["classify", str(path), "--model", str(tiny_model_folder),
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["classify", str(path), "--model", str(tiny_model_folder),
                 "--device", "cuda:99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cuda:99" in err[0]


def test_the_interface_imports_neither_speechbrain_nor_lightning(tiny_model_folder, tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, _tone(1.0, 22050), 22050)
    script = (
        "import sys\n"
        "from speechbrain_drnsa.inference import EmotionRecognizer\n"
        f"r = EmotionRecognizer.from_hparams({str(tiny_model_folder)!r}, 'hyperparams.yaml', "
        "{}, huggingface_cache_dir=None).to('cpu')\n"
        f"r(r.load_audio({str(wav)!r}).unsqueeze(0))\n"
        "print(sorted(m for m in ('lightning', 'speechbrain') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "[]"
