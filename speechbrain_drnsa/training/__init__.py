"""Lightning training: system, fold data, cross-validation, reports.

:class:`SERModule` (steps, loss, scores, optimiser) and :class:`SERDataModule`
(manifest, feature cache, bucketed loaders of one fold) are driven by
:func:`run_folds`, which ``recipes/IEMOCAP/train.py`` calls with the recipe's
hparams (:func:`load_recipe_hparams`).
"""

from speechbrain_drnsa.training.checkpoint import AtomicCheckpointIO, CheckpointWriteError
from speechbrain_drnsa.training.crossval import build_model, run_folds, train_fold
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.module import CHECKPOINT_KEY, Evaluation, SERModule
from speechbrain_drnsa.training.recipe import UnknownKeyError, load_recipe_hparams

__all__ = [
    "AtomicCheckpointIO",
    "CHECKPOINT_KEY",
    "CheckpointWriteError",
    "Evaluation",
    "SERDataModule",
    "SERModule",
    "UnknownKeyError",
    "build_model",
    "load_recipe_hparams",
    "run_folds",
    "train_fold",
]
