"""DRN-MHSA training on one GPU: step and epoch by batch size, compile, CUDA graphs, bf16, folds.

On an IEMOCAP-sized synthetic corpus (5531 utterances, IEMOCAP-like durations,
random 17-LLD frames; one fold's 80 % for training), batched as training does
(``LengthSortedSampler`` + ``BucketBatchSampler``: length buckets, shuffled),
this measures the training step of the paper's DRN-MHSA (``hparams/drn_mhsa.yaml``:
forward, cross-entropy, backward, Adam) in several settings:

* eager fp32 and bf16-mixed (``torch.autocast``) at batches of 32 (the recipe's), 64, 128;
* ``torch.compile`` (inductor) of the model, fp32 and bf16-mixed;
* ``torch.compile(mode="reduce-overhead")``: inductor with CUDA graphs, the
  batches padded to a multiple of ``--pad-multiple`` frames so graphs are reused;

and, for each, one epoch after a warm-up epoch (compilation and graph capture
happen there) and the median step on a fixed batch of 4.5 s utterances (the
figure of ``bench_paper_systems.py``). Then several folds trained at once on
the one GPU, one process per fold, each its own model and fold: the utterances
per second of all together, and what that makes of the paper's Table 2 (5
systems x 10 folds).

Features are on the device before timing: the figures are the model's
training, not loading. Each setting that fails (an unsupported compile, no
CUDA) is written down with its error and the rest go on; settings that would
start after ``--budget-s`` are skipped. Writes ``gpu_training.json`` and
``gpu_training.md`` (a BENCHMARKS.md section: copy it to
``benchmarks/results/`` and run ``python benchmarks/run.py --join``).

Run (a few minutes of an idle GPU; benchmarks/gpu/run_gpu_bench.sh does this)::

    python benchmarks/gpu/gpu_training.py --out OUT
    python benchmarks/gpu/gpu_training.py --device cpu --tiny --out OUT  # the CPU dry run
"""

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.training.sampler import BucketBatchSampler, LengthSortedSampler

#: IEMOCAP's utterances, and one speaker-independent fold's training share of them.
CORPUS_UTTERANCES = 5531
TRAIN_SHARE = 0.8
FRAMES_PER_SECOND = 100
#: The paper's Table 2: systems x folds, each trained anew.
TABLE2_RUNS = 5 * 10
TINY = {"channels": [8, 8, 16, 16, 16], "blocks": [1, 1, 1, 1, 1], "lstm_hidden": 8,
        "lin_neurons": [8], "out_channels": 16}


@dataclass
class Setting:
    """One way of running the training step."""

    name: str
    batch: int
    precision: str = "fp32"  # or "bf16-mixed"
    compile_mode: str | None = None  # None: eager; "default", "reduce-overhead"
    pad_multiple: int = 1  # pad each batch's frames to a multiple (CUDA graphs reuse shapes)


@dataclass
class Result:
    """What one setting measured (or why it did not)."""

    setting: Setting
    step_ms: float | None = None
    epoch_s: float | None = None
    epoch_steps: int | None = None
    utterances_per_s: float | None = None
    warmup_epoch_s: float | None = None
    padded_share: float | None = None
    peak_memory_gib: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def default_settings(tiny: bool, device: str) -> list[Setting]:
    """The settings measured, the recipe's (eager fp32, batch 32) first."""
    big = [8, 16] if tiny else [32, 64, 128]
    settings = [Setting(f"eager fp32, batch {b}", b) for b in big]
    settings += [Setting(f"eager bf16-mixed, batch {b}", b, "bf16-mixed") for b in big]
    widest = big[-1]
    settings += [
        Setting(f"compile fp32, batch {big[0]}", big[0], compile_mode="default"),
        Setting(f"compile bf16-mixed, batch {widest}", widest, "bf16-mixed", "default"),
        Setting(f"compile + CUDA graphs bf16-mixed, batch {widest}", widest, "bf16-mixed",
                "reduce-overhead", pad_multiple=64),
        Setting(f"compile + CUDA graphs fp32, batch {big[0]}", big[0], "fp32",
                "reduce-overhead", pad_multiple=64),
    ]
    return settings


def synthetic_lengths(count: int, seed: int, tiny: bool) -> list[int]:
    """Utterance lengths in frames, IEMOCAP-like: median about 3.5 s, 0.6 to 20 s, mean 4.5 s."""
    generator = torch.Generator().manual_seed(seed)
    seconds = torch.empty(count).log_normal_(math.log(3.4), 0.62, generator=generator)
    if tiny:
        seconds = seconds / 4
    return [max(20, round(s * FRAMES_PER_SECOND)) for s in seconds.clamp(0.6, 20.0).tolist()]


def build_model(tiny: bool, n_classes: int = 4) -> torch.nn.Module:
    """The packaged DRN-MHSA (paper widths), or a tiny one for the dry run."""
    overrides: dict[str, Any] = {"n_classes": n_classes, **(TINY if tiny else {})}
    with open(hparams_path("drn_mhsa.yaml")) as stream:
        return load_hyperpyyaml(stream, overrides)["model"]


def padded_batches(lengths: Sequence[int], batch: int, seed: int, device: str,
                   pad_multiple: int = 1) -> tuple[list[tuple[torch.Tensor, ...]], float]:
    """One epoch's batches as training makes them, on the device, and their padded share."""
    sampler = LengthSortedSampler(list(lengths), shuffle=True, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    batches, padded, total = [], 0, 0
    for indices in BucketBatchSampler(sampler, batch_size=batch):
        real = torch.tensor([lengths[i] for i in indices])
        frames = int(math.ceil(int(real.max()) / pad_multiple) * pad_multiple)
        feats = torch.randn(len(indices), frames, 17, generator=generator)
        labels = torch.randint(0, 4, (len(indices),), generator=generator)
        batches.append((feats.to(device), (real / frames).to(device), labels.to(device)))
        padded += len(indices) * frames - int(real.sum())
        total += len(indices) * frames
    return batches, padded / total


def make_step(model: torch.nn.Module, setting: Setting, device: str,
              compile_backend: str) -> Callable[..., torch.Tensor]:
    """The training step of ``setting``: forward, cross-entropy, backward, Adam."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    forward = model
    if setting.compile_mode is not None:
        options = {"backend": compile_backend}
        if compile_backend == "inductor":
            options["mode"] = setting.compile_mode
        forward = torch.compile(model, **options)
    device_type = device.split(":")[0]

    def step(feats: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type, torch.bfloat16,
                            enabled=setting.precision == "bf16-mixed"):
            logits = forward(feats, lengths)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(setting: Setting, args: argparse.Namespace, lengths: Sequence[int]) -> Result:
    """Warm-up epoch, timed epoch and fixed-batch steps of one setting."""
    result = Result(setting)
    if setting.compile_mode == "reduce-overhead" and not args.device.startswith("cuda"):
        result.error = "skipped: CUDA graphs need a CUDA device"
        return result
    torch.manual_seed(0)
    model = build_model(args.tiny).to(args.device).train()
    step = make_step(model, setting, args.device, args.compile_backend)
    batches, result.padded_share = padded_batches(
        lengths, setting.batch, seed=1, device=args.device, pad_multiple=setting.pad_multiple)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for batch in batches:
        step(*batch)
    _synchronize(args.device)
    result.warmup_epoch_s = time.perf_counter() - start
    start = time.perf_counter()
    for batch in batches:
        step(*batch)
    _synchronize(args.device)
    result.epoch_s = time.perf_counter() - start
    result.epoch_steps = len(batches)
    result.utterances_per_s = len(lengths) / result.epoch_s
    # fixed batch of 4.5 s utterances (bench_paper_systems.py's figure)
    frames = int(math.ceil(args.fixed_seconds * FRAMES_PER_SECOND / setting.pad_multiple)
                 * setting.pad_multiple)
    fixed = (torch.randn(setting.batch, frames, 17, device=args.device),
             torch.full((setting.batch,), args.fixed_seconds * FRAMES_PER_SECOND / frames,
                        device=args.device),
             torch.randint(0, 4, (setting.batch,), device=args.device))
    times = []
    for index in range(args.fixed_steps + 2):
        start = time.perf_counter()
        step(*fixed)
        _synchronize(args.device)
        if index >= 2:  # two warm-ups: a compiled step may compile or capture on the first
            times.append(time.perf_counter() - start)
    result.step_ms = 1e3 * statistics.median(times)
    if args.device.startswith("cuda"):
        result.peak_memory_gib = torch.cuda.max_memory_allocated() / 2**30
    return result


def _fold_worker(rank: int, args: argparse.Namespace, setting: Setting, barrier: Any,
                 queue: Any) -> None:
    """One fold's training in its own process: warm-up epoch, wait for all, timed epoch."""
    try:
        torch.set_num_threads(1)
        lengths = synthetic_lengths(args.train_utterances, seed=100 + rank, tiny=args.tiny)
        torch.manual_seed(rank)
        model = build_model(args.tiny).to(args.device).train()
        step = make_step(model, setting, args.device, args.compile_backend)
        batches, _ = padded_batches(lengths, setting.batch, seed=rank, device=args.device)
        for batch in batches:
            step(*batch)
        _synchronize(args.device)
        barrier.wait()
        start = time.perf_counter()
        for batch in batches:
            step(*batch)
        _synchronize(args.device)
        queue.put((rank, len(lengths), time.perf_counter() - start, None))
    except Exception:  # noqa: BLE001 - reported in the table, the other folds go on
        barrier.abort()
        queue.put((rank, 0, 0.0, traceback.format_exc(limit=3)))


def folds_at_once(processes: int, setting: Setting, args: argparse.Namespace) -> dict[str, Any]:
    """``processes`` folds trained side by side on the one device, one process each."""
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_fold_worker, args=(rank, args, setting, barrier, queue))
               for rank in range(processes)]
    for worker in workers:
        worker.start()
    reports = [queue.get(timeout=args.budget_s) for _ in workers]
    for worker in workers:
        worker.join()
    errors = [error for *_, error in reports if error]
    if errors:
        return {"processes": processes, "error": errors[0].strip().splitlines()[-1]}
    slowest = max(seconds for _, _, seconds, _ in reports)
    utterances = sum(count for _, count, _, _ in reports)
    return {"processes": processes, "epoch_s_slowest": slowest,
            "utterances_per_s": utterances / slowest}


def _machine(device: str) -> dict[str, Any]:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "cpus": os.cpu_count(),
            "load_average": [round(x, 1) for x in os.getloadavg()], "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def markdown(report: dict[str, Any]) -> str:
    """The BENCHMARKS.md section of a report."""
    machine = report["machine"]
    where = machine.get("gpu", "CPU (dry run, not a GPU figure)")
    lines = [f"## DRN-MHSA training on one GPU (`benchmarks/gpu/gpu_training.py`): {where}\n",
             f"Machine: {where}, {machine['cpus']} CPUs, {machine['platform']}, torch "
             f"{machine['torch']}; load average at start "
             f"{', '.join(map(str, machine['load_average']))}.\n",
             f"Command: `{report['command']}`\n",
             f"Corpus: {report['train_utterances']} synthetic training utterances "
             f"(IEMOCAP-sized fold, {report['mean_seconds']:.2f} s mean), batched as training "
             "does (length buckets); features on the device. Epoch: one pass after a warm-up "
             f"pass; step: median of {report['fixed_steps']} steps on a batch of "
             f"{report['fixed_seconds']} s utterances.\n",
             "| setting | step ms | epoch s (steps) | utt/s | warm-up epoch s | padded share "
             "| peak GiB |", "|---|---|---|---|---|---|---|"]
    for row in report["results"]:
        name = row["setting"]["name"]
        if row["error"]:
            lines.append(f"| {name} | {row['error']} | | | | | |")
            continue
        peak = "-" if row["peak_memory_gib"] is None else f"{row['peak_memory_gib']:.1f}"
        lines.append(f"| {name} | {row['step_ms']:.1f} | {row['epoch_s']:.2f} "
                     f"({row['epoch_steps']}) | {row['utterances_per_s']:.0f} | "
                     f"{row['warmup_epoch_s']:.1f} | {100 * row['padded_share']:.1f}% | {peak} |")
    if report["folds"]:
        lines += ["", f"Folds at once ({report['folds_setting']}), one process per fold:", "",
                  "| processes | slowest epoch s | utt/s, all folds | Table 2 "
                  f"({TABLE2_RUNS} trainings x {report['epochs']} epochs), h |",
                  "|---|---|---|---|"]
        for row in report["folds"]:
            if "error" in row:
                lines.append(f"| {row['processes']} | {row['error']} | | |")
                continue
            hours = TABLE2_RUNS * report["epochs"] * report["train_utterances"] / (
                row["utterances_per_s"] * 3600)
            lines.append(f"| {row['processes']} | {row['epoch_s_slowest']:.2f} | "
                         f"{row['utterances_per_s']:.0f} | {hours:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny model and corpus (dry run)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON and md")
    parser.add_argument("--settings", nargs="*", default=None,
                        help="names of settings to run (default: all)")
    parser.add_argument("--fold-processes", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--train-utterances", type=int, default=None,
                        help="utterances of the training fold (4425, IEMOCAP's; 110 with --tiny)")
    parser.add_argument("--fixed-steps", type=int, default=10)
    parser.add_argument("--fixed-seconds", type=float, default=None,
                        help="utterance length of the fixed-batch step (4.5 s; 1 s with --tiny)")
    parser.add_argument("--epochs", type=int, default=30,
                        help="epochs per training, for the Table 2 projection")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="start no setting (or fold run) after this many seconds")
    parser.add_argument("--compile-backend", default="inductor",
                        help="torch.compile backend ('eager' checks the tracing only)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device here: use --device cpu --tiny for the dry run")
    if args.train_utterances is None:
        args.train_utterances = round(CORPUS_UTTERANCES * TRAIN_SHARE) // (40 if args.tiny else 1)
    if args.fixed_seconds is None:
        args.fixed_seconds = 1.0 if args.tiny else 4.5
    if not args.device.startswith("cuda"):
        torch.set_num_threads(1)  # the dry run: one core, steady on a shared machine
    began = time.perf_counter()
    lengths = synthetic_lengths(args.train_utterances, seed=0, tiny=args.tiny)
    settings = default_settings(args.tiny, args.device)
    if args.settings:
        settings = [s for s in settings if s.name in args.settings]
    fold_setting = Setting("eager bf16-mixed", 16 if args.tiny else 32, "bf16-mixed")
    report = {
        "machine": _machine(args.device),
        "command": "python benchmarks/gpu/gpu_training.py " + " ".join(argv or sys.argv[1:]),
        "train_utterances": args.train_utterances,
        "mean_seconds": statistics.mean(lengths) / FRAMES_PER_SECOND,
        "fixed_steps": args.fixed_steps, "fixed_seconds": args.fixed_seconds,
        "epochs": args.epochs, "results": [],
        "folds_setting": fold_setting.name + f", batch {fold_setting.batch}", "folds": [],
    }

    def out_of_time() -> bool:
        return time.perf_counter() - began > args.budget_s

    def write() -> None:  # after every part: a run stopped from outside keeps what it measured
        report["seconds"] = time.perf_counter() - began
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_training.json").write_text(json.dumps(report, indent=1) + "\n")
        (args.out / "gpu_training.md").write_text(markdown(report))

    def run_folds() -> None:
        for processes in args.fold_processes:
            print(f"{processes} folds at once ...", file=sys.stderr, flush=True)
            report["folds"].append(
                {"processes": processes, "error": "skipped: time budget spent"}
                if out_of_time() else folds_at_once(processes, fold_setting, args))
            write()

    # eager first, then the folds, compiled settings last: the slowest to start and least sure
    folds_done = False
    for setting in sorted(settings, key=lambda s: s.compile_mode is not None):
        if setting.compile_mode is not None and not folds_done:
            run_folds()
            folds_done = True
        print(f"{setting.name} ...", file=sys.stderr, flush=True)
        result = Result(setting, error="skipped: time budget spent")
        if not out_of_time():
            try:
                result = measure(setting, args, lengths)
            except Exception as err:  # noqa: BLE001 - one failed setting must not lose the others
                message = str(err).splitlines()[0][:120] if str(err) else ""
                result = Result(setting, error=f"failed: {type(err).__name__}: {message}")
        report["results"].append(asdict(result))
        write()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    if not folds_done:
        run_folds()
    write()
    return report


if __name__ == "__main__":
    main()
