"""A rerun never silently reuses stale features, folds or fold results."""

import functools
import json
from importlib import metadata

import numpy as np
import pytest
import soundfile

from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features import opensmile as opensmile_module
from speechbrain_drnsa.features.cache import load_features
from speechbrain_drnsa.training.preparation import PREPARED_RECORD_NAME

SR = 16000


@pytest.fixture
def small_corpus(tmp_path):
    """Eight tones of four speakers, listed in a CSV."""
    rows = ["path,speaker,emotion"]
    for i in range(8):
        t = np.arange(int(0.5 * SR)) / SR
        path = tmp_path / "wav" / f"u{i}.wav"
        path.parent.mkdir(exist_ok=True)
        soundfile.write(path, 0.3 * np.sin(2 * np.pi * (120 + 40 * i) * t), SR)
        rows.append(f"{path},spk{i % 4},{('neu', 'ang')[i % 2]}")
    csv_path = tmp_path / "corpus.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    return csv_path


def _prepare(prepare_corpus, csv_path, root):
    return prepare_corpus(
        functools.partial(prepare_csv_corpus, csv_path=csv_path), root / "prep", root / "cache",
        protocol="loso",
    )


def test_changed_audio_of_the_same_length_gets_new_features(prepare_corpus, small_corpus,
                                                            tmp_path):
    before = _prepare(prepare_corpus, small_corpus, tmp_path)
    old = {u: load_features(before.features.path(u)) for u in before.features.entries}
    wav = small_corpus.parent / "wav" / "u0.wav"
    signal, _ = soundfile.read(wav)
    soundfile.write(wav, 0.5 * signal[::-1], SR)  # same length, other samples
    after = _prepare(prepare_corpus, small_corpus, tmp_path)
    utt = next(u for u in after.features.entries if u.endswith("u0"))
    assert after.features.frames(utt) == before.features.frames(utt)
    assert after.features.path(utt) != before.features.path(utt)
    assert not np.allclose(load_features(after.features.path(utt)), old[utt])
    others = [u for u in after.features.entries if u != utt]
    assert all(after.features.path(u) == before.features.path(u) for u in others)


def test_edited_config_gets_new_features(prepare_corpus, small_corpus, tmp_path, monkeypatch):
    before = _prepare(prepare_corpus, small_corpus, tmp_path)
    edited = tmp_path / "drnsa_lld.conf"
    text = opensmile_module._CONFIG.read_text()
    edited.write_text(text + "\n; an edit that changes nothing but the file\n")
    monkeypatch.setattr(opensmile_module, "_CONFIG", edited)
    after = _prepare(prepare_corpus, small_corpus, tmp_path)
    assert after.features.config_hash != before.features.config_hash
    utt = next(iter(after.features.entries))
    assert after.features.path(utt) != before.features.path(utt)
    assert len(list((tmp_path / "cache").iterdir())) == 2  # one folder per configuration


def test_another_opensmile_release_gets_new_features(prepare_corpus, small_corpus, tmp_path,
                                                     monkeypatch):
    before = _prepare(prepare_corpus, small_corpus, tmp_path)
    real_version = metadata.version

    def upgraded(name):
        return "99.0.0" if name == "opensmile" else real_version(name)

    monkeypatch.setattr(opensmile_module, "version", upgraded)
    after = _prepare(prepare_corpus, small_corpus, tmp_path)
    assert after.features.config_hash != before.features.config_hash
    assert {after.features.path(u) for u in after.features.entries}.isdisjoint(
        before.features.path(u) for u in before.features.entries
    )


def test_preparation_record_tells_other_processes_where_everything_is(
    prepare_corpus, small_corpus, tmp_path
):
    prepared = _prepare(prepare_corpus, small_corpus, tmp_path)
    record = json.loads((tmp_path / "prep" / PREPARED_RECORD_NAME).read_text())
    assert record["manifest"] == str(prepared.manifest)
    assert record["folds"] == str(prepared.folds)
    assert prepared.num_folds == 4  # leave one of four speakers out, known before any fold


def test_a_fold_out_of_range_is_refused_before_any_work(prepare_corpus, small_corpus, tmp_path):
    with pytest.raises(InputFileError, match="has 4 folds .* there is no fold 7"):
        prepare_corpus(
            functools.partial(prepare_csv_corpus, csv_path=small_corpus), tmp_path / "prep",
            tmp_path / "cache", protocol="loso", fold=7,
        )


def test_rerun_with_other_settings_is_refused_naming_the_keys(train_tiny, tmp_path, caplog):
    assert train_tiny(tmp_path, "--fold=0") == 0
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_0"
    metrics = (fold / "metrics.json").read_text()
    assert train_tiny(tmp_path, "--fold=0", "--speaker_normalization=true",
                      "--label_smoothing=0.1") == 2
    assert "settings.json: this fold was started with other settings" in caplog.text
    assert "label_smoothing 0.0 then, 0.1 now" in caplog.text
    assert "speaker_normalization false then, true now" in caplog.text
    assert (fold / "metrics.json").read_text() == metrics  # nothing mixed, nothing lost
    # run-only settings do not count: another thread count reuses the finished fold
    assert train_tiny(tmp_path, "--fold=0", "--num_threads=2") == 0
    assert (fold / "metrics.json").read_text() == metrics


def test_start_afresh_trains_the_fold_again_with_the_new_settings(train_tiny, tmp_path):
    assert train_tiny(tmp_path, "--fold=0") == 0
    fold = tmp_path / "drn_mhsa" / "1234" / "fold_0"
    assert json.loads((fold / "metrics.json").read_text())["epochs"] == 2
    assert train_tiny(tmp_path, "--fold=0", "--max_epochs=1", "--start_afresh=true") == 0
    assert json.loads((fold / "metrics.json").read_text())["epochs"] == 1
    assert json.loads((fold / "settings.json").read_text())["max_epochs"] == 1
