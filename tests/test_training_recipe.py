"""The IEMOCAP recipe's hparams: shared settings, overrides, typos, demo mode."""

import importlib.util
from pathlib import Path

import pytest

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
    assert hparams["model_file"] == RECIPE.parents[1] / "hparams" / f"{name}.yaml"
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
