"""Shared fixtures: a demo corpus in IEMOCAP's layout, made once per test session."""

from pathlib import Path

import pytest

from speechbrain_drnsa.data.demo import make_demo_corpus
from speechbrain_drnsa.data.iemocap import prepare_iemocap


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
