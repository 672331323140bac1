"""Waveform perturbation: the perturbations, their cache folders, the perturbed training copies."""

import functools
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus
from speechbrain_drnsa.features.cache import extract_corpus
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.features.perturb import PerturbedLLD, WaveformPerturbation
from speechbrain_drnsa.training.datamodule import SERDataModule


def _tone(seconds: float = 1.0, rate: int = 16000) -> torch.Tensor:
    time = torch.arange(int(seconds * rate)) / rate
    return 0.3 * torch.sin(2 * torch.pi * 200 * time)


def _rms_db(signal: torch.Tensor) -> float:
    return float(20 * torch.log10(signal.pow(2).mean().sqrt()))


def test_speed_resamples_gain_scales_and_noise_meets_its_snr():
    signal = _tone()
    assert WaveformPerturbation(speed=0.9)(signal, 16000, seed=0).shape[0] == pytest.approx(
        16000 / 0.9, abs=2
    )
    louder = WaveformPerturbation(gain_db=6)(signal, 16000, seed=0)
    assert _rms_db(louder) - _rms_db(signal) == pytest.approx(6, abs=1e-3)
    noisy = WaveformPerturbation(snr_db=10)(signal, 16000, seed=0)
    clean_part = signal * (1 - 1 / (10 ** (10 / 20) + 1))  # AddNoise scales the clean signal
    assert _rms_db(clean_part) - _rms_db(noisy - clean_part) == pytest.approx(10, abs=0.1)


def test_the_noise_is_fixed_by_the_seed_and_leaves_the_global_generator_alone():
    perturbation = WaveformPerturbation(snr_db=20)
    torch.manual_seed(0)
    expected_next = torch.rand(1)
    torch.manual_seed(0)
    first = perturbation(_tone(), 16000, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(first, perturbation(_tone(), 16000, seed=7))
    assert not torch.equal(first, perturbation(_tone(), 16000, seed=8))


def test_names_are_unique_and_bad_settings_are_refused():
    names = {
        WaveformPerturbation().name,
        WaveformPerturbation(speed=1.1).name,
        WaveformPerturbation(gain_db=-6).name,
        WaveformPerturbation(gain_db=-6, snr_db=20).name,
        WaveformPerturbation(speed=1.1, gain_db=-6, snr_db=20).name,
    }
    assert len(names) == 5 and "none" in names
    for bad in ({"speed": 3}, {"speed": 0}, {"gain_db": float("nan")}, {"snr_db": float("inf")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            WaveformPerturbation(**bad)


def test_each_perturbation_gets_its_own_cache_folder(tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, _tone().numpy(), 16000)
    (tmp_path / "m.json").write_text(f'{{"a": {{"wav": "{wav}"}}}}')
    plain = extract_corpus([tmp_path / "m.json"], tmp_path / "cache")
    faster = extract_corpus(
        [tmp_path / "m.json"], tmp_path / "cache",
        extractor=PerturbedLLD(WaveformPerturbation(speed=1.1)),
    )
    assert Path(plain.paths["a"]).parent != Path(faster.paths["a"]).parent
    again = extract_corpus(
        [tmp_path / "m.json"], tmp_path / "cache",
        extractor=PerturbedLLD(WaveformPerturbation(speed=1.1)),
    )
    assert again.reused == 1 and again.paths == faster.paths
    assert np.load(faster.paths["a"]).shape[0] < np.load(plain.paths["a"]).shape[0]
    assert np.array_equal(
        np.load(faster.paths["a"]),
        PerturbedLLD(WaveformPerturbation(speed=1.1)).extract_file(wav).numpy(),
    )
    assert OpenSmileLLD().config_hash != PerturbedLLD(WaveformPerturbation()).config_hash


def test_training_part_gets_perturbed_copies_valid_and_test_do_not(tiny_training_data, tmp_path,
                                                                   prepare_corpus):
    corpus = tiny_training_data["data_folder"]
    csv_path = tmp_path / "corpus.csv"
    wavs = sorted(corpus.glob("Session*/sentences/wav/*/*.wav"))[:24]
    lines = ["path,speaker,emotion"]
    for k, wav in enumerate(wavs):
        lines.append(f"{wav},spk{k % 4},{('neu', 'ang')[k % 2]}")
    csv_path.write_text("\n".join(lines) + "\n")
    perturbations = [{"speed": 0.9}, WaveformPerturbation(gain_db=-6, snr_db=20)]
    normalizer = FeatureNormalizer()
    prepared = prepare_corpus(
        functools.partial(prepare_csv_corpus, csv_path=csv_path), tmp_path / "prep",
        tmp_path / "cache", protocol="loso", perturbations=perturbations,
    )
    data = SERDataModule(prepared, fold=0, normalizer=normalizer, labels=["neu", "ang"])
    data.setup("fit")
    train_ids = data.datasets["train"].data_ids
    originals = [i for i in train_ids if "@" not in i]
    copies = [f"{i}@{name}" for name in ("speed0.9", "gain-6dB_snr20dB") for i in originals]
    assert sorted(train_ids) == sorted([*originals, *copies])
    for part in ("valid", "test"):
        ids = data.datasets[part].data_ids
        assert ids and not any("@" in i for i in ids)
    items = {item["id"]: item for item in data.datasets["train"]}
    first = originals[0]
    assert items[f"{first}@speed0.9"]["label"] == items[first]["label"]
    # speed 0.9 lengthens the utterance by about 1/0.9
    slower, plain = items[f"{first}@speed0.9"]["feats"], items[first]["feats"]
    assert slower.shape[0] == pytest.approx(plain.shape[0] / 0.9, abs=3)
    assert data.frames["train"][train_ids.index(f"{first}@speed0.9")] == slower.shape[0]
    # the normaliser is fitted on the original training utterances only
    assert int(normalizer.count) == sum(items[i]["feats"].shape[0] for i in originals)
