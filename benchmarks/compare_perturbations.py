"""How waveform perturbations change the 17 LLDs, on EmoDB.

The reading of the perturbation rows of ``docs/results.md`` comes from this script.
For every 5th file of EmoDB (107 utterances) it extracts the LLDs of the recording and
of each perturbation (:mod:`speechbrain_drnsa.features.perturb`) and prints, per
perturbation, the share of voiced frames (``logF0 > 0``: cPitchACF's voicing
probability at least 0.45), the mean voicing probability, HNR, ZCR and log energy over
all frames, and the number of frames relative to the recording.

Run: ``python benchmarks/compare_perturbations.py`` (about a minute;
``--emodb DIR`` for another EmoDB ``wav`` folder).
"""

import argparse
import platform
from pathlib import Path

import torch

from speechbrain_drnsa.features import FEATURE_NAMES, OpenSmileLLD
from speechbrain_drnsa.features.perturb import PerturbedLLD, WaveformPerturbation

EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "wav"
PERTURBATIONS = [
    WaveformPerturbation(speed=0.9),
    WaveformPerturbation(speed=1.1),
    WaveformPerturbation(gain_db=-6),
    WaveformPerturbation(snr_db=40),
    WaveformPerturbation(snr_db=30),
    WaveformPerturbation(snr_db=20),
]
_COLUMNS = {name: FEATURE_NAMES.index(name) for name in ("voiceProb", "HNRdB", "zcr", "logEnergy")}


def describe(features: list[torch.Tensor], reference_frames: int) -> list[str]:
    """Table cells for one perturbation: voiced share, column means, relative length."""
    frames = torch.cat(features)
    voiced = (frames[:, FEATURE_NAMES.index("logF0")] > 0).float().mean()
    means = [f"{float(frames[:, column].mean()):.3f}" for column in _COLUMNS.values()]
    return [f"{float(voiced):.3f}", *means, f"{frames.shape[0] / reference_frames:.3f}"]


def main(argv: list[str] | None = None) -> None:
    """Print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb", type=Path, default=EMODB, help="EmoDB wav folder")
    args = parser.parse_args(argv)
    files = sorted(args.emodb.glob("*.wav"))[::5]
    recorded = [OpenSmileLLD().extract_file(path) for path in files]
    total = sum(f.shape[0] for f in recorded)
    header = ["audio", "voiced share", *(f"mean {name}" for name in _COLUMNS), "frames"]
    print(f"## LLDs of perturbed EmoDB audio ({len(files)} files)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("| recorded | " + " | ".join(describe(recorded, total)) + " |")
    for perturbation in PERTURBATIONS:
        extractor = PerturbedLLD(perturbation)
        features = [extractor.extract_file(path) for path in files]
        print(f"| {perturbation.name} | " + " | ".join(describe(features, total)) + " |")
    print(f"\nMachine: {platform.processor() or platform.machine()}, {platform.platform()}.")


if __name__ == "__main__":
    main()
