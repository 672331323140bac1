"""Benchmark of a cold start: one ``classify`` command in a new process, beside the warm call.

Prints a markdown section with, for the ONNX and the torch backend:

1. wall time, CPU time (user + system) and peak resident memory of
   ``speechbrain-drnsa classify one.wav --model DIR --backend B`` in a new
   Python process (interpreter, imports, loading the model, reading, features,
   model, printing), the median of several runs, and the same with ``--vad``
   on a 30 s recording (Silero VAD included);
2. what importing ``speechbrain_drnsa.inference`` alone costs;
3. the warm call: ``classify_windows`` on the same file with the recognizer
   already loaded (p50 of 20 calls, one thread), what the command costs beyond
   its start-up.

The model is ``speechbrain_drnsa/hparams/drn_mhsa.yaml`` (9.9M parameters,
random weights) as in ``bench_inference.py``; the file is 5 s of EmoDB speech
(synthetic without the corpus). Wall time depends on the load on the machine
(printed before and after); CPU time much less so.

Run (about 2 minutes on 2 idle cores)::

    python benchmarks/run.py cold_start
    python benchmarks/bench_cold_start.py --runs 3    # quick check, prints the section
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

from bench_inference import RATE, _model_folder, _percentiles, _speech

TARGETS = "ONNX backend: one file from a cold process in <= 1.5 s wall and <= 300 MB peak"
# a cold process: the command, then its peak resident memory (VmHWM) on stderr's last line
PROBE = (
    "import sys\n"
    "{body}\n"
    "status = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
    "print('VMHWM', int(status.split()[1]), file=sys.stderr)\n"
)
COMMAND = "from speechbrain_drnsa.cli import main\nassert main(sys.argv[1:]) == 0"
IMPORT = "import speechbrain_drnsa.inference"


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def _cold(body: str, args: Sequence[str], runs: int) -> tuple[float, float, float]:
    """Median wall (s), CPU (s) and peak resident memory (MiB) of ``runs`` new processes."""
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE.format(body=body), *args],
                              check=True, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        peaks.append(int(done.stderr.split("VMHWM")[-1].split()[0]) / 1024)
    return statistics.median(walls), statistics.median(cpus), statistics.median(peaks)


def _recording(path: Path, speech: np.ndarray, seconds: float = 30.0) -> None:
    """Speech and pauses of faint noise, one after the other, ``seconds`` long."""
    rng = np.random.default_rng(0)
    pause = 1e-4 * rng.standard_normal(RATE).astype(np.float32)
    parts = np.concatenate([pause, speech] * int(np.ceil(seconds / (1 + speech.size / RATE))))
    soundfile.write(path, parts[: int(seconds * RATE)], RATE)


def _warm_ms(folder: Path, utterance: Path, backend: str, reps: int) -> float:
    """p50 of classify_windows with the recognizer loaded, one thread."""
    import torch

    from speechbrain_drnsa.inference import EmotionRecognizer

    torch.set_num_threads(1)
    recognizer = EmotionRecognizer.from_hparams(folder, backend=backend,
                                                run_opts={"num_threads": 1})
    return _percentiles(lambda: recognizer.classify_windows(utterance), reps)[0]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cold processes per row")
    parser.add_argument("--reps", type=int, default=20, help="warm calls")
    args = parser.parse_args(argv)
    load_start = _load()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = _model_folder(tmp / "model")
        speech, source = _speech(5.0)
        utterance, recording = tmp / "one.wav", tmp / "recording.wav"
        soundfile.write(utterance, speech, RATE)
        _recording(recording, speech)
        rows = []
        for backend in ("onnx", "torch"):
            for name, path, extra in (("one 5 s file", utterance, []),
                                      ("30 s recording, `--vad`", recording, ["--vad"])):
                command = ["classify", str(path), "--model", str(folder), "--backend", backend,
                           *extra]
                wall, cpu, peak = _cold(COMMAND, command, args.runs)
                rows.append(f"| `classify --backend {backend}`, {name} | {wall:.2f} | "
                            f"{cpu:.2f} | {peak:.0f} |")
        wall, cpu, peak = _cold(IMPORT, [], args.runs)
        rows.append(f"| `import speechbrain_drnsa.inference` alone | {wall:.2f} | {cpu:.2f} | "
                    f"{peak:.0f} |")
        warm = {backend: _warm_ms(folder, utterance, backend, args.reps)
                for backend in ("onnx", "torch")}
    load_end = _load()
    print("## Cold start: one `classify` in a new process (`benchmarks/bench_cold_start.py`)\n")
    print(f"Target: {TARGETS}. Load average (1, 5, 15 min) at the start {load_start}, at the "
          f"end {load_end}.\n")
    print("| command, new process | wall (s) | CPU, user + system (s) | peak RSS (MiB) |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nWarm, the recognizer already loaded (`classify_windows`, the same {source} file, "
          f"p50 of {args.reps} calls, one thread): ONNX {warm['onnx']:.1f} ms, torch "
          f"{warm['torch']:.1f} ms.\n")
    print(f"Median of {args.runs} new processes per row (`python -c` running "
          "`speechbrain_drnsa.cli.main`, what the `speechbrain-drnsa` script runs); peak RSS is "
          "the process's VmHWM; the model is drn_mhsa.yaml (9.9M parameters, random weights, "
          "`model.onnx` 40 MB).")


if __name__ == "__main__":
    main()
