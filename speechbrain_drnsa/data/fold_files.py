"""Fold files: one JSON list of ``{"train": [...], "valid": [...], "test": [...]}`` per protocol.

Written atomically next to the manifest by the corpus preparations and read
back by training and the baselines, with errors that name the file.
"""

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from speechbrain_drnsa.data.folds import Fold
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import load_json, write_json_atomic

__all__ = ["folds_file", "load_folds", "save_folds"]


def folds_file(save_folder: str | PathLike, protocol: str) -> Path:
    """Path of the folds file of ``protocol`` beside the manifests.

    Arguments
    ---------
    save_folder : str or PathLike
        The folder holding the manifests.
    protocol : str
        The protocol name.

    Returns
    -------
    pathlib.Path
        ``save_folder/folds_<protocol>.json``.

    Example
    -------
    >>> folds_file("prep", "speaker10").as_posix()
    'prep/folds_speaker10.json'
    """
    return Path(save_folder) / f"folds_{protocol}.json"


def save_folds(folds: Iterable[Fold], path: str | PathLike) -> Path:
    """Write folds to a JSON file atomically.

    Arguments
    ---------
    folds : iterable of Fold
        The folds.
    path : str or PathLike
        Destination file.

    Returns
    -------
    pathlib.Path
        The path written.

    Example
    -------
    >>> import tempfile
    >>> path = save_folds([Fold(["a"], ["b"], ["c"])], tempfile.mkdtemp() + "/f.json")
    >>> load_folds(path)
    [Fold(train=['a'], valid=['b'], test=['c'])]
    """
    return write_json_atomic([fold._asdict() for fold in folds], path)


def load_folds(path: str | PathLike) -> list[Fold]:
    """Read folds written by :func:`save_folds`.

    Arguments
    ---------
    path : str or PathLike
        A folds file.

    Returns
    -------
    list of Fold
        The folds.

    Example
    -------
    >>> import tempfile
    >>> path = save_folds([Fold(["a"], ["b"], ["c"])], tempfile.mkdtemp() + "/f.json")
    >>> load_folds(path)[0].test
    ['c']
    """
    data = load_json(path)
    if not isinstance(data, list) or not data:
        raise InputFileError(path, "not a folds file: expected a non-empty JSON list")
    folds = []
    for k, entry in enumerate(data):
        if not isinstance(entry, dict) or set(entry) != set(Fold._fields):
            raise InputFileError(path, f"fold {k} must have exactly the keys train, valid, test")
        for part in Fold._fields:
            if not isinstance(entry[part], list) or not all(
                isinstance(utt, str) for utt in entry[part]
            ):
                raise InputFileError(path, f"fold {k}: {part} must be a list of utterance ids")
        folds.append(Fold(**entry))
    return folds
