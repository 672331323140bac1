"""Training throughput: our Lightning loop against a plain PyTorch loop, fp32 against bf16.

On fold 0 of the synthetic demo corpus (240 utterances, 192 to train on),
each measurement runs in a fresh process (so peak memory is its own):

* the Lightning loop of ``SERModule`` + ``SERDataModule`` (scores, logging,
  bucketed batches), no validation, against a plain PyTorch loop over the
  same model, normaliser and batches; utterances per second by wall time
  and by process CPU time (steadier when other jobs share the machine),
  after one warm-up epoch; the overhead is the relative CPU-time difference;
* the same Lightning loop in ``bf16-mixed``;
* the full-width DRN-MHSA (9.9M parameters) for a few batches, fp32 and bf16;
* the padded-frame share of length-bucketed batches against shuffled ones.

Run: ``python benchmarks/bench_training.py`` (a few minutes on 2 cores).
"""

import concurrent.futures
import contextlib
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from speechbrain_drnsa import hparams_path

DEMO_WIDTHS = {
    "channels": [8, 16, 32, 48, 64],
    "out_channels": 64,
    "lstm_hidden": 32,
    "lin_neurons": [64],
}
BATCH_SIZE = 16
PAIRS = 5
MODEL_FILE = hparams_path("drn_mhsa.yaml")


def _data(root: Path, normalizer):
    import functools

    from speechbrain_drnsa.training import SERDataModule, prepare_experiment

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"))
    from iemocap_prepare import prepare_data

    hparams = {
        "prepare": functools.partial(prepare_data, data_folder=root / "corpus", demo_corpus=True),
        "prepared_folder": root / "prepared", "feature_cache": root / "features",
        "data_folder": root / "corpus", "protocol": "speaker10",
    }
    # preparation prints its class table: keep stdout for the markdown section
    with contextlib.redirect_stdout(sys.stderr):
        prepared = prepare_experiment(hparams)
    data = SERDataModule(prepared, fold=0, normalizer=normalizer, batch_size=BATCH_SIZE, seed=1)
    data.setup("fit")
    return data


def _model(widths: dict):
    from speechbrain_drnsa.training.hparams import build_model

    return build_model(MODEL_FILE, {**widths, "n_classes": 4})[0]


def _measure(kind: str, root: str, widths: dict, epochs: int, precision: str,
             threads: int, batches: int | None) -> dict:
    """Train in this (fresh) process; return utterances/s and peak memory."""
    import lightning.pytorch as pl
    import torch

    from speechbrain_drnsa.features.normalize import FeatureNormalizer
    from speechbrain_drnsa.training.module import SERModule

    torch.set_num_threads(threads)
    pl.seed_everything(0, verbose=False)
    normalizer = FeatureNormalizer()
    data = _data(Path(root), normalizer)
    model = _model(widths)
    utterances = [0]
    clocks: list[tuple[float, float]] = []

    if kind == "lightning":
        module = SERModule(model, normalizer, ["neu", "hap", "sad", "ang"], lr=1e-3)

        class Clock(pl.Callback):
            def on_train_epoch_start(self, trainer, pl_module):
                clocks.append((time.perf_counter(), time.process_time()))

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                if trainer.current_epoch > 0:
                    utterances[0] += len(batch.id)

            def on_train_end(self, trainer, pl_module):
                clocks.append((time.perf_counter(), time.process_time()))

        trainer = pl.Trainer(
            accelerator="cpu", devices=1, precision=precision, max_epochs=epochs + 1,
            limit_val_batches=0, limit_train_batches=batches or 1.0, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[Clock()], use_distributed_sampler=False,
        )
        trainer.fit(module, datamodule=data)
        start = clocks[1]
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = data.train_dataloader()
        for epoch in range(epochs + 1):
            if epoch == 1:
                start = (time.perf_counter(), time.process_time())
            loader.batch_sampler.set_epoch(epoch)
            for index, batch in enumerate(loader):
                if batches is not None and index >= batches:
                    break
                feats, lengths = batch.feats
                with torch.autocast("cpu", torch.bfloat16, enabled=precision != "32-true"):
                    logits = model(normalizer(feats, lengths), lengths)
                loss = torch.nn.functional.cross_entropy(logits.float(), batch.label)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if epoch > 0:
                    utterances[0] += len(batch.id)
        clocks.append((time.perf_counter(), time.process_time()))
    wall, cpu = clocks[-1][0] - start[0], clocks[-1][1] - start[1]
    return {
        "utt_per_s_wall": utterances[0] / wall,
        "utt_per_s_cpu": utterances[0] / cpu,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _in_fresh_process(*args) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_measure, *args).result()


def _padding(root: Path) -> tuple[float, float]:
    from speechbrain_drnsa.features.normalize import FeatureNormalizer
    from speechbrain_drnsa.training.sampler import padded_share

    data = _data(root, FeatureNormalizer())
    lengths = data.frames["train"]
    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    shuffled = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]
    return data.padded_share("train"), padded_share(shuffled, lengths)


def main() -> None:
    """Print the benchmark's markdown section."""
    root = Path(tempfile.mkdtemp(prefix="bench_training_"))
    bucketed, shuffled = _padding(root)
    rows = []
    overhead_runs = []
    for repeat in range(PAIRS):
        plain = _in_fresh_process("plain", str(root), DEMO_WIDTHS, 3, "32-true", 1, None)
        ours = _in_fresh_process("lightning", str(root), DEMO_WIDTHS, 3, "32-true", 1, None)
        overhead_runs.append(plain["utt_per_s_cpu"] / ours["utt_per_s_cpu"] - 1)
        if repeat == 0:
            rows += [("plain PyTorch loop", "demo widths, 1 thread", "fp32", plain),
                     ("Lightning (SERModule)", "demo widths, 1 thread", "fp32", ours)]
    bf16 = _in_fresh_process("lightning", str(root), DEMO_WIDTHS, 3, "bf16-mixed", 1, None)
    rows.append(("Lightning (SERModule)", "demo widths, 1 thread", "bf16-mixed", bf16))
    for precision in ("32-true", "bf16-mixed"):
        full = _in_fresh_process("lightning", str(root), {}, 1, precision, 2, 3)
        rows.append(("Lightning (SERModule)", "full DRN-MHSA 9.9M, 2 threads, 3 batches",
                     precision, full))

    print("## Training loop (bench_training.py)\n")
    print(f"Fold 0 of the synthetic demo corpus: 192 training utterances of 1.5 to 3.5 s, "
          f"batches of {BATCH_SIZE} grouped by length; 3 epochs after one warm-up epoch "
          "(3 batches after 3 for the full width). Utterances per second by wall "
          "time and by process CPU time (other jobs shared the machine; CPU time is the "
          "steadier figure). Peak memory is the whole process's maximum RSS.\n")
    print("| loop | model | precision | utt/s (wall) | utt/s (CPU time) | peak memory (MiB) |")
    print("|---|---|---|---|---|---|")
    for loop, model, precision, result in rows:
        print(f"| {loop} | {model} | {precision} | {result['utt_per_s_wall']:.1f} | "
              f"{result['utt_per_s_cpu']:.1f} | {result['peak_mib']:.0f} |")
    print(f"\nLightning overhead against the plain loop (CPU time, {PAIRS} interleaved pairs): "
          f"median {100 * statistics.median(overhead_runs):+.1f}% "
          f"(runs: {', '.join(f'{100 * o:+.1f}%' for o in overhead_runs)}).\n")
    print(f"Padded frames: {100 * bucketed:.1f}% with length bucketing, "
          f"{100 * shuffled:.1f}% with shuffled batches of {BATCH_SIZE}.")


if __name__ == "__main__":
    main()
