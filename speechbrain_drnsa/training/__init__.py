"""Lightning training: system, fold data, data preparation, the fold runner.

:class:`SERModule` (steps, loss, scores, optimiser) and :class:`SERDataModule`
(datasets and bucketed loaders of one fold of a prepared corpus) are driven
by :func:`run_folds` after :func:`prepare_experiment`, with the hparams of a
recipe (:func:`load_recipe_hparams`); ``recipes/IEMOCAP/train.py`` shows the
flow.
"""

from speechbrain_drnsa.training.checkpoint import AtomicCheckpointIO, CheckpointWriteError
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.hparams import (
    UnknownKeyError,
    build_model,
    load_recipe_hparams,
    load_seed_runs,
    parse_command_line,
)
from speechbrain_drnsa.training.module import CHECKPOINT_KEY, SERModule
from speechbrain_drnsa.training.preparation import PreparedData, prepare_experiment
from speechbrain_drnsa.training.runner import (
    RECIPE_ERRORS,
    run_folds,
    train_fold,
    write_run_summary,
    write_seeds_summary,
)

__all__ = [
    "AtomicCheckpointIO",
    "CHECKPOINT_KEY",
    "CheckpointWriteError",
    "PreparedData",
    "RECIPE_ERRORS",
    "SERDataModule",
    "SERModule",
    "UnknownKeyError",
    "build_model",
    "load_recipe_hparams",
    "load_seed_runs",
    "parse_command_line",
    "prepare_experiment",
    "run_folds",
    "train_fold",
    "write_run_summary",
    "write_seeds_summary",
]
