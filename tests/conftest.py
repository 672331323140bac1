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
