"""The comparison table of finished experiments (``speechbrain-drnsa compare``)."""

import json
from pathlib import Path

from speechbrain_drnsa.cli import main


def _experiment(folder: Path, confusions: list, labels=("neu", "ang"), speakers=True) -> Path:
    """Fold reports of these confusion matrices; utterance ids and speakers depend only on the
    fold and the true class, so two experiments with the same class counts tested the same."""
    for fold, confusion in enumerate(confusions):
        hits = confusion[0][0] + confusion[1][1]
        total = sum(map(sum, confusion))
        metrics = {"UA": hits / total, "WA": hits / total, "F1": hits / total, "epochs": 5,
                   "labels": list(labels), "confusion": confusion, "n_test": total}
        (folder / f"fold_{fold}").mkdir(parents=True)
        (folder / f"fold_{fold}" / "metrics.json").write_text(json.dumps(metrics))
        rows = ["utt_id,true,predicted" + (",speaker" if speakers else "")]
        for true, counts in enumerate(confusion):
            predicted = [p for p, count in enumerate(counts) for _ in range(count)]
            for n, p in enumerate(predicted):
                rows.append(f"f{fold}_{labels[true]}{n},{labels[true]},{labels[p]}"
                            + (f",spk{fold}{n % 2}" if speakers else ""))
        (folder / f"fold_{fold}" / "predictions.csv").write_text("\n".join(rows) + "\n")
    # an unfinished fold is left out
    (folder / f"fold_{len(confusions)}").mkdir()
    return folder


def test_rows_pool_recall_over_folds_and_name_the_systems(tmp_path, capsys):
    a = _experiment(tmp_path / "a", [[[3, 1], [0, 4]], [[2, 2], [1, 3]]])
    b = _experiment(tmp_path / "b", [[[4, 0], [4, 0]]])
    assert main(["compare", f"first={a}", str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| system | UA | WA | F1 | recall neu | recall ang |")
    first, second = lines[2].split(" | "), lines[3].split(" | ")
    assert first[0] == "| first" and second[0] == f"| {b}"
    # neu: (3 + 2) / 8, ang: (4 + 3) / 8 over both folds; fold UA 0.875 and 0.625
    assert first[4:6] == ["0.625", "0.875"]
    assert first[1] == "0.7500 ± 0.1250" and first[6] == "0.875, 0.625"
    assert second[4:6] == ["1.000", "0.000"] and second[7] == "5"


def test_an_experiment_folder_averages_each_fold_over_its_seeds(tmp_path, capsys):
    experiment = tmp_path / "exp"
    _experiment(experiment / "1", [[[4, 0], [0, 4]], [[2, 2], [2, 2]]])  # fold UA 1.0, 0.5
    _experiment(experiment / "2", [[[2, 2], [2, 2]], [[2, 2], [2, 2]]])  # fold UA 0.5, 0.5
    assert main(["compare", f"two seeds={experiment}"]) == 0
    row = capsys.readouterr().out.splitlines()[2].split(" | ")
    # fold 0: (1.0 + 0.5) / 2, fold 1: 0.5; mean 0.625 ± 0.125 over the folds
    assert row[1] == "0.6250 ± 0.1250" and row[6] == "0.750, 0.500"
    assert row[4:6] == ["0.625", "0.625"]  # (4 + 2 + 2 + 2) / 16 per class
    assert row[7:] == ["5/5, 5/5", "0.750 (1), 0.500 (2)", "(reference) |"]
    # seeds that finished different folds cannot be averaged fold by fold
    _experiment(experiment / "3", [[[1, 0], [0, 1]]])
    assert main(["compare", str(experiment)]) == 2
    assert "its seeds finished different folds" in capsys.readouterr().err


def test_missing_runs_and_other_labels_are_clear_errors(tmp_path, capsys):
    a = _experiment(tmp_path / "a", [[[1, 0], [0, 1]]])
    other = _experiment(tmp_path / "other", [[[1, 0], [0, 1]]], labels=("hap", "sad"))
    assert main(["compare", str(a), str(tmp_path / "nothing")]) == 2
    assert "nothing: no finished fold" in capsys.readouterr().err
    assert main(["compare", str(a), str(other)]) == 2
    assert "other: labels [('hap', 'sad')] differ" in capsys.readouterr().err


def test_rows_are_paired_by_fold_with_seeds_averaged_and_speakers_resampled(tmp_path, capsys):
    base = tmp_path / "base"
    _experiment(base / "1", [[[2, 2], [2, 2]], [[2, 2], [2, 2]], [[3, 1], [1, 3]]])
    _experiment(base / "2", [[[2, 2], [2, 2]], [[3, 1], [1, 3]], [[2, 2], [2, 2]]])
    better = tmp_path / "better"
    _experiment(better / "1", [[[4, 0], [0, 4]], [[3, 1], [1, 3]], [[4, 0], [1, 3]]])
    _experiment(better / "2", [[[3, 1], [0, 4]], [[4, 0], [0, 4]], [[3, 1], [1, 3]]])
    svm = _experiment(tmp_path / "svm", [[[3, 1], [1, 3]], [[3, 1], [1, 3]], [[3, 1], [1, 3]]])
    assert main(["compare", f"base={base}", f"better={better}", f"svm={svm}",
                 "--paired-with", "base", "svm", "--resamples=2000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(
        "| UA vs base: mean difference (Wilcoxon p, folds) "
        "| UA vs base: pooled difference [95% speaker bootstrap], share <= 0, speakers "
        "| UA vs svm: mean difference (Wilcoxon p, folds) "
        "| UA vs svm: pooled difference [95% speaker bootstrap], share <= 0, speakers |")
    better_row = lines[3].split(" | ")
    # one pair per fold, each fold's UA averaged over the seeds: seeds are not samples
    # better 0.9375, 0.875, 0.8125 against base 0.5, 0.625, 0.625; 3 folds give p 0.25 at best
    assert better_row[-4] == "+0.292 (p 0.25, 3 folds)"
    # 6 test speakers (two per fold), each seed's predictions scored on every resample
    wilcoxon_svm, bootstrap_svm = better_row[-2], better_row[-1]
    assert wilcoxon_svm == "+0.125 (p 0.25, 3 folds)"
    assert better_row[-3].startswith("+0.292 [") and better_row[-3].endswith(
        "<= 0 in 0.00, 6 speakers")
    assert bootstrap_svm.endswith("6 speakers |")
    assert lines[2].split(" | ")[-4:-2] == ["(reference)", "(reference)"]
    assert main(["compare", str(base), "--paired-with", "nobody"]) == 2
    assert "no row named 'nobody'" in capsys.readouterr().err


def test_runs_without_speakers_need_the_manifest_or_no_bootstrap(tmp_path, capsys):
    a = _experiment(tmp_path / "a", [[[3, 1], [0, 4]]], speakers=False)
    b = _experiment(tmp_path / "b", [[[2, 2], [1, 3]]], speakers=False)
    assert main(["compare", str(a), str(b)]) == 2
    error = capsys.readouterr().err
    assert f"{a}/fold_0/predictions.csv: has no speaker column" in error
    assert "--speakers MANIFEST" in error
    # the corpus manifest gives the speakers: the same table as with a speaker column
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({f"f0_{label}{n}": {"wav": "x.wav", "speaker": f"spk0{n % 2}"}
                                    for label in ("neu", "ang") for n in range(4)}))
    assert main(["compare", str(a), str(b), f"--speakers={manifest}"]) == 0
    from_manifest = capsys.readouterr().out
    a2 = _experiment(tmp_path / "a2", [[[3, 1], [0, 4]]])
    b2 = _experiment(tmp_path / "b2", [[[2, 2], [1, 3]]])
    assert main(["compare", f"{a}={a2}", f"{b}={b2}"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split(" | ")[-2:] == \
        from_manifest.splitlines()[-1].split(" | ")[-2:]
    assert "(p 1, 1 folds)" in from_manifest and "2 speakers" in from_manifest
    assert main(["compare", str(a), str(b), "--resamples=0"]) == 0
    assert "bootstrap" not in capsys.readouterr().out
