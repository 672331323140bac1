"""Cross-validation protocols: disjoint parts, speaker independence, every utterance tested once."""

import json
from collections import Counter

import pytest

from speechbrain_drnsa.data.fold_files import load_folds, save_folds
from speechbrain_drnsa.data.folds import (
    PROTOCOLS,
    Fold,
    leave_one_speaker_out,
    make_folds,
    speaker_kfold,
    stratified_kfold,
)
from speechbrain_drnsa.data.emo_evaluation import speaker_of
from speechbrain_drnsa.data.iemocap import MANIFEST_NAME
from speechbrain_drnsa.errors import InputFileError

SPEAKER_PROTOCOLS = ("speaker10", "session5", "loso", "speaker_kfold5", "speaker_kfold3")


@pytest.fixture(scope="module")
def manifest(demo_manifest_folder) -> dict:
    return json.loads((demo_manifest_folder / MANIFEST_NAME).read_text())


def _speakers(manifest: dict, ids: list[str]) -> set[str]:
    return {manifest[utt]["speaker"] for utt in ids}


@pytest.mark.parametrize("protocol", PROTOCOLS + ("speaker_kfold5", "speaker_kfold3"))
def test_parts_are_disjoint_and_every_utterance_is_tested_once(manifest, protocol):
    folds = make_folds(manifest, protocol)
    for fold in folds:
        assert fold.train and fold.valid and fold.test
        parts = [set(fold.train), set(fold.valid), set(fold.test)]
        assert sum(len(part) for part in parts) == len(set.union(*parts)) == len(manifest)
    tested = Counter(utt for fold in folds for utt in fold.test)
    assert set(tested) == set(manifest) and set(tested.values()) == {1}


@pytest.mark.parametrize("protocol", SPEAKER_PROTOCOLS)
def test_speaker_protocols_are_speaker_independent(manifest, protocol):
    for fold in make_folds(manifest, protocol):
        train, valid, test = (_speakers(manifest, part) for part in fold)
        assert not train & test
        assert not valid & test
        assert not train & valid


def test_speaker10_tests_one_speaker_and_validates_on_the_session_partner(manifest):
    folds = make_folds(manifest, "speaker10")
    assert len(folds) == 10
    speakers = sorted({entry["speaker"] for entry in manifest.values()})
    for speaker, fold in zip(speakers, folds):
        assert _speakers(manifest, fold.test) == {speaker}
        (partner,) = _speakers(manifest, fold.valid)
        assert partner[:5] == speaker[:5] and partner != speaker
        assert len(_speakers(manifest, fold.train)) == 8


def test_session5_leaves_one_session_out_and_validates_on_one_speaker(manifest):
    folds = make_folds(manifest, "session5")
    assert len(folds) == 5
    valid_speakers = []
    for k, fold in enumerate(folds):
        assert {manifest[utt]["session"] for utt in fold.test} == {f"Session{k + 1}"}
        (valid,) = _speakers(manifest, fold.valid)
        assert valid[:5] == f"Ses{(k + 1) % 5 + 1:02d}"
        valid_speakers.append(valid)
        assert len(_speakers(manifest, fold.train)) == 7
    assert [spk[-1] for spk in valid_speakers] == ["F", "M", "F", "M", "F"]


def test_random_is_stratified_80_10_10(manifest):
    folds = make_folds(manifest, "random")
    assert len(folds) == 10
    per_class = Counter(entry["emo"] for entry in manifest.values())
    for k, fold in enumerate(folds):
        counts = Counter(manifest[utt]["emo"] for utt in fold.test)
        for emo, total in per_class.items():
            assert abs(counts[emo] - total / 10) <= 1
        assert abs(len(fold.train) - 0.8 * len(manifest)) <= 4
        assert fold.valid == folds[(k + 1) % 10].test


@pytest.mark.parametrize("protocol", ["random", "speaker_kfold4"])
def test_seeded_protocols_are_deterministic(manifest, protocol):
    assert make_folds(manifest, protocol, seed=7) == make_folds(dict(manifest), protocol, seed=7)
    assert make_folds(manifest, protocol, seed=7) != make_folds(manifest, protocol, seed=8)


def test_iemocap_speaker_ids():
    assert speaker_of("Ses03M_impro05a_F001") == "Ses03F"
    assert speaker_of("Ses05M_script01_1b_M002") == "Ses05M"
    assert speaker_of("Ses01F_impro01_M000") == "Ses01M"


def _generic(genders: dict[str, str], per_speaker: int = 3, with_gender: bool = True) -> dict:
    return {
        f"{spk}_{i}": {"speaker": spk, "emo": "neu", **({"gender": g} if with_gender else {})}
        for spk, g in genders.items()
        for i in range(per_speaker)
    }


def test_loso_validates_on_the_next_speaker_of_the_same_gender():
    genders = {"a": "F", "b": "M", "c": "M", "d": "F", "e": "M"}
    folds = leave_one_speaker_out(_generic(genders))
    valid = [{utt.split("_")[0] for utt in fold.valid} for fold in folds]
    assert valid == [{"d"}, {"c"}, {"e"}, {"a"}, {"b"}]
    assert make_folds(_generic(genders), "loso") == folds


def test_loso_without_gender_takes_the_next_speaker():
    folds = leave_one_speaker_out(_generic({"a": "F", "b": "M", "c": "M"}, with_gender=False))
    valid = [{utt.split("_")[0] for utt in fold.valid} for fold in folds]
    assert valid == [{"b"}, {"c"}, {"a"}]


def test_speaker_kfold_balances_groups():
    sizes = {"a": 9, "b": 1, "c": 4, "d": 4, "e": 2, "f": 7, "g": 3}
    manifest = {f"{spk}{i}": {"speaker": spk} for spk, n in sizes.items() for i in range(n)}
    folds = speaker_kfold(manifest, 3, seed=1)
    assert sorted(len(fold.test) for fold in folds) == [10, 10, 10]
    assert make_folds(manifest, "speaker_kfold3", seed=1) == folds


def test_stratified_kfold_sizes():
    manifest = {f"u{i}": {"emo": "abc"[i % 3]} for i in range(31)}
    sizes = sorted(len(fold.test) for fold in stratified_kfold(manifest, 5))
    assert sizes == [6, 6, 6, 6, 7]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_folds({"u": {"speaker": "a"}}, "speaker11"), "unknown fold protocol"),
        (lambda: make_folds({"u": {"emo": "neu"}}, "speaker10"), "needs a 'speaker' key"),
        (lambda: make_folds({"u": {"speaker": "a"}}, "speaker10"), "needs a 'session' key"),
        (lambda: make_folds(_generic({"a": "F", "b": "M"}), "loso"), "at least 3 speakers"),
        (lambda: speaker_kfold(_generic({"a": "F", "b": "M", "c": "F"}), 4), "n_folds"),
        (lambda: stratified_kfold({"u": {"emo": "neu"}}, 2), "n_folds >= 3"),
        (lambda: make_folds({}, "random"), "empty"),
    ],
)
def test_unusable_requests_fail_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_speaker10_needs_two_speakers_per_session():
    manifest = {
        "x1": {"speaker": "Ses01F", "session": "Session1"},
        "x2": {"speaker": "Ses01M", "session": "Session1"},
        "y1": {"speaker": "Ses02F", "session": "Session2"},
    }
    with pytest.raises(ValueError, match="'Session2' has only 'Ses02F'"):
        make_folds(manifest, "speaker10")


def test_save_and_load_round_trip(manifest, tmp_path):
    folds = make_folds(manifest, "speaker10")
    path = save_folds(folds, tmp_path / "folds.json")
    assert load_folds(path) == folds
    assert all(isinstance(fold, Fold) for fold in load_folds(path))


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "malformed JSON"),
        ("[]", "not a folds file"),
        ('[{"train": [], "valid": []}]', "fold 0 must have exactly the keys"),
        ('[{"train": [1], "valid": [], "test": []}]', "train must be a list of utterance ids"),
    ],
)
def test_load_folds_rejects_bad_files(tmp_path, content, problem):
    path = tmp_path / "folds_speaker10.json"
    path.write_text(content)
    with pytest.raises(InputFileError, match=problem) as info:
        load_folds(path)
    assert "folds_speaker10.json" in str(info.value)
