"""The settings that decide a fold's result, recorded with the fold and checked on a rerun.

A rerun skips finished folds and resumes unfinished ones. That is only right
when the rerun asks for the same experiment: another protocol, split seed,
label set, normalisation, perturbation, model or schedule in the same
experiment folder would silently mix old folds into a summary titled with
the new settings. So every fold folder holds ``settings.json``, written when
the fold starts; a rerun whose settings differ from a fold that has trained
(checkpoints or a report) is refused with the keys that differ, unless
``start_afresh`` asks to delete the fold and train it again. A fold that
never got to train (a bad setting stopped it) takes the new settings.

Settings that only say where or how fast to run (folders, devices, threads,
loader workers, progress bar, which fold) do not count.
An option added to the recipes after a fold started counts as unchanged
while it is off (false, null, 0 or empty), so new options do not strand older
folds.
"""

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import load_json, write_json_atomic

__all__ = ["SETTINGS_FILE", "check_fold_settings", "deciding_settings"]

logger = logging.getLogger(__name__)

#: Written in a fold's folder when it starts.
SETTINGS_FILE = "settings.json"

# where and how fast to run, not what is computed; trainer and augment are built from other keys
_RUN_ONLY = frozenset(
    {
        "accelerator", "augment", "data_folder", "demo_mode", "devices", "enable_progress_bar",
        "experiment_folder", "extraction_jobs", "feature_cache", "fold", "num_nodes",
        "num_threads", "num_workers", "output_root", "prepare", "prepared_folder",
        "seeds", "start_afresh", "strategy", "trainer",
        # the demo's widths by model: the model_overrides they give are what decides
        "demo_widths", "demo_model_overrides",
    }
)


def deciding_settings(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The hparams that decide a fold's result, as plain JSON data.

    Arguments
    ---------
    hparams : mapping
        A recipe's loaded hparams.

    Returns
    -------
    dict
        Every key but the run-only ones; the model yaml by the hash of its
        text (the file may move), objects by their description.

    Example
    -------
    >>> deciding_settings({"seed": 1, "devices": 4, "labels": ["neu", "ang"]})
    {'labels': ['neu', 'ang'], 'seed': 1}
    """
    settings = {}
    for key, value in sorted(hparams.items()):
        if key in _RUN_ONLY:
            continue
        if key == "model_file" and value is not None:
            value = hashlib.sha256(Path(value).read_bytes()).hexdigest()
        settings[key] = _plain(value)
    return settings


def check_fold_settings(folder: Path, hparams: Mapping[str, Any], is_main_process: bool) -> None:
    """Record the fold's settings, or refuse a fold folder started with other settings.

    Arguments
    ---------
    folder : pathlib.Path
        The fold's folder.
    hparams : mapping
        The run's hparams; ``start_afresh`` true deletes a mismatching fold.
    is_main_process : bool
        Only the main process writes or deletes.

    Raises
    ------
    InputFileError
        When the folder holds a fold started with other settings, naming the
        keys that differ.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "fold_0"
    >>> check_fold_settings(folder, {"seed": 1}, is_main_process=True)
    >>> (folder / "checkpoints").mkdir()  # the fold trained
    >>> check_fold_settings(folder, {"seed": 2}, is_main_process=True)
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...: this fold was started with other settings: ...
    """
    path = folder / SETTINGS_FILE
    settings = deciding_settings(hparams)
    started = (folder / "checkpoints").is_dir() or (folder / "metrics.json").is_file()
    if path.is_file() and started:
        differences = _differences(load_json(path), settings)
        if not differences:
            return
        if not hparams.get("start_afresh"):
            raise InputFileError(
                path,
                "this fold was started with other settings: " + "; ".join(differences)
                + ". Use another --experiment (or --output_root), or --start_afresh=true "
                "to delete this fold and train it again",
            )
        if is_main_process:
            logger.warning("%s: other settings (%s), starting afresh", folder, differences)
            shutil.rmtree(folder)
    elif started and not path.is_file():
        logger.warning("%s has no %s (an older run): its settings cannot be checked",
                       folder, SETTINGS_FILE)
        return
    if is_main_process:
        write_json_atomic(settings, path)


def _differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    return [
        f"{key} {json.dumps(before.get(key))} then, {json.dumps(now.get(key))} now"
        for key in sorted(set(before) | set(now))
        # an option added since the fold started counts as unchanged while it is off
        if before.get(key) != now.get(key) and not (key not in before and not now.get(key))
    ]


def _plain(value: Any) -> Any:
    """``value`` as JSON data; an object as its description, without memory addresses."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
