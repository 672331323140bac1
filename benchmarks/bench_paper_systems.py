"""Cost of every system of the paper's Tables 1 and 2: FLOPs, training-step time, time per fold.

For each model definition (``hparams/<system>.yaml``, the paper's sizes):
parameters; forward GFLOPs per second of audio, counted with
``torch.utils.flop_counter`` (the formulas of ``bench_lobes.py``: multiply-add
= 2 FLOPs, CPU attention and LSTM matrix products counted); the time of a
training step (forward, backward, Adam) on a random batch of ``--batch``
utterances of ``--seconds`` seconds, median of ``--steps`` after one warm-up;
the FLOP rate that step achieves (training FLOPs taken as 3x forward); and the
projected time of one training epoch of an IEMOCAP speaker10 fold
(``--train_utterances`` utterances of ``--seconds`` s, at that step time).
Prints a markdown section with the machine and its load average.

Run: ``python benchmarks/bench_paper_systems.py [--device cuda] [--precision bf16]``.
"""

import argparse
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from hyperpyyaml import load_hyperpyyaml
from torch.utils import flop_counter

from speechbrain_drnsa import hparams_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lobes import _machine  # noqa: E402  (also registers the CPU FLOP formulas)

HPARAMS = hparams_path()
SYSTEMS = ("xia2017", "poria2016", "poria2017", "mirsamadi2017",
           "cnn", "cnn_res", "drn", "drn_sha", "drn_mhsa")
FRAMES_PER_SECOND = 100


def _model(system: str) -> torch.nn.Module:
    with open(HPARAMS / f"{system}.yaml") as stream:
        return load_hyperpyyaml(stream)["model"]


def forward_gflops_per_audio_second(model: torch.nn.Module, seconds: float) -> float:
    """Forward FLOPs of one utterance on CPU, per second of audio (in grad mode)."""
    feats = torch.randn(1, round(seconds * FRAMES_PER_SECOND), 17)
    with flop_counter.FlopCounterMode(display=False) as counter:
        model.cpu()(feats)
    return counter.get_total_flops() / seconds / 1e9


def training_step_ms(
    model: torch.nn.Module, device: str, batch: int, seconds: float, steps: int, bf16: bool
) -> float:
    """Median wall time of a training step (forward, backward, Adam) on a random batch."""
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    feats = torch.randn(batch, round(seconds * FRAMES_PER_SECOND), 17, device=device)
    labels = torch.randint(0, 4, (batch,), device=device)
    lengths = torch.ones(batch, device=device)
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(feats, lengths).float(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train_utterances", type=int, default=4425)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device_name = (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                   else f"CPU, {args.threads} thread(s)")
    print(f"## Paper systems: {device_name}, {args.precision}\n")
    print(f"Machine: {_machine()}\n")
    print(f"Command: python benchmarks/bench_paper_systems.py {' '.join(argv or sys.argv[1:])}\n")
    print(f"Training step: batch {args.batch} x {args.seconds} s, median of {args.steps} after "
          "one warm-up. Epoch: "
          f"{args.train_utterances} utterances of {args.seconds} s "
          f"({math.ceil(args.train_utterances / args.batch)} steps).\n")
    print("| system | parameters | forward GFLOPs per audio s | step ms | achieved TFLOP/s "
          "(3x forward) | projected epoch s |")
    print("|---|---|---|---|---|---|")
    for system in args.systems:
        torch.manual_seed(0)
        model = _model(system)
        count = sum(p.numel() for p in model.parameters())
        gflops = forward_gflops_per_audio_second(model, args.seconds)
        step_ms = training_step_ms(
            model, args.device, args.batch, args.seconds, args.steps, args.precision == "bf16"
        )
        step_flops = 3 * gflops * 1e9 * args.seconds * args.batch
        epoch_s = math.ceil(args.train_utterances / args.batch) * step_ms / 1e3
        print(f"| {system} | {count:,} | {gflops:.3f} | {step_ms:.1f} | "
              f"{step_flops / (step_ms / 1e3) / 1e12:.3f} | {epoch_s:.0f} |", flush=True)


if __name__ == "__main__":
    main()
