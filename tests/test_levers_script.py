"""recipes/CSV/cross_corpus_levers.sh: development runs test SAVEE only, confirmation never.

The script's commands are recorded by stand-ins for ``python`` and ``speechbrain-drnsa``
on PATH, so the protocol discipline (choose on one direction, confirm on the others with
the chosen system) is checked without training anything.
"""

import shlex
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "CSV" / "cross_corpus_levers.sh"


def _run(stage: str, tmp_path: Path) -> list[list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.txt"
    for name in ("python", "speechbrain-drnsa"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\nprintf "%s\\0" {name} "$@" >> {log}\nprintf "\\n" >> {log}\n')
        stub.chmod(0o755)
    (tmp_path / "results").mkdir(exist_ok=True)
    log.write_text("")
    subprocess.run(["bash", str(SCRIPT), stage], cwd=tmp_path, check=True, capture_output=True,
                   env={"PATH": f"{bin_dir}:/usr/bin:/bin", "DATA": "/data"})
    return [line.strip("\0").split("\0") for line in log.read_text().splitlines() if line]


def _option(call: list[str], name: str) -> str | None:
    values = [arg.split("=", 1)[1] for arg in call if arg.startswith(f"--{name}=")]
    return values[-1] if values else None


def _tested(call: list[str]) -> str:
    if call[1] == "train.py":
        return _option(call, "test_csv").split("=")[0]
    return next(arg for arg in call if arg.startswith("--test_csv=")).split("=")[1]


def test_development_runs_test_savee_only_and_every_lever_once(tmp_path):
    calls = _run("dev", tmp_path)
    runs = [call for call in calls if call[0] == "python"]
    assert runs and {_tested(call) for call in runs} == {"savee"}
    assert all("--protocol=cross_corpus" in call for call in runs)
    trainings = [call for call in runs if call[1] == "train.py"]
    experiments = [(_option(call, "corpus"), _option(call, "experiment")) for call in trainings]
    assert len(set(experiments)) == len(experiments) == 7
    # one change at a time: each lever run differs from the base run by its own options only
    base = next(call for call in trainings if _option(call, "experiment") == "dev_spk")
    for call in trainings:
        extra = set(call) - set(base)
        assert all(arg.startswith(("--experiment=", "--csv=", "--corpus=")) or arg in {
            "--speaker_normalization=false", "--normalization_group=corpus",
            "--functionals=eGeMAPSv02", "--weight_decay=0.0",
        } or arg.startswith("--perturbations=") for arg in extra), extra
    compare = next(call for call in calls if call[0] == "speechbrain-drnsa")
    assert len([arg for arg in compare if "=results/" in arg]) == 19


def test_confirmation_runs_the_chosen_system_on_the_other_two_directions(tmp_path):
    calls = _run("confirm", tmp_path)
    script = SCRIPT.read_text()
    chosen = shlex.split(script.split("CHOSEN=(", 1)[1].split(")", 1)[0])
    chosen_svm = script.split("CHOSEN_SVM=", 1)[1].split("\n", 1)[0]
    runs = [call for call in calls if call[0] == "python"]
    assert {_tested(call) for call in runs} == {"emodb", "tess"}  # never the development one
    for call in runs:
        if call[1] == "train.py":
            assert all(option in call for option in chosen)
            assert "savee" not in _option(call, "test_csv")
            assert _option(call, "experiment") == "confirm"
        else:
            assert call[call.index("--normalisations") + 1] == chosen_svm
    compares = [call for call in calls if call[0] == "speechbrain-drnsa"]
    assert len(compares) == 2
    assert all("--paired-with" in call for call in compares)


def test_an_unknown_stage_is_refused(tmp_path):
    with pytest.raises(subprocess.CalledProcessError):
        _run("everything", tmp_path)
