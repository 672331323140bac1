"""recipes/IEMOCAP/reproduce.py: every system of a paper table in one command, and the table."""

import csv
import importlib.util
from pathlib import Path

import pytest

from speechbrain_drnsa.results.paper import PAPER_TABLES

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"


def _reproduce_main():
    spec = importlib.util.spec_from_file_location("iemocap_reproduce", RECIPE / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="module")
def smoke_args(tiny_training_data: dict[str, Path]) -> list[str]:
    """The tiny corpus (session5: 80 utterances) instead of the demo corpus, to be fast."""
    return [
        *(f"--{key}={value}" for key, value in tiny_training_data.items()),
        "--smoke",
        "--protocol=session5",
        "--batch_size=8",
        "--deterministic=true",
    ]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_smoke_runs_every_system_of_both_tables_and_writes_them(smoke_args, tmp_path, capsys):
    main = _reproduce_main()
    assert main(["--table=2", *smoke_args, f"--output_root={tmp_path}"]) == 0
    rows = _csv_rows(tmp_path / "table2.csv")
    assert [row["system"] for row in rows] == [row.system for row in PAPER_TABLES[2]]
    for row in rows:
        assert (tmp_path / row["system"] / "1234" / "fold_0" / "metrics.json").is_file()
        assert 0.0 <= float(row["UA"]) <= 1.0 and row["folds"] == "1" and row["seeds"] == "1"
        # the demo widths, not the paper's 9.9M
        assert 1000 < int(row["parameters"]) < 200_000 and row["paper_parameters"] == "9900000"
        difference = float(row["UA"]) - float(row["paper_UA"])
        assert float(row["UA_difference"]) == pytest.approx(difference)
    assert rows[-1]["vs_S4_folds"] == ""  # S4 is the reference
    assert all(row["vs_S4_folds"] == "1" for row in rows[:-1])
    # the speaker bootstrap against S4 on the same test utterances
    assert all(int(row["vs_S4_speakers"]) >= 1 for row in rows[:-1])
    assert all(float(row["vs_S4_bootstrap_low"]) <= float(row["vs_S4_pooled_UA_difference"])
               <= float(row["vs_S4_bootstrap_high"]) for row in rows[:-1])
    markdown = (tmp_path / "table2.md").read_text()
    assert "S3: + single-head attention" in markdown and "recall neu" in markdown
    assert "smoke run" in markdown

    # Table 1 shares the DRN-MHSA fold: it is not trained again.
    s4_metrics = tmp_path / "drn_mhsa" / "1234" / "fold_0" / "metrics.json"
    finished = s4_metrics.stat().st_mtime_ns
    assert main(["--table=1", *smoke_args, f"--output_root={tmp_path}"]) == 0
    assert s4_metrics.stat().st_mtime_ns == finished
    rows = _csv_rows(tmp_path / "table1.csv")
    assert [row["label"] for row in rows] == [row.label for row in PAPER_TABLES[1]]
    assert rows[0]["paper_UA"] == "0.603" and rows[0]["paper_F1"] == "0.599"
    assert "Mirsamadi 2017" in capsys.readouterr().out


def test_unknown_system_is_refused_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _reproduce_main()(["--table=1", "--systems", "cnn", f"--output_root={tmp_path}"])
    assert "table 1 has no system 'cnn'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_folds_are_paired_with_seeds_averaged_and_other_seeds_stay_out(smoke_args, tmp_path):
    main = _reproduce_main()
    args = ["--table=2", "--systems", "cnn", "drn_mhsa", *smoke_args, f"--output_root={tmp_path}"]
    assert main([*args, "--seed=7"]) == 0  # an earlier run of another seed
    assert main([*args, "--seeds=[1234,2]"]) == 0
    rows = {row["system"]: row for row in _csv_rows(tmp_path / "table2.csv")}
    assert set(rows) == {"cnn", "drn_mhsa"}
    # two seeds of one fold are one pair: seeds are not samples
    assert rows["cnn"]["seeds"] == "2" and rows["cnn"]["vs_S4_folds"] == "1"


def test_demo_widths_of_other_models_do_not_decide_a_folds_result():
    from speechbrain_drnsa.training.hparams import load_recipe_hparams
    from speechbrain_drnsa.training.settings import deciding_settings

    hparams, _ = load_recipe_hparams(RECIPE / "hparams" / "drn_mhsa.yaml")
    changed, _ = load_recipe_hparams(
        RECIPE / "hparams" / "drn_mhsa.yaml",
        {"demo_widths": {**hparams["demo_widths"], "xia2017": {"lin_neurons": [5]}}},
    )
    assert changed["model_overrides"] == hparams["model_overrides"]
    assert deciding_settings(changed) == deciding_settings(hparams)
    assert not {"demo_widths", "demo_model_overrides"} & set(deciding_settings(hparams))
