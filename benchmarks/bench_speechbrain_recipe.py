"""Training throughput: our Lightning loop against SpeechBrain's own IEMOCAP emotion recipe.

Both train on the same utterances (fold 0's training part of the synthetic
demo corpus, IEMOCAP layout, prepared by ``prepare_iemocap``), on the same
machine, in fresh processes run alternately (A, B, A, B ...), so that other
jobs sharing the cores weigh on both alike:

* **SpeechBrain's recipe** (``recipes/IEMOCAP/emotion_recognition`` of
  speechbrain/speechbrain, ``train.py`` + ``hparams/train.yaml``) rebuilt as
  it ships: a ``speechbrain.Brain`` reading the wavs in its audio pipeline,
  80-band ``Fbank``, sentence mean normalisation, ``ECAPA_TDNN``
  (channels 512 x4 + 1536, 96-d embedding) and its cosine ``Classifier``,
  additive angular margin loss, Adam with the cyclic learning rate, shuffled
  batches of 16; loader workers 0 and 1 (the yaml's 2 oversubscribes two
  cores), the faster one is the reference;
* **ours**: ``SERModule`` + ``SERDataModule`` (length-bucketed batches of 16,
  no loader workers) with the full-width DRN-MHSA of ``speechbrain_drnsa/hparams/drn_mhsa.yaml``
  (9.9M parameters), reading the openSMILE feature cache. The one-off
  extraction that fills the cache is timed and reported apart.

Utterances per second by wall time, from the end of the warm-up batches to
the end of the last measured batch (loading included); padded-frame share of
the batches run; peak resident memory of the training process (and of its
loader workers, if any).

Both use the same number of torch threads: ``--threads``, by default the
cores left free by the load average at start (at least 1), because on a
shared machine intra-op threads that outnumber the free cores wait on each
other (on 2 cores under load 2, a training step of ours takes 3x longer with
2 threads than with 1).

Run: ``python benchmarks/bench_speechbrain_recipe.py [--threads N]`` (about 5 minutes on
2 cores).
"""

import argparse
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench_training import BATCH_SIZE, _data, _model

ROUNDS = 3
SB_WORKERS = (0, 1)
SB_WARMUP, SB_MEASURED = 2, 4
OURS_WARMUP, OURS_MEASURED = 3, 8
LABELS = ["neu", "hap", "sad", "ang"]


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _free_cores() -> int:
    return max(1, _cores() - round(os.getloadavg()[0]))


def _peak_mib() -> tuple[float, float]:
    """Peak RSS of this process and the largest of its live loader workers."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = [0.0]
    # SpeechBrain's loader keeps its iterator (for checkpoints), so its workers are still alive
    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{child.pid}/status").read_text()
            workers += [int(line.split()[1]) / 1024 for line in status.splitlines()
                        if line.startswith("VmHWM:")]
    return own, max(workers)


def _result(clocks: list[tuple[float, int, int, int]], warmup: int) -> dict:
    """Throughput after ``warmup`` batches and padded share of every batch run."""
    start = clocks[warmup - 1][0]
    measured = clocks[warmup:]
    own, children = _peak_mib()
    return {
        "utt_per_s": sum(c[1] for c in measured) / (clocks[-1][0] - start),
        "padded": 1 - sum(c[2] for c in clocks) / sum(c[3] for c in clocks),
        "peak_mib": own,
        "worker_peak_mib": children,
    }


def _speechbrain_recipe(root: str, train_json: str, workers: int, threads: int) -> dict:
    """Train SpeechBrain's IEMOCAP ECAPA recipe for a few batches in this (fresh) process."""
    import speechbrain as sb
    import torch
    from speechbrain.lobes.features import Fbank
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
    from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper
    from speechbrain.nnet.schedulers import CyclicLRScheduler
    from speechbrain.processing.features import InputNormalization

    torch.set_num_threads(threads)
    torch.manual_seed(1968)  # the yaml's seed, set before any module is built
    save_folder = Path(tempfile.mkdtemp(prefix="sb_recipe_", dir=root))
    clocks: list[tuple[float, int, int, int]] = []

    class EmoIdBrain(sb.Brain):
        """The recipe's Brain: wav -> Fbank -> mean norm -> ECAPA -> classifier."""

        def compute_forward(self, batch, stage):
            batch = batch.to(self.device)
            wavs, lens = batch.sig
            feats = self.modules.compute_features(wavs)
            feats = self.modules.mean_var_norm(feats, lens)
            embeddings = self.modules.embedding_model(feats, lens)
            return self.modules.classifier(embeddings)

        def compute_objectives(self, predictions, batch, stage):
            _, lens = batch.sig
            emoid, _ = batch.emo_encoded
            if stage == sb.Stage.TRAIN:
                self.hparams.lr_annealing.on_batch_end(self.optimizer)
            return self.hparams.compute_cost(predictions, emoid, lens)

        def on_fit_batch_end(self, batch, outputs, loss, should_step):
            wavs, lens = batch.sig
            samples = int(torch.round(lens * wavs.shape[1]).sum())
            clocks.append((time.perf_counter(), len(batch.id), samples, wavs.numel()))

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return sb.dataio.dataio.read_audio(wav)

    label_encoder = sb.dataio.encoder.CategoricalEncoder()

    @sb.utils.data_pipeline.takes("emo")
    @sb.utils.data_pipeline.provides("emo", "emo_encoded")
    def label_pipeline(emo):
        yield emo
        yield label_encoder.encode_label_torch(emo)

    train_set = sb.dataio.dataset.DynamicItemDataset.from_json(
        json_path=train_json,
        replacements={"data_root": str(Path(root) / "corpus")},
        dynamic_items=[audio_pipeline, label_pipeline],
        output_keys=["id", "sig", "emo_encoded"],
    )
    label_encoder.load_or_create(
        path=save_folder / "label_encoder.txt", from_didatasets=[train_set], output_key="emo"
    )
    embedding_model = ECAPA_TDNN(
        input_size=80, channels=[512, 512, 512, 512, 1536], kernel_sizes=[5, 3, 3, 3, 1],
        dilations=[1, 2, 3, 4, 1], attention_channels=64, lin_neurons=96,
    )
    classifier = Classifier(input_size=96, out_neurons=4)
    mean_var_norm = InputNormalization(norm_type="sentence", std_norm=False)
    epoch_counter = sb.utils.epoch_loop.EpochCounter(limit=1)
    modules = {
        "compute_features": Fbank(n_mels=80, left_frames=0, right_frames=0, deltas=False),
        "embedding_model": embedding_model,
        "classifier": classifier,
        "mean_var_norm": mean_var_norm,
    }
    hparams = {
        "compute_cost": LogSoftmaxWrapper(AdditiveAngularMargin(margin=0.2, scale=30)),
        "lr_annealing": CyclicLRScheduler(
            mode="exp_range", gamma=0.9998, base_lr=1e-6, max_lr=1e-4, step_size=1088
        ),
        "epoch_counter": epoch_counter,
    }
    checkpointer = sb.utils.checkpoints.Checkpointer(
        save_folder / "save",
        recoverables={
            "embedding_model": embedding_model, "classifier": classifier,
            "normalizer": mean_var_norm, "counter": epoch_counter,
        },
    )
    brain = EmoIdBrain(
        modules=modules,
        opt_class=lambda params: torch.optim.Adam(params, lr=1e-4, weight_decay=2e-5),
        hparams=hparams,
        run_opts={"device": "cpu", "noprogressbar": True,
                  "optimizer_step_limit": SB_WARMUP + SB_MEASURED},
        checkpointer=checkpointer,
    )
    loader_kwargs = {"batch_size": BATCH_SIZE, "shuffle": True, "num_workers": workers,
                     "drop_last": False}
    if workers:
        # the recipe's workers fork on Linux (its pipelines are closures); this process was
        # spawned, so its default would be spawn
        loader_kwargs["multiprocessing_context"] = "fork"
    brain.fit(epoch_counter, train_set, train_loader_kwargs=loader_kwargs)
    return _result(clocks, SB_WARMUP)


def _ours(root: str, threads: int) -> dict:
    """Train our Lightning loop, full-width DRN-MHSA, for a few batches in this process."""
    import lightning.pytorch as pl
    import torch

    from speechbrain_drnsa.features.normalize import FeatureNormalizer
    from speechbrain_drnsa.training.module import SERModule

    torch.set_num_threads(threads)
    pl.seed_everything(0, verbose=False)
    normalizer = FeatureNormalizer()
    data = _data(Path(root), normalizer)
    module = SERModule(_model({}), normalizer, LABELS)
    clocks: list[tuple[float, int, int, int]] = []

    class Clock(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            feats, lengths = batch.feats
            frames = int(torch.round(lengths * feats.shape[1]).sum())
            clocks.append((time.perf_counter(), len(batch.id), frames, feats[..., 0].numel()))

    trainer = pl.Trainer(
        accelerator="cpu", devices=1, precision="32-true", max_epochs=1,
        limit_train_batches=OURS_WARMUP + OURS_MEASURED, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[Clock()], use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=data)
    return _result(clocks, OURS_WARMUP)


def _quietly(function, *args) -> dict:
    # library banners go to stderr: stdout holds only the markdown section
    with contextlib.redirect_stdout(sys.stderr):
        return function(*args)


def _in_fresh_process(function, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_quietly, function, *args).result()


def _prepare(root: Path) -> tuple[Path, dict]:
    """Demo corpus, manifest, fold 0 and feature cache; SpeechBrain's train.json of fold 0."""
    from speechbrain_drnsa.data.demo import make_demo_corpus
    from speechbrain_drnsa.io import load_json
    from speechbrain_drnsa.features.normalize import FeatureNormalizer

    with contextlib.redirect_stdout(sys.stderr):
        make_demo_corpus(root / "corpus")
        start = time.perf_counter()
        data = _data(root, FeatureNormalizer())  # prepare_iemocap + openSMILE extraction
        prepare_s = time.perf_counter() - start
    manifest = load_json(data.prepared.manifest)
    train_ids = data.datasets["train"].data_ids
    # the layout of the recipe's iemocap_prepare.py output: {id: {wav, length, emo}}
    train = {
        utt: {"wav": manifest[utt]["wav"], "length": manifest[utt]["duration"],
              "emo": manifest[utt]["emo"]}
        for utt in train_ids
    }
    train_json = root / "sb_train.json"
    train_json.write_text(json.dumps(train, indent=1))
    durations = sorted(entry["length"] for entry in train.values())
    info = {
        "corpus": len(manifest),
        "train": len(train_ids),
        "median_s": statistics.median(durations),
        "min_s": durations[0],
        "max_s": durations[-1],
        "prepare_s": prepare_s,
        "bucketed_epoch": data.padded_share("train"),
        "shuffled_epoch": _shuffled_share(durations),
    }
    return train_json, info


def _shuffled_share(durations: list[float], epochs: int = 50) -> float:
    """Expected padded share of shuffled batches (the recipe's sampler) over many epochs."""
    real = padded = 0.0
    for epoch in range(epochs):
        order = list(durations)
        random.Random(epoch).shuffle(order)
        for i in range(0, len(order), BATCH_SIZE):
            batch = order[i : i + BATCH_SIZE]
            real += sum(batch)
            padded += len(batch) * max(batch)
    return 1 - real / padded


def _row(name: str, runs: list[dict]) -> str:
    rates = [run["utt_per_s"] for run in runs]
    padded = statistics.mean(run["padded"] for run in runs)
    peak = max(run["peak_mib"] for run in runs)
    workers = max(run["worker_peak_mib"] for run in runs)
    return (f"| {name} | {statistics.median(rates):.1f} | "
            f"{', '.join(f'{rate:.1f}' for rate in rates)} | {100 * padded:.0f}% "
            f"({1 / (1 - padded):.2f}x) | {peak:.0f} | {f'{workers:.0f}' if workers else '-'} |")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the benchmark's markdown section."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=_free_cores(),
                        help="torch threads of both training loops (default: free cores)")
    threads = parser.parse_args(argv).threads
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="bench_sb_recipe_"))
    train_json, info = _prepare(root)
    runs: dict[str, list[dict]] = {f"sb{w}": [] for w in SB_WORKERS} | {"ours": []}
    for _ in range(ROUNDS):
        for workers in SB_WORKERS:
            runs[f"sb{workers}"].append(_in_fresh_process(
                _speechbrain_recipe, str(root), str(train_json), workers, threads
            ))
        runs["ours"].append(_in_fresh_process(_ours, str(root), threads))
    load_after = os.getloadavg()

    median = {key: statistics.median(r["utt_per_s"] for r in value) for key, value in runs.items()}
    best = max((f"sb{w}" for w in SB_WORKERS), key=median.get)
    ratios = [o["utt_per_s"] / s["utt_per_s"] for o, s in zip(runs["ours"], runs[best])]
    extraction_rate = info["corpus"] / info["prepare_s"]
    amortised = 1 / (1 / median["ours"] + 1 / extraction_rate)

    print("## Against SpeechBrain's IEMOCAP emotion recipe (bench_speechbrain_recipe.py)\n")
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs ({_cores()} usable), "
          f"torch {torch.__version__}, {threads} torch thread(s) in each training process "
          "(`--threads`, by default the cores the load average leaves free). "
          f"Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          "(other jobs shared the cores; A and B ran alternately, so both bore them).\n")
    print(f"Corpus: the synthetic demo corpus in IEMOCAP layout ({info['corpus']} utterances), "
          f"fold 0's training part: {info['train']} utterances of {info['min_s']:.1f} to "
          f"{info['max_s']:.1f} s (median {info['median_s']:.1f} s). Batches of {BATCH_SIZE}, "
          f"fp32. {ROUNDS} rounds, each a fresh process per setting; utterances/s by wall "
          f"time over {SB_MEASURED} batches after {SB_WARMUP} warm-up (SpeechBrain) and "
          f"{OURS_MEASURED} after {OURS_WARMUP} (ours), loading included. A forked loader "
          "worker's peak RSS counts the pages it shares with its parent.\n")
    print("| training loop | utt/s (median) | utt/s per round | padded frames "
          "(padded/real) | peak RSS (MiB) | loader worker peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for workers in SB_WORKERS:
        print(_row(f"SpeechBrain recipe (Brain, Fbank + ECAPA-TDNN, wavs), "
                   f"num_workers={workers}", runs[f"sb{workers}"]))
    print(_row("ours (SERModule + SERDataModule, DRN-MHSA 9.9M, cached LLDs), num_workers=0",
               runs["ours"]))
    print(f"\n**Ours / SpeechBrain recipe at its best loader setting (num_workers="
          f"{best[2:]}): {median['ours'] / median[best]:.1f}x** (median utt/s; per round: "
          f"{', '.join(f'{r:.1f}x' for r in ratios)}).\n")
    print(f"Our features are cached: filling the cache (manifest, folds, openSMILE LLDs of all "
          f"{info['corpus']} utterances, 1 process) took {info['prepare_s']:.0f} s "
          f"({extraction_rate:.1f} utt/s), once for all epochs and folds. Even paying it anew "
          f"every epoch, ours would train at {amortised:.1f} utt/s "
          f"({amortised / median[best]:.1f}x the recipe).\n")
    print(f"Padded frames over a whole epoch: {100 * info['bucketed_epoch']:.1f}% with our "
          f"length bucketing, {100 * info['shuffled_epoch']:.1f}% expected with the recipe's "
          f"shuffled batches (padded/real {1 / (1 - info['shuffled_epoch']):.2f}x).")


if __name__ == "__main__":
    main()
