"""IEMOCAP preparation: labels kept and dropped, manifest entries, bad input, stray files, reuse."""

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from speechbrain_drnsa.data import iemocap
from speechbrain_drnsa.data.demo import DEMO_LABELS_NAME, make_demo_corpus
from speechbrain_drnsa.data.fold_files import load_folds
from speechbrain_drnsa.data.folds import make_folds
from speechbrain_drnsa.data.emo_evaluation import parse_emo_evaluation, speaker_of
from speechbrain_drnsa.data.iemocap import EMOTION_MAP, MANIFEST_NAME, prepare_iemocap
from speechbrain_drnsa.errors import InputFileError

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP" / "iemocap_prepare.py"


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 50-turn corpus (one turn per class and one dropped turn per speaker)."""
    return make_demo_corpus(
        tmp_path_factory.mktemp("tiny"), utterances_per_class=1, dropped_per_speaker=1
    )


@pytest.fixture
def tiny_corpus(tiny_source: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny corpus that a test may damage."""
    return Path(shutil.copytree(tiny_source, tmp_path / "IEMOCAP_full_release"))


def _labels(corpus: Path) -> dict[str, str]:
    return json.loads((corpus / DEMO_LABELS_NAME).read_text())


def _wav(corpus: Path, utt: str) -> Path:
    return corpus / f"Session{int(utt[3:5])}" / "sentences" / "wav" / utt[:-5] / f"{utt}.wav"


def _kept(corpus: Path) -> list[str]:
    return sorted(utt for utt, label in _labels(corpus).items() if label in EMOTION_MAP)


def _dropped(corpus: Path) -> list[str]:
    return sorted(utt for utt, label in _labels(corpus).items() if label not in EMOTION_MAP)


def _emo_file(corpus: Path, utt: str) -> Path:
    return corpus / f"Session{int(utt[3:5])}" / "dialog" / "EmoEvaluation" / f"{utt[:-5]}.txt"


def test_keeps_every_kept_turn_and_nothing_else(demo_corpus, demo_manifest_folder):
    manifest = json.loads((demo_manifest_folder / MANIFEST_NAME).read_text())
    expected = {
        utt: EMOTION_MAP[label]
        for utt, label in _labels(demo_corpus).items()
        if label in EMOTION_MAP
    }
    assert {utt: entry["emo"] for utt, entry in manifest.items()} == expected
    # The demo has dropped labels and excited turns, so the test above checks both rules.
    assert set(_labels(demo_corpus).values()) >= {"exc", "fru", "xxx", "sur"}


def test_manifest_entries(demo_corpus, demo_manifest_folder):
    manifest = json.loads((demo_manifest_folder / MANIFEST_NAME).read_text())
    assert len({entry["speaker"] for entry in manifest.values()}) == 10
    for utt, entry in manifest.items():
        dialog = utt.rsplit("_", 1)[0]
        session = f"Session{int(utt[3:5])}"
        assert entry["wav"] == f"{{data_root}}/{session}/sentences/wav/{dialog}/{utt}.wav"
        wav = Path(entry["wav"].format(data_root=demo_corpus))
        assert entry["duration"] == pytest.approx(sf.info(str(wav)).duration)
        assert entry["speaker"] == speaker_of(utt)
        assert entry["session"] == session
        assert entry["gender"] == entry["speaker"][-1] == utt.rsplit("_", 1)[1][0]


def test_speaker_comes_from_the_turn_not_the_dialog(demo_manifest_folder):
    manifest = json.loads((demo_manifest_folder / MANIFEST_NAME).read_text())
    odd = {utt: e["speaker"] for utt, e in manifest.items() if "impro05a_" in utt}
    assert {spk for utt, spk in odd.items() if "_F0" in utt} == {"Ses03F"}
    assert {spk for utt, spk in odd.items() if "_M0" in utt} == {"Ses03M"}
    assert speaker_of("Ses05M_script01_1b_F002") == "Ses05F"
    with pytest.raises(ValueError, match="not an IEMOCAP utterance id"):
        speaker_of("Session1_F000")


def test_folds_files_beside_manifest(demo_manifest_folder):
    manifest = json.loads((demo_manifest_folder / MANIFEST_NAME).read_text())
    for protocol in ("speaker10", "session5", "random"):
        folds = load_folds(demo_manifest_folder / f"folds_{protocol}.json")
        assert folds == make_folds(manifest, protocol, seed=1234)


def test_parse_emo_evaluation_reads_the_release_format(tmp_path):
    path = tmp_path / "Ses01F_impro04.txt"
    path.write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro04_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\nC-E3:\tNeutral; Disgust;\t()\nC-F1:\tNeutral;\t(curious)\n"
        "A-E3:\tval 3; act 2; dom  2;\t()\nA-E4:\tval 2; act 3; dom  3;\t(polite)\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro04_F002\tfru\t[2.5000, 3.5000, 3.0000]\r\n"
        "C-E2:\tFrustration;\t()\r\n"
    )
    turns = parse_emo_evaluation(path)
    assert [(t.utt_id, t.label, t.start, t.end) for t in turns] == [
        ("Ses01F_impro04_F000", "neu", 6.2901, 8.2357),
        ("Ses01F_impro04_F002", "fru", 10.01, 11.3925),
    ]
    assert turns[1].vad == (2.5, 3.5, 3.0)


def test_prints_table_and_warns_on_a_subset(tiny_corpus, tmp_path, capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="speechbrain_drnsa.data.iemocap"):
        prepare_iemocap(tiny_corpus, tmp_path / "prep")
    table = capsys.readouterr().out
    assert "hap        10    1636  (hap 0 + exc 10)" in table
    assert "total      40    5531  differs from the paper" in table
    assert "found 40 utterances (neu 10, hap 10, sad 10, ang 10)" in caplog.text


def test_paper_counts_match_without_warning(tiny_corpus, tmp_path, capsys, caplog, monkeypatch):
    monkeypatch.setattr(iemocap, "PAPER_COUNTS", {"neu": 10, "hap": 10, "sad": 10, "ang": 10})
    with caplog.at_level(logging.WARNING, logger="speechbrain_drnsa.data.iemocap"):
        prepare_iemocap(tiny_corpus, tmp_path / "prep")
    assert "total      40      40  matches the paper" in capsys.readouterr().out
    assert caplog.text == ""


def _remove_sessions(corpus: Path) -> None:
    for session in corpus.glob("Session*"):
        shutil.rmtree(session)


def _empty_emo(corpus: Path) -> None:
    _emo_file(corpus, "Ses02F_impro03_F000").write_text("")


def _header_only_emo(corpus: Path) -> None:
    _emo_file(corpus, "Ses02F_impro03_F000").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
    )


def _malformed_emo(corpus: Path) -> None:
    path = _emo_file(corpus, "Ses02F_impro03_F000")
    lines = path.read_text().splitlines(keepends=True)
    turn = next(k for k, line in enumerate(lines) if line.startswith("["))
    lines[turn] = lines[turn].rsplit("\t", 1)[0] + "\n"  # the [v, a, d] field is lost
    path.write_text("".join(lines))


def _unknown_label(corpus: Path) -> None:
    path = _emo_file(corpus, "Ses02F_impro03_F000")
    path.write_text(path.read_text().replace("\tneu\t", "\tNEUTRAL\t"))


def _missing_wav(corpus: Path) -> None:
    _wav(corpus, _kept(corpus)[3]).unlink()


def _truncated_wav(corpus: Path) -> None:
    wav = _wav(corpus, _kept(corpus)[3])
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) // 2])


def _corrupt_wav(corpus: Path) -> None:
    # What an AppleDouble file looks like: magic 00 05 16 07, not RIFF.
    _wav(corpus, _kept(corpus)[3]).write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 200)


def _header_only_wav(corpus: Path) -> None:
    wav = _wav(corpus, _kept(corpus)[3])
    wav.write_bytes(wav.read_bytes()[:44])


@pytest.mark.parametrize(
    "damage, culprit, problem",
    [
        (lambda c: shutil.rmtree(c), ".", "data folder not found"),
        (_remove_sessions, ".", "no Session* folder"),
        (_empty_emo, "Ses02F_impro03.txt", "no turn line"),
        (_header_only_emo, "Ses02F_impro03.txt", "no turn line"),
        (_malformed_emo, "Ses02F_impro03.txt", "malformed turn line"),
        (_unknown_label, "Ses02F_impro03.txt", "unknown emotion label 'NEUTRAL'"),
        (_missing_wav, "kept3.wav", "not found"),
        (_truncated_wav, "kept3.wav", "truncated"),
        (_corrupt_wav, "kept3.wav", "not a readable audio file"),
        (_header_only_wav, "kept3.wav", "header only"),
    ],
    ids=[
        "missing-folder", "no-session", "empty-emo", "header-only-emo", "malformed-emo",
        "unknown-label", "missing-wav", "truncated-wav", "corrupt-wav", "empty-wav",
    ],
)
def test_bad_input_names_the_file_and_writes_nothing(tiny_corpus, tmp_path, damage, culprit,
                                                     problem):
    culprit = {".": tiny_corpus.name, "kept3.wav": f"{_kept(tiny_corpus)[3]}.wav"}.get(
        culprit, culprit
    )
    damage(tiny_corpus)
    save_folder = tmp_path / "prep"
    with pytest.raises(InputFileError) as info:
        prepare_iemocap(tiny_corpus, save_folder)
    assert culprit in str(info.value)
    assert problem in str(info.value)
    assert not (save_folder / MANIFEST_NAME).exists()
    assert not list(save_folder.glob("*.json"))


def test_missing_emo_evaluation_folder(tiny_corpus, tmp_path):
    shutil.rmtree(tiny_corpus / "Session4" / "dialog" / "EmoEvaluation")
    with pytest.raises(InputFileError, match="Session4/dialog/EmoEvaluation: folder not found"):
        prepare_iemocap(tiny_corpus, tmp_path / "prep")


def test_turn_listed_twice(tiny_corpus, tmp_path):
    first = _emo_file(tiny_corpus, "Ses01F_impro01_F000")
    second = first.with_name("Ses01F_copy.txt")
    shutil.copy(first, second)
    with pytest.raises(InputFileError, match="Ses01F_impro01.txt: Ses01F_impro01_F000 is also "):
        prepare_iemocap(tiny_corpus, tmp_path / "prep")


def test_missing_wav_of_a_dropped_turn_is_fine(tiny_corpus, tmp_path):
    _wav(tiny_corpus, _dropped(tiny_corpus)[0]).unlink()
    manifest = json.loads(prepare_iemocap(tiny_corpus, tmp_path / "prep").read_text())
    assert sorted(manifest) == _kept(tiny_corpus)


def test_stray_files_are_ignored(tiny_corpus, tmp_path):
    clean = prepare_iemocap(tiny_corpus, tmp_path / "clean").read_text()
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 64
    emo_folder = tiny_corpus / "Session1" / "dialog" / "EmoEvaluation"
    (emo_folder / "._Ses01F_impro01.txt").write_bytes(apple_double)
    (emo_folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (emo_folder / "Ses01F_impro01.txt~").write_text("garbage")
    (emo_folder / "notes.doc").write_text("[not a turn]")
    (emo_folder / "Attribute").mkdir()
    (emo_folder / "Attribute" / "Ses01F_impro01_atr.txt").write_text("[not a turn]")
    for utt in _kept(tiny_corpus)[:3]:
        wav = _wav(tiny_corpus, utt)
        wav.with_name(f"._{wav.name}").write_bytes(apple_double)
        wav.with_suffix(".pk").write_bytes(b"\x80\x04pickle")
    assert prepare_iemocap(tiny_corpus, tmp_path / "stray").read_text() == clean


def test_second_run_skips_and_changed_labels_redo(tiny_corpus, tmp_path, capsys):
    save_folder = tmp_path / "prep"
    manifest = prepare_iemocap(tiny_corpus, save_folder)
    stamp = manifest.stat().st_mtime_ns
    capsys.readouterr()

    assert prepare_iemocap(tiny_corpus, save_folder) == manifest
    assert manifest.stat().st_mtime_ns == stamp
    assert capsys.readouterr().out == ""

    # Relabel one kept turn as frustrated: the manifest must lose it.
    utt = _kept(tiny_corpus)[0]
    path = _emo_file(tiny_corpus, utt)
    text = path.read_text()
    label = _labels(tiny_corpus)[utt]
    path.write_text(text.replace(f"\t{utt}\t{label}\t", f"\t{utt}\tfru\t"))
    prepare_iemocap(tiny_corpus, save_folder)
    assert utt not in json.loads(manifest.read_text())
    assert "IEMOCAP 4-class utterances" in capsys.readouterr().out


def test_new_options_or_lost_outputs_redo(tiny_corpus, tmp_path):
    save_folder = tmp_path / "prep"
    prepare_iemocap(tiny_corpus, save_folder, protocols=["speaker10"])
    assert not (save_folder / "folds_random.json").exists()
    prepare_iemocap(tiny_corpus, save_folder, protocols=["speaker10", "random"])
    assert (save_folder / "folds_random.json").exists()
    (save_folder / "folds_speaker10.json").unlink()
    prepare_iemocap(tiny_corpus, save_folder, protocols=["speaker10", "random"])
    assert (save_folder / "folds_speaker10.json").exists()


def test_folds_of_protocols_no_longer_asked_for_are_removed(tiny_corpus, tmp_path):
    save_folder = tmp_path / "prep"
    prepare_iemocap(tiny_corpus, save_folder, protocols=["speaker10", "random"])
    prepare_iemocap(tiny_corpus, save_folder, protocols=["speaker10"])
    assert sorted(p.name for p in save_folder.glob("folds_*.json")) == ["folds_speaker10.json"]


def test_unknown_protocol_fails_before_any_work(tiny_corpus, tmp_path):
    with pytest.raises(ValueError, match="unknown fold protocol 'speaker_10'"):
        prepare_iemocap(tiny_corpus, tmp_path / "prep", protocols=["speaker_10"])
    assert not (tmp_path / "prep").exists()


def test_skip_prep_does_nothing(tmp_path):
    manifest = prepare_iemocap(tmp_path / "absent", tmp_path / "prep", skip_prep=True)
    assert manifest == tmp_path / "prep" / MANIFEST_NAME
    assert not (tmp_path / "prep").exists()


def test_subset_skips_protocols_it_is_too_small_for(tiny_corpus, tmp_path, caplog):
    for number in (3, 4, 5):
        shutil.rmtree(tiny_corpus / f"Session{number}")
    with caplog.at_level(logging.WARNING, logger="speechbrain_drnsa.data.iemocap"):
        prepare_iemocap(tiny_corpus, tmp_path / "prep")
    assert "no folds for protocol 'session5'" in caplog.text
    assert sorted(p.name for p in (tmp_path / "prep").glob("folds_*.json")) == [
        "folds_random.json", "folds_speaker10.json"
    ]
    assert len(load_folds(tmp_path / "prep" / "folds_speaker10.json")) == 4


def test_outputs_are_not_left_as_temporary_files(tiny_corpus, tmp_path):
    prepare_iemocap(tiny_corpus, tmp_path / "prep")
    assert sorted(os.listdir(tmp_path / "prep")) == [
        "folds_random.json", "folds_session5.json", "folds_speaker10.json",
        "iemocap.json", "iemocap_prepared.json",
    ]


def test_recipe_script(tiny_corpus, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("iemocap_prepare", RECIPE)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    assert recipe.prepare_iemocap is prepare_iemocap
    assert recipe.main([str(tiny_corpus), str(tmp_path / "prep"), "--protocols", "loso"]) == 0
    assert (tmp_path / "prep" / "folds_loso.json").exists()
    assert recipe.main([str(tmp_path / "nowhere"), str(tmp_path / "prep2")]) == 2
    assert "nowhere: IEMOCAP data folder not found" in capsys.readouterr().err
