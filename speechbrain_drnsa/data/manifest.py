"""JSON files written atomically and read with errors that name the file.

Manifests, fold files and preparation records are all small JSON documents.
Each is written to a temporary file in the destination folder and renamed over
the target with :func:`os.replace`, so that an interrupted run never leaves a
half-written file that a later run would trust.
"""

import json
import os
import uuid
from os import PathLike
from pathlib import Path
from typing import Any

from speechbrain_drnsa.errors import InputFileError

__all__ = ["write_json_atomic", "load_json"]


def write_json_atomic(data: Any, path: str | PathLike) -> Path:
    """Write ``data`` as JSON to ``path`` without ever exposing a partial file.

    Arguments
    ---------
    data : Any
        A JSON-serialisable object.
    path : str or PathLike
        Destination file; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_json_atomic({"a": 1}, f"{folder}/x.json").name
    'x.json'
    >>> load_json(f"{folder}/x.json")
    {'a': 1}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file lives in the same folder so that os.replace is a rename
    # on one file system, which is atomic; open() keeps the usual permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_json(path: str | PathLike) -> Any:
    """Read a JSON file, raising :class:`InputFileError` if it is missing or malformed.

    Arguments
    ---------
    path : str or PathLike
        The JSON file.

    Returns
    -------
    Any
        The decoded document.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> load_json(f"{folder}/missing.json")
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../missing.json: file not found
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a folder, expected a JSON file") from None
    except UnicodeDecodeError as err:
        raise InputFileError(path, f"not UTF-8 text ({err.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(path, f"malformed JSON at line {err.lineno}: {err.msg}") from None
