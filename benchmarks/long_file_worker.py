"""Classify one long file window by window and print its peak memory, for bench_inference.py.

A process of its own that imports only what classifying needs, so that its
peak resident memory is what a user's ``classify`` process holds::

    python benchmarks/long_file_worker.py MODEL_FOLDER FILE.wav
"""

import json
import sys
import time

import torch

from speechbrain_drnsa.inference import EmotionRecognizer


def peak_resident_mib() -> float:
    """This process's peak resident memory (VmHWM).

    Not ``ru_maxrss``: Linux carries it over fork and exec, so a worker
    started by a large parent would report the parent's size.
    """
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def main(folder: str, path: str) -> None:
    torch.set_num_threads(1)
    recognizer = EmotionRecognizer.from_hparams(folder)
    loaded = peak_resident_mib()
    start = time.perf_counter()
    result = recognizer.classify_windows(path)
    seconds = time.perf_counter() - start
    print(json.dumps({"loaded": loaded, "peak": peak_resident_mib(), "seconds": seconds,
                      "windows": len(result.windows)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
