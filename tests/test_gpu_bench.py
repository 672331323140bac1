"""The GPU training benchmark's CPU dry run: every part of the script runs, so it cannot rot."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))

import gpu_training  # noqa: E402  (a script beside the package, found through sys.path)


def test_cpu_dry_run_writes_every_setting_and_the_folds(tmp_path: Path) -> None:
    settings = ["eager fp32, batch 8", "eager bf16-mixed, batch 16", "compile fp32, batch 8",
                "compile + CUDA graphs fp32, batch 8"]
    gpu_training.main(["--device", "cpu", "--tiny", "--out", str(tmp_path),
                       "--train-utterances", "20", "--fixed-steps", "1",
                       "--compile-backend", "eager", "--fold-processes", "2",
                       "--settings", *settings])
    report = json.loads((tmp_path / "gpu_training.json").read_text())
    rows = {row["setting"]["name"]: row for row in report["results"]}
    assert list(rows) == settings
    for name in settings[:3]:
        assert rows[name]["error"] is None, rows[name]["error"]
        assert rows[name]["step_ms"] > 0 and rows[name]["utterances_per_s"] > 0
        assert rows[name]["epoch_steps"] == -(-20 // rows[name]["setting"]["batch"])
        assert 0 <= rows[name]["padded_share"] < 1
    assert rows[settings[3]]["error"] == "skipped: CUDA graphs need a CUDA device"
    (folds,) = report["folds"]
    assert folds["processes"] == 2 and folds["utterances_per_s"] > 0, folds
    section = (tmp_path / "gpu_training.md").read_text()
    assert section.startswith("## DRN-MHSA training on one GPU")
    assert "CPU (dry run, not a GPU figure)" in section and "| 2 |" in section
