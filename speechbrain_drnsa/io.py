"""Files written atomically, and JSON read with errors that name the file.

Every file the package writes (manifests, fold files, feature arrays,
reports, checkpoints, model folders) goes through :func:`atomic_write`: the
content is written to a temporary file beside the target, flushed to disk
and renamed over the target, so an interrupted run or a full disk leaves
either the previous file or the new one, never a truncated file under a
valid name. The temporary names start with ``.`` and end with ``.tmp``;
:func:`remove_stale_temporaries` clears the ones a killed process left.
"""

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError

__all__ = [
    "atomic_write",
    "load_json",
    "remove_stale_temporaries",
    "save_array_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

_TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path: str | PathLike) -> Iterator[IO[bytes]]:
    """Open a binary stream whose content replaces ``path`` only once it is complete.

    Arguments
    ---------
    path : str or PathLike
        The target; its folder is created if needed.

    Yields
    ------
    file object
        A binary stream on a temporary file beside ``path``; on leaving the
        block it is flushed, synced and renamed over ``path``. On an error the
        temporary file is removed and ``path`` is untouched.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.bin"
    >>> with atomic_write(path) as stream:
    ...     _ = stream.write(b"abc")
    >>> path.read_bytes(), [p.name for p in path.parent.iterdir()]
    (b'abc', ['a.bin'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the same folder, so that os.replace is a rename on one file system: atomic
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{_TMP_SUFFIX}")
    try:
        with open(tmp, "xb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(data: bytes, path: str | PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`).

    Arguments
    ---------
    data : bytes
        The content.
    path : str or PathLike
        The target.

    Returns
    -------
    pathlib.Path
        The path written.

    Example
    -------
    >>> import tempfile
    >>> write_bytes_atomic(b"x", Path(tempfile.mkdtemp()) / "x.bin").read_bytes()
    b'x'
    """
    return _write_with(lambda stream: stream.write(data), path)


def write_text_atomic(text: str, path: str | PathLike) -> Path:
    """Write UTF-8 text to ``path`` atomically.

    Arguments
    ---------
    text : str
        The content.
    path : str or PathLike
        The target; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.

    Example
    -------
    >>> import tempfile
    >>> write_text_atomic("seed: 1\\n", Path(tempfile.mkdtemp()) / "a" / "hparams.yaml").name
    'hparams.yaml'
    """
    return write_bytes_atomic(text.encode("utf-8"), path)


def write_json_atomic(data: Any, path: str | PathLike) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically.

    Arguments
    ---------
    data : Any
        A JSON-serialisable object.
    path : str or PathLike
        The target; its folder is created if needed.

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
    # serialise first, so that an unserialisable object leaves no file behind
    return write_text_atomic(json.dumps(data, indent=2) + "\n", path)


def save_array_atomic(array: np.ndarray, path: str | PathLike) -> Path:
    """``numpy.save`` an array to ``path`` atomically (no pickled objects).

    Arguments
    ---------
    array : numpy.ndarray
        A numeric array.
    path : str or PathLike
        The target ``.npy`` file.

    Returns
    -------
    pathlib.Path
        The path written.

    Example
    -------
    >>> import tempfile
    >>> path = save_array_atomic(np.zeros((2, 3), np.float32), f"{tempfile.mkdtemp()}/a.npy")
    >>> np.load(path).shape
    (2, 3)
    """
    return _write_with(lambda stream: np.save(stream, array, allow_pickle=False), path)


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
    except OSError as err:
        raise InputFileError(path, f"cannot read it ({err.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(path, f"malformed JSON at line {err.lineno}: {err.msg}") from None


def remove_stale_temporaries(folder: str | PathLike, older_than_s: float = 0.0) -> list[Path]:
    """Delete the temporary files that killed writers left in ``folder`` (not below it).

    A temporary file is stale when it is older than ``older_than_s`` or when
    the process that wrote it (its name holds the writer's pid) no longer runs
    on this machine. With ``older_than_s`` longer than any write lasts, it is
    safe beside live writers (cache shards on other machines included).

    Arguments
    ---------
    folder : str or PathLike
        A folder written through this module.
    older_than_s : float
        Keep temporary files modified less than this many seconds ago.

    Returns
    -------
    list of pathlib.Path
        The files removed.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".last.ckpt.123.0badcafe.tmp").write_bytes(b"half")
    >>> [p.name for p in remove_stale_temporaries(folder)]
    ['.last.ckpt.123.0badcafe.tmp']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    deadline = time.time() - older_than_s
    stale = [
        p for p in folder.glob(f".*{_TMP_SUFFIX}")
        if p.is_file() and (p.stat().st_mtime <= deadline or not _writer_runs(p))
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _writer_runs(path: Path) -> bool:
    """Whether the process named in a temporary file's name still runs here."""
    match = re.fullmatch(r"\..+\.(\d+)\.[0-9a-f]{8}" + re.escape(_TMP_SUFFIX), path.name)
    if match is None:
        return True  # not ours: leave it to the age rule
    try:
        os.kill(int(match[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _write_with(write: Callable[[IO[bytes]], Any], path: str | PathLike) -> Path:
    with atomic_write(path) as stream:
        write(stream)
    return Path(path)
