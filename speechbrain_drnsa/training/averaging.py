"""Average the weights of several Lightning checkpoints into one.

Averaging the best few checkpoints of a run (by validation score) often
tests better than the single best one on small corpora. The averaging itself
is SpeechBrain's :func:`speechbrain.utils.checkpoints.average_state_dicts`;
this module reads Lightning checkpoint files, keeps integer buffers (counters)
in their own dtype, and writes the result as a checkpoint Lightning can test.
"""

from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path

from speechbrain.utils.checkpoints import average_state_dicts

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.training.checkpoint import AtomicCheckpointIO, load_checkpoint

__all__ = ["average_checkpoint_files"]


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
    >>> import tempfile, torch
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
    dtypes = {name: value.dtype for name, value in first["state_dict"].items()}
    averaged = average_state_dicts(_state_dicts(paths, first["state_dict"]))
    # the mean of integer counters is a float; keep each tensor's dtype so it loads back
    first["state_dict"] = {name: averaged[name].to(dtype) for name, dtype in dtypes.items()}
    AtomicCheckpointIO().save_checkpoint(first, output)
    return Path(output)


def _state_dicts(paths: list[Path], first: dict) -> Iterator[dict]:
    """Yield each file's state dict (a copy of ``first`` for the first: it is summed into)."""
    yield {name: value.clone() for name, value in first.items()}
    for path in paths[1:]:
        state = load_checkpoint(path)["state_dict"]
        if set(state) != set(first):
            raise InputFileError(path, f"holds other weights than {paths[0].name}")
        yield state
