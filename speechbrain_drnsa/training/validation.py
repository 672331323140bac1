"""Checks of an experiment's settings that run before any work starts.

:func:`load_recipe_hparams` checks top-level keys; this module checks what
lies deeper or depends on values: keys inside ``model_overrides`` (against
the model yaml's keys) and inside each ``perturbations`` entry, the fold
protocol, positive sizes, and that the model's output size matches the
labels. Each error names the file, the key and what is allowed.
"""

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from speechbrain_drnsa.data.folds import check_protocol
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.perturb import WaveformPerturbation
from speechbrain_drnsa.features.ssl import SSLSettings
from speechbrain_drnsa.training.datamodule import NORMALIZATION_GROUPS
from speechbrain_drnsa.training.hparams import (
    UnknownKeyError,
    build_model,
    closest_key,
    model_keys,
    recipe_model_overrides,
)

__all__ = ["check_settings"]

#: Keys that must be positive integers when present (``None``: no limit).
POSITIVE_INTS = ("batch_size", "max_batch_frames", "extraction_jobs", "average_top_k",
                 "max_epochs", "accumulate_grad_batches")
#: Model keys whose integers are widths or sizes: zero is refused as well as negatives.
WIDTH_KEYS = ("channels", "out_channels", "lstm_hidden", "lin_neurons", "kernel_size",
              "input_size")


def check_settings(hparams: Mapping[str, Any], path: str | Path) -> None:
    """Refuse settings that would fail later, naming the key and what is allowed.

    Arguments
    ---------
    hparams : mapping
        Loaded recipe hparams; only the keys present are checked.
    path : str or Path
        The recipe yaml, named in the errors.

    Raises
    ------
    InputFileError
        :class:`~speechbrain_drnsa.training.hparams.UnknownKeyError` for an
        unknown key at any depth; otherwise naming the key and its allowed values.

    Example
    -------
    >>> check_settings({"batch_size": 8, "protocol": "loso"}, "drn_mhsa.yaml")
    >>> check_settings({"batch_size": 0}, "drn_mhsa.yaml")
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: drn_mhsa.yaml: batch_size must be a positive ...
    """
    path = Path(path)
    sizes = {**hparams, **(hparams.get("trainer") or {})}
    for key in POSITIVE_INTS:
        value = sizes.get(key)
        if value is not None and not _positive_int(value):
            raise InputFileError(path, f"{key} must be a positive integer, got {value!r}")
    if "protocol" in hparams:
        try:
            check_protocol(hparams["protocol"])
        except ValueError as err:
            raise InputFileError(path, f"protocol: {err}") from None
    _check_perturbations(hparams.get("perturbations") or [], path)
    try:
        SSLSettings.from_hparams(hparams)
    except ValueError as err:
        raise InputFileError(path, str(err)) from None
    group = hparams.get("normalization_group")
    # null is the speaker (off for fold settings recorded before the option existed)
    if group is not None and group not in NORMALIZATION_GROUPS:
        raise InputFileError(path, f"normalization_group must be one of "
                             f"{', '.join(NORMALIZATION_GROUPS)}, got {group!r}")
    if hparams.get("model_file") is not None and "labels" in hparams:
        _check_model(hparams, path)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_perturbations(entries: Any, path: Path) -> None:
    valid = [field.name for field in dataclasses.fields(WaveformPerturbation)]
    if not isinstance(entries, list):
        raise InputFileError(path, f"perturbations must be a list of {{{', '.join(valid)}}}")
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise InputFileError(path, f"perturbation {entry!r} must be a mapping of {valid}")
        for key in entry:
            if key not in valid:
                raise UnknownKeyError(path, str(key), closest_key(str(key), valid),
                                      "perturbation key", valid)
        try:
            WaveformPerturbation(**entry)
        except (TypeError, ValueError) as err:
            raise InputFileError(path, f"perturbation {dict(entry)}: {err}") from None


def _check_model(hparams: Mapping[str, Any], path: Path) -> None:
    model_file = Path(hparams["model_file"])
    overrides = hparams.get("model_overrides") or {}
    if not isinstance(overrides, Mapping):
        raise InputFileError(path, f"model_overrides must be a mapping, got {overrides!r}")
    valid = model_keys(model_file)
    for key, value in overrides.items():
        if key not in valid:
            raise UnknownKeyError(model_file, str(key), closest_key(str(key), valid),
                                  "key in model_overrides", valid)
        _check_sizes(key, value, model_file)
    labels = list(hparams["labels"])
    try:
        model, _ = build_model(model_file, recipe_model_overrides(hparams))
    except InputFileError:
        raise
    except Exception as err:  # noqa: BLE001 - the model's own constructors raise many kinds
        raise InputFileError(model_file, f"cannot build the model with model_overrides "
                                         f"{dict(overrides)}: {err}") from None
    outputs = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)][-1:]
    if outputs and outputs[0] != len(labels):
        raise InputFileError(
            model_file, f"n_classes: the model has {outputs[0]} outputs but labels has "
            f"{len(labels)} ({', '.join(labels)}); make the output layer use !ref <n_classes>"
        )


def _check_sizes(key: str, value: Any, model_file: Path) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if item < 0 or (item == 0 and key in WIDTH_KEYS):
            raise InputFileError(
                model_file, f"model_overrides {key}: {value!r} must be positive"
            )
