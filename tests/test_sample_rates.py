"""The same speech at 8, 22.05, 24.414, 44.1 and 48 kHz gives the features and decisions of 16 kHz.

Twelve EmoDB utterances (``../shared/data/emodb``, 16 kHz, one every 44 files) are
written again at every rate by scipy's polyphase resampler, independent of the package's,
as 16-bit WAV files, and read back through the package as a user's files would be. A
feature's difference from the 16 kHz original is measured in units of its spread: the
standard deviation of that feature over the twelve utterances at 16 kHz (for frame
features, over all their frames). From 22.05 kHz up, only what the anti-aliasing filters
take off just below 8 kHz differs. 8 kHz audio has nothing above 4 kHz: it has looser
bounds of its own, and its MFCCs, whose upper mel bands are empty, are not compared
(docs/features.md gives the figures).
"""

from math import gcd
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import resample_poly

from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.features.lld_sets import OpenSmileLLDSet
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.inference import EmotionRecognizer, export

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"
FUSION_MODEL = Path(__file__).resolve().parents[1] / "hparams" / "drn_mhsa_functionals.yaml"
pytestmark = pytest.mark.skipif(not EMODB.is_dir(), reason=f"real EmoDB not present at {EMODB}")
ORIGINAL = 16000
FULL_BAND = [22050, 24414, 44100, 48000]  # rates whose band holds all of 16 kHz's
RATES = [8000, *FULL_BAND]
UTTERANCES = 12
# columns of the 17 LLDs that do not depend on the band above 4 kHz (not the MFCCs)
NARROWBAND_LLDS = slice(12, 17)

# Measured with soxr HQ, worst rate of each band; before it (functionals at the file's own
# rate, LLDs resampled by torchaudio), eGeMAPS functionals moved by a median of 0.38 to 0.64
# of their spread at 22.05 to 48 kHz, ComParE by 0.02 to 0.08, the 17 LLDs by 0.072.
#: Bounds on |difference| / spread: (median, 90th percentile) over utterances x features;
#: measured (0.004, 0.09) from 22.05 kHz up, (0.14, 1.73) at 8 kHz.
FUNCTIONALS_TOLERANCE = {"full band": (0.01, 0.15), "8 kHz": (0.25, 2.5)}
#: The same over frames x columns of the frame features; measured (0.023, 0.051) and
#: (0.10, 0.85) for the 17 LLDs, (0.0006, 0.016) and (0.005, 0.64) for eGeMAPS frames.
FRAMES_TOLERANCE = {"full band": (0.05, 0.12), "8 kHz": (0.25, 1.25)}
#: Bound on the largest change of a class probability, over utterances and classes;
#: measured 0.013 and 0.27 (the largest difference between two utterances: 0.67).
PROBABILITY_TOLERANCE = {"full band": 0.03, "8 kHz": 0.4}


def _band(rate: int) -> str:
    return "8 kHz" if rate == 8000 else "full band"


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[int, list[Path]]:
    """The utterances' files at every rate, 16 kHz first (the originals, written again)."""
    sources = sorted(EMODB.glob("*.wav"))
    sources = sources[:: len(sources) // UTTERANCES][:UTTERANCES]
    root = tmp_path_factory.mktemp("rates")
    files = {}
    for rate in [ORIGINAL, *RATES]:
        (root / str(rate)).mkdir()
        files[rate] = []
        for source in sources:
            samples, source_rate = soundfile.read(source, dtype="float64")
            assert source_rate == ORIGINAL, source
            if rate != ORIGINAL:
                common = gcd(rate, ORIGINAL)
                samples = resample_poly(samples, rate // common, ORIGINAL // common)
            path = root / str(rate) / source.name
            soundfile.write(path, samples, rate, subtype="PCM_16")
            files[rate].append(path)
    return files


def _deviation(values: dict[int, np.ndarray], rate: int, spread: np.ndarray) -> np.ndarray:
    """|value at ``rate`` - value at 16 kHz| / spread, features with a spread only."""
    keep = spread > 1e-6 * (np.abs(values[ORIGINAL]).mean(axis=0) + 1e-12)
    return np.abs(values[rate] - values[ORIGINAL])[:, keep] / spread[keep]


def _check(deviation: np.ndarray, tolerance: tuple[float, float], what: str) -> None:
    median, p90 = np.median(deviation), np.percentile(deviation, 90)
    assert median <= tolerance[0] and p90 <= tolerance[1], (
        f"{what}: median {median:.3f}, 90th percentile {p90:.3f} of the spread; "
        f"bounds {tolerance}"
    )


@pytest.mark.parametrize("feature_set", ["eGeMAPSv02", "ComParE_2016"])
def test_functionals_are_those_of_16_khz_at_any_rate(speech, feature_set):
    extractor = OpenSmileFunctionals(feature_set)
    values = {rate: np.concatenate([extractor.extract_file(path).numpy() for path in paths])
              for rate, paths in speech.items()}
    spread = values[ORIGINAL].std(axis=0)
    for rate in RATES:
        _check(_deviation(values, rate, spread), FUNCTIONALS_TOLERANCE[_band(rate)],
               f"{feature_set} functionals at {rate} Hz")


@pytest.mark.parametrize("extractor", [OpenSmileLLD(), OpenSmileLLDSet("eGeMAPSv02")],
                         ids=["drnsa_llds", "egemaps_frames"])
def test_frame_features_are_those_of_16_khz_at_any_rate(speech, extractor):
    feats = {rate: [extractor.extract_file(path).numpy() for path in paths]
             for rate, paths in speech.items()}
    spread = np.concatenate(feats[ORIGINAL]).std(axis=0)
    for rate in RATES:
        # the file written at another rate may be a sample longer or shorter: common frames
        frames = [min(len(a), len(b)) for a, b in zip(feats[rate], feats[ORIGINAL])]
        assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(feats[rate], feats[ORIGINAL]))
        values = {r: np.concatenate([f[:n] for f, n in zip(feats[r], frames)])
                  for r in (ORIGINAL, rate)}
        if rate == 8000 and isinstance(extractor, OpenSmileLLD):
            values = {r: v[:, NARROWBAND_LLDS] for r, v in values.items()}
            spread_at_rate = spread[NARROWBAND_LLDS]
        else:
            spread_at_rate = spread
        _check(_deviation(values, rate, spread_at_rate), FRAMES_TOLERANCE[_band(rate)],
               f"{type(extractor).__name__} frames at {rate} Hz")


@pytest.fixture(scope="module")
def fusion_model(train_tiny, tmp_path_factory) -> Path:
    """A tiny exported model on the 17 LLDs and eGeMAPS functionals (the pair a rate upset)."""
    root = tmp_path_factory.mktemp("rates_fusion")
    assert train_tiny(root, "--fold=0", f"--model_file={FUSION_MODEL}",
                      "--functionals=eGeMAPSv02", "--speaker_normalization=false") == 0
    return export(root / "drn_mhsa" / "1234" / "fold_0", root / "model")


def test_model_probabilities_are_those_of_16_khz_at_any_rate(speech, fusion_model):
    recognizer = EmotionRecognizer.from_hparams(fusion_model)
    probabilities = {rate: torch.cat([recognizer.classify_file(path)[0] for path in paths])
                     for rate, paths in speech.items()}
    # the model must tell the utterances apart, or equal probabilities would prove nothing
    between = (probabilities[ORIGINAL] - probabilities[ORIGINAL].mean(dim=0)).abs().max()
    assert between > 2 * PROBABILITY_TOLERANCE["full band"]
    for rate in RATES:
        change = float((probabilities[rate] - probabilities[ORIGINAL]).abs().max())
        assert change <= PROBABILITY_TOLERANCE[_band(rate)], (
            f"{rate} Hz: a probability moved by {change:.4f}, across utterances by {between:.3f}"
        )


def test_the_onnx_backend_reads_other_rates_as_torch_does(speech, train_tiny, tmp_path):
    """Both backends take their frames from the same extractor, so the same resampler."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    assert train_tiny(tmp_path, "--fold=0", "--max_epochs=1") == 0
    folder = export(tmp_path / "drn_mhsa" / "1234" / "fold_0", tmp_path / "model", onnx=True)
    by_torch = EmotionRecognizer.from_hparams(folder)
    by_onnx = EmotionRecognizer.from_hparams(folder, backend="onnx")
    original = by_onnx.classify_file(speech[ORIGINAL][0])[0]
    for rate in FULL_BAND:
        ours = by_onnx.classify_file(speech[rate][0])[0]
        torch.testing.assert_close(ours, by_torch.classify_file(speech[rate][0])[0],
                                   rtol=0, atol=1e-4)
        assert float((ours - original).abs().max()) <= PROBABILITY_TOLERANCE["full band"]
