"""Several corpus CSVs in one training: names, label map, speakers apart, cross-corpus folds."""

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechbrain_drnsa.data.csv_corpora import (
    corpora_data_root,
    corpus_csvs,
    parse_label_map,
    prepare_csv_corpora,
    read_corpora_record,
)
from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus
from speechbrain_drnsa.data.fold_files import folds_file, load_folds
from speechbrain_drnsa.data.folds import cross_corpus, leave_one_corpus_out, make_folds
from speechbrain_drnsa.data.labels import csv_labels
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import load_json

LABEL_MAP = {"anger": "angry", "ang": "angry", "sad": "sad"}


def _corpus(folder: Path, speakers: str, emotions: list[str]) -> Path:
    """A CSV in ``folder`` beside its wav/ folder: every speaker says every emotion twice."""
    (folder / "wav").mkdir(parents=True)
    rows = [["path", "speaker", "emotion"]]
    for speaker in speakers:
        for emotion in emotions:
            for take in range(2):
                name = f"{speaker}_{emotion}_{take}.wav"
                sf.write(folder / "wav" / name, np.zeros(1600), 16000)
                rows.append([f"wav/{name}", f"spk_{speaker}", emotion])
    path = folder / "manifest.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture
def corpora(tmp_path) -> dict[str, Path]:
    """Three corpora whose speaker ids overlap (spk_a is in x and y), with other label names."""
    return {
        "x": _corpus(tmp_path / "data" / "x", "abc", ["anger", "sad", "boredom"]),
        "y": _corpus(tmp_path / "data" / "y", "ab", ["ang", "sad"]),
        "z": _corpus(tmp_path / "data" / "z", "abcd", ["ang", "sad", "fear"]),
    }


def _csv(corpora: dict[str, Path], *names: str) -> list[str]:
    return [f"{name}={corpora[name]}" for name in names]


def test_the_label_map_renames_and_drops_rows_counted_per_corpus(corpora, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        manifest = load_json(prepare_csv_corpora(
            _csv(corpora, "x", "y", "z"), tmp_path / "prep", label_map=LABEL_MAP))
    assert {entry["emo"] for entry in manifest.values()} == {"angry", "sad"}
    record = read_corpora_record(tmp_path / "prep")
    assert record["corpora"]["x"]["dropped"] == {"boredom": 6}
    assert record["corpora"]["y"]["dropped"] == {}
    assert record["corpora"]["z"]["dropped"] == {"fear": 8}
    assert [record["corpora"][c]["utterances"] for c in "xyz"] == [12, 8, 16]
    assert record["label_map"] == LABEL_MAP
    assert "x: 6 of 18 rows dropped by the label map (boredom 6)" in caplog.text
    assert "z: 8 of 24 rows dropped by the label map (fear 8)" in caplog.text
    assert csv_labels(_csv(corpora, "x", "y"), LABEL_MAP) == ["angry", "sad"]
    # without a label map every emotion is kept, as written
    assert csv_labels(_csv(corpora, "x", "y")) == ["ang", "anger", "boredom", "sad"]


def test_the_same_speaker_id_in_two_corpora_is_two_speakers(corpora, tmp_path):
    manifest = load_json(prepare_csv_corpora(
        _csv(corpora, "x", "y"), tmp_path / "prep", label_map=LABEL_MAP))
    speakers = {entry["speaker"] for entry in manifest.values()}
    assert speakers == {"x/spk_a", "x/spk_b", "x/spk_c", "y/spk_a", "y/spk_b"}
    assert manifest["y.a_ang_0"] == {
        "wav": "{data_root}/y/wav/a_ang_0.wav", "duration": 0.1, "emo": "angry",
        "speaker": "y/spk_a", "corpus": "y"}
    # one fold per speaker of the merged corpora: x's spk_a and y's spk_a are tested apart
    folds = load_folds(folds_file(tmp_path / "prep", "loso"))
    assert len(folds) == 5
    for fold in folds:
        assert len({manifest[utt]["speaker"] for utt in fold.test}) == 1
    assert corpora_data_root(_csv(corpora, "x", "y")) == str(corpora["x"].parents[1])


@pytest.mark.parametrize("protocol", ["leave_one_corpus_out", "cross_corpus"])
def test_cross_corpus_folds_test_every_speaker_of_a_whole_corpus_never_trained_on(
    corpora, tmp_path, protocol
):
    if protocol == "cross_corpus":
        path = prepare_csv_corpora(_csv(corpora, "x", "z"), tmp_path / "prep", protocol=protocol,
                                   test_csv=f"y={corpora['y']}", label_map=LABEL_MAP)
    else:
        path = prepare_csv_corpora(_csv(corpora, "x", "y", "z"), tmp_path / "prep",
                                   protocol=protocol, label_map=LABEL_MAP)
    manifest = load_json(path)
    folds = load_folds(folds_file(tmp_path / "prep", protocol))
    tested = ["y"] if protocol == "cross_corpus" else ["x", "y", "z"]
    assert len(folds) == len(tested)
    for fold, corpus in zip(folds, tested):
        assert fold.test == sorted(utt for utt, e in manifest.items() if e["corpus"] == corpus)
        trained = {manifest[utt]["corpus"] for utt in fold.train + fold.valid}
        assert corpus not in trained and trained == {"x", "y", "z"} - {corpus}
        train_speakers = {manifest[utt]["speaker"] for utt in fold.train}
        valid_speakers = {manifest[utt]["speaker"] for utt in fold.valid}
        assert valid_speakers and not valid_speakers & train_speakers
        assert sorted(fold.train + fold.valid + fold.test) == sorted(manifest)
    if protocol == "leave_one_corpus_out":
        # one validation speaker from each training corpus of 3 or more speakers
        assert {manifest[u]["speaker"] for u in folds[1].valid} == {"x/spk_a", "z/spk_a"}
        assert {manifest[u]["speaker"] for u in folds[2].valid} == {"x/spk_a"}


def test_a_corpus_of_two_speakers_validates_when_no_other_can():
    manifest = {f"{c}.{s}": {"corpus": c, "speaker": f"{c}/{s}"}
                for c, speakers in [("t", "ab"), ("u", "a")] for s in speakers}
    assert cross_corpus(manifest, "u")[0].valid == ["t.a"]
    with pytest.raises(ValueError, match="no training corpus with 2 speakers"):
        cross_corpus(manifest, "t")
    with pytest.raises(ValueError, match="at least 2 corpora"):
        leave_one_corpus_out({"a": {"corpus": "t", "speaker": "s"}})
    with pytest.raises(ValueError, match="needs a 'corpus' key"):
        leave_one_corpus_out({"a": {"speaker": "s"}, "b": {"speaker": "t"}})
    with pytest.raises(ValueError, match="only it, needs the test corpus"):
        make_folds(manifest, "cross_corpus")


def test_bad_settings_name_the_file_and_what_to_do(corpora, tmp_path):
    with pytest.raises(InputFileError, match="tests whole corpora: give several"):
        prepare_csv_corpora(str(corpora["x"]), tmp_path / "p1", protocol="leave_one_corpus_out")
    with pytest.raises(InputFileError, match="needs test_csv"):
        prepare_csv_corpora(_csv(corpora, "x", "y"), tmp_path / "p2", protocol="cross_corpus")
    with pytest.raises(InputFileError, match="protocol loso does not use it"):
        prepare_csv_corpora(_csv(corpora, "x"), tmp_path / "p3", test_csv=str(corpora["y"]))
    # z's fear is in no training corpus: the model could never predict it
    with pytest.raises(InputFileError, match=r"manifest.csv: emotions fear of test corpus 'z'"):
        prepare_csv_corpora(_csv(corpora, "x", "y"), tmp_path / "p4", protocol="cross_corpus",
                            test_csv=f"z={corpora['z']}")
    with pytest.raises(InputFileError, match="drops every row"):
        prepare_csv_corpora(_csv(corpora, "x", "y"), tmp_path / "p5", label_map={"joy": "happy"})
    with pytest.raises(InputFileError, match="corpus name 'x' is also"):
        corpus_csvs([f"x={corpora['x']}", f"x={corpora['y']}"])
    with pytest.raises(ValueError, match="expected FROM=TO"):
        parse_label_map(["anger"])


def test_a_path_alone_is_named_after_its_folder_and_one_csv_is_prepared_as_before(
    corpora, tmp_path
):
    assert list(corpus_csvs([str(corpora["x"]), str(corpora["y"])])) == ["x", "y"]
    alone = load_json(prepare_csv_corpora(str(corpora["z"]), tmp_path / "a"))
    before = load_json(prepare_csv_corpus(corpora["z"], tmp_path / "b"))
    assert alone == before and "a_ang_0" in alone and "corpus" not in alone["a_ang_0"]
    assert alone["a_ang_0"]["speaker"] == "spk_a"
    assert read_corpora_record(tmp_path / "a") is None
    assert corpora_data_root(str(corpora["z"])) == str(corpora["z"].parent)
    # one CSV with a label map: ids unchanged, rows dropped
    mapped = load_json(prepare_csv_corpora(str(corpora["x"]), tmp_path / "c",
                                           label_map=LABEL_MAP))
    assert "a_anger_0" in mapped and len(mapped) == 12
    # the same folder prepared for one plain CSV again forgets the corpora of before
    prepare_csv_corpora(str(corpora["z"]), tmp_path / "c")
    assert read_corpora_record(tmp_path / "c") is None


def test_leaving_out_a_corpus_with_its_own_emotions_warns(corpora, tmp_path, caplog):
    prepare_csv_corpora(_csv(corpora, "x", "y", "z"), tmp_path / "prep",
                        protocol="leave_one_corpus_out")
    assert "z: emotions fear are in no other corpus" in caplog.text
    assert "x: emotions anger, boredom are in no other corpus" in caplog.text
    assert "y: emotions" not in caplog.text
