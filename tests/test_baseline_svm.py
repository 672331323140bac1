"""Classic baseline: functionals cache, per-speaker standardisation, C chosen on training speakers
only, the training runs' results layout, the comparison table and the CLI."""

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_drnsa import cli
from speechbrain_drnsa.baselines import functionals_svm, svm
from speechbrain_drnsa.features import functionals
from speechbrain_drnsa.baselines.functionals import extract_functionals
from speechbrain_drnsa.baselines.functionals_svm import run_baselines, run_svm_baseline
from speechbrain_drnsa.baselines.svm import choose_c, speaker_standardise
from speechbrain_drnsa.data.fold_files import load_folds, save_folds
from speechbrain_drnsa.data.folds import leave_one_speaker_out
from speechbrain_drnsa.io import load_json, write_json_atomic
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.results.scores import scores_from_confusion

SPEAKERS = ["s0", "s1", "s2", "s3"]
EMOTIONS = ["ang", "neu", "sad"]


def _corpus(folder: Path, per_class: int = 3) -> tuple[Path, Path, np.ndarray]:
    """Manifest + LOSO folds of 4 speakers x 3 emotions, and their features.

    Class c sits at +3 on feature c; each speaker shifts features 0 and 1 apart
    by an offset of their own (as voices do), bigger than the class differences,
    so that angry and neutral of an unseen speaker are confused unless the
    speaker's own statistics remove the shift.
    """
    rng = np.random.default_rng(0)
    manifest, rows = {}, []
    for s, speaker in enumerate(SPEAKERS):
        offset = 8.0 * (s - 1.5) * np.array([1.0, -1.0, 0, 0, 0, 0])
        for c, emo in enumerate(EMOTIONS):
            for i in range(per_class):
                utt = f"{speaker}_{emo}_{i}"
                manifest[utt] = {"wav": f"{{data_root}}/{utt}.wav", "duration": 1.0, "emo": emo,
                                 "speaker": speaker}
                row = rng.normal(scale=0.5, size=6) + offset
                row[c] += 3.0
                rows.append(row)
    manifest_path = write_json_atomic(manifest, folder / "corpus.json")
    folds_path = save_folds(leave_one_speaker_out(manifest), folder / "folds_loso.json")
    return manifest_path, folds_path, np.array(rows, dtype=np.float32)


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """The synthetic corpus, its features served instead of openSMILE's."""
    manifest_path, folds_path, features = _corpus(tmp_path)
    monkeypatch.setattr(
        functionals_svm, "extract_functionals", lambda manifest, *args, **kwargs: features.copy()
    )
    return manifest_path, folds_path


def test_speaker_standardise_uses_each_speakers_own_statistics():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 3))
    speakers = np.array(["a"] * 5 + ["b"] * 7)
    z = speaker_standardise(x, speakers)
    for spk in "ab":
        rows = speakers == spk
        np.testing.assert_allclose(z[rows].mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(z[rows].std(axis=0), 1.0)
        # the same as standardising that speaker alone: nobody else's data counts
        alone = (x[rows] - x[rows].mean(axis=0)) / x[rows].std(axis=0)
        np.testing.assert_allclose(z[rows], alone)
    shifted = x.copy()
    shifted[speakers == "b"] = shifted[speakers == "b"] * 100 + 7
    np.testing.assert_allclose(speaker_standardise(shifted, speakers)[speakers == "a"],
                               z[speakers == "a"])


def test_a_constant_feature_within_a_speaker_becomes_zero():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    np.testing.assert_allclose(speaker_standardise(x, ["a", "a"]), [[-1.0, 0.0], [1.0, 0.0]])


def test_choosing_c_never_sees_the_test_speaker(corpus, tmp_path, monkeypatch):
    manifest_path, folds_path = corpus
    manifest = load_json(manifest_path)
    seen = []

    def recording_choose_c(features, labels, speakers, *args, **kwargs):
        seen.append((len(features), set(speakers)))
        return choose_c(features, labels, speakers, *args, **kwargs)

    monkeypatch.setattr(svm, "choose_c", recording_choose_c)
    run_svm_baseline(manifest_path, folds_path, tmp_path / "out", c_grid=[0.01, 1.0])
    folds = load_folds(folds_path)
    assert len(seen) == len(folds)
    for (n_rows, speakers), fold in zip(seen, folds):
        test_speakers = {manifest[utt]["speaker"] for utt in fold.test}
        assert not speakers & test_speakers
        assert n_rows == len(fold.train) + len(fold.valid)
        assert speakers == set(SPEAKERS) - test_speakers


def test_choose_c_holds_out_each_training_speaker(monkeypatch):
    """The inner cross-validation splits by speaker, never inside one."""
    from sklearn import model_selection

    splits = []
    original = model_selection.LeaveOneGroupOut.split

    def recording_split(self, X, y=None, groups=None):
        for train, test in original(self, X, y, groups):
            splits.append((set(np.asarray(groups)[train]), set(np.asarray(groups)[test])))
            yield train, test

    monkeypatch.setattr(model_selection.LeaveOneGroupOut, "split", recording_split)
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 9)
    x = rng.normal(size=(18, 2)) + y[:, None]
    choose_c(x, y, ["a"] * 6 + ["b"] * 6 + ["c"] * 6, c_grid=[0.1, 1.0])
    held_out = {frozenset(test) for _, test in splits}
    assert held_out == {frozenset("a"), frozenset("b"), frozenset("c")}
    assert all(not train & test for train, test in splits)
    with pytest.raises(ValueError, match="at least two training speakers"):
        choose_c(x, y, ["a"] * 18)


def test_per_speaker_standardisation_removes_speaker_offsets(corpus, tmp_path):
    """Offsets bigger than the classes defeat training-part statistics on an unseen speaker."""
    manifest_path, folds_path = corpus
    per_speaker = run_svm_baseline(manifest_path, folds_path, tmp_path / "spk",
                                   normalisation="speaker", c_grid=[0.1, 1.0])
    on_train = run_svm_baseline(manifest_path, folds_path, tmp_path / "train",
                                normalisation="train", c_grid=[0.1, 1.0])
    assert per_speaker["mean"]["UA"] == 1.0
    assert on_train["mean"]["UA"] < 0.8


def test_results_layout_matches_the_training_runs(corpus, tmp_path):
    manifest_path, folds_path = corpus
    out = tmp_path / "out"
    summary = run_svm_baseline(manifest_path, folds_path, out, feature_set="ComParE_2016",
                               normalisation="speaker", c_grid=[1.0])
    manifest = load_json(manifest_path)
    folds = load_folds(folds_path)
    assert {p.name for p in out.iterdir()} == {
        *(f"fold_{k}" for k in range(len(folds))), "summary.md", "summary.csv", "summary.json"
    }
    predicted = []
    for k, fold in enumerate(folds):
        metrics = load_json(out / f"fold_{k}" / "metrics.json")
        assert metrics["C"] == 1.0
        assert (metrics["feature_set"], metrics["normalisation"]) == ("ComParE_2016", "speaker")
        assert metrics["labels"] == EMOTIONS
        assert metrics["n_test"] == len(fold.test)
        scores = scores_from_confusion(torch.tensor(metrics["confusion"]))
        assert metrics["UA"] == pytest.approx(scores["UA"])
        with open(out / f"fold_{k}" / "predictions.csv") as f:
            rows = list(csv.DictReader(f))
        assert sorted(row["utt_id"] for row in rows) == sorted(fold.test)
        assert all(row["true"] == manifest[row["utt_id"]]["emo"] for row in rows)
        assert all(row["speaker"] == manifest[row["utt_id"]]["speaker"] for row in rows)
        predicted += [row["utt_id"] for row in rows]
    assert sorted(predicted) == sorted(manifest)
    assert [row["fold"] for row in summary["folds"]] == list(range(len(folds)))
    assert np.sum(summary["confusion"]) == len(manifest)
    assert "| mean | 1.0000 |" in (out / "summary.md").read_text()


def test_comparison_table_lists_every_variant(corpus, tmp_path):
    manifest_path, folds_path = corpus
    table = run_baselines(manifest_path, folds_path, tmp_path / "out", c_grid=[1.0],
                          title="Synthetic").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[0].endswith("| recall ang | recall neu | recall sad |")
    assert [line.split(" | ")[:2] for line in lines[1:]] == [
        ["| eGeMAPSv02", "train"], ["| eGeMAPSv02", "speaker"],
        ["| ComParE_2016", "train"], ["| ComParE_2016", "speaker"],
    ]
    assert lines[2].endswith(
        "| 1.0000 ± 0.0000 | 1.0000 ± 0.0000 | 1.0000 ± 0.0000 | 1.000 | 1.000 | 1.000 |"
    )
    results = load_json(tmp_path / "out" / "baselines.json")
    assert set(results) == {"eGeMAPSv02_train", "eGeMAPSv02_speaker", "ComParE_2016_train",
                            "ComParE_2016_speaker"}


def test_bad_options_and_folds(corpus, tmp_path):
    manifest_path, folds_path = corpus
    with pytest.raises(ValueError, match="unknown normalisation 'global'"):
        run_svm_baseline(manifest_path, folds_path, tmp_path / "o", normalisation="global")
    bad = save_folds([load_folds(folds_path)[0]._replace(test=["ghost"])], tmp_path / "bad.json")
    with pytest.raises(ValueError, match="names 'ghost'"):
        run_svm_baseline(manifest_path, bad, tmp_path / "o")


def test_missing_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install speechbrain-drnsa\[baseline\]"):
        svm.make_svm(1.0)


def _tones(folder: Path) -> Path:
    manifest = {}
    t = np.arange(8000) / 16000
    for i, f0 in enumerate([150, 300]):
        sf.write(folder / f"u{i}.wav", 0.3 * np.sin(2 * np.pi * f0 * t), 16000)
        manifest[f"u{i}"] = {"wav": "{data_root}/" + f"u{i}.wav"}
    return write_json_atomic(manifest, folder / "tones.json")


def test_functionals_go_through_the_feature_cache_and_are_redone_when_the_audio_changes(
    tmp_path, monkeypatch
):
    manifest = _tones(tmp_path)
    first = extract_functionals(manifest, "eGeMAPSv02", tmp_path / "cache", tmp_path)
    assert first.shape == (2, 88) and first.dtype == np.float32
    assert not np.allclose(first[0], first[1])
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 2 and cached[0].startswith("u0.")
    assert list((tmp_path / "cache").rglob("eGeMAPSv02.conf"))  # the cache explains itself

    def no_audio(path):
        raise AssertionError(f"{path} read again")

    monkeypatch.setattr(functionals, "read_audio", no_audio)
    np.testing.assert_array_equal(
        extract_functionals(manifest, "eGeMAPSv02", tmp_path / "cache", tmp_path), first
    )
    sf.write(tmp_path / "u0.wav", 0.1 * np.ones(8000), 16000)
    with pytest.raises(InputFileError, match="u0.wav read again"):
        extract_functionals(manifest, "eGeMAPSv02", tmp_path / "cache", tmp_path)


def test_functionals_of_bad_input_name_the_file(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF nonsense")
    bad = write_json_atomic({"b": {"wav": str(tmp_path / "bad.wav")}}, tmp_path / "bad.json")
    with pytest.raises(InputFileError, match="bad.wav"):
        extract_functionals(bad, "eGeMAPSv02", tmp_path)
    missing = write_json_atomic({"m": {"wav": str(tmp_path / "missing.wav")}},
                                tmp_path / "missing.json")
    with pytest.raises(InputFileError, match="missing.wav"):
        extract_functionals(missing, "eGeMAPSv02", tmp_path)
    with pytest.raises(InputFileError, match="give data_root"):
        extract_functionals(_tones(tmp_path), "eGeMAPSv02", tmp_path)
    with pytest.raises(ValueError, match="unknown functional set 'IS09'"):
        extract_functionals(bad, "IS09", tmp_path)


def test_cli_baseline_runs_on_real_audio(tmp_path, capsys):
    manifest = {}
    t = np.arange(6400) / 16000
    rng = np.random.default_rng(0)
    for spk in ["a", "b", "c"]:
        for i, (emo, f0) in enumerate([("low", 110), ("high", 320)] * 2):
            utt = f"{spk}{i}"
            sf.write(tmp_path / f"{utt}.wav",
                     0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.normal(size=t.size), 16000)
            manifest[utt] = {"wav": "{data_root}/" + f"{utt}.wav", "emo": emo, "speaker": spk}
    manifest_path = write_json_atomic(manifest, tmp_path / "corpus.json")
    folds_path = save_folds(leave_one_speaker_out(manifest), tmp_path / "folds_loso.json")
    status = cli.main(["baseline", str(manifest_path), str(folds_path), "--out",
                       str(tmp_path / "out"), "--feature-sets", "eGeMAPSv02",
                       "--data-root", str(tmp_path)])
    assert status == 0
    assert "| eGeMAPSv02 | speaker |" in capsys.readouterr().out
    assert (tmp_path / "out" / "eGeMAPSv02_train" / "summary.md").is_file()
    status = cli.main(["baseline", str(manifest_path), str(tmp_path / "nope.json"), "--out",
                       str(tmp_path / "out2"), "--data-root", str(tmp_path)])
    assert status == 2
    assert "nope.json: file not found" in capsys.readouterr().err


def test_choice_of_c_scores_with_the_reports_ua_not_balanced_accuracy(monkeypatch):
    from sklearn.metrics import balanced_accuracy_score

    true, predicted = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    # class 2 is predicted but absent: recall 0 for the reports, dropped by scikit-learn
    assert svm.unweighted_accuracy(true, predicted, 3) == pytest.approx(0.5)
    with pytest.warns(UserWarning):
        assert balanced_accuracy_score(true, predicted) == pytest.approx(0.75)
    calls = []
    real = svm.unweighted_accuracy
    monkeypatch.setattr(svm, "unweighted_accuracy",
                        lambda *args: calls.append(args[2]) or real(*args))
    rng = np.random.default_rng(0)
    y = np.tile([0, 1, 2], 4)
    svm.choose_c(rng.normal(size=(12, 3)) + y[:, None], y, ["a"] * 6 + ["b"] * 6, c_grid=[1.0])
    assert calls == [3, 3]  # once per held-out speaker, over all three classes


def test_csv_recipe_baseline_script_runs_end_to_end(tiny_training_data, tmp_path):
    script_path = Path(__file__).resolve().parents[1] / "recipes" / "CSV" / "baseline_svm.py"
    spec = importlib.util.spec_from_file_location("csv_baseline_svm", script_path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    wavs = sorted(tiny_training_data["data_folder"].glob("Session*/sentences/wav/*/*.wav"))[:24]
    csv_path = tmp_path / "corpus.csv"
    csv_path.write_text("path,speaker,emotion\n" + "".join(
        f"{wav},spk{k % 3},{('neu', 'ang')[k % 2]}\n" for k, wav in enumerate(wavs)))
    out = tmp_path / "baselines"
    assert script.main([str(csv_path), f"--output_folder={out}", "--feature_sets", "eGeMAPSv02",
                        "--normalisations", "train"]) == 0
    table = next(out.rglob("baselines.md")).read_text()
    assert "| eGeMAPSv02 | train |" in table
    predictions = next(out.rglob("fold_0/predictions.csv")).read_text().splitlines()
    # speakers for the speaker bootstrap of compare, probabilities for ensembles
    assert predictions[0] == "utt_id,true,predicted,speaker,p_ang,p_neu"
