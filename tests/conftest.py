"""Shared fixtures: a demo corpus in IEMOCAP's layout, made once per test session."""

import functools
import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from speechbrain_drnsa.data.demo import make_demo_corpus
from speechbrain_drnsa.data.iemocap import prepare_iemocap
from speechbrain_drnsa.training.preparation import PreparedData, prepare_experiment

IEMOCAP_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"
# the recipe's own folder is importable, as for `python train.py` (iemocap_prepare)
sys.path.insert(0, str(IEMOCAP_RECIPE))


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo corpus (10 speakers, ~300 turns); tests must not modify it."""
    return make_demo_corpus(tmp_path_factory.mktemp("demo_corpus"))


@pytest.fixture(scope="session")
def demo_manifest_folder(demo_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``prepare_iemocap`` run on :func:`demo_corpus`: iemocap.json and the folds files."""
    save_folder = tmp_path_factory.mktemp("demo_prep")
    prepare_iemocap(demo_corpus, save_folder)
    return save_folder


@pytest.fixture(scope="session")
def tiny_training_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 80-utterance demo corpus, prepared (protocol session5) with its feature cache.

    Returns ``{"data_folder", "prepared_folder", "feature_cache"}`` for training tests.
    """
    root = tmp_path_factory.mktemp("tiny_training")
    folders = {
        "data_folder": root / "corpus",
        "prepared_folder": root / "prepared",
        "feature_cache": root / "features",
    }
    make_demo_corpus(folders["data_folder"], utterances_per_class=2, dropped_per_speaker=0)
    _prepare(
        iemocap_recipe_prepare(folders["data_folder"]),
        folders["prepared_folder"],
        folders["feature_cache"],
        protocol="session5",
        data_folder=folders["data_folder"],
    )
    return folders


def iemocap_recipe_prepare(data_folder: Path) -> Callable[..., Path]:
    """The IEMOCAP recipe's ``prepare`` for a corpus folder, as its common.yaml binds it."""
    from iemocap_prepare import prepare_data

    return functools.partial(prepare_data, data_folder=data_folder)


@pytest.fixture(scope="session")
def prepare_corpus() -> Callable[..., PreparedData]:
    """``prepare_corpus(prepare, prepared_folder, feature_cache, protocol, **hparams)``."""
    return _prepare


def _prepare(
    prepare: Callable[..., Path],
    prepared_folder: Path,
    feature_cache: Path,
    protocol: str,
    data_folder: Path | None = None,
    **hparams: Any,
) -> PreparedData:
    """``prepare_experiment`` with the few hparams it reads."""
    return prepare_experiment(
        {
            "prepare": prepare,
            "prepared_folder": prepared_folder,
            "feature_cache": feature_cache,
            "protocol": protocol,
            "data_folder": data_folder,
            **hparams,
        }
    )


@pytest.fixture(scope="session")
def tiny_recipe_args(tiny_training_data: dict[str, Path]) -> list[str]:
    """Overrides that make the IEMOCAP recipe train a tiny DRN-MHSA on the tiny corpus fast."""
    return [
        *(f"--{key}={value}" for key, value in tiny_training_data.items()),
        "--model_overrides={channels: [4, 4, 8, 8, 8], out_channels: 8, lstm_hidden: 8, "
        "lin_neurons: [8]}",
        "--protocol=session5",
        "--max_epochs=2",
        "--batch_size=8",
        "--lr=0.01",
        "--num_threads=1",
        "--deterministic=true",
        "--enable_progress_bar=false",
    ]


@pytest.fixture(scope="session")
def train_tiny(tiny_recipe_args: list[str]) -> Callable[..., int]:
    """``train_tiny(output_root, *overrides)``: run the IEMOCAP recipe's train.py in this process.

    Returns the script's exit status; later overrides win over the tiny ones.
    """
    spec = importlib.util.spec_from_file_location("iemocap_train", IEMOCAP_RECIPE / "train.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def train(output_root: Path, *overrides: str) -> int:
        hparams = str(IEMOCAP_RECIPE / "hparams" / "drn_mhsa.yaml")
        return script.main([hparams, *tiny_recipe_args, f"--output_root={output_root}", *overrides])

    return train


@pytest.fixture(scope="session")
def tiny_model_folder(train_tiny, tmp_path_factory) -> Path:
    """A one-fold model folder of the tiny recipe (one epoch); tests must not modify it."""
    from speechbrain_drnsa.inference import export

    root = tmp_path_factory.mktemp("tiny_model")
    assert train_tiny(root, "--fold=0", "--max_epochs=1") == 0
    return export(root / "drn_mhsa" / "1234", root / "model")


@pytest.fixture(scope="session")
def per_speaker_copy() -> Callable[[Path, Path], Path]:
    """Copy a model folder to a new place, switched to per-speaker normalisation."""

    def copy(source: Path, destination: Path) -> Path:
        shutil.copytree(source, destination)
        config = destination / "hyperparams.yaml"
        config.write_text(config.read_text().replace("speaker_normalization: false",
                                                     "speaker_normalization: true"))
        return destination

    return copy
