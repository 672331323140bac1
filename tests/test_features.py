"""Behaviour of the 17 openSMILE descriptors on synthetic signals and real speech."""

import glob
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import lfilter

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features import FEATURE_NAMES, OpenSmileLLD
from speechbrain_drnsa.features.audio import read_audio

SR = 16000
MFCC = slice(0, 12)
LOG_ENERGY, VOICE_PROB, HNR, LOG_F0, ZCR = 12, 13, 14, 15, 16
# the real-speech corpora sit beside the checkout, never inside it
EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"


@pytest.fixture(scope="module")
def lld() -> OpenSmileLLD:
    return OpenSmileLLD()


def _time(seconds: float = 3.0) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def _harmonic(f0: float, seconds: float = 3.0, amplitude: float = 0.5) -> np.ndarray:
    """Five harmonics with 1/k amplitudes: a clean periodic, voice-like signal."""
    t = _time(seconds)
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return amplitude * x / np.abs(x).max()


def _noise(seconds: float = 3.0, amplitude: float = 0.3) -> np.ndarray:
    return amplitude * np.random.default_rng(0).uniform(-1, 1, int(seconds * SR))


def _run(lld: OpenSmileLLD, x: np.ndarray, sample_rate: int = SR) -> np.ndarray:
    return lld.extract(torch.from_numpy(np.asarray(x, dtype=np.float32)), sample_rate).numpy()


def _f0(feats: np.ndarray) -> np.ndarray:
    return np.where(feats[:, LOG_F0] > 0, np.exp(feats[:, LOG_F0]), 0.0)


def test_names_and_shape(lld):
    feats = lld.extract(torch.zeros(SR), SR)
    assert lld.feature_names == FEATURE_NAMES
    assert len(FEATURE_NAMES) == 17 and FEATURE_NAMES[:2] == ("mfcc1", "mfcc2")
    assert feats.shape == (97, 17) and feats.dtype == torch.float32


def test_harmonic_tone_gives_its_f0_and_high_voicing(lld):
    feats = _run(lld, _harmonic(220.0))
    f0 = _f0(feats)
    assert (f0 > 0).mean() > 0.95
    assert abs(np.median(f0[f0 > 0]) - 220.0) / 220.0 < 0.03
    assert np.median(feats[:, VOICE_PROB]) > 0.8


def test_white_noise_is_unvoiced_noisy_and_crosses_zero_often(lld):
    noise = _run(lld, _noise())
    tone = _run(lld, 0.5 * np.sin(2 * np.pi * 200 * _time()))
    assert np.median(noise[:, VOICE_PROB]) < 0.4
    assert np.median(noise[:, VOICE_PROB]) < np.median(tone[:, VOICE_PROB]) - 0.4
    assert (noise[:, LOG_F0] == 0).mean() > 0.95
    # A 200 Hz sine crosses zero 400 times a second (0.025 per sample); noise about every 2nd.
    assert np.median(tone[:, ZCR]) == pytest.approx(0.025, abs=0.002)
    assert np.median(noise[:, ZCR]) > 10 * np.median(tone[:, ZCR])
    assert np.median(noise[:, HNR]) < np.median(tone[:, HNR]) - 10


def test_doubling_amplitude_adds_ln4_to_log_energy_and_nothing_else(lld):
    # logEnergy = ln(mean of the squared windowed samples): x -> 2x multiplies the
    # mean square by 4, so adds ln 4 = 1.386 nepers to every frame. MFCC 1-12 ignore a
    # gain (it shifts every log mel band alike, i.e. only c0; the noise keeps every band
    # above the 16-bit quantisation floor, which does not scale); the ACF-based columns
    # are ratios, unchanged except where 16-bit rounding moves a peak by one lag.
    x = _harmonic(180.0) + 0.05 * _noise()
    quiet, loud = _run(lld, 0.2 * x), _run(lld, 0.4 * x)
    np.testing.assert_allclose(loud[:, LOG_ENERGY] - quiet[:, LOG_ENERGY], math.log(4), atol=1e-2)
    np.testing.assert_allclose(loud[:, MFCC], quiet[:, MFCC], atol=0.05)
    np.testing.assert_allclose(loud[:, VOICE_PROB], quiet[:, VOICE_PROB], atol=1e-3)
    median_change = np.median(np.abs(loud - quiet), axis=0)
    assert (median_change[[HNR, LOG_F0, ZCR]] < 0.01).all()


def test_digital_silence_is_finite_unvoiced_and_floored(lld):
    feats = _run(lld, np.zeros(SR))
    assert np.isfinite(feats).all()
    assert (feats[:, LOG_F0] == 0).all() and (feats[:, VOICE_PROB] == 0).all()
    assert (feats[:, ZCR] == 0).all()  # zero samples count as positive, not as crossings
    assert (feats[:, HNR] == -20).all()  # no period: the HNR floor, not openSMILE's +100 dB
    # cEnergy floors the mean square at 8.674676e-19 before the log.
    np.testing.assert_allclose(feats[:, LOG_ENERGY], math.log(8.674676e-19), rtol=1e-6)
    assert (feats[:, MFCC] == 0).all()


def test_frame_count_of_a_three_second_file(lld, tmp_path):
    path = tmp_path / "three_seconds.wav"
    soundfile.write(path, _harmonic(150.0), SR)
    feats = lld.extract_file(path)
    assert lld.num_frames(48000) == 1 + (48000 - 640) // 160 == 297
    assert feats.shape == (297, 17)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050, 24414, 44100, 48000])
@pytest.mark.parametrize("num_samples", [1, 300, 639, 640, 641, 799, 800, 16037])
def test_frame_count_always_follows_the_formula(lld, sample_rate, num_samples):
    x = np.random.default_rng(num_samples).uniform(-0.1, 0.1, num_samples)
    feats = _run(lld, x, sample_rate)
    assert feats.shape == (lld.num_frames(num_samples, sample_rate), 17)
    assert np.isfinite(feats).all()


def _formants(source: np.ndarray, formants: tuple[float, ...]) -> np.ndarray:
    """Cascade of second-order resonators, as in a Klatt synthesiser."""
    for freq, bandwidth in zip(formants, (80, 100, 120), strict=True):
        radius = math.exp(-math.pi * bandwidth / SR)
        theta = 2 * math.pi * freq / SR
        source = lfilter([1 - radius], [1, -2 * radius * math.cos(theta), radius**2], source)
    return source


def _vowel(f0_start: float, f0_end: float, seconds: float, formants: tuple[float, ...]):
    """A glottal pulse train gliding in F0, through vocal-tract formants."""
    n = int(seconds * SR)
    f0 = np.linspace(f0_start, f0_end, n)
    pulses = np.diff(np.floor(np.cumsum(f0) / SR), prepend=0.0)
    x = _formants(lfilter([1], [1, -0.95], pulses), formants) * np.hanning(n) ** 0.3
    return 0.5 * x / np.abs(x).max(), f0


def test_speech_like_signal_f0_on_voiced_parts_only(lld):
    rng = np.random.default_rng(1)
    fricative = lfilter([1, -1], [1], rng.standard_normal(int(0.2 * SR)))
    male, f0_male = _vowel(110, 150, 0.5, (700, 1220, 2600))
    female, f0_female = _vowel(200, 240, 0.4, (500, 1500, 2500))
    parts = [
        (np.zeros(int(0.2 * SR)), None),
        (male, f0_male),
        (0.1 * fricative / np.abs(fricative).max(), None),
        (female, f0_female),
        (1e-4 * rng.standard_normal(int(0.2 * SR)), None),
    ]
    x = np.concatenate([part for part, _ in parts])
    truth = np.concatenate([np.zeros(len(p)) if f is None else f for p, f in parts])
    f0 = _f0(_run(lld, x))
    starts = 160 * np.arange(len(f0))
    voiced = np.array([truth[s : s + 640].min() > 0 for s in starts])
    unvoiced = np.array([truth[s : s + 640].max() == 0 for s in starts])
    centre_f0 = truth[starts + 320]
    assert voiced.sum() > 60 and unvoiced.sum() > 40
    assert np.mean(np.abs(f0[voiced] / centre_f0[voiced] - 1) < 0.05) > 0.9
    assert np.mean(f0[unvoiced] == 0) > 0.95


EMODB_FILES = ["03b09Nc.wav", "08b01Fe.wav", "13a05Nb.wav", "14a01Ac.wav"]


@pytest.mark.parametrize("name", EMODB_FILES)
def test_real_speech_f0_agrees_with_opensmile_shs_tracker(lld, name):
    path = f"{EMODB}/{name}"
    if not glob.glob(path):
        pytest.skip(f"{path} not present: EmoDB is not on this machine (synthetic check ran)")
    import opensmile

    # eGeMAPSv02's F0 comes from a different tracker (subharmonic summation + Viterbi):
    # where both call a frame voiced, they must agree within 20% almost always.
    egemaps = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )
    x, sample_rate = soundfile.read(path, dtype="float32")
    column = egemaps.feature_names.index("F0semitoneFrom27.5Hz_sma3nz")
    semitones = egemaps(x, sample_rate)[0][column]
    reference = np.where(semitones > 0, 27.5 * 2 ** (semitones / 12), 0.0)
    # eGeMAPS frames are 60 ms from 0 (centre 30 ms + 10 ms i): our frame i + 1.
    ours = _f0(_run(lld, x, sample_rate))[1 : len(reference) + 1]
    reference = reference[: len(ours)]
    both = (ours > 0) & (reference > 0)
    print(f"{name}: our F0 on {both.sum()} of {(reference > 0).sum()} eGeMAPS-voiced frames")
    assert (ours[reference > 0] > 0).mean() > 0.5
    assert np.mean(np.abs(ours[both] / reference[both] - 1) < 0.2) > 0.85
    assert np.median(ours[ours > 0]) == pytest.approx(np.median(reference[reference > 0]), rel=0.1)


# ---- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subtype, sample_rate, channels",
    [
        ("PCM_U8", 8000, 1),
        ("PCM_16", 44100, 2),
        ("PCM_24", 48000, 1),
        ("FLOAT", 22050, 4),
        ("DOUBLE", 16000, 1),
    ],
)
def test_formats_rates_and_channels_are_converted(lld, tmp_path, subtype, sample_rate, channels):
    t = np.arange(sample_rate) / sample_rate
    x = 0.5 * np.sin(2 * np.pi * 220 * t)
    path = tmp_path / f"x_{subtype}.wav"
    soundfile.write(path, np.stack([x] * channels, axis=1), sample_rate, subtype=subtype)
    signal, rate = read_audio(path)
    assert signal.shape == (sample_rate,) and signal.dtype == torch.float32 and rate == sample_rate
    feats = lld.extract_file(path).numpy()
    assert feats.shape == (lld.num_frames(sample_rate, sample_rate), 17)
    assert np.median(_f0(feats)) == pytest.approx(220, rel=0.03)


def test_channels_first_tensor_is_averaged(lld):
    x = torch.from_numpy(_harmonic(200.0, 1.0)).float()
    stereo = torch.stack([x, x])
    torch.testing.assert_close(lld.extract(stereo, SR), lld.extract(x, SR))


def test_file_shorter_than_a_window_gives_one_frame(lld, tmp_path):
    path = tmp_path / "short.wav"
    soundfile.write(path, _noise(0.01), SR)
    feats = lld.extract_file(path)
    assert feats.shape == (1, 17) and torch.isfinite(feats).all()


def test_full_scale_float_samples_do_not_wrap_around(lld):
    # openSMILE reads int16: 1.0 * 32768 would wrap to -32768 without clipping.
    square = np.sign(np.sin(2 * np.pi * 100 * _time(1.0)))
    full, half = _run(lld, 1.0 * square), _run(lld, 0.5 * square)
    np.testing.assert_allclose(full[:, ZCR], half[:, ZCR], atol=1e-3)
    assert np.all(full[:, LOG_ENERGY] > half[:, LOG_ENERGY])
    assert np.isfinite(_run(lld, 1.5 * square)).all()


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _header_only_wav(path):
    soundfile.write(path, np.zeros(0), SR)
    return path


def _nan_wav(path, value=float("nan")):
    x = np.zeros(SR, dtype=np.float32)
    x[100] = value
    soundfile.write(path, x, SR, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: _write_bytes(p, b""), r"empty file \(0 bytes\)"),
        (_header_only_wav, "no audio samples"),
        (lambda p: _write_bytes(p, b"RIFF$\x00\x00\x00WAVEfmt \x10\x00garbage"), "not a readable"),
        (lambda p: _write_bytes(p, b"hello, this is not audio at all\n" * 40), "not a readable"),
        (_nan_wav, "NaN or infinite"),
        (lambda p: _nan_wav(p, float("inf")), "NaN or infinite"),
    ],
    ids=["0-byte", "empty", "corrupt-header", "non-audio", "nan", "inf"],
)
def test_bad_files_raise_an_error_naming_the_file(lld, tmp_path, make, problem):
    path = make(tmp_path / "bad.wav")
    with pytest.raises(InputFileError, match=problem) as err:
        lld.extract_file(path)
    assert err.value.path == str(path) and str(err.value).startswith(str(path))


def test_missing_file_and_folder_are_named(lld, tmp_path):
    with pytest.raises(InputFileError, match="missing.wav: file not found"):
        lld.extract_file(tmp_path / "missing.wav")
    with pytest.raises(InputFileError, match="is a folder"):
        lld.extract_file(tmp_path)


@pytest.mark.parametrize(
    "signal, sample_rate, message",
    [
        (torch.zeros(0), SR, "empty"),
        (torch.zeros(2, 2, 100), SR, "channels, samples"),
        (torch.tensor([0.0, float("nan")] * 400), SR, "NaN"),
        (torch.zeros(1000), 0, "positive integer"),
        (torch.zeros(1000), 16000.5, "positive integer"),
    ],
)
def test_bad_tensors_raise_value_error(lld, signal, sample_rate, message):
    with pytest.raises(ValueError, match=message):
        lld.extract(signal, sample_rate)


# ---- identity ---------------------------------------------------------------------------


def test_extractor_is_picklable_after_use(lld):
    x = torch.from_numpy(_harmonic(200.0, 0.5)).float()
    expected = lld.extract(x, SR)
    clone = pickle.loads(pickle.dumps(lld))
    torch.testing.assert_close(clone.extract(x, SR), expected)


def test_config_hash_follows_the_config_text(lld, tmp_path):
    same = tmp_path / "same.conf"
    same.write_bytes(lld.config.read_bytes())
    changed = tmp_path / "changed.conf"
    changed.write_text(lld.config.read_text().replace("threshold = 0.45", "threshold = 0.5"))
    assert OpenSmileLLD(same).config_hash == lld.config_hash
    assert OpenSmileLLD(changed).config_hash != lld.config_hash


def test_ring_buffers_change_neither_the_values_nor_the_hash(lld, tmp_path):
    """The shipped config's levels are ring buffers; growing levels held the whole file."""
    text = lld.config.read_text()
    assert text.count("writer.levelconf.isRb = 1") == text.count("writer.dmLevel")
    growing = tmp_path / "growing.conf"
    growing.write_text(re.sub(r"(?m)^writer\.levelconf\..*\n", "", text))
    assert OpenSmileLLD(growing).config_hash == lld.config_hash
    # 12 s of speech-like sound with pauses: far more frames than a ring holds (100)
    x = torch.from_numpy(np.tile(_harmonic(180.0, 1.0), 12) * (_time(12.0) % 1.0 < 0.7)).float()
    signals = [x] + [read_audio(path)[0] for path in sorted(glob.glob(f"{EMODB}/*.wav"))[::5]]
    growing_lld = OpenSmileLLD(growing)
    for signal in signals:  # and every 5th EmoDB file, where the corpus is beside the checkout
        torch.testing.assert_close(lld.extract(signal, SR), growing_lld.extract(signal, SR),
                                   rtol=0, atol=0)


def test_config_with_other_columns_is_refused(tmp_path):
    conf = tmp_path / "other.conf"
    conf.write_text(OpenSmileLLD().config.read_text().replace(";zcr\n", ";crossings\n"))
    with pytest.raises(ValueError, match="other.conf: level 'drnsa_lld' has columns"):
        OpenSmileLLD(conf).extract(torch.zeros(1000), SR)
