"""Start a model from an earlier run's weights: pretrain on one corpus, fine-tune on another.

A small corpus (EmoDB: 535 utterances) can borrow what a network learnt on
other emotional speech. :func:`load_pretrained_weights` copies the weights of
a checkpoint written by this package into a freshly built model of the same
architecture. When the checkpoint was trained on other labels (SAVEE's seven
emotions before EmoDB's four), its output layer cannot be reused: that layer
keeps its fresh initialisation and everything below it is copied. The
feature normaliser is not copied; each fold fits its own on its own data.
A finished fold's folder stands for the weights its scores were measured
with (:func:`resolve_checkpoint`), averaged checkpoints included.
Checkpoints are read with ``torch.load(weights_only=True)``, so loading one
never runs code from it.
"""

import logging
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.training.checkpoint import (
    average_checkpoint_files,
    average_top_k_file,
    load_checkpoint,
)
from speechbrain_drnsa.training.module import CHECKPOINT_KEY
from speechbrain_drnsa.training.settings import SETTINGS_FILE

__all__ = [
    "RETRAINED_FOLDER",
    "TRAINED_RECORD_NAME",
    "load_pretrained_weights",
    "resolve_checkpoint",
]

logger = logging.getLogger(__name__)

# the model's weights inside SERModule's state dict
_PREFIX = "model."
#: Written in a fold's ``checkpoints/`` folder when its training has ended (best checkpoint...).
TRAINED_RECORD_NAME = "training.json"
#: A fold's run retrained on its validation speakers too (``retrain_on_validation``).
RETRAINED_FOLDER = "retrained"


def resolve_checkpoint(source: str | PathLike) -> Path:
    """The checkpoint file meant by ``source``: a ``.ckpt`` file, or a finished fold's folder.

    Arguments
    ---------
    source : str or PathLike
        A checkpoint file, or a ``fold_<k>`` folder of a finished run: the
        weights the fold tests, that is its checkpoint with the best
        validation UA, the average of its ``k`` best when it was trained with
        ``average_top_k: k`` (written again, as the test wrote it, if the file
        is gone), or the last one of its ``retrained/`` run when it was
        retrained on the validation speakers.

    Returns
    -------
    pathlib.Path
        The checkpoint file.

    Raises
    ------
    InputFileError
        If ``source`` is neither.

    Example
    -------
    >>> import tempfile
    >>> resolve_checkpoint(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...: neither a checkpoint file nor a finished fold ...
    """
    path = Path(source)
    if path.is_file():
        return path
    retrained = path / RETRAINED_FOLDER / "checkpoints"
    if (retrained / TRAINED_RECORD_NAME).is_file():
        return retrained / "last.ckpt"
    record = path / "checkpoints" / TRAINED_RECORD_NAME
    if path.is_dir() and record.is_file():
        trained = load_json(record)
        k = _average_top_k(path)
        if k == 1:
            return _located(path, trained["best_model_path"])
        averaged = average_top_k_file(path / "checkpoints", k)
        if not averaged.is_file():  # not tested yet, or deleted: average as the test does
            top_k = trained.get("top_k_model_paths") or [trained["best_model_path"]]
            average_checkpoint_files([_located(path, p) for p in top_k], averaged)
        return averaged
    raise InputFileError(
        path,
        "neither a checkpoint file nor a finished fold folder (one with "
        f"checkpoints/{TRAINED_RECORD_NAME}): nothing to start from",
    )


def load_pretrained_weights(
    model: nn.Module, checkpoint: str | PathLike, labels: list[str]
) -> list[str]:
    """Copy a checkpoint's model weights into ``model``, except an output layer for other labels.

    Arguments
    ---------
    model : torch.nn.Module
        A freshly built model of the checkpoint's architecture (widths may
        differ only in the output layer).
    checkpoint : str or PathLike
        A checkpoint of this package, or a finished fold's folder
        (:func:`resolve_checkpoint`).
    labels : list of str
        The labels ``model`` will learn. When they are the checkpoint's own,
        every weight is copied; otherwise the checkpoint's last layer (the one
        with a row per label) is left out.

    Returns
    -------
    list of str
        Names of the weights left as initialised.

    Raises
    ------
    InputFileError
        If the file is not such a checkpoint or its architecture differs.

    Example
    -------
    >>> import tempfile
    >>> path = f"{tempfile.mkdtemp()}/pre.ckpt"
    >>> source = nn.Sequential(nn.Linear(17, 8), nn.Linear(8, 7))
    >>> torch.save({
    ...     "state_dict": {f"model.{k}": v for k, v in source.state_dict().items()},
    ...     CHECKPOINT_KEY: {"labels": list("abcdefg")},
    ... }, path)
    >>> target = nn.Sequential(nn.Linear(17, 8), nn.Linear(8, 4))
    >>> load_pretrained_weights(target, path, labels=["w", "x", "y", "z"])
    ['1.weight', '1.bias']
    >>> bool((target[0].weight == source[0].weight).all())
    True
    """
    path = resolve_checkpoint(checkpoint)
    weights, trained_labels = _read_checkpoint(path)
    skipped = [] if list(trained_labels) == list(labels) else _output_layer(weights)
    kept = {name: tensor for name, tensor in weights.items() if name not in skipped}
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    if missing or unexpected:
        raise InputFileError(
            path,
            f"its model is another architecture: {len(missing)} weight(s) missing from it "
            f"(e.g. {missing[:2]}), {len(unexpected)} this model lacks (e.g. {unexpected[:2]}); "
            "build the model with the checkpoint's model file and widths",
        )
    mismatched = [name for name, tensor in kept.items() if tensor.shape != own[name].shape]
    if mismatched:
        name = mismatched[0]
        raise InputFileError(
            path,
            f"its model has other widths: {name} is {tuple(kept[name].shape)} there, "
            f"{tuple(own[name].shape)} here ({len(mismatched)} such weights); "
            "build the model with the checkpoint's widths",
        )
    model.load_state_dict(kept, strict=False)
    logger.info(
        "initialised from %s (labels %s); left as initialised: %s",
        path, trained_labels, skipped or "nothing",
    )
    return skipped


def _average_top_k(fold: Path) -> int:
    """The fold's ``average_top_k`` setting (1 when its settings do not say)."""
    settings = fold / SETTINGS_FILE
    return int(load_json(settings).get("average_top_k", 1)) if settings.is_file() else 1


def _located(fold: Path, recorded: str) -> Path:
    """A checkpoint the fold's record names, where it is now (the folder may have moved)."""
    path = Path(recorded)
    return path if path.is_file() else fold / "checkpoints" / path.name


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    checkpoint = load_checkpoint(path)
    if CHECKPOINT_KEY not in checkpoint:
        raise InputFileError(
            path, f"not a checkpoint of speechbrain_drnsa (no {CHECKPOINT_KEY!r} block)"
        )
    weights = {
        name.removeprefix(_PREFIX): tensor
        for name, tensor in checkpoint["state_dict"].items()
        if name.startswith(_PREFIX)
    }
    if not weights:
        raise InputFileError(path, "holds no model weights")
    return weights, list(checkpoint[CHECKPOINT_KEY].get("labels", []))


def _output_layer(weights: dict[str, torch.Tensor]) -> list[str]:
    # the last module of the state dict is the output layer (EmotionClassifier ends in it)
    last_module = next(reversed(weights)).rpartition(".")[0]
    return [name for name in weights if name.rpartition(".")[0] == last_module]
