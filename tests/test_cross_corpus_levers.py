"""Levers that may make a model travel across corpora: generated noise colours, synthetic
rooms, the functionals of perturbed copies, per-corpus normalisation (network and SVM)."""

import functools
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_drnsa.baselines import functionals_svm
from speechbrain_drnsa.baselines.functionals_svm import run_svm_baseline
from speechbrain_drnsa.data.csv_corpora import prepare_csv_corpora
from speechbrain_drnsa.data.fold_files import save_folds
from speechbrain_drnsa.data.folds import leave_one_speaker_out
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.cache import load_features
from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.features.perturb import (
    PerturbedFunctionals,
    WaveformPerturbation,
    coloured_noise,
    synthetic_room_response,
)
from speechbrain_drnsa.io import load_json, write_json_atomic
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.validation import check_settings


def _tone(seconds: float = 1.0, rate: int = 16000) -> torch.Tensor:
    time = torch.arange(int(seconds * rate)) / rate
    return 0.3 * torch.sin(2 * torch.pi * 200 * time)


def _band_power(noise: torch.Tensor, low: int, high: int) -> float:
    """Mean power of the rfft bins from ``low`` to ``high`` (1 Hz per bin at 1 s, 16 kHz)."""
    return float(torch.fft.rfft(noise.double()).abs().pow(2)[low:high].mean())


@pytest.mark.parametrize("colour, exponent", [("white", 0.0), ("pink", 1.0), ("brown", 2.0)])
def test_coloured_noise_falls_with_its_exponent(colour, exponent):
    noise = coloured_noise(16000, exponent, seed=3)
    assert float(noise.pow(2).mean()) == pytest.approx(1.0, rel=1e-4)
    # a decade up in frequency: the power drops by 10 dB per unit of exponent
    drop_db = 10 * math.log10(_band_power(noise, 100, 200) / _band_power(noise, 1000, 2000))
    assert drop_db == pytest.approx(10 * exponent, abs=1.5)
    assert torch.equal(noise, coloured_noise(16000, exponent, seed=3))


def test_coloured_noise_is_added_at_its_snr_from_the_seed():
    signal = _tone()
    noisy = WaveformPerturbation(snr_db=5, noise="pink")(signal, 16000, seed=1)
    noise = noisy - signal
    snr = 10 * math.log10(float(signal.pow(2).sum() / noise.pow(2).sum()))
    assert snr == pytest.approx(5, abs=0.01)
    assert torch.equal(noisy, WaveformPerturbation(snr_db=5, noise="pink")(signal, 16000, seed=1))
    other = WaveformPerturbation(snr_db=5, noise="pink")(signal, 16000, seed=2)
    assert not torch.equal(noisy, other)


@pytest.mark.parametrize("noise", ["white", "pink"])
def test_one_copy_covers_several_snrs_each_file_its_own(noise):
    signal = _tone()
    perturbation = WaveformPerturbation(snr_db=0, snr_high_db=20, noise=noise)
    snrs = []
    for seed in range(12):
        noisy = perturbation(signal, 16000, seed=seed)
        if noise == "white":  # SpeechBrain's AddNoise scales the clean part (see test_perturb)
            snrs.append(None if torch.equal(noisy, signal) else float(
                10 * torch.log10((signal.pow(2).sum() / (noisy - signal).pow(2).sum()))))
        else:
            snrs.append(10 * math.log10(float(signal.pow(2).sum() / (noisy - signal).pow(2).sum())))
        assert torch.equal(noisy, perturbation(signal, 16000, seed=seed))
    if noise == "pink":
        assert all(0 <= snr <= 20 for snr in snrs)
    assert max(snrs) - min(snrs) > 5  # different files, different SNRs


@pytest.mark.parametrize("rt60_s", [0.3, 0.8])
def test_a_synthetic_room_decays_60_db_in_its_rt60(rt60_s):
    room = synthetic_room_response(rt60_s, 16000, seed=0)
    assert room.shape == (int(rt60_s * 16000),)
    assert float(room.pow(2).sum()) == pytest.approx(1.0, rel=1e-5)
    assert int(room.abs().argmax()) == 0  # the direct sound comes first and is the loudest
    # Schroeder's backward integral: the tail's energy decay between -5 and -25 dB
    # extrapolates to 60 dB over rt60_s
    tail = room.double()[int(0.0025 * 16000):].pow(2)
    decay = 10 * torch.log10(tail.flip(0).cumsum(0).flip(0) / tail.sum())
    times = np.arange(decay.shape[0]) / 16000
    fit = (decay.numpy() <= -5) & (decay.numpy() >= -25)
    slope = np.polyfit(times[fit], decay.numpy()[fit], 1)[0]
    assert -60 / slope == pytest.approx(rt60_s, rel=0.15)


def test_reverberation_keeps_the_length_and_level_and_smears_the_signal():
    click = torch.zeros(16000)
    click[1000] = 1.0
    wet = WaveformPerturbation(rt60_s=0.5)(click, 16000, seed=0)
    assert wet.shape == click.shape
    assert float(wet.pow(2).sum()) == pytest.approx(1.0, rel=1e-4)  # unit-energy response
    assert float(wet[1000]) < 1.0 and float(wet[1000 + 4000:].abs().max()) > 1e-4
    assert float(wet[:1000].abs().max()) < 1e-6  # nothing before the sound (FFT round-off)


def test_names_of_the_new_perturbations_are_unique_and_bad_settings_refused():
    names = [WaveformPerturbation(snr_db=10).name,
             WaveformPerturbation(snr_db=10, noise="pink").name,
             WaveformPerturbation(snr_db=10, noise="brown").name,
             WaveformPerturbation(rt60_s=0.3).name,
             WaveformPerturbation(rt60_s=0.7).name,
             WaveformPerturbation(rt60_s=0.3, snr_db=10).name]
    assert len(set(names)) == len(names)
    assert names[0] == "snr10dB"  # white noise keeps its earlier name, so its cache folder
    assert WaveformPerturbation(snr_db=0, snr_high_db=20).name == "snr0-20dB"
    for bad in ({"noise": "blue"}, {"rt60_s": 0.0}, {"rt60_s": 5.0}, {"rt60_s": "big"},
                {"snr_high_db": 5.0}, {"snr_db": 10, "snr_high_db": 5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            WaveformPerturbation(**bad)
    with pytest.raises(InputFileError, match="noise"):
        check_settings({"perturbations": [{"snr_db": 10, "noise": "blue"}]}, "x.yaml")


def test_perturbed_functionals_are_those_of_the_perturbed_signal(tmp_path):
    wav = tmp_path / "a.wav"
    signal = 0.2 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    soundfile.write(wav, signal.numpy(), 16000, subtype="FLOAT")
    perturbation = WaveformPerturbation(rt60_s=0.6, snr_db=10, noise="brown")
    extractor = PerturbedFunctionals(perturbation, "eGeMAPSv02")
    seed = int(hashlib.sha256(f"a.wav|{perturbation.name}".encode()).hexdigest()[:8], 16)
    clean = OpenSmileFunctionals("eGeMAPSv02")
    expected = clean.extract(perturbation(signal, 16000, seed), 16000)
    assert torch.allclose(extractor.extract_file(wav), expected)
    assert not torch.allclose(extractor.extract_file(wav), clean.extract_file(wav))
    assert extractor.config_hash not in {
        clean.config_hash, PerturbedFunctionals(WaveformPerturbation(rt60_s=0.6), "eGeMAPSv02")
        .config_hash}


def _two_corpora(tiny_training_data, tmp_path) -> dict[str, Path]:
    """The tiny demo audio as two corpus CSVs, x (speakers a, b, c) and y (speakers d, e)."""
    wavs = sorted(tiny_training_data["data_folder"].glob("Session*/sentences/wav/*/*.wav"))[:30]
    csvs = {}
    for name, speakers, part in (("x", "abc", wavs[:18]), ("y", "de", wavs[18:])):
        folder = tmp_path / name
        folder.mkdir()
        lines = ["path,speaker,emotion"] + [
            f"{wav},{speakers[k % len(speakers)]},{('neu', 'ang')[(k // len(speakers)) % 2]}"
            for k, wav in enumerate(part)
        ]
        (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
        csvs[name] = folder / "manifest.csv"
    return csvs


def _cross_corpus_data(tiny_training_data, tmp_path, prepare_corpus, **hparams):
    csvs = _two_corpora(tiny_training_data, tmp_path)
    prepare = functools.partial(prepare_csv_corpora, csv=[f"x={csvs['x']}"],
                                test_csv=f"y={csvs['y']}")
    return prepare_corpus(prepare, tmp_path / "prep", tmp_path / "cache",
                          protocol="cross_corpus", **hparams)


def test_perturbed_training_copies_carry_their_own_functionals(
    tiny_training_data, tmp_path, prepare_corpus
):
    prepared = _cross_corpus_data(tiny_training_data, tmp_path, prepare_corpus,
                                  functionals="eGeMAPSv02", perturbations=[{"rt60_s": 0.5}])
    assert set(prepared.perturbed_functionals) == {"rt60-0.5s"}
    data = SERDataModule(prepared, fold=0, normalizer=FeatureNormalizer(), labels=["ang", "neu"],
                         functionals_normalizer=FeatureNormalizer(num_features=88))
    data.setup("fit")
    items = {item["id"]: item for item in data.datasets["train"]}
    originals = [i for i in items if "@" not in i]
    assert sorted(items) == sorted([*originals, *(f"{i}@rt60-0.5s" for i in originals)])
    for utt_id in originals:
        copy = items[f"{utt_id}@rt60-0.5s"]["functionals"]
        assert torch.equal(copy, load_features(prepared.perturbed_functionals["rt60-0.5s"]
                                               .path(utt_id)))
        assert not torch.allclose(copy, items[utt_id]["functionals"])
    for part in ("valid", "test"):
        assert not any("@" in i for i in data.datasets[part].data_ids)
    # the tested corpus is never perturbed: its copies are not even extracted
    test_ids = data.datasets["test"].data_ids
    for copies in (prepared.perturbed["rt60-0.5s"], prepared.perturbed_functionals["rt60-0.5s"]):
        assert not any(utt_id in copies for utt_id in test_ids)
        assert all(utt_id in copies for utt_id in originals)
    # a second process reads the same indexes back from the record
    from speechbrain_drnsa.training.preparation import _wait_for_record
    again = _wait_for_record(tmp_path / "prep", load_json(tmp_path / "prep" / "prepared.json")
                             ["signature"])
    assert again.perturbed_functionals == prepared.perturbed_functionals
    assert set(again.perturbed) == {"rt60-0.5s"}


def test_corpus_normalisation_standardises_each_corpus_the_tested_one_included(
    tiny_training_data, tmp_path, prepare_corpus
):
    prepared = _cross_corpus_data(tiny_training_data, tmp_path, prepare_corpus)
    manifest = load_json(prepared.manifest)
    normalizer = FeatureNormalizer(per_speaker=True)
    data = SERDataModule(prepared, fold=0, normalizer=normalizer, labels=["ang", "neu"],
                         normalization_group="corpus")
    data.setup("fit")
    assert set(normalizer.speakers) == {"x", "y"}
    test_items = list(data.datasets["test"])
    assert {item["speaker"] for item in test_items} == {"y"}
    assert {manifest[item["id"]]["speaker"] for item in test_items} == {"y/d", "y/e"}
    # every utterance of the tested corpus, standardised with that corpus's statistics
    frames = torch.cat([normalizer.standardize_speaker(item["feats"], "y") for item in test_items])
    varying = torch.cat([item["feats"] for item in test_items]).std(dim=0) > 1e-3
    assert torch.allclose(frames.mean(dim=0), torch.zeros(17), atol=1e-4)
    assert torch.allclose(frames.std(dim=0, unbiased=False)[varying],
                          torch.ones(int(varying.sum())), atol=1e-3)
    # per speaker, the same data gives one group per speaker instead
    by_speaker = FeatureNormalizer(per_speaker=True)
    SERDataModule(prepared, fold=0, normalizer=by_speaker, labels=["ang", "neu"]).setup("fit")
    assert set(by_speaker.speakers) == {"x/a", "x/b", "x/c", "y/d", "y/e"}


def test_corpus_groups_need_corpora_and_a_known_group(tiny_training_data, tmp_path,
                                                      prepare_corpus):
    csvs = _two_corpora(tiny_training_data, tmp_path)
    prepare = functools.partial(prepare_csv_corpora, csv=str(csvs["x"]))
    prepared = prepare_corpus(prepare, tmp_path / "one", tmp_path / "cache", protocol="loso")
    data = SERDataModule(prepared, fold=0, normalizer=FeatureNormalizer(per_speaker=True),
                         labels=["ang", "neu"], normalization_group="corpus")
    with pytest.raises(InputFileError, match="has no 'corpus'"):
        data.setup("fit")
    with pytest.raises(ValueError, match="normalization_group"):
        SERDataModule(prepared, fold=0, normalizer=FeatureNormalizer(), normalization_group="age")
    with pytest.raises(InputFileError, match="normalization_group"):
        check_settings({"normalization_group": "age"}, "x.yaml")


def _svm_corpora(folder: Path) -> tuple[Path, Path, np.ndarray]:
    """4 speakers in 2 corpora (a: s0, s1; b: s2, s3), corpus b shifted far from a."""
    rng = np.random.default_rng(0)
    manifest, rows = {}, []
    for s, speaker in enumerate(["s0", "s1", "s2", "s3"]):
        corpus = "ab"[s // 2]
        for c, emo in enumerate(["ang", "neu"]):
            for i in range(4):
                manifest[f"{corpus}.{speaker}_{emo}_{i}"] = {
                    "wav": "{data_root}/x.wav", "duration": 1.0, "emo": emo,
                    "speaker": f"{corpus}/{speaker}", "corpus": corpus}
                row = rng.normal(size=3) + (20.0 if corpus == "b" else 0.0) + s
                row[c] += 3.0
                rows.append(row)
    manifest_path = write_json_atomic(manifest, folder / "corpus.json")
    folds_path = save_folds(leave_one_speaker_out(manifest), folder / "folds_loso.json")
    return manifest_path, folds_path, np.array(rows, dtype=np.float32)


def test_svm_corpus_standardisation_uses_each_corpus_statistics(tmp_path, monkeypatch):
    manifest_path, folds_path, features = _svm_corpora(tmp_path)
    monkeypatch.setattr(functionals_svm, "extract_functionals", lambda *a, **k: features.copy())
    seen = []
    real_fit_predict = functionals_svm.fit_predict

    def recording_fit_predict(standardised, *args, **kwargs):
        seen.append(standardised.copy())
        return real_fit_predict(standardised, *args, **kwargs)

    monkeypatch.setattr(functionals_svm, "fit_predict", recording_fit_predict)
    run_svm_baseline(manifest_path, folds_path, tmp_path / "out", normalisation="corpus",
                     c_grid=[1.0])
    standardised = seen[0]
    corpus_rows = {"a": slice(0, 16), "b": slice(16, 32)}
    for rows in corpus_rows.values():
        assert np.allclose(standardised[rows].mean(axis=0), 0, atol=1e-5)
        assert np.allclose(standardised[rows].std(axis=0), 1, atol=1e-4)
    # not per speaker: a speaker's own mean stays off zero
    assert abs(standardised[0:8].mean()) > 0.3
    assert load_json(tmp_path / "out" / "fold_0" / "metrics.json")["normalisation"] == "corpus"


def test_svm_corpus_standardisation_needs_several_corpora(tmp_path, monkeypatch):
    manifest_path, folds_path, features = _svm_corpora(tmp_path)
    manifest = load_json(manifest_path)
    for entry in manifest.values():
        del entry["corpus"]
    write_json_atomic(manifest, manifest_path)
    monkeypatch.setattr(functionals_svm, "extract_functionals", lambda *a, **k: features.copy())
    with pytest.raises(ValueError, match="several corpora"):
        run_svm_baseline(manifest_path, folds_path, tmp_path / "out", normalisation="corpus")
