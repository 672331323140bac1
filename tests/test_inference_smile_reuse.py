"""Classifying many files sets up openSMILE's Python object once, not once per file."""

import numpy as np
import opensmile
import soundfile

from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.inference.batch import classify_paths


def _count_smile_objects(monkeypatch) -> list:
    built, real = [], opensmile.Smile

    def counting(*args, **kwargs):
        built.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(opensmile, "Smile", counting)
    return built


def test_one_extractor_builds_one_smile_object_for_every_signal_and_rate(monkeypatch):
    built = _count_smile_objects(monkeypatch)
    extractor = OpenSmileLLD()
    first = extractor.extract(0.1 * np.sin(np.arange(16000) / 7.0).astype(np.float32), 16000)
    extractor.extract(np.zeros(44100, np.float32), 44100)
    again = extractor.extract(0.1 * np.sin(np.arange(16000) / 7.0).astype(np.float32), 16000)
    assert len(built) == 1
    assert np.array_equal(first.numpy(), again.numpy())  # reuse keeps no state between calls


def test_classifying_many_files_reuses_the_recognizers_smile_object(monkeypatch, tmp_path,
                                                                    demo_corpus, train_tiny):
    from speechbrain_drnsa.inference import EmotionRecognizer, export

    root = tmp_path / "run"
    assert train_tiny(root, "--fold=0") == 0
    recognizer = EmotionRecognizer.from_hparams(export(root / "drn_mhsa" / "1234", root / "m"))
    files = sorted(demo_corpus.rglob("*.wav"))[:3]
    soundfile.write(tmp_path / "long.wav", np.tile(soundfile.read(files[0])[0], 8), 16000)
    built = _count_smile_objects(monkeypatch)
    results = list(classify_paths(recognizer, [*files, tmp_path / "long.wav"], window_s=4.0))
    assert all(reason is None for *_, reason in results)
    assert len(results[-1][1].windows) > 1
    assert len(built) == 1  # built on first use, then reused: not one per file or window
