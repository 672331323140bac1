#!/usr/bin/env python3
"""Recipe: speech emotion recognition on EmoDB with DRN-MHSA (Li et al., ICASSP 2019).

Reads the Berlin Database of Emotional Speech as distributed (``wav/``; speaker
and emotion from the file names), trains every fold of a speaker-independent
protocol with PyTorch Lightning, selects each fold's checkpoint on validation
UA, tests it, and writes per-fold reports and a summary in the layout of the
IEMOCAP recipe (docs/training.md).

To run::

    cd recipes/EmoDB
    python train.py hparams/drn_mhsa.yaml --data_folder=../../../shared/data/emodb
    python train.py hparams/drn_mhsa_4class.yaml --data_folder=... --speaker_normalization=true
    python train.py hparams/cpu_drn_mhsa_4class.yaml --data_folder=...   # CPU-sized protocol

Running the same command again skips finished folds and resumes the
unfinished one. The classic baselines in the same folds: ``baseline_svm.py``.
"""

import logging
import sys
from collections.abc import Sequence

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


if __name__ == "__main__":
    sys.exit(main())
