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
unfinished one from its last checkpoint. Data preparation and feature
extraction run on the main process while the others wait (the data module's
``prepare_data``). See docs/training.md for clusters, precision and resume.
"""

import logging
import sys
from collections.abc import Sequence

from lightning.pytorch.utilities import rank_zero_only

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.training.checkpoint import CheckpointWriteError
from speechbrain_drnsa.training.crossval import run_folds
from speechbrain_drnsa.training.recipe import load_recipe_hparams, parse_command_line

logger = logging.getLogger("train")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the recipe and return the exit status (2 for unusable input)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    hparams_file, overrides = parse_command_line(sys.argv[1:] if argv is None else argv)
    try:
        hparams, resolved = load_recipe_hparams(hparams_file, overrides)
        if hparams["demo_mode"]:
            _announce_demo(hparams)
        summary = run_folds(hparams, resolved)
    except (InputFileError, CheckpointWriteError) as err:
        logger.error("%s", err)
        return 2
    if summary is not None:
        print(f"\nSummary of {hparams['experiment']}: {summary.resolve()}")
        print(summary.read_text())
    return 0


@rank_zero_only
def _announce_demo(hparams: dict) -> None:
    trainer = hparams["trainer"]
    print(
        "\nNo --data_folder given: DEMO run on the synthetic corpus in "
        f"{hparams['data_folder']} (generated on first use), with the short demo schedule: "
        f"max_epochs={trainer['max_epochs']}, batch_size={hparams['batch_size']}, "
        f"lr={hparams['lr']}, model widths reduced by {dict(hparams['model_overrides'])}. "
        "Its scores say nothing about IEMOCAP; pass "
        "--data_folder=/path/to/IEMOCAP_full_release for the real experiment.\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
