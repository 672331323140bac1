"""DDP on CPU (gloo, 2 processes) through ``python train.py --devices=2 --strategy=ddp``."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from speechbrain_drnsa.data.fold_files import load_folds

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"

pytestmark = pytest.mark.slow


def test_ddp_on_cpu_trains_on_both_ranks_and_tests_each_utterance_once(
    tiny_training_data, tiny_recipe_args, tmp_path
):
    command = [sys.executable, "train.py", "hparams/drn_mhsa.yaml", *tiny_recipe_args,
               f"--output_root={tmp_path}", "--fold=2", "--max_epochs=1",
               "--devices=2", "--strategy=ddp", "--accelerator=cpu", "--num_workers=1"]
    done = subprocess.run(command, cwd=RECIPE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_2"
    metrics = json.loads((fold / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert len(metrics["train_utterances_per_rank"]) == 2
    assert all(count > 0 for count in metrics["train_utterances_per_rank"])
    expected = load_folds(tiny_training_data["prepared_folder"] / "folds_session5.json")[2].test
    with open(fold / "predictions.csv") as f:
        tested = [row["utt_id"] for row in csv.DictReader(f)]
    assert sorted(tested) == sorted(expected)
    assert len(tested) == len(set(tested)) == metrics["n_test"]
    assert sum(map(sum, metrics["confusion"])) == len(expected)
