"""The DRN-MHSA model in fp32 on one CPU thread, modules against prepacked oneDNN weights.

For inputs of 1, 2, 5 and 10 s and a padded batch of 8 files, the median CPU
time of the whole model (``hparams/drn_mhsa.yaml``, random weights, batch
norms folded) as the modules run it and after ``DRNEncoder.pack_for_cpu``,
the two taking turns. Prints a markdown table.

Run: ``python benchmarks/compare_onednn.py [--reps 15]`` (under a minute).
"""

import argparse
import copy
import os
import time
from collections.abc import Sequence

import numpy as np
import torch

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.inference.architecture import build_from_spec, spec_from_model_yaml

FRAMES_PER_SECOND = 100


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    spec = spec_from_model_yaml(hparams_path("drn_mhsa.yaml").read_text(), {"n_classes": 4})
    torch.manual_seed(0)
    plain = build_from_spec(spec, "drn_mhsa.yaml").eval()
    plain.encoder.fold_batch_norms()
    packed = copy.deepcopy(plain)
    packed.encoder.pack_for_cpu()
    cases = [(f"{seconds:g} s", torch.randn(1, seconds * FRAMES_PER_SECOND, 17), None)
             for seconds in (1, 2, 5, 10)]
    cases.append(("8 files of 2 to 5 s, padded", torch.randn(8, 500, 17),
                  torch.linspace(0.4, 1.0, 8)))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"Load average at start {load}; median CPU time of {args.reps} calls.\n")
    print("| input | modules (ms CPU) | prepacked oneDNN (ms CPU) | ratio |\n|---|---|---|---|")
    with torch.inference_mode():
        for name, x, lengths in cases:
            runs = {"plain": lambda: plain(x, lengths), "packed": lambda: packed(x, lengths)}
            times: dict[str, list[float]] = {key: [] for key in runs}
            for run in runs.values():
                run()
            for _ in range(args.reps):
                for key, run in runs.items():
                    start = time.process_time()
                    run()
                    times[key].append(1000 * (time.process_time() - start))
            before, after = np.median(times["plain"]), np.median(times["packed"])
            print(f"| {name} | {before:.1f} | {after:.1f} | {before / after:.2f}x |")


if __name__ == "__main__":
    main()
