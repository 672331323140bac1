"""Retrain a fold on its training and validation speakers, for the epochs chosen on validation.

With ``retrain_on_validation``, a fold trains twice. The first run is the
usual one: it selects the checkpoint with the best validation UA, which
fixes the number of epochs. A fresh model (same seed) then trains on the
training and validation speakers together for that many epochs, with no
validation and no early stopping, and its last weights are the ones tested:
the network learns from as many speakers as the SVM baseline, which chooses
its C on held-out speakers the same way and then fits on all of them.

The second run lives in ``fold_<k>/retrained/`` (``checkpoints/last.ckpt``
every epoch, so an interrupted run resumes; ``training.json`` once it has
ended; its CSV log).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from speechbrain_drnsa.io import write_json_atomic
from speechbrain_drnsa.training.checkpoint import AtomicCheckpointIO
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.module import SERModule
from speechbrain_drnsa.training.preparation import PreparedData
from speechbrain_drnsa.training.pretrained import RETRAINED_FOLDER, TRAINED_RECORD_NAME
from speechbrain_drnsa.training.system import build_fold

__all__ = ["epochs_of", "retrain_with_validation"]


def epochs_of(checkpoint: str | Path) -> int:
    """Epochs trained when a Lightning checkpoint was written (its 0-based epoch plus one).

    Arguments
    ---------
    checkpoint : str or Path
        A checkpoint written at the end of an epoch.

    Returns
    -------
    int
        The number of epochs behind its weights.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    return int(state["epoch"]) + 1


def retrain_with_validation(
    hparams: Mapping[str, Any], prepared: PreparedData, fold: int, folder: Path, epochs: int
) -> tuple[SERModule, SERDataModule, pl.Trainer, Path]:
    """Train a fresh model of the fold on its training and validation speakers.

    Arguments
    ---------
    hparams : mapping
        The recipe's hparams (as for :func:`~speechbrain_drnsa.training.runner.train_fold`).
    prepared : PreparedData
        The prepared corpus.
    fold : int
        Fold number, from 0.
    folder : pathlib.Path
        The fold's folder; the run goes to its ``retrained/``.
    epochs : int
        Epochs to train (those of the checkpoint selected on validation).

    Returns
    -------
    module : SERModule
        The retrained system, to be tested.
    data : SERDataModule
        The fold's data (training on training + validation speakers).
    trainer : lightning.pytorch.Trainer
        Its trainer (test with it, ``ckpt_path`` the returned checkpoint).
    checkpoint : pathlib.Path
        ``retrained/checkpoints/last.ckpt``: the weights after ``epochs`` epochs.
    """
    run_folder = folder / RETRAINED_FOLDER
    checkpoints = run_folder / "checkpoints"
    module, data = build_fold(hparams, prepared, fold, train_on_validation=True)
    trainer = pl.Trainer(
        **{**hparams["trainer"], "max_epochs": epochs},
        limit_val_batches=0,
        callbacks=[ModelCheckpoint(dirpath=checkpoints, filename="last",
                                   enable_version_counter=False)],
        logger=CSVLogger(run_folder / "logs", name="csv"),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
        default_root_dir=run_folder,
    )
    last = checkpoints / "last.ckpt"
    record = checkpoints / TRAINED_RECORD_NAME
    if not record.is_file():
        trainer.fit(module, datamodule=data, ckpt_path=last if last.is_file() else None)
        if trainer.is_global_zero:
            write_json_atomic({"epochs": epochs, "train_utterances_per_rank":
                               module.train_utterances_per_rank}, record)
    return module, data, trainer, last
