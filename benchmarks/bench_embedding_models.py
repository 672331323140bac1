"""Training step of SpeechBrain's IEMOCAP emotion recipe: ECAPA-TDNN against DRNMHSAEmbedding.

The README's yaml block swaps the recipe's ``embedding_model`` (ECAPA-TDNN,
channels 512 x4 + 1536, attention 64, 96-d embedding: ``hparams/train.yaml`` of
``recipes/IEMOCAP/emotion_recognition`` in speechbrain/speechbrain) for
``DRNMHSAEmbedding`` at the paper's widths (256-d embedding), each followed by
SpeechBrain's cosine ``Classifier`` and the recipe's additive angular margin
loss. This times one training step (forward, backward, Adam update) of each
on the same Fbank batch: 16 utterances (the recipe's batch size) of 4.55 s
(IEMOCAP's mean 4-class turn: 5531 turns, 6.99 h), 80 mel bands, fp32, no
padding. Feature extraction and data loading are left out: they are the same
for both. An epoch is estimated as 277 such steps (the recipe's 80 % training
split of 5531 turns in batches of 16).

The two models alternate (A, B, A, B ...) so that other jobs on a shared
machine weigh on both alike; the median of the measured steps is reported.

Run: ``python benchmarks/bench_embedding_models.py [--threads N] [--steps N]``
(about 2 minutes on 2 cores).
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

from speechbrain_drnsa.lobes import DRNMHSAEmbedding

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lobes import _machine  # noqa: E402

BATCH, SECONDS, N_MELS, CLASSES = 16, 4.55, 80, 4
FRAMES = 1 + int(SECONDS * 16000) // 160  # Fbank: 25 ms windows every 10 ms, centred
STEPS_PER_EPOCH = -(-round(0.8 * 5531) // BATCH)


def _models() -> dict[str, tuple[torch.nn.Module, torch.nn.Module]]:
    torch.manual_seed(0)
    ecapa = ECAPA_TDNN(
        N_MELS, channels=[512, 512, 512, 512, 1536], kernel_sizes=[5, 3, 3, 3, 1],
        dilations=[1, 2, 3, 4, 1], attention_channels=64, lin_neurons=96,
    )
    ours = DRNMHSAEmbedding(input_size=N_MELS)
    return {
        "ECAPA-TDNN (the recipe's)": (ecapa, Classifier(96, out_neurons=CLASSES)),
        "DRNMHSAEmbedding (paper widths)": (ours, Classifier(256, out_neurons=CLASSES)),
    }


def _step(embedding: torch.nn.Module, classifier: torch.nn.Module, optimizer, loss_fn,
          feats: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor) -> float:
    start = time.perf_counter()
    optimizer.zero_grad()
    loss = loss_fn(classifier(embedding(feats, lens)), targets, lens)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    """Print the benchmark's markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    free = max(1, len(os.sched_getaffinity(0)) - round(os.getloadavg()[0]))
    parser.add_argument("--threads", type=int, default=free,
                        help="torch threads (default: the cores the load average leaves free)")
    parser.add_argument("--steps", type=int, default=3, help="measured steps per model")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = _machine()
    feats = torch.randn(BATCH, FRAMES, N_MELS)
    lens = torch.ones(BATCH)
    targets = torch.randint(0, CLASSES, (BATCH, 1))
    loss_fn = LogSoftmaxWrapper(AdditiveAngularMargin(margin=0.2, scale=30))
    models = _models()
    optimizers = {
        name: torch.optim.Adam([*emb.parameters(), *head.parameters()], lr=1e-4)
        for name, (emb, head) in models.items()
    }
    times: dict[str, list[float]] = {name: [] for name in models}
    for step in range(1 + args.steps):  # the first step of each warms up
        for name, (embedding, classifier) in models.items():
            seconds = _step(embedding, classifier, optimizers[name], loss_fn, feats, lens, targets)
            if step:
                times[name].append(seconds)
    load_after = ", ".join(f"{value:.1f}" for value in os.getloadavg())

    print("## SpeechBrain recipe's embedding_model: ECAPA-TDNN against DRN-MHSA "
          "(bench_embedding_models.py)\n")
    print(f"Machine: {machine}; load average at the end {load_after}. {args.threads} torch "
          f"thread(s). One training step (forward, backward, Adam) of embedding_model + "
          f"SpeechBrain's cosine Classifier + AAM loss on {BATCH} Fbank utterances of "
          f"{SECONDS} s ({FRAMES} frames x {N_MELS} bands), fp32; median of {args.steps} "
          f"steps after one warm-up, the models alternating. Epoch: {STEPS_PER_EPOCH} steps "
          "(IEMOCAP's 5531 turns, 80 % for training, batches of 16), model time only.\n")
    print("| embedding_model | parameters (with classifier) | s per step (median) | "
          "s per step, each | epoch estimate (min) |")
    print("|---|---|---|---|---|")
    medians = {}
    for name, (embedding, classifier) in models.items():
        params = sum(p.numel() for p in [*embedding.parameters(), *classifier.parameters()])
        medians[name] = statistics.median(times[name])
        print(f"| {name} | {params:,} | {medians[name]:.2f} | "
              f"{', '.join(f'{t:.2f}' for t in times[name])} | "
              f"{medians[name] * STEPS_PER_EPOCH / 60:.1f} |")
    ecapa, ours = medians.values()
    print(f"\nDRN-MHSA / ECAPA-TDNN time per step: {ours / ecapa:.2f}x.")


if __name__ == "__main__":
    main()
