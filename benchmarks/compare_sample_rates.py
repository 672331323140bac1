"""How far the same EmoDB speech at other rates moves the features from 16 kHz, before and now.

The table of docs/features.md ("Sample rates") comes from this script. Every 20th EmoDB
file (27 utterances) is written again at 8, 22.05, 24.414, 44.1 and 48 kHz by scipy's
polyphase resampler as a 16-bit WAV file and read back. For each rate it prints the median
and 90th percentile of |feature - feature of the 16 kHz file| / spread, where the spread
is the feature's standard deviation over the 27 utterances at 16 kHz (over all frames for
the 17 LLDs), for eGeMAPSv02 and ComParE_2016 functionals and the 17 LLDs:

- now: every feature computed on the signal resampled to 16 kHz by the package's
  resampler (:mod:`speechbrain_drnsa.features.resample`, python-soxr);
- before: the package until this resampler, functionals computed at the file's own rate
  and the LLDs resampled with ``torchaudio.functional.resample``.

Run: ``python benchmarks/compare_sample_rates.py`` (about 5 minutes, most of it
torchaudio at 24.414 kHz; ``--emodb DIR`` for another EmoDB ``wav`` folder).
"""

import argparse
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional
from scipy.signal import resample_poly

import speechbrain_drnsa.features.opensmile as opensmile_module
from speechbrain_drnsa.features import read_audio
from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.features.resample import resample

EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "wav"
RATES = [8000, 22050, 24414, 44100, 48000]
SETS = ["eGeMAPSv02", "ComParE_2016"]


def _torchaudio(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    if orig_rate == new_rate:
        return samples
    return torchaudio.functional.resample(torch.from_numpy(samples), orig_rate, new_rate).numpy()


def _features(path: Path, before: bool) -> dict[str, np.ndarray]:
    """The two functional sets and the LLDs of a file, computed now or as before."""
    opensmile_module.resample = _torchaudio if before else resample
    signal, rate = read_audio(path)
    values = {"17 LLDs": OpenSmileLLD().extract(signal, rate).numpy()}
    for name in SETS:
        extractor = OpenSmileFunctionals(name)
        if before:
            frame = extractor._get_smile().process_signal(signal.numpy(), rate)
            values[name] = frame.to_numpy()[:1].astype(np.float32)
        else:
            values[name] = extractor.extract(signal, rate).numpy()
    opensmile_module.resample = resample
    return values


def _deviation(ours: list[np.ndarray], original: list[np.ndarray], spread: np.ndarray) -> str:
    frames = [min(len(a), len(b)) for a, b in zip(ours, original)]
    a = np.concatenate([x[:n] for x, n in zip(ours, frames)])
    b = np.concatenate([x[:n] for x, n in zip(original, frames)])
    keep = spread > 1e-6 * (np.abs(b).mean(axis=0) + 1e-12)
    d = np.abs(a - b)[:, keep] / spread[keep]
    return f"{np.median(d):.3f} ({np.percentile(d, 90):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emodb", type=Path, default=EMODB, help="EmoDB's wav folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sources = sorted(args.emodb.glob("*.wav"))[::20]
    values = {(rate, before): {} for rate in [16000, *RATES] for before in (False, True)}
    with tempfile.TemporaryDirectory() as folder:
        for source in sources:
            samples, source_rate = soundfile.read(source, dtype="float64")
            for rate in [16000, *RATES]:
                common = gcd(rate, source_rate)
                path = Path(folder) / f"{rate}.wav"
                soundfile.write(path, resample_poly(samples, rate // common,
                                                    source_rate // common), rate,
                                subtype="PCM_16")
                for before in (False, True):
                    for name, feats in _features(path, before).items():
                        values[rate, before].setdefault(name, []).append(feats)
    names = ["17 LLDs", *SETS]
    print(f"{len(sources)} EmoDB utterances; median (90th percentile) of |difference| / spread\n")
    print("| rate | " + " | ".join(f"{n}, before | {n}, now" for n in names) + " |")
    print("|---" * (2 * len(names) + 1) + "|")
    for rate in RATES:
        cells = []
        for name in names:
            for before in (True, False):
                original = values[16000, before][name]
                spread = np.concatenate(original).std(axis=0)
                cells.append(_deviation(values[rate, before][name], original, spread))
        print(f"| {rate / 1000:g} kHz | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
