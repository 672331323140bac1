"""EmoDB preparation: labels from the file names, 4-class subset, folds, bad input, real corpus."""

import csv
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechbrain_drnsa.data.emodb import (
    CLASS_SETS,
    EMOTION_NAMES,
    OFFICIAL_COUNTS,
    parse_emodb_name,
    prepare_emodb,
)
from speechbrain_drnsa.data.fold_files import folds_file, load_folds
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.errors import InputFileError

REAL_EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"

# speaker, text, German emotion letter, version -> what the manifest must say
SYNTHETIC = {
    "03a01Fa": ("emodb_03", "M", "hap"),
    "03a02Wb": ("emodb_03", "M", "ang"),
    "08a01Lc": ("emodb_08", "F", "bor"),
    "08b01Ta": ("emodb_08", "F", "sad"),
    "09b02Ea": ("emodb_09", "F", "dis"),
    "09b03Nd": ("emodb_09", "F", "neu"),
    "10a04Aa": ("emodb_10", "M", "fea"),
    "10a05Nb": ("emodb_10", "M", "neu"),
}


def _synthetic_emodb(folder: Path) -> Path:
    (folder / "wav").mkdir(parents=True)
    for i, name in enumerate(SYNTHETIC):
        sf.write(folder / "wav" / f"{name}.wav", np.zeros(1600 * (i + 1)), 16000)
    return folder


def test_labels_speakers_genders_and_durations_from_file_names(tmp_path):
    corpus = _synthetic_emodb(tmp_path / "emodb")
    manifest = load_json(prepare_emodb(corpus, tmp_path / "prep"))
    assert sorted(manifest) == sorted(SYNTHETIC)
    for i, (utt, (speaker, gender, emo)) in enumerate(SYNTHETIC.items()):
        assert manifest[utt] == {"wav": f"{{data_root}}/wav/{utt}.wav",
                                 "duration": pytest.approx(0.1 * (i + 1)),
                                 "emo": emo, "speaker": speaker, "gender": gender}


def test_four_class_subset_keeps_neutral_happy_sad_angry(tmp_path):
    corpus = _synthetic_emodb(tmp_path / "emodb")
    manifest = load_json(prepare_emodb(corpus, tmp_path / "prep", classes="4class"))
    expected = {utt for utt, (_, _, emo) in SYNTHETIC.items() if emo in CLASS_SETS["4class"]}
    assert set(manifest) == expected
    assert {entry["emo"] for entry in manifest.values()} == {"neu", "hap", "sad", "ang"}


def test_loso_folds_test_each_speaker_once(tmp_path):
    corpus = _synthetic_emodb(tmp_path / "emodb")
    manifest = load_json(prepare_emodb(corpus, tmp_path / "prep"))
    folds = load_folds(folds_file(tmp_path / "prep", "loso"))
    assert [sorted({manifest[u]["speaker"] for u in fold.test}) for fold in folds] == [
        ["emodb_03"], ["emodb_08"], ["emodb_09"], ["emodb_10"]
    ]
    assert sorted(u for fold in folds for u in fold.test) == sorted(manifest)


def test_stray_files_are_skipped_with_a_warning(tmp_path, caplog):
    corpus = _synthetic_emodb(tmp_path / "emodb")
    (corpus / "wav" / "._03a01Fa.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (corpus / "wav" / "README.txt").write_text("notes")
    (corpus / "wav" / "sub").mkdir()
    with caplog.at_level(logging.WARNING):
        manifest = load_json(prepare_emodb(corpus, tmp_path / "prep"))
    assert sorted(manifest) == sorted(SYNTHETIC)
    skipped = [r.getMessage() for r in caplog.records if "recording, skipped" in r.getMessage()]
    assert len(skipped) == 3 and any("._03a01Fa.wav" in m for m in skipped)


@pytest.mark.parametrize(
    "name, problem",
    [
        ("03a01Fa_copy.wav", "not an EmoDB file name"),
        ("03a01Xa.wav", "unknown emotion letter 'X'"),
        ("99a01Fa.wav", "speaker 99 is not one of EmoDB's ten speakers"),
    ],
)
def test_a_wav_whose_name_does_not_parse_is_named(tmp_path, name, problem):
    corpus = _synthetic_emodb(tmp_path / "emodb")
    sf.write(corpus / "wav" / name, np.zeros(1600), 16000)
    with pytest.raises(InputFileError) as err:
        prepare_emodb(corpus, tmp_path / "prep")
    assert err.value.path == str(corpus / "wav" / name)
    assert problem in str(err.value)
    assert not (tmp_path / "prep").exists()


def test_missing_folders_and_bad_options(tmp_path):
    with pytest.raises(InputFileError, match="EmoDB data folder not found"):
        prepare_emodb(tmp_path / "nope", tmp_path / "prep")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no wav/ folder"):
        prepare_emodb(tmp_path / "empty", tmp_path / "prep")
    (tmp_path / "empty" / "wav").mkdir()
    with pytest.raises(InputFileError, match="holds no EmoDB .wav file"):
        prepare_emodb(tmp_path / "empty", tmp_path / "prep")
    corpus = _synthetic_emodb(tmp_path / "emodb")
    with pytest.raises(ValueError, match="unknown classes 'six'"):
        prepare_emodb(corpus, tmp_path / "prep", classes="six")


def test_a_file_that_disagrees_with_manifest_csv_is_an_error(tmp_path):
    corpus = _synthetic_emodb(tmp_path / "emodb")
    rows = [["path", "speaker", "gender", "emotion", "duration_s"]]
    for utt, (speaker, gender, emo) in SYNTHETIC.items():
        named = "disgust" if utt == "03a01Fa" else EMOTION_NAMES[emo]  # the known wrong copy
        rows.append([f"wav/{utt}.wav", speaker, {"M": "male", "F": "female"}[gender], named, 1])
    with open(corpus / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(InputFileError, match="03a01Fa.wav: the file name gives"):
        prepare_emodb(corpus, tmp_path / "prep")


def test_parse_emodb_name():
    assert parse_emodb_name("16b10Lb.wav") == ("16", "b10", "bor", "b")


def _real_emodb() -> Path:
    if not (REAL_EMODB / "wav").is_dir():
        reason = f"real EmoDB not present at {REAL_EMODB} (see ../shared/data/README.md)"
        print(reason)
        pytest.skip(reason)
    return REAL_EMODB


def test_real_emodb_matches_the_official_release(tmp_path):
    corpus = _real_emodb()
    manifest = load_json(prepare_emodb(corpus, tmp_path / "all7"))  # checks manifest.csv
    assert len(manifest) == 535
    assert Counter(entry["emo"] for entry in manifest.values()) == OFFICIAL_COUNTS
    speakers = Counter(entry["speaker"] for entry in manifest.values())
    assert len(speakers) == 10 and speakers["emodb_16"] == 71 and speakers["emodb_12"] == 35
    genders = Counter(entry["gender"] for entry in manifest.values())
    assert genders == {"M": 233, "F": 302}
    assert sum(entry["duration"] for entry in manifest.values()) == pytest.approx(1487.09, abs=0.01)
    folds = load_folds(folds_file(tmp_path / "all7", "loso"))
    assert len(folds) == 10
    assert sorted(u for fold in folds for u in fold.test) == sorted(manifest)

    four = load_json(prepare_emodb(corpus, tmp_path / "4class", classes="4class"))
    assert len(four) == 127 + 71 + 79 + 62
