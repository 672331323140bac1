"""The synthetic demo corpus: IEMOCAP's layout and file format, determinism, learnable classes."""

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.data.demo import DEMO_LABELS_NAME, make_demo_corpus
from speechbrain_drnsa.data.emo_evaluation import parse_emo_evaluation, speaker_of
from speechbrain_drnsa.data.iemocap import EMOTION_MAP

SUMMARY = re.compile(
    r"\[\d+\.\d{4} - \d+\.\d{4}\]\t(Ses\S+)\t([a-z]{3})\t\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]"
)
ATTRIBUTE = re.compile(r"A-(E\d|[FM]1):\tval (\d); act (\d); dom  (\d);\t\(.*\)")
CATEGORY = {"neu": "Neutral", "hap": "Happiness", "exc": "Excited", "sad": "Sadness",
            "ang": "Anger", "fru": "Frustration", "sur": "Surprise", "fea": "Fear",
            "oth": "Other", "dis": "Disgust"}


def _labels(corpus: Path) -> dict[str, str]:
    return json.loads((corpus / DEMO_LABELS_NAME).read_text())


def _emo_files(corpus: Path) -> list[Path]:
    return sorted(corpus.glob("Session*/dialog/EmoEvaluation/*.txt"))


def test_layout(demo_corpus):
    assert sorted(p.name for p in demo_corpus.iterdir()) == [
        "Session1", "Session2", "Session3", "Session4", "Session5", DEMO_LABELS_NAME
    ]
    dialogs = {p.stem for p in _emo_files(demo_corpus)}
    assert len(dialogs) == 15 and {"Ses03M_impro05a", "Ses05M_script01_1b"} <= dialogs
    for session in demo_corpus.glob("Session*"):
        emo_folder = session / "dialog" / "EmoEvaluation"
        assert (emo_folder / "Categorical").is_dir()
        for emo_file in emo_folder.glob("*.txt"):
            turns = {t.utt_id for t in parse_emo_evaluation(emo_file)}
            wavs = {p.stem for p in (session / "sentences" / "wav" / emo_file.stem).iterdir()}
            assert turns == wavs
            cat = emo_folder / "Categorical" / f"{emo_file.stem}_e2_cat.txt"
            assert {line.split(" :")[0] for line in cat.read_text().splitlines()} == turns
    assert len({speaker_of(utt) for utt in _labels(demo_corpus)}) == 10


def test_emo_evaluation_is_written_as_the_release_writes_it(demo_corpus):
    for path in _emo_files(demo_corpus):
        text = path.read_text()
        assert text.startswith("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n")
        blocks = text.split("\n\n")[1:]
        assert blocks[-1] == ""
        utts = []
        for block in blocks[:-1]:
            summary, *evaluators = block.split("\n")
            utt, label, *vad = SUMMARY.fullmatch(summary).groups()
            utts.append(utt)
            letter = utt.rsplit("_", 1)[1][0]
            assert [line.split(":")[0] for line in evaluators] == [
                "C-E2", "C-E3", "C-E4", f"C-{letter}1", "A-E3", "A-E4", f"A-{letter}1"
            ]
            votes = Counter(line.split("\t")[1].split(";")[0] for line in evaluators[:3])
            if label == "xxx":
                assert max(votes.values()) == 1
            else:
                assert votes[CATEGORY[label]] >= 2
            scores = [ATTRIBUTE.fullmatch(line).groups()[1:] for line in evaluators[4:6]]
            means = np.array(scores, dtype=float).mean(axis=0)
            np.testing.assert_allclose(np.array(vad, dtype=float), means)
        # Each actor's turns form a group, F000, F001 ... then M000 ...
        assert utts == sorted(utts)


def test_labels_record_every_turn(demo_corpus):
    labels = _labels(demo_corpus)
    written = {t.utt_id: t.label for p in _emo_files(demo_corpus) for t in parse_emo_evaluation(p)}
    assert labels == written
    per_speaker = defaultdict(Counter)
    for utt, label in labels.items():
        per_speaker[speaker_of(utt)][EMOTION_MAP.get(label, "dropped")] += 1
    assert len(per_speaker) == 10
    for counts in per_speaker.values():
        assert counts == {"neu": 6, "hap": 6, "sad": 6, "ang": 6, "dropped": 6}
    assert {"hap", "exc", "fru", "xxx"} <= set(labels.values())


def test_wavs_are_16k_mono_16bit_and_match_the_turn_times(demo_corpus):
    turns = {t.utt_id: t for p in _emo_files(demo_corpus) for t in parse_emo_evaluation(p)}
    wavs = sorted(demo_corpus.glob("Session*/sentences/wav/*/*.wav"))
    assert len(wavs) == len(turns) == 300
    for wav in wavs:
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 1.5 <= info.duration <= 3.5
        turn = turns[wav.stem]
        assert info.duration == pytest.approx(turn.end - turn.start, abs=2e-4)


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path):
    def tiny(folder: str, seed: int) -> dict[str, bytes]:
        root = make_demo_corpus(tmp_path / folder, seed=seed, utterances_per_class=1,
                                dropped_per_speaker=1)
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}

    first, again, other = tiny("a", 5), tiny("b", 5), tiny("c", 6)
    assert first == again
    wavs = [name for name in first if name.endswith(".wav")]
    assert all(first[name] != other.get(name) for name in wavs if name in other)


def test_rejects_empty_corpus(tmp_path):
    with pytest.raises(ValueError, match="utterances_per_class >= 1"):
        make_demo_corpus(tmp_path, utterances_per_class=0)


def test_cli_writes_the_corpus(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["make-demo-corpus", str(out), "--seed", "3"]) == 0
    assert len(_labels(out)) == 300
    assert len(list(out.glob("Session*/sentences/wav/*/*.wav"))) == 300
    assert str(out) in capsys.readouterr().out


def _acoustics(wav: Path) -> tuple[float, float, float, float]:
    """RMS (dB), zero-crossing rate, spectral centroid (Hz) and F0 (Hz) of the loud frames."""
    audio, rate = sf.read(str(wav))
    frames = audio[: len(audio) // 400 * 400].reshape(-1, 400)
    energy = (frames**2).mean(axis=1)
    loud = frames[energy >= np.median(energy)]
    rms_db = 10 * np.log10(np.mean(audio**2))
    zcr = np.mean(np.abs(np.diff(np.sign(loud), axis=1)) > 0)
    power = np.abs(np.fft.rfft(loud * np.hanning(400), axis=1)) ** 2
    centroid = np.mean(power @ np.fft.rfftfreq(400, 1 / rate) / power.sum(axis=1))
    autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(loud, n=800, axis=1)) ** 2, axis=1)
    low, high = rate // 400, rate // 70
    f0 = np.median(rate / (low + np.argmax(autocorrelation[:, low:high], axis=1)))
    return rms_db, zcr, centroid, f0


@pytest.fixture(scope="module")
def acoustics(demo_corpus) -> list[tuple[str, str, np.ndarray]]:
    """(speaker, 4-class label, acoustic summary) of every kept utterance."""
    rows = []
    for utt, label in _labels(demo_corpus).items():
        if label in EMOTION_MAP:
            wav = next(demo_corpus.glob(f"Session*/sentences/wav/*/{utt}.wav"))
            rows.append((speaker_of(utt), EMOTION_MAP[label], np.array(_acoustics(wav))))
    return rows


def test_classes_differ_in_loudness_tilt_and_pitch(acoustics):
    for gender in "FM":
        means = {
            emo: np.mean([x for spk, e, x in acoustics if e == emo and spk[-1] == gender], axis=0)
            for emo in ("ang", "hap", "neu", "sad")
        }
        for feature in (0, 2, 3):  # RMS, spectral centroid (flatter tilt), F0
            order = [means[emo][feature] for emo in ("ang", "hap", "neu", "sad")]
            if feature == 3:  # angry and happy share a high pitch
                order = [min(order[:2])] + order[2:]
            assert order == sorted(order, reverse=True), (gender, feature, order)


def test_classes_are_learnable_across_speakers(acoustics):
    """Nearest class mean on 4 summary statistics, leave one speaker out: well above chance."""
    speakers = np.array([spk for spk, _, _ in acoustics])
    labels = np.array([emo for _, emo, _ in acoustics])
    features = np.stack([x for _, _, x in acoustics])
    classes = np.array(sorted(set(labels)))
    predictions = np.empty_like(labels)
    for speaker in np.unique(speakers):
        train = speakers != speaker
        mean, std = features[train].mean(axis=0), features[train].std(axis=0)
        z = (features - mean) / std
        centres = np.stack([z[train & (labels == c)].mean(axis=0) for c in classes])
        distances = ((z[~train, None, :] - centres[None]) ** 2).sum(axis=-1)
        predictions[~train] = classes[distances.argmin(axis=1)]
    recalls = [np.mean(predictions[labels == c] == c) for c in classes]
    assert np.mean(recalls) > 0.6, dict(zip(classes, recalls))
    assert min(recalls) > 0.3, dict(zip(classes, recalls))
