"""The model yamls ship in the wheel: an environment with only the wheel installed loads them.

The test builds a wheel from a copy of the sources (so that the checkout gets
no build folders), installs it with pip into a new virtual environment, and
runs Python there, outside the checkout: ``hparams_path`` must find the yamls
inside the installed package, and a recipe yaml must ``!include`` one by that
path. The new environment sees this one's packages (torch, SpeechBrain ...)
through a ``.pth`` file of plain paths, which does not run this environment's
own ``.pth`` files (an editable install of the package among them), so the
only ``speechbrain_drnsa`` it can import is the wheel's.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "speechbrain_drnsa")

CHECK = """
import json, sys
import speechbrain_drnsa
from hyperpyyaml import load_hyperpyyaml
import torch

path = speechbrain_drnsa.hparams_path("drn_mhsa.yaml")
recipe = (
    f"arch: !include:{path}\\n"
    "    n_classes: 3\\n"
    "model: !ref <arch[model]>\\n"
)
model = load_hyperpyyaml(recipe)["model"].eval()
with torch.no_grad():
    logits = model(torch.randn(2, 60, 17), torch.tensor([1.0, 0.5]))
print(json.dumps({
    "package": speechbrain_drnsa.__file__,
    "path": str(path),
    "prefix": sys.prefix,
    "yamls": speechbrain_drnsa.hparams.model_yamls(),
    "logits": list(logits.shape),
}))
"""


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_model_yamls_load_from_an_installed_wheel(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("speechbrain_drnsa-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "speechbrain_drnsa/hparams/drn_mhsa.yaml" in archive.namelist()

    env_dir = tmp_path / "env"
    _run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=tmp_path)
    python = env_dir / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp_path).strip())
    outer = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "_outer_environment.pth").write_text("\n".join(outer) + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         wheel, cwd=tmp_path)

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    report = json.loads(_run(python, "-c", CHECK, cwd=tmp_path, env=env).strip().splitlines()[-1])
    assert Path(report["package"]).is_relative_to(site)
    assert Path(report["path"]).is_relative_to(site / "speechbrain_drnsa" / "hparams")
    assert "drn_mhsa.yaml" in report["yamls"] and "cnn.yaml" in report["yamls"]
    assert report["logits"] == [2, 3]
