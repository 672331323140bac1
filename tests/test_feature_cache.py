"""Corpus feature cache: reuse, resume, re-extraction, shards, processes and bad files."""

import json
import os

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_drnsa import cli
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features import OpenSmileLLD
from speechbrain_drnsa.features.cache import extract_corpus, load_features

SR = 16000


def _corpus(root, count: int = 6) -> dict[str, str]:
    """``count`` short utterances of different tones, noise and lengths."""
    rng = np.random.default_rng(0)
    ids = {}
    for i in range(count):
        seconds = 0.3 + 0.1 * i
        t = np.arange(int(seconds * SR)) / SR
        x = 0.4 * np.sin(2 * np.pi * (120 + 30 * i) * t) + 0.02 * rng.standard_normal(t.size)
        path = root / "wav" / f"utt{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, x, SR)
        ids[f"utt{i}"] = path
    return ids


def _manifest(path, wavs: dict, root) -> str:
    entries = {
        utt: {"wav": "{data_root}/" + str(os.path.relpath(wav, root)), "duration": 1.0}
        for utt, wav in wavs.items()
    }
    path.write_text(json.dumps(entries))
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    wavs = _corpus(tmp_path)
    return tmp_path, wavs, _manifest(tmp_path / "train.json", wavs, tmp_path)


def test_extracts_every_utterance_with_the_extractor_values(corpus):
    root, wavs, manifest = corpus
    report = extract_corpus([manifest], root / "cache", data_root=root)
    assert report.ok and report.extracted == len(wavs) and report.reused == 0
    assert sorted(report.paths) == sorted(wavs)
    lld = OpenSmileLLD()
    for utt, wav in wavs.items():
        torch.testing.assert_close(load_features(report.paths[utt]), lld.extract_file(wav))
    folder = root / "cache" / lld.config_hash[:16]
    assert (folder / "drnsa_lld.conf").read_bytes() == lld.config.read_bytes()
    assert sorted(p.name.split(".")[0] for p in folder.glob("*.npy")) == sorted(wavs)
    assert not list(folder.glob(".*tmp"))


def test_second_run_reuses_everything(corpus):
    root, wavs, manifest = corpus
    first = extract_corpus([manifest], root / "cache", data_root=root)
    mtimes = {utt: os.stat(path).st_mtime_ns for utt, path in first.paths.items()}
    second = extract_corpus([manifest], root / "cache", data_root=root)
    assert second.extracted == 0 and second.reused == len(wavs)
    assert second.paths == first.paths
    assert {utt: os.stat(path).st_mtime_ns for utt, path in second.paths.items()} == mtimes


def test_interrupted_run_resumes_with_the_missing_files_only(corpus):
    root, wavs, manifest = corpus
    first = extract_corpus([manifest], root / "cache", data_root=root)
    # An interruption leaves some files missing and maybe a temporary file behind.
    for utt in ("utt1", "utt4"):
        os.remove(first.paths[utt])
    leftover = os.path.join(os.path.dirname(first.paths["utt0"]), ".utt1.x.npy.123.tmp")
    open(leftover, "wb").close()
    resumed = extract_corpus([manifest], root / "cache", data_root=root)
    assert resumed.extracted == 2 and resumed.reused == len(wavs) - 2
    assert resumed.paths == first.paths


def test_changed_audio_is_re_extracted_alone_and_its_old_file_removed(corpus):
    root, wavs, manifest = corpus
    first = extract_corpus([manifest], root / "cache", data_root=root)
    soundfile.write(wavs["utt2"], 0.3 * np.ones(SR), SR)
    second = extract_corpus([manifest], root / "cache", data_root=root)
    assert second.extracted == 1 and second.reused == len(wavs) - 1
    assert second.paths["utt2"] != first.paths["utt2"]
    assert not os.path.exists(first.paths["utt2"])
    assert load_features(second.paths["utt2"]).shape == (97, 17)
    assert all(second.paths[u] == first.paths[u] for u in wavs if u != "utt2")


def test_changed_config_re_extracts_into_its_own_folder(corpus):
    root, wavs, manifest = corpus
    first = extract_corpus([manifest], root / "cache", data_root=root)
    conf = root / "other.conf"
    conf.write_text(OpenSmileLLD().config.read_text().replace("k = 0.97", "k = 0.9"))
    other = extract_corpus(
        [manifest], root / "cache", data_root=root, extractor=OpenSmileLLD(conf)
    )
    assert other.extracted == len(wavs)
    assert all(os.path.dirname(other.paths[u]) != os.path.dirname(first.paths[u]) for u in wavs)
    assert all(os.path.exists(p) for p in first.paths.values())


def test_shards_cover_every_utterance_exactly_once(corpus):
    root, wavs, manifest = corpus
    shares = [
        extract_corpus([manifest], root / "cache", shard=f"{k}/4", data_root=root)
        for k in range(1, 5)
    ]
    ids = [utt for share in shares for utt in share.paths]
    assert sorted(ids) == sorted(wavs) and len(ids) == len(set(ids))
    assert all(share.extracted == len(share.paths) for share in shares)
    whole = extract_corpus([manifest], root / "cache", data_root=root)
    assert whole.reused == len(wavs)


@pytest.mark.parametrize("shard", ["0/2", "3/2", "2", "a/b", "1/0"])
def test_invalid_shard_is_refused(corpus, shard):
    root, _, manifest = corpus
    with pytest.raises(ValueError, match="K/N"):
        extract_corpus([manifest], root / "cache", shard=shard, data_root=root)


def test_two_processes_give_the_same_features_as_one(corpus):
    root, wavs, manifest = corpus
    one = extract_corpus([manifest], root / "one", jobs=1, data_root=root)
    two = extract_corpus([manifest], root / "two", jobs=2, data_root=root)
    assert two.ok and two.extracted == len(wavs)
    for utt in wavs:
        torch.testing.assert_close(
            load_features(two.paths[utt]), load_features(one.paths[utt]), rtol=0, atol=0
        )


def test_bad_files_are_listed_and_good_ones_still_extracted(corpus):
    root, wavs, _ = corpus
    bad = {
        "empty": root / "wav" / "empty.wav",
        "text": root / "wav" / "text.wav",
        "missing": root / "wav" / "missing.wav",
        "nan": root / "wav" / "nan.wav",
    }
    bad["empty"].write_bytes(b"")
    bad["text"].write_text("not audio\n" * 20)
    soundfile.write(bad["nan"], np.full(SR, np.nan, dtype=np.float32), SR, subtype="FLOAT")
    manifest = _manifest(root / "mixed.json", {**wavs, **bad}, root)
    report = extract_corpus([manifest], root / "cache", data_root=root)
    assert not report.ok
    assert sorted(report.paths) == sorted(wavs)
    assert sorted(report.failures) == sorted(str(path) for path in bad.values())
    assert report.failures[str(bad["empty"])] == "empty file (0 bytes)"
    assert report.failures[str(bad["missing"])] == "file not found"
    assert report.failures[str(bad["nan"])] == "contains NaN or infinite samples"
    assert report.failures[str(bad["text"])].startswith("not a readable audio file")


def test_cli_lists_bad_files_and_exits_non_zero(corpus, capsys):
    root, wavs, _ = corpus
    broken = root / "wav" / "broken.wav"
    broken.write_bytes(b"RIFF$\x00\x00\x00WAVEfmt ")
    manifest = _manifest(root / "mixed.json", {**wavs, "broken": broken}, root)
    argv = ["extract", manifest, "--cache", str(root / "cache"), "--data-root", str(root)]
    assert cli.main(argv + ["--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert f"{len(wavs)} extracted, 0 reused, 1 failed" in out
    assert f"  {broken}: not a readable audio file" in out
    good = _manifest(root / "good.json", wavs, root)
    cache = ["--cache", str(root / "cache")]
    assert cli.main(["extract", good, *cache, "--data-root", str(root)]) == 0
    assert cli.main(["extract", good, *cache]) == 2
    assert "--data-root" in capsys.readouterr().err


def test_several_manifests_and_conflicting_ids(corpus):
    root, wavs, manifest = corpus
    utts = sorted(wavs)
    first = _manifest(root / "a.json", {u: wavs[u] for u in utts[:4]}, root)
    second = _manifest(root / "b.json", {u: wavs[u] for u in utts[3:]}, root)
    assert sorted(extract_corpus([first, second], root / "c", data_root=root).paths) == utts
    clash = _manifest(root / "clash.json", {utts[0]: wavs[utts[1]]}, root)
    with pytest.raises(InputFileError, match=f"clash.json: utterance '{utts[0]}'"):
        extract_corpus([manifest, clash], root / "c", data_root=root)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"u": {"duration": 1}}', "has no 'wav' path"),
        ("{broken", "malformed JSON"),
    ],
)
def test_malformed_manifest_is_named(tmp_path, content, problem):
    manifest = tmp_path / "bad.json"
    manifest.write_text(content)
    with pytest.raises(InputFileError, match=f"bad.json: .*{problem}"):
        extract_corpus([manifest], tmp_path / "cache")


def test_load_features_rejects_what_is_not_a_feature_file(tmp_path):
    with pytest.raises(InputFileError, match="feature file not found"):
        load_features(tmp_path / "none.npy")
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputFileError, match="garbage.npy: not a feature file"):
        load_features(tmp_path / "garbage.npy")
    np.save(tmp_path / "wrong.npy", np.zeros(3))
    with pytest.raises(InputFileError, match=r"wrong.npy: expected \(frames, features\) float32"):
        load_features(tmp_path / "wrong.npy")
