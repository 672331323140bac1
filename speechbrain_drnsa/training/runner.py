"""Run the folds of an experiment: one Lightning ``Trainer`` per fold, then a summary.

Each fold trains a freshly initialised model (seeded by ``seed``, so fold
``k`` gives the same result alone as within a full run), keeps the
checkpoint with the best validation UA (never test), tests that checkpoint
and writes its report (:mod:`speechbrain_drnsa.results.report`). Running
the same command again skips finished folds and resumes an unfinished fold
from its ``last.ckpt``, after checking that the fold was started with the
same settings (:mod:`speechbrain_drnsa.training.settings`).

A recipe's ``train.py`` reads as the flow::

    hparams, hparams_text = load_recipe_hparams(hparams_file, overrides)
    prepared = prepare_experiment(hparams)   # manifest, folds, features: once
    run_folds(hparams, prepared, hparams_text)
    summary = write_run_summary(hparams)

The hparams are a plain mapping (from the recipe yaml) with these keys:

``experiment_folder``
    ``results/<experiment>/<seed>``, holding one ``fold_<k>`` per fold.
``fold``, ``labels``, ``seed``, ``protocol``
    One fold to run (``None``: all), class names, seed of the model and batch
    order, the protocol's name (for the reports).
``model_file``, ``model_overrides``
    A model yaml (``speechbrain_drnsa/hparams/drn_mhsa.yaml`` ...) defining ``model``, and
    overrides for it; ``n_classes`` is set from ``labels``.
``lr``, ``weight_decay``, ``scheduler``, ``label_smoothing``, ``augment``, ``mixup_alpha``
    Settings of :class:`~speechbrain_drnsa.training.module.SERModule`.
``batch_size``, ``max_batch_frames``, ``num_workers``
    Loader settings of :class:`~speechbrain_drnsa.training.datamodule.SERDataModule`.
``speaker_normalization``, ``normalization_group``
    Standardise each utterance with its speaker's statistics first
    (:class:`~speechbrain_drnsa.features.normalize.FeatureNormalizer`), or its
    corpus's with ``normalization_group: corpus``.
``functionals``
    ``eGeMAPSv02`` or ``ComParE_2016``: the utterances' functionals, normalised
    like the LLDs, go to the model as a third input (a model yaml such as
    ``speechbrain_drnsa/hparams/drn_mhsa_functionals.yaml``); None: LLDs only.
``init_from``
    A checkpoint (or a finished fold's folder) whose weights start every
    fold's model (:func:`~speechbrain_drnsa.training.pretrained.load_pretrained_weights`).
``retrain_on_validation``
    Once the epochs are chosen on the validation speakers, train a fresh model on
    training + validation speakers for that many epochs and test it instead
    (:mod:`speechbrain_drnsa.training.retrain`).
``average_top_k``
    Keep the ``k`` checkpoints with the best validation UA and test the
    average of their weights (1, the default: test the best one alone).
``early_stopping_patience``
    Validation epochs without a better UA before stopping (``None``: never).
``num_threads``
    ``torch.set_num_threads`` for each process (``None``: torch's default).
``start_afresh``
    Delete a fold folder started with other settings instead of refusing.
``trainer``
    Keyword arguments of ``lightning.pytorch.Trainer`` (devices, num_nodes,
    strategy, precision, max_epochs, accumulate_grad_batches, ...).
"""

import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from speechbrain_drnsa.data.csv_corpora import (
    CORPORA_RECORD_NAME,
    corpus_of,
    read_corpora_record,
)
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import (
    load_json,
    remove_stale_temporaries,
    write_json_atomic,
    write_text_atomic,
)
from speechbrain_drnsa.results import report
from speechbrain_drnsa.results.ensemble import write_ensemble
from speechbrain_drnsa.results.scores import scores_by_corpus
from speechbrain_drnsa.training.checkpoint import (
    AtomicCheckpointIO,
    CheckpointWriteError,
    average_checkpoint_files,
    average_top_k_file,
)
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.lock import experiment_lock
from speechbrain_drnsa.training.module import SERModule
from speechbrain_drnsa.training.preparation import PreparedData
from speechbrain_drnsa.training.pretrained import TRAINED_RECORD_NAME
from speechbrain_drnsa.training.retrain import epochs_of, retrain_with_validation
from speechbrain_drnsa.training.settings import check_fold_settings
from speechbrain_drnsa.training.system import build_fold

__all__ = [
    "MONITOR",
    "RECIPE_ERRORS",
    "run_folds",
    "train_fold",
    "write_run_summary",
    "write_seeds_summary",
]

logger = logging.getLogger(__name__)

#: The logged score that selects checkpoints and stops training early.
MONITOR = "valid/UA"

#: What a recipe reports as one line naming the file (exit status 2), never a traceback.
RECIPE_ERRORS = (InputFileError, CheckpointWriteError)


@dataclass
class _Selection:
    """The fold's checkpoint callbacks: the best ``k`` by validation UA, and every epoch's."""

    best: ModelCheckpoint
    latest: ModelCheckpoint


def run_folds(hparams: Mapping[str, Any], prepared: PreparedData, hparams_text: str = "") -> None:
    """Train and test every fold of the protocol, or only ``hparams["fold"]``.

    Arguments
    ---------
    hparams : mapping
        Keys as in the module docstring.
    prepared : PreparedData
        From :func:`~speechbrain_drnsa.training.preparation.prepare_experiment`.
    hparams_text : str
        The resolved yaml, saved in every fold folder.
    """
    folds = range(prepared.num_folds) if hparams.get("fold") is None else [int(hparams["fold"])]
    # one run per experiment folder; other ranks of a distributed run share the main one's
    lock = experiment_lock if _is_main_process() else contextlib.nullcontext
    with lock(hparams["experiment_folder"]):
        corpora = read_corpora_record(prepared.manifest.parent)
        if corpora is not None and _is_main_process():
            # the corpora, their sizes and label map, for the reports and the model card
            write_json_atomic(corpora, Path(hparams["experiment_folder"]) / CORPORA_RECORD_NAME)
        for fold in folds:
            train_fold(hparams, prepared, fold, hparams_text)


def train_fold(
    hparams: Mapping[str, Any], prepared: PreparedData, fold: int, hparams_text: str = ""
) -> dict[str, Any]:
    """Build, fit, select, test and report one fold, unless its report already exists.

    Arguments
    ---------
    hparams : mapping
        Keys as in the module docstring.
    prepared : PreparedData
        The prepared corpus.
    fold : int
        Fold number, from 0.
    hparams_text : str
        The resolved yaml, saved as the fold's ``hparams.yaml``.

    Returns
    -------
    dict
        The fold's ``metrics.json`` content (empty on processes other than the main one).
    """
    folder = report.fold_folder(hparams["experiment_folder"], fold)
    check_fold_settings(folder, hparams, is_main_process=_is_main_process())
    finished = report.read_fold_metrics(folder)
    if finished is not None:
        logger.info("fold %d already finished (%s), skipping it", fold, folder)
        return finished
    started = time.monotonic()
    module, data = build_fold(hparams, prepared, fold)
    trainer, selection = _trainer(hparams, folder)
    if trainer.is_global_zero and hparams_text:
        write_text_atomic(hparams_text, folder / "hparams.yaml")
    record = _fit(trainer, module, data, selection, folder)
    tested, averaged = _select(trainer, record, int(hparams.get("average_top_k", 1)), folder)
    retrained: dict[str, Any] = {}
    if hparams.get("retrain_on_validation"):
        epochs = epochs_of(record["best_model_path"])
        module, data, trainer, last = retrain_with_validation(hparams, prepared, fold, folder,
                                                              epochs)
        tested, averaged = str(last), []
        utterances = load_json(last.with_name(TRAINED_RECORD_NAME))["train_utterances_per_rank"]
        retrained = {"checkpoint": str(last.relative_to(folder)), "retrained_epochs": epochs,
                     "retrained_utterances_per_rank": utterances}
    trainer.test(module, datamodule=data, ckpt_path=tested)
    metrics: dict[str, Any] = {}
    if trainer.is_global_zero:
        metrics = _report(hparams, prepared, fold, folder, module, trainer, tested, averaged,
                          started, retrained)
    trainer.strategy.barrier()
    return metrics


def write_run_summary(hparams: Mapping[str, Any]) -> Path | None:
    """Write the summary of the folds finished so far (main process only).

    Arguments
    ---------
    hparams : mapping
        With ``experiment_folder``, ``experiment``, ``protocol`` and ``seed``.

    Returns
    -------
    pathlib.Path or None
        ``summary.md`` of the experiment folder on the main process; None on
        the others. With ``fold`` set, it covers the folds finished so far, so
        an array job's last task leaves the complete one.
    """
    if not _is_main_process():
        return None
    experiment_folder = Path(hparams["experiment_folder"])
    title = f"{hparams.get('experiment', experiment_folder.parent.name)}, protocol " + (
        f"{hparams['protocol']}, seed {hparams['seed']}"
    )
    return report.write_summary(
        experiment_folder, report.read_finished_folds(experiment_folder), title=title
    )


def write_seeds_summary(runs: Sequence[Mapping[str, Any]]) -> Path | None:
    """Write the summary over the seeds of an experiment and their ensemble (main process only).

    The ensemble (each fold's test utterances classified by the mean
    probabilities of the seeds' models, :mod:`speechbrain_drnsa.results.ensemble`)
    goes to ``results/<experiment>_seed_ensemble``, in the layout of a run.

    Arguments
    ---------
    runs : sequence of mapping
        The hparams of each seed (:func:`~speechbrain_drnsa.training.hparams.load_seed_runs`).

    Returns
    -------
    pathlib.Path or None
        ``summary.md`` of ``results/<experiment>`` (the seeds' parent folder) on
        the main process; None on the others.
    """
    if not _is_main_process():
        return None
    folders = [Path(hparams["experiment_folder"]) for hparams in runs]
    finished = {folder.name: report.read_finished_folds(folder) for folder in folders}
    common = set.intersection(*(set(folds) for folds in finished.values()))
    first = runs[0]
    title = f"{first.get('experiment', folders[0].parent.name)}, protocol {first['protocol']}"
    # beside the seed folders, not among them, so that compare pools only the seeds
    ensemble = folders[0].parent.with_name(f"{folders[0].parent.name}_seed_ensemble")
    write_ensemble(folders, ensemble, title=f"{title}: ensemble of the seeds {list(finished)}")
    logger.info("ensemble of the seeds (mean probabilities per fold): %s", ensemble)
    return report.write_seeds_summary(
        folders[0].parent,
        {seed: {f: folds[f] for f in sorted(common)} for seed, folds in finished.items()},
        title=title,
    )


def _trainer(hparams: Mapping[str, Any], folder: Path) -> tuple[pl.Trainer, _Selection]:
    """The fold's Trainer: checkpoint selection on validation UA, early stopping, loggers."""
    average_top_k = int(hparams.get("average_top_k", 1))
    if average_top_k < 1:
        raise ValueError(f"average_top_k must be at least 1, got {average_top_k}")
    selection = _Selection(
        best=ModelCheckpoint(
            dirpath=folder / "checkpoints",
            filename="best-epoch={epoch}-UA={valid/UA:.4f}",
            auto_insert_metric_name=False,
            monitor=MONITOR,
            mode="max",
            save_top_k=average_top_k,
        ),
        # Lightning's save_last writes only in epochs that improve the monitor; resuming
        # needs every epoch's state, saved after (so including) the selection's
        latest=ModelCheckpoint(
            dirpath=folder / "checkpoints", filename="last", enable_version_counter=False
        ),
    )
    callbacks: list[pl.Callback] = [selection.best, selection.latest]
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
    return trainer, selection


def _fit(
    trainer: pl.Trainer,
    module: SERModule,
    data: SERDataModule,
    selection: _Selection,
    folder: Path,
) -> dict[str, Any]:
    """Train (resuming from ``last.ckpt``) unless training had ended; return its record."""
    checkpoints = folder / "checkpoints"
    trained = checkpoints / TRAINED_RECORD_NAME
    if trainer.is_global_zero:
        for stale in remove_stale_temporaries(checkpoints):
            logger.info("removed %s, left by an interrupted checkpoint write", stale.name)
    if trained.is_file():
        logger.info("%s: training had finished, testing its selection", folder.name)
        return load_json(trained)
    last = checkpoints / "last.ckpt"
    if last.is_file():
        logger.info("%s: resuming from %s", folder.name, last)
    trainer.fit(module, datamodule=data, ckpt_path=last if last.is_file() else None)
    best = selection.best
    if not best.best_model_path:
        raise RuntimeError(
            f"{folder.name}: no checkpoint was selected because {MONITOR} was never logged; "
            "check that validation runs (limit_val_batches, check_val_every_n_epoch)"
        )
    record = {
        "best_model_path": best.best_model_path,
        "best_valid_UA": float(best.best_model_score),
        "epochs": trainer.current_epoch,
        "train_utterances_per_rank": module.train_utterances_per_rank,
        "top_k_model_paths": sorted(best.best_k_models, key=lambda p: -best.best_k_models[p]),
    }
    if trainer.is_global_zero:
        write_json_atomic(record, trained)
    return record


def _select(
    trainer: pl.Trainer, record: Mapping[str, Any], average_top_k: int, folder: Path
) -> tuple[str, list[str]]:
    """The checkpoint to test: the best one, or the average of the ``k`` best."""
    best = record["best_model_path"]
    if average_top_k == 1:
        return best, []
    top_k = record.get("top_k_model_paths") or [best]
    tested = str(average_top_k_file(folder / "checkpoints", average_top_k))
    if trainer.is_global_zero:
        average_checkpoint_files(top_k, tested)
        logger.info("%s: testing the average of %s", folder.name, [Path(p).name for p in top_k])
    trainer.strategy.barrier()
    return tested, top_k


def _report(
    hparams: Mapping[str, Any],
    prepared: PreparedData,
    fold: int,
    folder: Path,
    module: SERModule,
    trainer: pl.Trainer,
    tested: str,
    averaged: list[str],
    started: float,
    retrained: Mapping[str, Any],
) -> dict[str, Any]:
    """Write the fold's report from its test evaluation and training record."""
    record = load_json(folder / "checkpoints" / TRAINED_RECORD_NAME)
    manifest = load_json(prepared.manifest)
    # each utterance's speaker, so that comparisons can resample the test speakers
    speakers = [manifest[utt_id]["speaker"] for utt_id, *_ in module.evaluation.predictions]
    # several corpora: the scores of each corpus tested, for UA per test corpus
    corpora = scores_by_corpus(module.evaluation, corpus_of(manifest))
    return report.write_fold_report(
        folder,
        dataclasses.replace(module.evaluation, speakers=speakers),
        {
            "fold": fold,
            "protocol": hparams["protocol"],
            "protocol_folds": prepared.num_folds,  # so that a part of the run says it is a part
            "seed": hparams["seed"],
            "checkpoint": Path(tested).name,
            **({"averaged_checkpoints": [Path(p).name for p in averaged]} if averaged else {}),
            "best_valid_UA": record["best_valid_UA"],
            "epochs": record["epochs"],
            "world_size": trainer.world_size,
            "train_utterances_per_rank": record["train_utterances_per_rank"],
            **retrained,
            **({"corpora": corpora} if corpora else {}),
            "wall_time_s": round(time.monotonic() - started, 1),
        },
    )


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
