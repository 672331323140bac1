"""A recording: speech segments by Silero VAD, and the emotion timeline.

The recording is five EmoDB sentences between pauses of faint noise; a noise-only
file has no speech.
"""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.inference import vad
from speechbrain_drnsa.inference.timeline import waveform_envelope

pytest.importorskip("silero_vad", reason="the vad extra (silero-vad) is part of dev")
EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"
pytestmark = pytest.mark.skipif(not EMODB.is_dir(), reason=f"real EmoDB not present at {EMODB}")
RATE = 16000
PAUSE_S = 1.5


@pytest.fixture(scope="module")
def model_folder(train_tiny, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    # per speaker, so that the enrolled speaker's statistics take part in every label
    assert train_tiny(root, "--fold=0", "--speaker_normalization=true") == 0
    return export(root / "drn_mhsa" / "1234", root / "model")


@pytest.fixture(scope="module")
def speaker_files(tmp_path_factory) -> Path:
    """Five sentences of EmoDB speaker 03, in a folder to enrol the speaker with."""
    folder = tmp_path_factory.mktemp("speaker03")
    for path in sorted(EMODB.glob("03*.wav"))[:5]:
        shutil.copy(path, folder)
    return folder


@pytest.fixture(scope="module")
def recording(speaker_files, tmp_path_factory) -> tuple[Path, list[tuple[float, float]]]:
    """The five sentences one after the other, 1.5 s of faint noise before, between and after."""
    rng = np.random.default_rng(0)
    parts, edges, time = [], [], 0.0
    for path in sorted(speaker_files.glob("*.wav")):
        speech, rate = soundfile.read(path, dtype="float32")
        assert rate == RATE
        parts += [1e-4 * rng.standard_normal(int(PAUSE_S * RATE)).astype(np.float32), speech]
        edges.append((time + PAUSE_S, time + PAUSE_S + speech.size / RATE))
        time = edges[-1][1]
    parts.append(1e-4 * rng.standard_normal(int(PAUSE_S * RATE)).astype(np.float32))
    path = tmp_path_factory.mktemp("recording") / "recording.wav"
    soundfile.write(path, np.concatenate(parts), RATE)
    return path, edges


def test_classify_vad_finds_each_sentence_and_labels_it_as_alone(
    model_folder, speaker_files, recording, capsys
):
    path, edges = recording
    args = ["--model", str(model_folder), "--speaker-dir", str(speaker_files), "--json"]
    assert main(["classify", str(path), "--vad", *args]) == 0
    found = json.loads(capsys.readouterr().out)
    assert main(["classify", *map(str, sorted(speaker_files.glob("*.wav"))), *args]) == 0
    alone = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    segments = found["windows"]
    assert len(segments) == len(edges)
    for segment, (start, end), single in zip(segments, edges, alone):
        assert abs(segment["start_s"] - start) < 0.3 and abs(segment["end_s"] - end) < 0.3
        assert segment["label"] == single["label"]
    durations = np.array([s["end_s"] - s["start_s"] for s in segments])
    probs = np.array([list(s["probabilities"].values()) for s in segments])
    weighted = (durations[:, None] * probs).sum(axis=0) / durations.sum()
    assert np.allclose(list(found["probabilities"].values()), weighted, atol=1e-6)


def test_noise_only_file_gets_a_warning_and_no_label(model_folder, tmp_path, capsys):
    path = tmp_path / "noise.wav"
    noise = 0.02 * np.random.default_rng(1).standard_normal(5 * RATE)
    soundfile.write(path, noise.astype(np.float32), RATE)
    recognizer = EmotionRecognizer.from_hparams(model_folder)
    result = recognizer.classify_segments(path)
    assert result.label is None and result.probabilities == [] and result.windows == []
    assert "no speech found" in result.warnings[0]
    assert main(["classify", str(path), "--vad", "--model", str(model_folder)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split("\t")[:3] == [str(path), "-", "-"]
    assert "no speech found" in err


def test_long_files_are_read_in_blocks_with_the_same_segments(recording, monkeypatch):
    path, _ = recording
    model = vad.load_vad()
    whole, duration = vad.speech_segments(path, model)
    monkeypatch.setattr(vad, "BLOCK_S", 0.77)  # many blocks, none a whole number of frames
    pieces, _ = vad.speech_segments(path, model)
    assert duration == pytest.approx(soundfile.info(path).duration)
    assert pieces == whole  # 16 kHz: no resampling, the same frames


def test_other_sample_rates_and_channels_give_the_same_segments(recording, tmp_path):
    path, _ = recording
    samples, _ = soundfile.read(path, dtype="float32")
    model = vad.load_vad()
    expected, _ = vad.speech_segments(path, model)
    stereo = tmp_path / "stereo_44k.wav"
    times = np.arange(0, samples.size, RATE / 44100)
    resampled = np.interp(times, np.arange(samples.size), samples)
    soundfile.write(stereo, np.stack([resampled, resampled], axis=1), 44100)
    found, duration = vad.speech_segments(stereo, model)
    assert duration == pytest.approx(samples.size / RATE, abs=1e-3)
    assert np.allclose(found, expected, atol=0.07)  # 0.07 s: two Silero frames


def test_segment_rules_are_checked():
    with pytest.raises(ValueError, match="min_s <= max_s"):
        vad.SegmentLengths(min_s=5.0, max_s=2.0)


def test_timeline_figure_and_its_data_match_classify_vad(
    model_folder, speaker_files, recording, tmp_path, capsys
):
    path, _ = recording
    model = ["--model", str(model_folder), "--speaker-dir", str(speaker_files)]
    assert main(["classify", str(path), "--vad", "--json", *model]) == 0
    segments = json.loads(capsys.readouterr().out)["windows"]
    out = {suffix: tmp_path / f"timeline.{suffix}" for suffix in ("png", "json", "csv")}
    assert main(["timeline", str(path), "--out", str(out["png"]), "--json", str(out["json"]),
                 "--csv", str(out["csv"]), *model]) == 0
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(out["json"].read_text())
    assert data["source"] == "speech segments"
    assert data["duration_s"] == pytest.approx(soundfile.info(path).duration)
    assert [(r["start_s"], r["end_s"], r["label"]) for r in data["segments"]] == [
        (round(s["start_s"], 3), round(s["end_s"], 3), s["label"]) for s in segments
    ]
    rows = list(csv.DictReader(out["csv"].open()))
    assert [float(r["p_" + name]) for r in rows for name in data["probabilities"]] == [
        r["p_" + name] for r in data["segments"] for name in data["probabilities"]
    ]


def test_timeline_of_windows(model_folder, recording, tmp_path):
    path, _ = recording
    figure, table = tmp_path / "windows.png", tmp_path / "windows.json"
    assert main(["timeline", str(path), "--windows", "--model", str(model_folder),
                 "--out", str(figure), "--json", str(table)]) == 0
    data = json.loads(table.read_text())
    windows = EmotionRecognizer.from_hparams(model_folder).classify_windows(path).windows
    assert data["source"] == "windows" and figure.stat().st_size > 0
    assert [(r["start_s"], r["end_s"]) for r in data["segments"]] == [
        (round(w.start_s, 3), round(w.end_s, 3)) for w in windows
    ]


def test_waveform_envelope_keeps_the_extremes_in_few_points(recording):
    path, _ = recording
    samples, _ = soundfile.read(path)
    envelope = waveform_envelope(path, points=100)
    assert len(envelope) <= 101 and envelope[-1, 0] == pytest.approx(samples.size / RATE)
    assert envelope[:, 1].min() == samples.min() and envelope[:, 2].max() == samples.max()


def test_timeline_of_a_file_without_speech(model_folder, tmp_path):
    quiet = tmp_path / "quiet.wav"
    soundfile.write(quiet, 1e-4 * np.random.default_rng(1).standard_normal(3 * RATE), RATE)
    figure, table = tmp_path / "quiet.png", tmp_path / "quiet.json"
    assert main(["timeline", str(quiet), "--model", str(model_folder),
                 "--out", str(figure), "--json", str(table)]) == 0
    data = json.loads(table.read_text())
    assert data["source"] == "speech segments" and data["segments"] == []
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
