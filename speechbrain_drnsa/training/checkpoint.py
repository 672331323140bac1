"""Checkpoint files written atomically, with an error that says what survived.

Lightning's own ``TorchCheckpointIO`` stages a checkpoint in the system
temporary folder and moves it into place, which is a copy, not an atomic
rename, when that folder is on another file system. :class:`AtomicCheckpointIO`
writes through :func:`speechbrain_drnsa.io.atomic_write` (beside the target,
synced, renamed), so a crash or a full disk
leaves either the previous checkpoint or the new one, never a truncated file.
:func:`load_checkpoint` reads one back with ``torch.load(weights_only=True)``,
so reading a checkpoint never runs code from it.
"""

from os import PathLike
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import atomic_write

__all__ = ["CheckpointWriteError", "AtomicCheckpointIO", "load_checkpoint"]


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message says what is left on disk.

    Arguments
    ---------
    path : str or PathLike
        The checkpoint that was being written.
    problem : str
        What went wrong and what state the folder is in.

    Example
    -------
    >>> str(CheckpointWriteError("fold_0/last.ckpt", "disk full"))
    'fold_0/last.ckpt: disk full'
    """

    def __init__(self, path: str | PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save checkpoints to a temporary file in the target folder, then rename.

    Pass it to the Trainer as a plugin: ``Trainer(plugins=[AtomicCheckpointIO()])``.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "last.ckpt"
    >>> io = AtomicCheckpointIO()
    >>> io.save_checkpoint({"epoch": 3}, path)
    >>> io.load_checkpoint(path)["epoch"]
    3
    >>> sorted(p.name for p in path.parent.iterdir())
    ['last.ckpt']
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | PathLike, storage_options: Any = None
    ) -> None:
        """Write ``checkpoint`` to ``path`` atomically.

        Arguments
        ---------
        checkpoint : dict
            The state Lightning dumps.
        path : str or PathLike
            Target file; its folder is created if needed.
        storage_options : None
            Not supported, as in ``TorchCheckpointIO``.

        Raises
        ------
        CheckpointWriteError
            When the file system refuses the write (disk full, no permission);
            the previous file at ``path``, if any, is untouched.
        """
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        path = Path(path)
        try:
            with atomic_write(path) as stream:
                torch.save(checkpoint, stream)
        except OSError as err:
            kept = (
                f"the previous {path.name} is intact"
                if path.exists()
                else f"no earlier {path.name} existed"
            )
            raise CheckpointWriteError(
                path,
                f"checkpoint not written ({err.strerror or err}); {kept}. Free space (or fix "
                "the folder's permissions) and run the same command again to resume.",
            ) from err


def load_checkpoint(path: str | PathLike) -> dict[str, Any]:
    """Read a Lightning checkpoint on the CPU, without running code from the file.

    Arguments
    ---------
    path : str or PathLike
        A ``.ckpt`` file.

    Returns
    -------
    dict
        The checkpoint, with its ``state_dict``.

    Raises
    ------
    InputFileError
        If the file cannot be read or holds no ``state_dict``.

    Example
    -------
    >>> import tempfile
    >>> path = f"{tempfile.mkdtemp()}/a.ckpt"
    >>> torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    >>> load_checkpoint(path)["state_dict"]["w"]
    tensor([1.])
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise InputFileError(
            path, f"cannot read it: not a readable checkpoint ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise InputFileError(path, "is not a Lightning checkpoint (no state_dict)")
    return checkpoint
