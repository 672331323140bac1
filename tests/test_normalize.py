"""Feature normalisation: statistics, padding, checkpoints, folds and speakers."""

import io
import json

import numpy as np
import pytest
import soundfile
import torch
from torch import nn

from speechbrain_drnsa.features import normalize
from speechbrain_drnsa.features.cache import extract_corpus, load_features
from speechbrain_drnsa.features.normalize import FeatureNormalizer, fit_normalizer

SR = 16000


def _utterances(count: int = 5, seed: int = 0, features: int = 17) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(20 + 7 * i, features, generator=generator) * (1 + torch.arange(features))
        + torch.arange(features)
        for i in range(count)
    ]


def test_fit_matches_the_statistics_of_all_frames():
    utterances = _utterances() + [torch.zeros(0, 17)]
    norm = FeatureNormalizer().fit(iter(utterances))
    frames = torch.cat(utterances).double()
    assert int(norm.count) == frames.shape[0]
    torch.testing.assert_close(norm.mean, frames.mean(0).float())
    torch.testing.assert_close(norm.std, frames.std(0, unbiased=False).float())


def test_streamed_float64_statistics_keep_precision_with_a_large_offset():
    # 200 utterances around 1e4 with a spread of 0.1: float32 sums would lose the spread.
    utterances = [1e4 + 0.1 * u for u in _utterances(200, seed=1, features=3)]
    norm = FeatureNormalizer(num_features=3).fit(u.double() for u in utterances)
    frames = torch.cat([u.double() for u in utterances])
    torch.testing.assert_close(norm.std.double(), frames.std(0, unbiased=False), rtol=1e-5, atol=0)


def test_forward_standardises_and_keeps_padding_at_zero():
    norm = FeatureNormalizer().fit(_utterances())
    long, short = _utterances(2, seed=3)[1], _utterances(1, seed=4)[0]
    batch = torch.zeros(2, long.shape[0], 17)
    batch[0], batch[1, : short.shape[0]] = long, short
    lengths = torch.tensor([1.0, short.shape[0] / long.shape[0]])
    out = norm(batch, lengths)
    torch.testing.assert_close(out[0], (long - norm.mean) / norm.std)
    torch.testing.assert_close(out[1, : short.shape[0]], norm(short[None])[0])
    assert (out[1, short.shape[0] :] == 0).all()


def test_constant_feature_is_only_centred():
    utterances = _utterances()
    for u in utterances:
        u[:, 4] = 7.0
    norm = FeatureNormalizer().fit(utterances)
    assert norm.std[4] == 1.0 and norm.mean[4] == 7.0


def test_statistics_travel_in_the_state_dict_of_a_model(tmp_path):
    model = nn.Sequential()
    model.normalizer = FeatureNormalizer().fit(_utterances())
    model.head = nn.Linear(17, 4)
    assert {"normalizer.mean", "normalizer.std", "normalizer.count"} <= set(model.state_dict())
    torch.save(model.state_dict(), tmp_path / "model.ckpt")
    restored = nn.Sequential()
    restored.normalizer = FeatureNormalizer()
    restored.head = nn.Linear(17, 4)
    restored.load_state_dict(torch.load(tmp_path / "model.ckpt", weights_only=True))
    assert restored.normalizer.fitted
    x = torch.randn(3, 10, 17)
    torch.testing.assert_close(restored.normalizer(x), model.normalizer(x))


def test_misuse_is_refused():
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureNormalizer()(torch.zeros(1, 2, 17))
    with pytest.raises(ValueError, match="no frames"):
        FeatureNormalizer().fit([])
    with pytest.raises(ValueError, match=r"utterance 1: expected \(frames, 17\)"):
        FeatureNormalizer().fit([torch.zeros(3, 17), torch.zeros(3, 16)])
    with pytest.raises(ValueError, match="NaN"):
        FeatureNormalizer().fit([torch.full((3, 17), float("nan"))])
    with pytest.raises(ValueError, match=r"expected \(batch, time, 17\)"):
        FeatureNormalizer().fit(_utterances())(torch.zeros(2, 17))


def _fold_corpus(root) -> tuple[dict[str, str], list[str], list[str]]:
    """Quiet low tones for training, loud noise for testing: very different statistics."""
    rng = np.random.default_rng(0)
    entries, train, test = {}, [], []
    for i in range(6):
        t = np.arange(int(0.5 * SR)) / SR
        if i < 4:
            x, part = 0.05 * np.sin(2 * np.pi * (100 + 20 * i) * t), train
        else:
            x, part = 0.8 * rng.uniform(-1, 1, t.size), test
        soundfile.write(root / f"u{i}.wav", x, SR)
        entries[f"u{i}"] = {"wav": "{data_root}/" + f"u{i}.wav"}
        part.append(f"u{i}")
    (root / "all.json").write_text(json.dumps(entries))
    report = extract_corpus([root / "all.json"], root / "cache", data_root=root)
    assert report.ok
    return report.paths, train, test


def test_test_fold_audio_never_enters_the_statistics(tmp_path, monkeypatch):
    paths, train, test = _fold_corpus(tmp_path)
    opened = []

    def spy(path):
        opened.append(str(path))
        return load_features(path)

    monkeypatch.setattr(normalize, "load_features", spy)
    norm = fit_normalizer(paths[u] for u in train)
    assert sorted(opened) == sorted(paths[u] for u in train)
    train_frames = torch.cat([load_features(paths[u]) for u in train]).double()
    torch.testing.assert_close(norm.mean, train_frames.mean(0).float())
    everything = fit_normalizer(paths.values())
    assert not torch.allclose(everything.mean, norm.mean, atol=0.1)
    # The test files could be gone: the fold's statistics do not change.
    for u in test:
        open(paths[u], "wb").close()
    torch.testing.assert_close(fit_normalizer(paths[u] for u in train).mean, norm.mean)


def test_per_speaker_standardisation_uses_each_speakers_own_statistics():
    by_speaker = {"F1": _utterances(3, seed=5), "M1": [5 + 2 * u for u in _utterances(2, seed=6)]}
    norm = FeatureNormalizer(per_speaker=True)
    for speaker, utterances in by_speaker.items():
        norm.fit_speaker(speaker, utterances)
    assert set(norm.speakers) == {"F1", "M1"}
    for speaker, utterances in by_speaker.items():
        frames = torch.cat([norm.standardize_speaker(u, speaker) for u in utterances])
        torch.testing.assert_close(frames.mean(0), torch.zeros(17), atol=1e-5, rtol=0)
        torch.testing.assert_close(frames.std(0, unbiased=False), torch.ones(17), atol=1e-5, rtol=0)
    with pytest.raises(KeyError, match="no statistics for speaker 'X9'"):
        norm.standardize_speaker(by_speaker["F1"][0], "X9")


def test_one_stage_per_speaker_then_fold_statistics_and_both_travel_in_the_state_dict():
    utterances = [_utterances(1, seed=s)[0] * (1 + s) + s for s in range(4)]
    speakers = ["F1", "F1", "M1", "M1"]
    norm = FeatureNormalizer(per_speaker=True)
    for speaker in ("F1", "M1"):
        norm.fit_speaker(speaker, [u for u, s in zip(utterances, speakers) if s == speaker])
    with pytest.raises(ValueError, match="needs the speaker of every utterance"):
        norm.fit(utterances)
    norm.fit(utterances[:3], speakers[:3])
    batch = torch.nn.utils.rnn.pad_sequence(utterances[2:], batch_first=True)
    lengths = torch.tensor([len(u) for u in utterances[2:]]) / batch.shape[1]
    expected = (norm.standardize_speaker(utterances[2], "M1") - norm.mean) / norm.std
    out = norm(batch, lengths, ["M1", "M1"])
    torch.testing.assert_close(out[0, : len(utterances[2])], expected)
    # a checkpoint restores the speakers' statistics too (read with weights_only)
    buffer = io.BytesIO()
    torch.save(norm.state_dict(), buffer)
    buffer.seek(0)
    restored = FeatureNormalizer()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.per_speaker and set(restored.speakers) == {"F1", "M1"}
    torch.testing.assert_close(restored(batch, lengths, ["M1", "M1"]), out)


def test_per_speaker_statistics_follow_the_batch_to_its_device():
    """Speakers' statistics are extra state, which Module.to() leaves behind: on a GPU the
    batch is elsewhere (the meta device stands in for one here)."""
    norm = FeatureNormalizer(num_features=17, per_speaker=True)
    norm.fit_speaker("F1", [torch.randn(30, 17)]).fit([torch.randn(30, 17)], ["F1"])
    out = norm(torch.randn(2, 8, 17, device="meta"), torch.tensor([1.0, 0.5]), ["F1", "F1"])
    assert out.device.type == "meta" and out.shape == (2, 8, 17)
