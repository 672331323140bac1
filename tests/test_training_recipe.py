"""The IEMOCAP recipe's hparams: shared settings, overrides, typos, demo mode."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.training.hparams import (
    UnknownKeyError,
    load_recipe_hparams,
    parse_command_line,
)

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"
MODELS = ["drn_mhsa", "drn_sha", "drn", "cnn_res", "cnn"]


def _train_main():
    spec = importlib.util.spec_from_file_location("iemocap_train", RECIPE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("name", MODELS)
def test_every_recipe_loads_its_model_over_the_shared_settings(name):
    hparams, text = load_recipe_hparams(RECIPE / "hparams" / f"{name}.yaml", {"data_folder": "x"})
    assert hparams["experiment"] == name
    assert hparams["model_file"] == hparams_path(f"{name}.yaml")
    assert hparams["model_file"].is_file()
    assert hparams["experiment_folder"] == f"results/{name}/1234"
    assert hparams["lr"] == pytest.approx(1e-4)
    assert not hparams["demo_mode"]
    assert "experiment_folder: results/" in text


def test_recipe_files_hold_only_what_differs():
    for name in MODELS:
        text = (RECIPE / "hparams" / f"{name}.yaml").read_text()
        keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
        assert keys == ["seed", "experiment", "model_file"]


def test_command_line_overrides_reach_the_trainer_arguments():
    _, overrides = parse_command_line(
        ["x.yaml", "--fold=3", "--precision=bf16-mixed", "--devices", "4", "--data_folder=/d"]
    )
    hparams, _ = load_recipe_hparams(RECIPE / "hparams" / "drn_mhsa.yaml", overrides)
    assert hparams["fold"] == 3
    assert hparams["trainer"]["precision"] == "bf16-mixed"
    assert hparams["trainer"]["devices"] == 4


def test_no_data_folder_selects_the_demo_schedule_but_overrides_still_win():
    hparams, _ = load_recipe_hparams(RECIPE / "hparams" / "drn_mhsa.yaml", {"max_epochs": 2})
    assert hparams["demo_mode"] and hparams["demo_corpus"]
    assert hparams["data_folder"] == "data/demo"
    assert hparams["experiment_folder"] == "results/demo/drn_mhsa/1234"
    assert hparams["trainer"]["max_epochs"] == 2
    assert hparams["batch_size"] == 16


@pytest.mark.parametrize(
    "key, closest", [("precison", "precision"), ("max_epoch", "max_epochs"), ("foldd", "fold")]
)
def test_a_typo_in_an_override_names_the_closest_key(key, closest):
    with pytest.raises(UnknownKeyError) as caught:
        load_recipe_hparams(RECIPE / "hparams" / "drn_mhsa.yaml", {key: 1})
    assert (caught.value.key, caught.value.closest) == (key, closest)
    assert f"unknown override '{key}'; did you mean '{closest}'?" in str(caught.value)


def test_a_typo_in_a_recipe_yaml_names_the_file_and_the_closest_key(tmp_path):
    (tmp_path / "common.yaml").write_text((RECIPE / "hparams" / "common.yaml").read_text())
    (tmp_path / "mine.yaml").write_text("seed: 1\nexperiment: mine\nlearning_rate: 0.1\n")
    with pytest.raises(UnknownKeyError, match=r"mine.yaml: unknown key 'learning_rate'"):
        load_recipe_hparams(tmp_path / "mine.yaml")


def test_train_py_reports_a_typo_and_exits_with_status_2(capsys, caplog):
    status = _train_main()([str(RECIPE / "hparams" / "drn_mhsa.yaml"), "--devcies=2"])
    assert status == 2
    assert "unknown override 'devcies'; did you mean 'devices'?" in caplog.text


def test_malformed_command_lines_stop_with_usage():
    with pytest.raises(SystemExit, match="usage"):
        parse_command_line([])
    with pytest.raises(SystemExit, match="--fold needs a value"):
        parse_command_line(["x.yaml", "--fold"])


def test_seeds_run_every_seed_and_summarise_their_spread(
    train_tiny, tiny_training_data, tmp_path, capsys
):
    from speechbrain_drnsa.cli import main
    from speechbrain_drnsa.results.compare import manifest_speakers
    from speechbrain_drnsa.results.report import read_predictions

    assert train_tiny(tmp_path, "--fold=0", "--seeds=[5, 6]", "--max_epochs=1") == 0
    experiment = tmp_path / "drn_mhsa"
    assert (experiment / "5" / "fold_0" / "metrics.json").is_file()
    assert (experiment / "6" / "fold_0" / "metrics.json").is_file()
    summary = json.loads((experiment / "summary.json").read_text())
    assert set(summary["seeds"]) == {"5", "6"}
    uas = [json.loads((experiment / s / "fold_0" / "metrics.json").read_text())["UA"]
           for s in ("5", "6")]
    assert summary["mean"]["UA"] == pytest.approx(sum(uas) / 2)
    assert summary["std_seed_to_seed"]["UA"] == pytest.approx(abs(uas[0] - uas[1]) / 2)
    assert "std seed to seed" in (experiment / "summary.md").read_text()
    # the ensemble of the seeds: mean of their test probabilities, utterance by utterance
    ensemble = tmp_path / "drn_mhsa_seed_ensemble" / "fold_0"
    rows = {s: _predictions(experiment / s / "fold_0") for s in ("5", "6")}
    mean = {u: [(a + b) / 2 for a, b in zip(rows["5"][u], rows["6"][u])] for u in rows["5"]}
    for utt, probabilities in _predictions(ensemble).items():
        assert probabilities == pytest.approx(mean[utt], abs=2e-6)
    assert sum(next(iter(mean.values()))) == pytest.approx(1.0, abs=1e-5)
    # every test utterance's speaker is recorded, by the seeds and by their ensemble
    manifest = manifest_speakers(tiny_training_data["prepared_folder"] / "iemocap.json")
    for fold in (experiment / "5" / "fold_0", ensemble):
        table = read_predictions(fold)
        assert table.speakers == [manifest[utt] for utt in table.ids]
    # so that compare pairs the folds and resamples the test speakers without the manifest
    assert main(["compare", f"seeds={experiment}", f"ensemble={ensemble.parent}",
                 "--resamples=50"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split(" | ")
    assert row[-2].endswith("1 folds)") and row[-1].endswith(" speakers |")
    # a later run with more seeds resumes: the finished seeds are not trained again
    metrics_5 = (experiment / "5" / "fold_0" / "metrics.json").read_text()
    assert train_tiny(tmp_path, "--fold=0", "--seeds=[5, 6, 7]", "--max_epochs=1") == 0
    assert (experiment / "5" / "fold_0" / "metrics.json").read_text() == metrics_5
    assert set(json.loads((experiment / "summary.json").read_text())["seeds"]) == {"5", "6", "7"}


def test_seeds_must_be_a_list_of_integers(train_tiny, tmp_path, caplog):
    assert train_tiny(tmp_path, "--seeds=[1, two]") == 2
    assert "seeds must be a list of integers" in caplog.text


def _predictions(fold) -> dict[str, list[float]]:
    with open(fold / "predictions.csv") as f:
        return {row["utt_id"]: [float(v) for k, v in row.items() if k.startswith("p_")]
                for row in csv.DictReader(f)}


def test_ensemble_cli_needs_probabilities(tmp_path, capsys):
    from speechbrain_drnsa.cli import main

    fold = tmp_path / "old" / "fold_0"
    fold.mkdir(parents=True)
    (fold / "metrics.json").write_text(json.dumps({"UA": 1.0, "WA": 1.0, "F1": 1.0}))
    (fold / "predictions.csv").write_text("utt_id,true,predicted\na,neu,neu\n")
    assert main(["ensemble", str(tmp_path / "ens"), str(tmp_path / "old")]) == 2
    assert "holds no class probabilities" in capsys.readouterr().err
