"""Resume after SIGKILL: real ``python train.py`` processes, killed and run again."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"

pytestmark = pytest.mark.slow


def _command(tiny_args: list[str], output_root: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", "hparams/drn_mhsa.yaml", *tiny_args,
            f"--output_root={output_root}", *extra]


def _run(command: list[str]) -> str:
    done = subprocess.run(command, cwd=RECIPE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def _fold_scores(experiment: Path) -> list[dict]:
    summary = json.loads((experiment / "summary.json").read_text())
    return [{k: row[k] for k in ("fold", "UA", "WA", "F1", "n_test")} for row in summary["folds"]]


def test_sigkill_then_rerun_skips_finished_folds_and_matches_an_uninterrupted_run(
    tiny_recipe_args, tmp_path
):
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    experiment = Path("drn_mhsa") / "1234"
    process = subprocess.Popen(
        _command(tiny_recipe_args, killed_root, "--max_epochs=4"),
        cwd=RECIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # fold 1 has written its first epoch's checkpoint: kill it inside a later epoch
    last = killed_root / experiment / "fold_1" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert last.exists(), "the run ended before fold 1 saved a checkpoint"
    assert (killed_root / experiment / "fold_0" / "metrics.json").is_file()
    assert not (killed_root / experiment / "fold_1" / "metrics.json").exists()

    log = _run(_command(tiny_recipe_args, killed_root, "--max_epochs=4"))
    assert "fold 0 already finished" in log
    assert f"fold_1: resuming from {last}" in log

    _run(_command(tiny_recipe_args, clean_root, "--max_epochs=4"))
    resumed = _fold_scores(killed_root / experiment)
    assert [row["fold"] for row in resumed] == list(range(5))
    assert resumed == _fold_scores(clean_root / experiment)
    # the resumed fold repeats the uninterrupted one exactly: same batches, same seeds,
    # so the same probabilities to the last written digit
    predictions = [(root / experiment / "fold_1" / "predictions.csv").read_text()
                   for root in (killed_root, clean_root)]
    assert predictions[0] == predictions[1]
