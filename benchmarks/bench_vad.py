"""Silero VAD's ONNX and TorchScript forms: speed and peak memory on the same speech.

The speech is the first 20 EmoDB files twice over (89 s at 16 kHz), fed in
Silero's 512-sample frames as :mod:`speechbrain_drnsa.inference.vad` feeds
them. Each form runs in its own process so that peak memory (``ru_maxrss``)
is its own: the ONNX form as the package runs it, without torch.
docs/inference.md quotes the result: the package uses the ONNX form.

Run: ``python benchmarks/bench_vad.py ../shared/data/emodb`` (about 2 minutes on 2 cores).
"""

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile


def measure(emodb: Path, onnx: bool) -> None:
    """Print the real-time factor and peak memory of one form."""
    from speechbrain_drnsa.inference.vad import load_vad

    files = sorted((emodb / "wav").glob("*.wav"))[:20]
    audio = np.tile(np.concatenate([soundfile.read(f, dtype="float32")[0] for f in files]), 2)
    frames = audio[: audio.size // 512 * 512].reshape(-1, 512)
    if onnx:  # the package's runner: numpy frames, no torch imported
        model = load_vad()
        start = time.perf_counter()
        for frame in frames:
            model(frame)
    else:
        import silero_vad
        import torch

        model = silero_vad.load_silero_vad(onnx=False)
        start = time.perf_counter()
        with torch.no_grad():
            for frame in torch.from_numpy(frames):
                model(frame, 16000)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'onnx' if onnx else 'torchscript'}: {audio.size / 16000:.1f} s of audio, "
          f"{audio.size / 16000 / seconds:.1f} x real time, peak {peak_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("emodb", type=Path, help="the EmoDB folder (with wav/)")
    parser.add_argument("--form", choices=["onnx", "torchscript"], default=None)
    args = parser.parse_args()
    if args.form:
        measure(args.emodb, args.form == "onnx")
        return
    for form in ("onnx", "torchscript"):
        subprocess.run([sys.executable, __file__, str(args.emodb), "--form", form], check=True)


if __name__ == "__main__":
    main()
