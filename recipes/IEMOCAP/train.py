#!/usr/bin/env python3
"""Recipe: speech emotion recognition on IEMOCAP with DRN-MHSA (Li et al., ICASSP 2019).

Trains every fold of a cross-validation protocol with PyTorch Lightning (one
``Trainer`` per fold), selects each fold's checkpoint on validation UA,
tests it, and writes per-fold reports and an experiment summary.

To run::

    cd recipes/IEMOCAP
    python train.py hparams/drn_mhsa.yaml                       # demo corpus, short schedule
    python train.py hparams/drn_mhsa.yaml --data_folder=/data/IEMOCAP_full_release
    python train.py hparams/drn_mhsa.yaml --data_folder=... --fold=3 --precision=bf16-mixed \\
        --devices=4 --strategy=ddp

Running the same command again skips finished folds and resumes the
unfinished one from its last checkpoint (refusing a fold started with other
settings). Data preparation (``iemocap_prepare.prepare_data``, named by
``hparams/common.yaml``) and feature extraction run once, on the main
process, before the fold loop. See docs/training.md for clusters, precision
and resume.
"""

import logging
import sys
from collections.abc import Sequence

from lightning.pytorch.utilities import rank_zero_only

from speechbrain_drnsa.training import (
    RECIPE_ERRORS,
    load_seed_runs,
    parse_command_line,
    prepare_experiment,
    run_folds,
    write_run_summary,
    write_seeds_summary,
)

logger = logging.getLogger("train")


def main(argv: Sequence[str] | None = None) -> int:
    """Train and test the folds the command line asks for; 2 when the input is unusable."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    hparams_file, overrides = parse_command_line(sys.argv[1:] if argv is None else argv)
    try:
        runs = load_seed_runs(hparams_file, overrides)  # one per seed of --seeds
        hparams = runs[0][0]
        if hparams["demo_mode"]:
            announce_demo(hparams)
        # manifest, folds and features, once, on the main process
        prepared = prepare_experiment(hparams)
        for seed_hparams, hparams_text in runs:
            run_folds(seed_hparams, prepared, hparams_text)
            summary = write_run_summary(seed_hparams)
        if len(runs) > 1:
            summary = write_seeds_summary([seed_hparams for seed_hparams, _ in runs])
    except RECIPE_ERRORS as err:
        logger.error("%s", err)  # one line naming the file, no traceback
        return 2
    if summary is not None:
        print(f"\nSummary of {hparams['experiment']}: {summary.resolve()}")
        print(summary.read_text())
    return 0


def announce_demo(hparams: dict) -> None:
    """Say on screen that this is the demo corpus and schedule, not the real experiment."""
    if rank_zero_only.rank != 0:
        return
    trainer = hparams["trainer"]
    print(
        "\nNo --data_folder given: DEMO run on the synthetic corpus in "
        f"{hparams['data_folder']} (generated on first use), with the short demo schedule: "
        f"max_epochs={trainer['max_epochs']}, batch_size={hparams['batch_size']}, "
        f"lr={hparams['lr']}, model widths reduced by {dict(hparams['model_overrides'])}. "
        "Its scores say nothing about real speech; pass --data_folder=/path/to/the/corpus "
        "for the real experiment.\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
