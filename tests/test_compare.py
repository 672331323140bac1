"""The comparison table of finished experiments (``speechbrain-drnsa compare``)."""

import json
from pathlib import Path

from speechbrain_drnsa.cli import main


def _experiment(folder: Path, confusions: list, labels=("neu", "ang")) -> Path:
    for fold, confusion in enumerate(confusions):
        hits = confusion[0][0] + confusion[1][1]
        total = sum(map(sum, confusion))
        metrics = {"UA": hits / total, "WA": hits / total, "F1": hits / total, "epochs": 5,
                   "labels": list(labels), "confusion": confusion, "n_test": total}
        (folder / f"fold_{fold}").mkdir(parents=True)
        (folder / f"fold_{fold}" / "metrics.json").write_text(json.dumps(metrics))
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


def test_rows_are_paired_against_the_reference_rows_by_fold_and_seed(tmp_path, capsys):
    base = tmp_path / "base"
    _experiment(base / "1", [[[2, 2], [2, 2]], [[2, 2], [2, 2]], [[3, 1], [1, 3]]])
    _experiment(base / "2", [[[2, 2], [2, 2]], [[3, 1], [1, 3]], [[2, 2], [2, 2]]])
    better = tmp_path / "better"
    _experiment(better / "1", [[[4, 0], [0, 4]], [[3, 1], [1, 3]], [[4, 0], [1, 3]]])
    _experiment(better / "2", [[[3, 1], [0, 4]], [[4, 0], [0, 4]], [[3, 1], [1, 3]]])
    svm = _experiment(tmp_path / "svm", [[[3, 1], [1, 3]], [[3, 1], [1, 3]], [[3, 1], [1, 3]]])
    assert main(["compare", f"base={base}", f"better={better}", f"svm={svm}",
                 "--paired-with", "base", "svm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("| UA vs base: mean difference (Wilcoxon p, pairs) "
                             "| UA vs svm: mean difference (Wilcoxon p, pairs) |")
    better_row = lines[3].split(" | ")
    # 3 folds x 2 shared seeds; the one-run SVM is paired with each seed
    assert better_row[-2].startswith("+0.29") and better_row[-2].endswith("6 pairs)")
    assert better_row[-1].startswith("+0.125") and better_row[-1].endswith("6 pairs) |")
    assert lines[2].split(" | ")[-2] == "(reference)"
    assert main(["compare", str(base), "--paired-with", "nobody"]) == 2
    assert "no row named 'nobody'" in capsys.readouterr().err
