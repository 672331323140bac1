"""The generic CSV corpus recipe: manifest and speaker folds from a path,speaker,emotion table."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus, read_corpus_csv
from speechbrain_drnsa.data.fold_files import folds_file, load_folds
from speechbrain_drnsa.data.iemocap import MANIFEST_NAME as IEMOCAP_MANIFEST
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.errors import InputFileError


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _demo_as_csv(demo_corpus: Path, demo_manifest_folder: Path, csv_path: Path) -> dict:
    """Export the demo corpus's IEMOCAP manifest as a corpus CSV (with an extra column)."""
    iemocap = load_json(demo_manifest_folder / IEMOCAP_MANIFEST)
    rows = [["path", "speaker", "emotion", "gender", "session"]]
    for entry in iemocap.values():
        audio = demo_corpus / entry["wav"].replace("{data_root}/", "")
        rows.append([os.path.relpath(audio, csv_path.parent), entry["speaker"], entry["emo"],
                     entry["gender"], entry["session"]])
    _write_csv(csv_path, rows)
    return iemocap


def test_demo_corpus_as_csv_gives_the_iemocap_manifest(
    demo_corpus, demo_manifest_folder, tmp_path
):
    csv_path = demo_corpus.parent / "demo_corpus.csv"
    iemocap = _demo_as_csv(demo_corpus, demo_manifest_folder, csv_path)
    manifest = load_json(prepare_csv_corpus(csv_path, tmp_path / "prep"))

    assert sorted(manifest) == sorted(iemocap)
    for utt, entry in manifest.items():
        assert entry["emo"] == iemocap[utt]["emo"]
        assert entry["speaker"] == iemocap[utt]["speaker"]
        assert entry["gender"] == iemocap[utt]["gender"]
        assert entry["duration"] == pytest.approx(iemocap[utt]["duration"], abs=1e-4)
        assert "session" not in entry  # extra columns are ignored
        audio = Path(entry["wav"].replace("{data_root}", str(csv_path.parent)))
        assert audio.resolve() == (demo_corpus / iemocap[utt]["wav"][12:]).resolve()

    folds = load_folds(folds_file(tmp_path / "prep", "loso"))
    speakers = {entry["speaker"] for entry in manifest.values()}
    assert len(folds) == len(speakers) == 10
    tested = [utt for fold in folds for utt in fold.test]
    assert sorted(tested) == sorted(manifest)
    for fold in folds:
        test_speakers = {manifest[utt]["speaker"] for utt in fold.test}
        valid_speakers = {manifest[utt]["speaker"] for utt in fold.valid}
        train_speakers = {manifest[utt]["speaker"] for utt in fold.train}
        assert len(test_speakers) == 1
        assert not test_speakers & (train_speakers | valid_speakers)
        assert not valid_speakers & train_speakers


def test_speaker_kfold_groups_whole_speakers(demo_corpus, demo_manifest_folder, tmp_path):
    csv_path = tmp_path / "corpus.csv"
    _demo_as_csv(demo_corpus, demo_manifest_folder, csv_path)
    path = prepare_csv_corpus(csv_path, tmp_path / "prep", protocol="speaker_kfold5")
    manifest = load_json(path)
    folds = load_folds(folds_file(tmp_path / "prep", "speaker_kfold5"))
    assert len(folds) == 5
    for fold in folds:
        test_speakers = {manifest[utt]["speaker"] for utt in fold.test}
        assert len(test_speakers) == 2
        assert not test_speakers & {manifest[utt]["speaker"] for utt in fold.train}


def _tiny_corpus(folder: Path, absolute: bool = False) -> Path:
    """Six 0.25 s files of three speakers, the CSV beside a wav/ folder."""
    (folder / "wav").mkdir()
    rows = [["path", "speaker", "emotion", "duration"]]
    for i in range(6):
        audio = folder / "wav" / f"u{i}.flac"
        sf.write(audio, np.zeros(4000), 16000)
        rows.append([str(audio) if absolute else f"wav/u{i}.flac", f"s{i % 3}",
                     ["calm", "upset"][i % 2], "2.5" if i == 0 else ""])
    return _write_csv(folder / "corpus.csv", rows)


def test_relative_and_absolute_paths_and_durations(tmp_path):
    manifest = load_json(prepare_csv_corpus(_tiny_corpus(tmp_path), tmp_path / "prep"))
    assert manifest["u0"]["duration"] == 2.5  # given in the CSV, trusted
    assert manifest["u1"] == {"wav": "{data_root}/wav/u1.flac", "duration": 0.25,
                              "emo": "upset", "speaker": "s1"}

    other = tmp_path / "abs"
    other.mkdir()
    manifest = load_json(prepare_csv_corpus(_tiny_corpus(other, absolute=True), other / "prep"))
    assert manifest["u1"]["wav"] == str(other / "wav" / "u1.flac")


def test_label_set_comes_from_the_csv(tmp_path):
    manifest = load_json(prepare_csv_corpus(_tiny_corpus(tmp_path), tmp_path / "prep"))
    assert {entry["emo"] for entry in manifest.values()} == {"calm", "upset"}


def test_up_to_date_outputs_are_kept_and_a_changed_csv_redone(tmp_path):
    csv_path = _tiny_corpus(tmp_path)
    path = prepare_csv_corpus(csv_path, tmp_path / "prep")
    first = path.stat().st_mtime_ns
    os.utime(path, ns=(first - 10**9, first - 10**9))
    prepare_csv_corpus(csv_path, tmp_path / "prep")
    assert path.stat().st_mtime_ns == first - 10**9

    csv_path.write_text(csv_path.read_text().replace("calm", "relaxed"))
    manifest = load_json(prepare_csv_corpus(csv_path, tmp_path / "prep"))
    assert manifest["u0"]["emo"] == "relaxed"


def test_missing_csv_and_unreadable_audio(tmp_path):
    with pytest.raises(InputFileError, match="corpus CSV not found"):
        read_corpus_csv(tmp_path / "nope.csv")
    (tmp_path / "noise.wav").write_bytes(b"not audio at all")
    rows = [["path", "speaker", "emotion"], ["noise.wav", "a", "x"]]
    with pytest.raises(InputFileError, match="noise.wav: not a readable audio file"):
        prepare_csv_corpus(_write_csv(tmp_path / "c.csv", rows), tmp_path / "prep")
