"""One run per experiment folder: an advisory lock held while its folds train.

Two runs writing the same checkpoints and reports would corrupt each other's
results. :func:`experiment_lock` takes an exclusive ``fcntl.flock`` on
``<experiment_folder>/.lock`` for the run's duration; a second run on the
same folder is refused with :class:`ExperimentLockedError`, naming the
holder's process id. The kernel releases the lock when its holder exits,
however it exits (SIGKILL included), so a stale lock file never blocks a
later run. :func:`lock_holder` tells a reader (``export``) that a run is
still writing the folder, without taking the lock from it.
"""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from speechbrain_drnsa.errors import InputFileError

__all__ = ["LOCK_NAME", "ExperimentLockedError", "experiment_lock", "lock_holder"]

#: The lock file, inside the experiment folder.
LOCK_NAME = ".lock"


class ExperimentLockedError(InputFileError):
    """Another process is running an experiment in this folder.

    Example
    -------
    >>> str(ExperimentLockedError("results/drn_mhsa/1234", "12"))
    'results/drn_mhsa/1234: is used by another run (pid 12); wait for it or use another output_root'
    """

    def __init__(self, folder: str | PathLike, holder: str):
        super().__init__(
            folder,
            f"is used by another run (pid {holder or '?'}); wait for it or use another output_root",
        )


@contextlib.contextmanager
def experiment_lock(folder: str | PathLike) -> Iterator[Path]:
    """Hold the experiment folder's lock inside the ``with`` block.

    Arguments
    ---------
    folder : str or PathLike
        The experiment folder; created if needed.

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    ExperimentLockedError
        If another process holds the lock.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with experiment_lock(folder):
    ...     with experiment_lock(folder):
    ...         pass
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.training.lock.ExperimentLockedError: ...: is used by another run (pid ...
    >>> with experiment_lock(folder) as lock:  # released on leaving the block
    ...     lock.name
    '.lock'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    # not io.atomic_write: the lock lives on this very file descriptor, which must stay open
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExperimentLockedError(folder, os.pread(descriptor, 32, 0).decode().strip())
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def lock_holder(folder: str | PathLike) -> str | None:
    """The process id of the run training in ``folder`` now; None when none is.

    Arguments
    ---------
    folder : str or PathLike
        An experiment folder; nothing is created or written in it.

    Returns
    -------
    str or None
        The holder's process id as its lock file says (``"?"`` if unreadable),
        or None when the folder is not locked.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> lock_holder(folder) is None
    True
    >>> with experiment_lock(folder):
    ...     lock_holder(folder) == str(os.getpid())
    True
    >>> lock_holder(folder) is None
    True
    """
    try:
        descriptor = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        # a shared lock is refused while a run holds the exclusive one, and is dropped at once
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "?"
    finally:
        os.close(descriptor)
    return None
