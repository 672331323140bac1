"""Shared fixtures: a demo corpus in IEMOCAP's layout, made once per test session."""

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from speechbrain_drnsa.data.demo import make_demo_corpus
from speechbrain_drnsa.data.iemocap import prepare_iemocap

IEMOCAP_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"


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
    from speechbrain_drnsa.features.normalize import FeatureNormalizer
    from speechbrain_drnsa.training.datamodule import SERDataModule

    root = tmp_path_factory.mktemp("tiny_training")
    folders = {
        "data_folder": root / "corpus",
        "prepared_folder": root / "prepared",
        "feature_cache": root / "features",
    }
    make_demo_corpus(folders["data_folder"], utterances_per_class=2, dropped_per_speaker=0)
    SERDataModule(
        folders["data_folder"],
        folders["prepared_folder"],
        folders["feature_cache"],
        fold=0,
        normalizer=FeatureNormalizer(),
        protocol="session5",
    ).prepare_data()
    return folders


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
