"""Checkpoint files written atomically, with an error that says what survived.

Lightning's own ``TorchCheckpointIO`` stages a checkpoint in the system
temporary folder and moves it into place, which is a copy, not an atomic
rename, when that folder is on another file system. :class:`AtomicCheckpointIO`
writes through :func:`speechbrain_drnsa.io.atomic_write` (beside the target,
synced, renamed), so a crash or a full disk
leaves either the previous checkpoint or the new one, never a truncated file.
:func:`load_checkpoint` reads one back with ``torch.load(weights_only=True)``,
so reading a checkpoint never runs code from it, and
:func:`average_checkpoint_files` writes the mean weights of several (the best
few of a run often test better than the single best on small corpora; the
averaging is SpeechBrain's :func:`~speechbrain.utils.checkpoints.average_state_dicts`).
"""

from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from speechbrain.utils.checkpoints import average_state_dicts

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.io import atomic_write

__all__ = [
    "AtomicCheckpointIO",
    "CheckpointWriteError",
    "average_checkpoint_files",
    "average_top_k_file",
    "load_checkpoint",
]


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


def average_checkpoint_files(paths: Sequence[str | PathLike], output: str | PathLike) -> Path:
    """Write a checkpoint whose ``state_dict`` is the mean of those in ``paths``.

    Arguments
    ---------
    paths : sequence of str or PathLike
        Lightning checkpoints of the same model, best first; everything but
        the ``state_dict`` (package block, epoch, ...) is taken from the first.
    output : str or PathLike
        The averaged checkpoint, written atomically.

    Returns
    -------
    pathlib.Path
        ``output``.

    Raises
    ------
    InputFileError
        When ``paths`` is empty, a file cannot be read, or the state dicts
        hold different keys.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for value in (1.0, 3.0):
    ...     torch.save({"state_dict": {"w": torch.tensor([value])}}, folder / f"{value}.ckpt")
    >>> out = average_checkpoint_files([folder / "1.0.ckpt", folder / "3.0.ckpt"],
    ...                                folder / "avg.ckpt")
    >>> torch.load(out)["state_dict"]["w"]
    tensor([2.])
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise InputFileError(Path(output), "no checkpoints to average")
    first = load_checkpoint(paths[0])
    # tensors are averaged; extra states (the normaliser's speakers) are the first's
    tensors = {n: v for n, v in first["state_dict"].items() if isinstance(v, torch.Tensor)}
    averaged = average_state_dicts(_state_dicts(paths, tensors))
    # the mean of integer counters is a float; keep each tensor's dtype so it loads back
    first["state_dict"] |= {name: averaged[name].to(v.dtype) for name, v in tensors.items()}
    AtomicCheckpointIO().save_checkpoint(first, output)
    return Path(output)


def average_top_k_file(checkpoints: str | PathLike, k: int) -> Path:
    """Where a fold writes the average of its ``k`` best checkpoints, the one it tests.

    Arguments
    ---------
    checkpoints : str or PathLike
        The fold's ``checkpoints`` folder.
    k : int
        The fold's ``average_top_k``.

    Returns
    -------
    pathlib.Path

    Example
    -------
    >>> average_top_k_file("fold_0/checkpoints", 3).as_posix()
    'fold_0/checkpoints/average-top3.ckpt'
    """
    return Path(checkpoints) / f"average-top{k}.ckpt"


def _state_dicts(paths: list[Path], first: dict) -> Iterator[dict]:
    """Yield each file's state dict (a copy of ``first`` for the first: it is summed into)."""
    yield {name: value.clone() for name, value in first.items()}
    for path in paths[1:]:
        state = load_checkpoint(path)["state_dict"]
        if not set(first) <= set(state):
            raise InputFileError(path, f"holds other weights than {paths[0].name}")
        yield {name: state[name] for name in first}
