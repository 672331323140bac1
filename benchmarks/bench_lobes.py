"""Benchmark of DRN-MHSA and its four ablations on CPU.

For each model definition in ``hparams/``: forward+backward time and peak
memory for batches of 8 utterances of 4, 8 and 16 s (100 frames/s of 17
LLDs, all threads); forward latency of one 5 s utterance on one thread
(target for the proposed model: at most 50 ms); forward FLOPs per second of
audio, counted with ``torch.utils.flop_counter``. Prints a markdown section.

Each training measurement runs in its own process, so that its peak resident
memory (``ru_maxrss``) is its own. Times are wall clock and CPU time: on a
shared machine the CPU time of a one-thread run is the steadier number.
Run: ``python benchmarks/bench_lobes.py [--threads N]``.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

import torch
from hyperpyyaml import load_hyperpyyaml
from torch.utils import flop_counter

from speechbrain_drnsa import hparams_path

HPARAMS = hparams_path()
VARIANTS = ("drn_mhsa", "drn_sha", "drn", "cnn_res", "cnn")
FRAMES_PER_SECOND = 100
BATCH_SIZE = 8
TRAIN_SECONDS = (4, 8, 16)
LATENCY_SECONDS = 5
LATENCY_TARGET_MS = 50.0


@flop_counter.register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    # torch counts its GPU attention kernels only; the CPU one costs the same.
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


@flop_counter.register_flop_formula(torch.ops.aten.mkldnn_rnn_layer, get_raw=True)
def _lstm_layer_flops(inputs, weight_ih, weight_hh, *args, out_val=None, **kwargs) -> int:
    # One input and one recurrent matrix product per frame (gates not counted).
    frames = inputs.numel() // inputs.shape[-1]
    return 2 * frames * (weight_ih.numel() + weight_hh.numel())


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}; "
        f"load average at start {load}"
    )


def _model(variant: str) -> torch.nn.Module:
    with open(HPARAMS / f"{variant}.yaml") as stream:
        return load_hyperpyyaml(stream)["model"]


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _train_step_worker(variant: str, seconds: int, repeats: int, threads: int) -> dict:
    """Time forward+backward of one batch; peak memory above the model and input."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = _model(variant).train()
    feats = torch.randn(BATCH_SIZE, seconds * FRAMES_PER_SECOND, 17)
    lengths = torch.linspace(0.6, 1.0, BATCH_SIZE)
    labels = torch.arange(BATCH_SIZE) % 4
    baseline = _rss_mib()
    times, cpu_times = [], []
    for step in range(repeats + 1):
        model.zero_grad(set_to_none=True)
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = torch.nn.functional.cross_entropy(model(feats, lengths), labels)
        loss.backward()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu_times),
        "peak_mib": peak - baseline,
    }


def _train_step(variant: str, seconds: int, repeats: int, threads: int) -> dict:
    command = [sys.executable, __file__, "--worker", variant, str(seconds), str(repeats)]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _latency_ms(model: torch.nn.Module, repeats: int) -> tuple[float, float, float]:
    """Median and best wall, median CPU milliseconds of a 5 s utterance's forward, 1 thread."""
    feats = torch.randn(1, LATENCY_SECONDS * FRAMES_PER_SECOND, 17)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for _ in range(3):
                model(feats)
            times, cpu_times = [], []
            for _ in range(repeats):
                start, cpu_start = time.perf_counter(), time.thread_time()
                model(feats)
                times.append(time.perf_counter() - start)
                cpu_times.append(time.thread_time() - cpu_start)
    finally:
        torch.set_num_threads(threads)
    return 1e3 * statistics.median(times), 1e3 * min(times), 1e3 * statistics.median(cpu_times)


def _gflops_per_audio_second(model: torch.nn.Module) -> float:
    feats = torch.randn(1, LATENCY_SECONDS * FRAMES_PER_SECOND, 17)
    # Grad mode keeps attention off torch's fused inference kernel, which the counter misses.
    with flop_counter.FlopCounterMode(display=False) as counter:
        model(feats)
    return counter.get_total_flops() / LATENCY_SECONDS / 1e9


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print a markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed training steps")
    parser.add_argument("--latency-repeats", type=int, default=30)
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="threads of training steps"
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        variant, seconds, repeats = args.worker
        result = _train_step_worker(variant, int(seconds), int(repeats), args.threads)
        print(json.dumps(result))
        return

    print("## Lobes: DRN-MHSA and ablations on CPU\n")
    print(f"Machine: {_machine()}. Training steps on {args.threads} torch thread(s).\n")
    header = ["model", "params", "GFLOPs / s audio", "5 s, 1 thread: wall median, best / CPU"]
    for seconds in TRAIN_SECONDS:
        header += [f"fwd+bwd 8x{seconds} s: wall / CPU", f"peak MiB 8x{seconds} s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for variant in VARIANTS:
        model = _model(variant).eval()
        params = sum(p.numel() for p in model.parameters())
        wall_ms, best_ms, cpu_ms = _latency_ms(model, args.latency_repeats)
        row = [
            variant,
            f"{params / 1e6:.2f}M",
            f"{_gflops_per_audio_second(model):.2f}",
            f"{wall_ms:.1f}, {best_ms:.1f} / {cpu_ms:.1f} ms",
        ]
        for seconds in TRAIN_SECONDS:
            result = _train_step(variant, seconds, args.repeats, args.threads)
            row += [
                f"{result['seconds']:.2f} / {result['cpu_seconds']:.2f} s",
                f"{result['peak_mib']:.0f}",
            ]
        print("| " + " | ".join(row) + " |", flush=True)
    print(
        f"\nLatency: median and best of {args.latency_repeats} forwards of one "
        f"{LATENCY_SECONDS} s utterance (torch.inference_mode, torch.set_num_threads(1)); "
        f"target for drn_mhsa <= {LATENCY_TARGET_MS:.0f} ms. Training: median of "
        f"{args.repeats} steps after one warm-up, relative lengths 0.6 to 1; peak MiB is the "
        "peak resident memory above the model and input (activations, gradients, allocator). "
        "FLOPs: forward of one utterance, multiply-add = 2 FLOPs, LSTM gates and "
        "element-wise ops not counted."
    )


if __name__ == "__main__":
    main()
