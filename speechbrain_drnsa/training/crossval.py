"""Cross-validation: one Lightning ``Trainer`` per fold, then a summary.

Each fold trains a freshly initialised model (seeded by ``seed``, so fold
``k`` gives the same result alone as within a full run), keeps the
checkpoint with the best validation UA (never test), tests that checkpoint
and writes its report (:mod:`speechbrain_drnsa.training.report`). Running
the same command again skips the folds whose ``metrics.json`` exists and
resumes an unfinished fold from its ``last.ckpt``.

The hparams are a plain mapping (from the recipe yaml) with these keys:

``experiment_folder``
    ``results/<experiment>/<seed>``, holding one ``fold_<k>`` per fold.
``data_folder``, ``prepared_folder``, ``feature_cache``
    Corpus, manifest + folds + feature index, and feature cache folders.
``protocol``, ``fold``, ``labels``, ``seed``, ``split_seed``
    Fold protocol, one fold to run (``None``: all), class names, seed of the
    model and batch order, seed of shuffled protocols' folds.
``model_file``, ``model_overrides``
    A model yaml (``hparams/drn_mhsa.yaml`` ...) defining ``model``, and
    overrides for it; ``n_classes`` is set from ``labels``.
``lr``, ``weight_decay``, ``scheduler``
    Optimiser settings of :class:`~speechbrain_drnsa.training.module.SERModule`.
``batch_size``, ``max_batch_frames``, ``num_workers``, ``extraction_jobs``, ``demo_corpus``
    Loader and extraction settings of
    :class:`~speechbrain_drnsa.training.datamodule.SERDataModule`.
``prepare``, ``speaker_normalization``, ``perturbations``
    The corpus preparation (None: IEMOCAP), per-speaker standardisation and
    waveform perturbations of the training part of
    :class:`~speechbrain_drnsa.training.datamodule.SERDataModule`.
``init_from``
    A checkpoint (or a finished fold's folder) whose weights start every
    fold's model instead of a random initialisation
    (:func:`~speechbrain_drnsa.training.pretrained.load_pretrained_weights`);
    None: from scratch.
``label_smoothing``, ``augment``, ``mixup_alpha``
    Training-only label smoothing, batch augmentation and mixup of
    :class:`~speechbrain_drnsa.training.module.SERModule`.
``average_top_k``
    Keep the ``k`` checkpoints with the best validation UA and test the
    average of their weights (1, the default: test the best one alone).
``early_stopping_patience``
    Validation epochs without a better UA before stopping (``None``: never).
``num_threads``
    ``torch.set_num_threads`` for each process (``None``: torch's default).
``trainer``
    Keyword arguments of ``lightning.pytorch.Trainer`` (devices, num_nodes,
    strategy, precision, max_epochs, accumulate_grad_batches, ...).
"""

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hyperpyyaml import load_hyperpyyaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import nn

from speechbrain_drnsa.data.folds import folds_file, load_folds
from speechbrain_drnsa.io import load_json, write_json_atomic
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.training.averaging import average_checkpoint_files
from speechbrain_drnsa.training.checkpoint import AtomicCheckpointIO
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.module import SERModule
from speechbrain_drnsa.training.pretrained import TRAINED_RECORD_NAME, load_pretrained_weights
from speechbrain_drnsa.training.report import (
    fold_folder,
    read_finished_folds,
    read_fold_metrics,
    write_fold_report,
    write_summary,
    write_text_atomic,
)

__all__ = ["MONITOR", "build_model", "train_fold", "run_folds"]

logger = logging.getLogger(__name__)

#: The logged score that selects checkpoints and stops training early.
MONITOR = "valid/UA"


def build_model(
    model_file: str | Path, overrides: Mapping[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the ``model`` defined by a model yaml, and describe how to rebuild it.

    Arguments
    ---------
    model_file : str or Path
        A yaml defining ``model`` (e.g. ``hparams/drn_mhsa.yaml``).
    overrides : mapping, optional
        Overrides of the yaml's keys, e.g. ``{"n_classes": 4}``.

    Returns
    -------
    model : torch.nn.Module
        The freshly initialised model.
    config : dict
        ``{"file", "yaml", "overrides"}``: the file name, its text and the
        overrides, enough to rebuild the same architecture later.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "tiny.yaml"
    >>> _ = path.write_text("size: 3\\nmodel: !new:torch.nn.Linear [17, !ref <size>]\\n")
    >>> model, config = build_model(path, {"size": 4})
    >>> model.out_features, config["overrides"]
    (4, {'size': 4})
    """
    path = Path(model_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputFileError(path, f"cannot read the model definition ({err.strerror})") from None
    overrides = dict(overrides or {})
    loaded = load_hyperpyyaml(text, overrides)
    if "model" not in loaded:
        raise InputFileError(path, "defines no 'model' key")
    return loaded["model"], {"file": path.name, "yaml": text, "overrides": overrides}


def train_fold(hparams: Mapping[str, Any], fold: int, hparams_text: str = "") -> dict[str, Any]:
    """Train, select and test one fold, unless its report already exists.

    Arguments
    ---------
    hparams : mapping
        Keys as in the module docstring.
    fold : int
        Fold number, from 0.
    hparams_text : str
        The resolved yaml, saved as the fold's ``hparams.yaml``.

    Returns
    -------
    dict
        The fold's ``metrics.json`` content.
    """
    folder = fold_folder(hparams["experiment_folder"], fold)
    finished = read_fold_metrics(folder)
    if finished is not None:
        logger.info("fold %d already finished (%s), skipping it", fold, folder)
        return finished
    started = time.monotonic()
    if hparams.get("num_threads") is not None:
        torch.set_num_threads(hparams["num_threads"])
    pl.seed_everything(hparams["seed"], workers=True)
    labels = list(hparams["labels"])
    overrides = {**hparams.get("model_overrides", {}), "n_classes": len(labels)}
    model, model_config = build_model(hparams["model_file"], overrides)
    if hparams.get("init_from") is not None:
        load_pretrained_weights(model, hparams["init_from"], labels)
    normalizer = FeatureNormalizer()
    module = SERModule(
        model,
        normalizer,
        labels,
        lr=hparams["lr"],
        weight_decay=hparams["weight_decay"],
        scheduler=hparams.get("scheduler"),
        seed=hparams["seed"],
        model_config=model_config,
        label_smoothing=hparams.get("label_smoothing", 0.0),
        augment=hparams.get("augment"),
        mixup_alpha=hparams.get("mixup_alpha", 0.0),
    )
    data = SERDataModule(
        data_folder=hparams["data_folder"],
        save_folder=hparams["prepared_folder"],
        cache_folder=hparams["feature_cache"],
        fold=fold,
        normalizer=normalizer,
        protocol=hparams["protocol"],
        labels=labels,
        batch_size=hparams["batch_size"],
        max_batch_frames=hparams.get("max_batch_frames"),
        num_workers=hparams["num_workers"],
        seed=hparams["seed"],
        split_seed=hparams.get("split_seed", 1234),
        extraction_jobs=hparams.get("extraction_jobs", 1),
        demo_corpus=hparams.get("demo_corpus", False),
        prepare=hparams.get("prepare"),
        speaker_normalization=hparams.get("speaker_normalization", False),
        perturbations=hparams.get("perturbations", ()),
    )
    average_top_k = int(hparams.get("average_top_k", 1))
    if average_top_k < 1:
        raise ValueError(f"average_top_k must be at least 1, got {average_top_k}")
    checkpoints = ModelCheckpoint(
        dirpath=folder / "checkpoints",
        filename="best-epoch={epoch}-UA={valid/UA:.4f}",
        auto_insert_metric_name=False,
        monitor=MONITOR,
        mode="max",
        save_top_k=average_top_k,
    )
    # Lightning's save_last writes only in epochs that improve the monitor; resuming
    # needs every epoch's state, saved after (so including) the selection's
    latest = ModelCheckpoint(
        dirpath=folder / "checkpoints", filename="last", enable_version_counter=False
    )
    callbacks: list[pl.Callback] = [checkpoints, latest]
    if hparams.get("early_stopping_patience") is not None:
        callbacks.append(
            EarlyStopping(MONITOR, mode="max", patience=hparams["early_stopping_patience"])
        )
    trainer = pl.Trainer(
        **hparams["trainer"],
        callbacks=callbacks,
        logger=[
            TensorBoardLogger(folder, name="logs", version="tensorboard"),
            # a resumed run gets its own version: CSVLogger rewrites an existing file
            CSVLogger(folder / "logs", name="csv"),
        ],
        plugins=[AtomicCheckpointIO()],
        # the batch sampler shares batches out to the processes itself
        use_distributed_sampler=False,
        default_root_dir=folder,
    )
    _explain_precision(hparams["trainer"].get("precision"), trainer)
    if trainer.is_global_zero and hparams_text:
        write_text_atomic(hparams_text, folder / "hparams.yaml")

    trained = folder / "checkpoints" / TRAINED_RECORD_NAME
    if trained.is_file():
        record = load_json(trained)
        best, top_k = record["best_model_path"], record.get("top_k_model_paths", [])
        logger.info("fold %d: training had finished, testing %s", fold, best)
    else:
        last = folder / "checkpoints" / "last.ckpt"
        if last.is_file():
            logger.info("fold %d: resuming from %s", fold, last)
        trainer.fit(module, datamodule=data, ckpt_path=last if last.is_file() else None)
        best = checkpoints.best_model_path
        if not best:
            raise RuntimeError(
                f"fold {fold}: no checkpoint was selected because {MONITOR} was never logged; "
                "check that validation runs (limit_val_batches, check_val_every_n_epoch)"
            )
        top_k = sorted(checkpoints.best_k_models, key=lambda p: -checkpoints.best_k_models[p])
        if trainer.is_global_zero:
            write_json_atomic(
                {
                    "best_model_path": best,
                    "best_valid_UA": float(checkpoints.best_model_score),
                    "epochs": trainer.current_epoch,
                    "train_utterances_per_rank": module.train_utterances_per_rank,
                    "top_k_model_paths": top_k,
                },
                trained,
            )
    tested = best
    if average_top_k > 1:
        top_k = top_k or [best]
        tested = str(folder / "checkpoints" / f"average-top{average_top_k}.ckpt")
        if trainer.is_global_zero:
            average_checkpoint_files(top_k, tested)
            logger.info("fold %d: testing the average of %s", fold, [Path(p).name for p in top_k])
        trainer.strategy.barrier()
    trainer.test(module, datamodule=data, ckpt_path=tested)
    metrics: dict[str, Any] = {}
    if trainer.is_global_zero:
        record = load_json(trained)
        metrics = write_fold_report(
            folder,
            module.evaluation,
            {
                "fold": fold,
                "protocol": hparams["protocol"],
                "seed": hparams["seed"],
                "checkpoint": Path(tested).name,
                **(
                    {"averaged_checkpoints": [Path(p).name for p in top_k]}
                    if average_top_k > 1
                    else {}
                ),
                "best_valid_UA": record["best_valid_UA"],
                "epochs": record["epochs"],
                "world_size": trainer.world_size,
                "train_utterances_per_rank": record["train_utterances_per_rank"],
                "wall_time_s": round(time.monotonic() - started, 1),
            },
        )
    trainer.strategy.barrier()
    return metrics


def run_folds(hparams: Mapping[str, Any], hparams_text: str = "") -> Path | None:
    """Run every fold of the protocol (or only ``hparams["fold"]``) and write the summary.

    Arguments
    ---------
    hparams : mapping
        Keys as in the module docstring.
    hparams_text : str
        The resolved yaml, saved in every fold folder.

    Returns
    -------
    pathlib.Path or None
        ``summary.md`` of the experiment folder (on the main process; None on
        the others). With ``fold`` set, the summary covers the folds finished
        so far, so an array job's last task leaves the complete one.
    """
    if hparams.get("fold") is not None:
        train_fold(hparams, int(hparams["fold"]), hparams_text)
    else:
        fold = 0
        # the fold file exists once the first fold's prepare_data has run
        while (count := _count_folds(hparams)) is None or fold < count:
            train_fold(hparams, fold, hparams_text)
            fold += 1
    if not _is_main_process():
        return None
    experiment_folder = Path(hparams["experiment_folder"])
    finished = read_finished_folds(experiment_folder)
    title = f"{hparams.get('experiment', experiment_folder.parent.name)}, protocol " + (
        f"{hparams['protocol']}, seed {hparams['seed']}"
    )
    return write_summary(experiment_folder, finished, title=title)


def _count_folds(hparams: Mapping[str, Any]) -> int | None:
    path = folds_file(hparams["prepared_folder"], hparams["protocol"])
    return len(load_folds(path)) if path.is_file() else None


def _is_main_process() -> bool:
    return pl.utilities.rank_zero_only.rank == 0


def _explain_precision(requested: str | None, trainer: pl.Trainer) -> None:
    actual = str(trainer.precision)
    if str(requested).startswith("16") and actual.startswith("bf16") and trainer.is_global_zero:
        logger.warning(
            "precision %s is not available on %s: training with precision %s instead",
            requested,
            type(trainer.accelerator).__name__.removesuffix("Accelerator"),
            actual,
        )
