"""Compare the F0 of our openSMILE configuration with Praat's pitch tracker on EmoDB.

The numbers of ``docs/features.md`` (section "One pitch tracker: cPitchACF") come from
this script. On every 12th file of EmoDB (45 utterances), Praat's autocorrelation
tracker (60-600 Hz, 10 ms steps) is the reference, and each F0 source is compared with it
frame by frame, frames aligned by their centre time:

1. ours: :class:`~speechbrain_drnsa.features.OpenSmileLLD`, the raw cPitchACF candidate
   gated at ``voiceProb >= 0.45`` (the ``logF0`` column), and the same gate at 0.5 and 0.4;
2. cPitchACF's own smoothed ``F0`` output with a voicing cutoff of 0.45 (a variant of the
   shipped ``drnsa_lld.conf`` written to a temporary folder);
3. openSMILE's subharmonic-summation tracker with Viterbi smoothing (cPitchShs +
   cPitchSmootherViterbi, eGeMAPSv02's settings) on the same 40 ms frames.

For each it prints the gross errors (frames both call voiced where F0 is more than 20 %
from Praat's), the share of Praat-voiced frames it calls voiced, the share of
Praat-unvoiced frames it calls voiced, the ROC AUC of our ``voiceProb`` against Praat's
voicing, and the real-time factor of our configuration and of the SHS chain.

Praat comes from ``praat-parselmouth``, needed by this comparison only (not a dependency
of the package): ``pip install praat-parselmouth``.

Run: ``python benchmarks/compare_pitch_trackers.py`` (about a minute;
``--emodb DIR`` for another EmoDB ``wav`` folder).
"""

import argparse
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import opensmile
import soundfile
import torch
from sklearn.metrics import roc_auc_score

from speechbrain_drnsa.features import OpenSmileLLD

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"
CONFIG = Path(__file__).resolve().parents[1] / "speechbrain_drnsa" / "features" / "drnsa_lld.conf"
SR = 16000
EVERY = 12
GROSS = 0.2
THRESHOLD = 0.45
PRAAT_FLOOR, PRAAT_CEILING, PRAAT_STEP = 60.0, 600.0, 0.01
TIMING_REPEATS = 5
# Frame i of our 40 ms / 10 ms framing covers [10 i, 10 i + 40) ms.
FRAME_SIZE, FRAME_STEP = 0.040, 0.010
VOICE_PROB, LOG_F0 = 13, 15
SHS_LEVEL = "shs_f0"

# eGeMAPSv02's F0 chain (GeMAPSv01b_core.lld.conf.inc) with our 40 ms frames instead of 60 ms.
SHS_CONFIG = r"""
[componentInstances:cComponentManager]
instance[dataMemory].type=cDataMemory
printLevelStats=0
nThreads=1

\{\cm[source{?}:include external source]}

[componentInstances:cComponentManager]
instance[shs_framer].type=cFramer
instance[shs_window].type=cWindower
instance[shs_fft].type=cTransformFFT
instance[shs_fftmag].type=cFFTmagphase
instance[shs_scale].type=cSpecScale
instance[shs_pitch].type=cPitchShs
instance[shs_energy].type=cEnergy
instance[shs_viterbi].type=cPitchSmootherViterbi
instance[shs_volmerge].type=cValbasedSelector
instance[shs_select].type=cDataSelector

[shs_framer:cFramer]
reader.dmLevel = wave
writer.dmLevel = shs_frames
writer.levelconf.growDyn = 0
writer.levelconf.isRb = 1
writer.levelconf.nT = 5
noPostEOIprocessing = 1
frameSize = 0.040
frameStep = 0.010
frameCenterSpecial = left

[shs_window:cWindower]
reader.dmLevel = shs_frames
writer.dmLevel = shs_win
winFunc = gauss
gain = 1.0
sigma = 0.4

[shs_fft:cTransformFFT]
reader.dmLevel = shs_win
writer.dmLevel = shs_fftc

[shs_fftmag:cFFTmagphase]
reader.dmLevel = shs_fftc
writer.dmLevel = shs_fftmag
writer.levelconf.growDyn = 0
writer.levelconf.isRb = 1
writer.levelconf.nT = 150

[shs_scale:cSpecScale]
reader.dmLevel = shs_fftmag
writer.dmLevel = shs_octscale
writer.levelconf.growDyn = 0
writer.levelconf.isRb = 1
writer.levelconf.nT = 5
copyInputName = 1
processArrayFields = 0
scale = octave
sourceScale = lin
interpMethod = spline
minF = 25
maxF = -1
nPointsTarget = 0
specSmooth = 1
specEnhance = 1
auditoryWeighting = 1

[shs_pitch:cPitchShs]
reader.dmLevel = shs_octscale
writer.dmLevel = shs_pitch
writer.levelconf.growDyn = 0
writer.levelconf.isRb = 1
writer.levelconf.nT = 150
copyInputName = 1
processArrayFields = 0
maxPitch = 1000
minPitch = 55
nCandidates = 6
scores = 1
voicing = 1
F0C1 = 0
voicingC1 = 0
F0raw = 1
voicingClip = 1
voicingCutoff = 0.700000
inputFieldSearch = Mag_octScale
octaveCorrection = 0
nHarmonics = 15
compressionFactor = 0.850000
greedyPeakAlgo = 1

[shs_energy:cEnergy]
reader.dmLevel = shs_win
writer.dmLevel = shs_energy
writer.levelconf.growDyn = 0
writer.levelconf.isRb = 1
writer.levelconf.nT = 150
rms = 1
log = 0

[shs_viterbi:cPitchSmootherViterbi]
reader.dmLevel = shs_pitch
reader2.dmLevel = shs_pitch
writer.dmLevel = shs_viterbi
copyInputName = 1
bufferLength = 40
F0final = 1
F0finalLog = 0
F0finalEnv = 0
voicingFinalClipped = 0
voicingFinalUnclipped = 1
F0raw = 0
voicingC1 = 0
voicingClip = 0
wTvv = 10.0
wTvvd = 5.0
wTvuv = 10.0
wThr = 4.0
wTuu = 0.0
wLocal = 2.0
wRange = 1.0

[shs_volmerge:cValbasedSelector]
reader.dmLevel = shs_energy;shs_viterbi
writer.dmLevel = shs_volmerged
writer.levelconf.growDyn = 0
writer.levelconf.isRb = 1
writer.levelconf.nT = 150
idx = 0
threshold = 0.001
removeIdx = 1
zeroVec = 1
outputVal = 0.0

[shs_select:cDataSelector]
reader.dmLevel = shs_volmerged
writer.dmLevel = shs_f0
selected = F0final
newNames = F0

\{\cm[sink{?}:include external sink]}
"""


def _variant(text: str, edits: list[tuple[str, str]]) -> str:
    """Apply exact text replacements to the shipped config, each found exactly once."""
    for old, new in edits:
        if text.count(old) != 1:
            raise ValueError(f"{CONFIG}: expected {old!r} exactly once, the config changed")
        text = text.replace(old, new)
    return text


def _write_configs(folder: Path) -> dict[str, Path]:
    """Write the ACF variants and the SHS chain to ``folder``."""
    shipped = CONFIG.read_text()
    gate = "threshold = 0.45"
    texts = {
        "gate 0.5": _variant(shipped, [(gate, "threshold = 0.5")]),
        "gate 0.4": _variant(shipped, [(gate, "threshold = 0.4")]),
        # The smoothed F0 replaces F0raw in the gated column; its own cutoff matches the gate.
        "smoothed": _variant(shipped, [
            ("F0 = 0\nF0raw = 1", "F0 = 1\nF0raw = 1\nvoicingCutoff = 0.45"),
            ("selected = voiceProb;F0raw", "selected = voiceProb;F0"),
        ]),
        "shs": SHS_CONFIG,
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = folder / f"{name.replace(' ', '_')}.conf"
        paths[name].write_text(text)
    return paths


def _praat(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Praat's frame times and F0 (0 where unvoiced)."""
    import parselmouth

    pitch = parselmouth.Sound(samples, SR).to_pitch_ac(
        time_step=PRAAT_STEP, pitch_floor=PRAAT_FLOOR, pitch_ceiling=PRAAT_CEILING
    )
    return np.asarray(pitch.xs()), pitch.selected_array["frequency"]


def _align(num_frames: int, times: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Praat's F0 at the centre of each of our frames; NaN where no Praat frame is near."""
    centres = FRAME_SIZE / 2 + FRAME_STEP * np.arange(num_frames)
    index = np.rint((centres - times[0]) / PRAAT_STEP).astype(int)
    inside = (index >= 0) & (index < len(times))
    aligned = np.full(num_frames, np.nan)
    aligned[inside] = reference[index[inside]]
    near = np.abs(times[np.clip(index, 0, len(times) - 1)] - centres) <= PRAAT_STEP / 2
    aligned[~near] = np.nan
    return aligned


def _scores(f0: np.ndarray, praat: np.ndarray) -> tuple[float, float, float]:
    """Gross errors, Praat-voiced frames found, Praat-unvoiced frames called voiced (%)."""
    voiced, reference = f0 > 0, praat > 0
    both = voiced & reference
    gross = np.abs(f0[both] - praat[both]) > GROSS * praat[both]
    return (
        100 * gross.mean(),
        100 * voiced[reference].mean(),
        100 * voiced[~reference].mean(),
    )


def _f0_from_lld(feats: np.ndarray) -> np.ndarray:
    """F0 in Hz from the gated ``logF0`` column (0 where unvoiced)."""
    log_f0 = feats[:, LOG_F0]
    return np.where(log_f0 > 0, np.exp(log_f0), 0.0)


def _rtf(smile: opensmile.Smile, signals: list[np.ndarray]) -> float:
    """Processing time over audio duration for all signals, best of a few passes."""
    duration = sum(len(x) for x in signals) / SR
    best = float("inf")
    for _ in range(TIMING_REPEATS):
        start = time.perf_counter()
        for x in signals:
            smile(x, SR)
        best = min(best, time.perf_counter() - start)
    return best / duration


def main(argv: list[str] | None = None) -> None:
    """Print the comparison as a markdown section.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``): ``--emodb DIR``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", type=Path, default=EMODB, help="EmoDB wav folder")
    args = parser.parse_args(argv)
    try:
        import parselmouth  # noqa: F401
    except ImportError:
        sys.exit("This comparison needs Praat: pip install praat-parselmouth")
    files = sorted(args.emodb.glob("*.wav"))[::EVERY]
    if not files:
        sys.exit(f"{args.emodb}: no .wav files (pass --emodb DIR)")

    signals = []
    for path in files:
        samples, rate = soundfile.read(path, dtype="float32")
        if rate != SR or samples.ndim != 1:
            sys.exit(f"{path}: expected 16 kHz mono EmoDB audio, got {rate} Hz {samples.shape}")
        signals.append(samples)

    with tempfile.TemporaryDirectory() as folder:
        configs = _write_configs(Path(folder))
        ours = OpenSmileLLD()
        variants = {
            name: OpenSmileLLD(configs[name]) for name in ("gate 0.5", "gate 0.4", "smoothed")
        }
        shs = opensmile.Smile(feature_set=str(configs["shs"]), feature_level=SHS_LEVEL,
                              options={"blockSize": 100})
        f0s: dict[str, list[np.ndarray]] = {
            name: [] for name in ("ours", "gate 0.5", "gate 0.4", "smoothed", "shs")
        }
        praat, voice_prob = [], []
        for x in signals:
            feats = ours.extract(torch.from_numpy(x), SR).numpy()
            times, reference = _praat(x)
            aligned = _align(len(feats), times, reference)
            keep = ~np.isnan(aligned)
            praat.append(aligned[keep])
            voice_prob.append(feats[keep, VOICE_PROB])
            f0s["ours"].append(_f0_from_lld(feats)[keep])
            for name, lld in variants.items():
                other = lld.extract(torch.from_numpy(x), SR).numpy()
                f0s[name].append(_f0_from_lld(other)[keep])
            shs_f0 = shs(x, SR)[0][0]
            if len(shs_f0) != len(feats):
                sys.exit(f"SHS chain gave {len(shs_f0)} frames, ours {len(feats)}")
            f0s["shs"].append(shs_f0[keep])
        ours_smile = opensmile.Smile(feature_set=str(CONFIG), feature_level="drnsa_lld",
                                     options={"blockSize": 100})
        rtf_ours = _rtf(ours_smile, signals)
        rtf_shs = _rtf(shs, signals)

    reference = np.concatenate(praat)
    rows = {
        "ours": f"**ours: raw ACF F0 gated at voiceProb >= {THRESHOLD}**",
        "smoothed": f"cPitchACF's own smoothed `F0` output, cutoff {THRESHOLD}",
        "shs": "cPitchShs + Viterbi (eGeMAPS settings, 40 ms frames)",
    }
    scores = {name: _scores(np.concatenate(f0), reference) for name, f0 in f0s.items()}
    auc = roc_auc_score(reference > 0, np.concatenate(voice_prob))
    duration = sum(len(x) for x in signals) / SR

    print("## Pitch trackers against Praat on EmoDB\n")
    print(f"{len(files)} utterances (every {EVERY}th file of `{args.emodb.name}`), "
          f"{duration:.0f} s, {len(reference)} frames aligned by time, "
          f"{int((reference > 0).sum())} voiced by Praat (autocorrelation, "
          f"{PRAAT_FLOOR:.0f}-{PRAAT_CEILING:.0f} Hz).\n")
    print("| F0 source | gross errors (> 20 % from Praat) | Praat-voiced frames found "
          "| Praat-unvoiced frames called voiced |")
    print("|---|---|---|---|")
    for name, label in rows.items():
        gross, found, false = scores[name]
        print(f"| {label} | {gross:.1f} % | {found:.0f} % | {false:.1f} % |")
    print()
    for name in ("gate 0.5", "gate 0.4"):
        gross, found, false = scores[name]
        print(f"- ours, {name}: {gross:.1f} % / {found:.0f} % / {false:.1f} %")
    print(f"- ROC AUC of voiceProb against Praat's voicing: {auc:.2f}")
    print(f"- real-time factor, best of {TIMING_REPEATS} passes, one thread: ours "
          f"{rtf_ours:.4f}, SHS chain {rtf_shs:.4f} ({rtf_shs / rtf_ours:.1f} times as long)")
    print(f"\nMachine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"Python {platform.python_version()}, opensmile {version('opensmile')}, "
          f"praat-parselmouth {version('praat-parselmouth')}.")


if __name__ == "__main__":
    main()
