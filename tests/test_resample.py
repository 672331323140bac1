"""The one resampler: 16 kHz untouched, lengths as documented, values right, hashes that name it.

tests/test_sample_rates.py checks that EmoDB speech written at other rates gives the
features and probabilities of the 16 kHz original.
"""

import json

import numpy as np
import opensmile
import pytest
import soundfile
import torch

import speechbrain_drnsa.features.functionals as functionals_module
import speechbrain_drnsa.features.lld_sets as lld_sets_module
import speechbrain_drnsa.features.opensmile as opensmile_module
from speechbrain_drnsa.features.cache import extract_corpus
from speechbrain_drnsa.features.functionals import FEATURE_SETS, OpenSmileFunctionals
from speechbrain_drnsa.features.lld_sets import OpenSmileLLDSet
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.features.perturb import PerturbedLLD, WaveformPerturbation
from speechbrain_drnsa.features.resample import resample, resampled_length

RATES = [7, 8000, 11025, 22050, 24414, 44100, 48000, 96000]


def _speech_like(rate: int, seconds: float = 1.0) -> np.ndarray:
    """A voiced, gliding, slightly noisy signal: every extractor has something to measure."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(120 + 60 * t) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    noise = 0.01 * np.random.default_rng(rate).standard_normal(t.size)
    return (0.2 * voiced + noise).astype(np.float32)


def test_16_khz_is_handed_to_opensmile_as_it_is():
    x = _speech_like(16000)
    assert resample(x, 16000, 16000) is x
    for name in FEATURE_SETS:
        raw = opensmile.Smile(feature_set=FEATURE_SETS[name],
                              feature_level=opensmile.FeatureLevel.Functionals)
        ours = OpenSmileFunctionals(name).extract(torch.from_numpy(x), 16000).numpy()
        np.testing.assert_array_equal(ours, raw.process_signal(x, 16000).to_numpy())


@pytest.mark.parametrize("rate", RATES)
def test_the_resampled_length_is_the_one_documented(rate):
    for n in [*range(1, 200), 16037, 100003]:
        resampled = resample(np.zeros(n, np.float32), rate, 16000)
        assert resampled.shape == (resampled_length(n, rate, 16000),)


@pytest.mark.parametrize("rate", [8000, 22050, 24414, 44100, 48000])
def test_a_sine_keeps_its_frequency_and_level(rate):
    seconds = np.arange(rate) / rate
    ours = resample((0.5 * np.sin(2 * np.pi * 1000 * seconds)).astype(np.float32), rate, 16000)
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert ours.dtype == np.float32 and ours.shape == (16000,)
    # away from the edges, where the filter runs past the signal's ends
    assert np.abs(ours - expected)[200:-200].max() < 1e-3


def test_every_extractor_hash_names_the_resampler(monkeypatch):
    extractors = [OpenSmileLLD(), OpenSmileLLDSet("eGeMAPSv02"), OpenSmileFunctionals("eGeMAPSv02"),
                  PerturbedLLD(WaveformPerturbation(speed=1.1))]
    before = [extractor.config_hash for extractor in extractors]
    for module in (opensmile_module, lld_sets_module, functionals_module):
        monkeypatch.setattr(module, "RESAMPLER", "another resampler")
    after = [extractor.config_hash for extractor in extractors]
    assert all(old != new for old, new in zip(before, after))


def test_features_of_another_resampler_are_extracted_again_not_reused(tmp_path, monkeypatch):
    soundfile.write(tmp_path / "a.wav", _speech_like(44100), 44100)
    (tmp_path / "m.json").write_text(json.dumps({"a": {"wav": str(tmp_path / "a.wav")}}))
    extractor = OpenSmileFunctionals("eGeMAPSv02")
    first = extract_corpus([tmp_path / "m.json"], tmp_path / "cache", extractor=extractor)
    second = extract_corpus([tmp_path / "m.json"], tmp_path / "cache", extractor=extractor)
    assert second.reused == 1
    monkeypatch.setattr(functionals_module, "RESAMPLER", "another resampler")
    again = extract_corpus([tmp_path / "m.json"], tmp_path / "cache", extractor=extractor)
    assert first.extracted == again.extracted == 1 and again.reused == 0
    assert again.paths["a"] != first.paths["a"]


def test_a_perturbation_is_applied_at_16_khz(tmp_path):
    x = _speech_like(44100)
    (tmp_path / "44k").mkdir()
    (tmp_path / "16k").mkdir()
    # float files: what is read back is exactly what was written
    soundfile.write(tmp_path / "44k" / "a.wav", x, 44100, subtype="FLOAT")
    soundfile.write(tmp_path / "16k" / "a.wav", resample(x, 44100, 16000), 16000, subtype="FLOAT")
    perturbed = PerturbedLLD(WaveformPerturbation(speed=1.1, snr_db=20))
    torch.testing.assert_close(perturbed.extract_file(tmp_path / "44k" / "a.wav"),
                               perturbed.extract_file(tmp_path / "16k" / "a.wav"),
                               rtol=0, atol=0)
