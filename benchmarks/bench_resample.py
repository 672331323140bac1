"""Benchmark of resampling to 16 kHz: python-soxr (the package's) against torchaudio.

Prints a markdown section with:

1. the time to resample 5 s of audio from 8, 22.05, 24.414, 44.1 and 48 kHz to
   16 kHz, one thread, with :func:`speechbrain_drnsa.features.resample.resample`
   (libsoxr, HQ) and with ``torchaudio.functional.resample`` (which the
   package used before; its sinc kernel grows with the reduced ratio of the
   rates, 12207:8000 for 24414 Hz);
2. the time to classify a TESS file (24414 Hz) with ``EmotionRecognizer.classify_file``
   and the share of it spent resampling, with each resampler.

The model is ``hparams/drn_mhsa.yaml`` with random weights, as in
``bench_inference.py``. The audio is EmoDB speech written at each rate (a synthetic
voiced signal without ``../shared/data/emodb``), and the first TESS file of
``../shared/data/tess``.

Run (about 2 minutes on 2 idle cores)::

    python benchmarks/run.py resample
"""

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional
from scipy.signal import resample_poly

import speechbrain_drnsa.features.opensmile as opensmile_module
from bench_inference import _machine, _model_folder, _speech
from speechbrain_drnsa.features.resample import RESAMPLER, resample
from speechbrain_drnsa.inference import EmotionRecognizer

ROOT = Path(__file__).resolve().parents[1]
TESS = ROOT.parent / "shared" / "data" / "tess" / "wav"
RATES = [8000, 22050, 24414, 44100, 48000]


def _torchaudio(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """The package's resampling before python-soxr."""
    if orig_rate == new_rate:
        return samples
    return torchaudio.functional.resample(torch.from_numpy(samples), orig_rate, new_rate).numpy()


RESAMPLERS = {f"python-soxr ({RESAMPLER})": resample, "torchaudio.functional.resample": _torchaudio}


def _median_ms(run: Callable[[], object], reps: int) -> float:
    """Median wall time of ``reps`` calls after one untimed call, in milliseconds."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def _resampling_table(speech: np.ndarray, reps: int) -> str:
    lines = ["| rate of 5 s of audio | " + " | ".join(f"{name} (ms)" for name in RESAMPLERS)
             + " |", "|---" * (len(RESAMPLERS) + 1) + "|"]
    for rate in RATES:
        common = gcd(rate, 16000)
        samples = resample_poly(speech, rate // common, 16000 // common).astype(np.float32)
        cells = []
        for name, function in RESAMPLERS.items():
            slow = function is _torchaudio and 16000 // common > 1000  # seconds a call
            ms = _median_ms(lambda: function(samples, rate, 16000), 3 if slow else reps)
            cells.append(f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}")
        lines.append(f"| {rate / 1000:g} kHz | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _tess_table(folder: Path, path: Path, reps: int) -> str:
    recognizer = EmotionRecognizer.from_hparams(folder)
    samples, rate = soundfile.read(path, dtype="float32")
    lines = ["| resampler | `classify_file` (ms) | of which resampling (ms) | share |",
             "|---|---|---|---|"]
    for name, function in RESAMPLERS.items():
        spent = []

        def timed(*args, function=function):
            start = time.perf_counter()
            result = function(*args)
            spent.append(1000 * (time.perf_counter() - start))
            return result

        opensmile_module.resample = timed  # what OpenSmileLLD.extract calls
        calls = 3 if function is _torchaudio else reps
        total = _median_ms(lambda: recognizer.classify_file(path), calls)
        inside = float(np.median(spent[1:]))  # the untimed first call left out
        lines.append(f"| {name} | {total:,.1f} | {inside:,.1f} | {100 * inside / total:.0f} % |")
    opensmile_module.resample = resample
    return "\n".join(lines) + (
        f"\n\n`{path.name}`: {samples.size / rate:.2f} s at {rate} Hz, one window; the "
        "resampler's time is measured inside each call."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="timed calls of the fast cases")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("## Resampling to 16 kHz (`benchmarks/bench_resample.py`)\n")
    print(f"Machine: {_machine()}. One thread; median of {args.reps} calls after one untimed "
          "(3 calls where one takes seconds).\n")
    speech, source = _speech(5.0)
    print(f"### 5 s of audio ({source}) to 16 kHz\n")
    print(_resampling_table(speech.astype(np.float64), args.reps) + "\n")
    tess = sorted(TESS.glob("*.wav"))
    if tess:
        print("### Classifying a TESS file (24414 Hz), DRN-MHSA, torch, one thread\n")
        with tempfile.TemporaryDirectory() as tmp:
            folder = _model_folder(Path(tmp) / "model")
            print(_tess_table(folder, tess[0], args.reps))
    else:
        print(f"TESS not found at {TESS}: the classification table is left out.")


if __name__ == "__main__":
    main()
