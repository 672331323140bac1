"""The body of every recipe's ``train.py``: command line to cross-validated results.

A recipe's ``train.py`` (IEMOCAP, EmoDB, CSV) is a thin script calling
:func:`run_recipe`: it parses ``HPARAMS.yaml [--key=value ...]``, loads the
recipe yaml over its folder's ``common.yaml``
(:func:`~speechbrain_drnsa.training.recipe.load_recipe_hparams`), runs the
folds (:func:`~speechbrain_drnsa.training.crossval.run_folds`) and prints
the summary. Unusable input (a missing corpus, a bad yaml, an unknown key,
a failed checkpoint write) ends with one line naming the file and exit
status 2, never a traceback.
"""

import logging
import sys
from collections.abc import Sequence

from lightning.pytorch.utilities import rank_zero_only

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.training.checkpoint import CheckpointWriteError
from speechbrain_drnsa.training.crossval import run_folds
from speechbrain_drnsa.training.recipe import load_recipe_hparams, parse_command_line

__all__ = ["run_recipe"]

logger = logging.getLogger("train")


def run_recipe(argv: Sequence[str] | None = None) -> int:
    """Train and test every fold a recipe's command line asks for; return the exit status.

    Arguments
    ---------
    argv : sequence of str, optional
        ``HPARAMS.yaml [--key=value ...]``; ``sys.argv[1:]`` if None.

    Returns
    -------
    int
        0 on success, 2 when the input cannot be used (the error names the file).

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "common.yaml").write_text("seed: 1\\n")
    >>> run_recipe([str(folder / "common.yaml"), "--sed=2"])
    2
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    hparams_file, overrides = parse_command_line(sys.argv[1:] if argv is None else argv)
    try:
        hparams, resolved = load_recipe_hparams(hparams_file, overrides)
        if hparams["demo_mode"]:
            _announce_demo(hparams)
        summary = run_folds(hparams, resolved)
    except (InputFileError, CheckpointWriteError) as err:
        logger.error("%s", err)
        return 2
    if summary is not None:
        print(f"\nSummary of {hparams['experiment']}: {summary.resolve()}")
        print(summary.read_text())
    return 0


@rank_zero_only
def _announce_demo(hparams: dict) -> None:
    trainer = hparams["trainer"]
    print(
        "\nNo --data_folder given: DEMO run on the synthetic corpus in "
        f"{hparams['data_folder']} (generated on first use), with the short demo schedule: "
        f"max_epochs={trainer['max_epochs']}, batch_size={hparams['batch_size']}, "
        f"lr={hparams['lr']}, model widths reduced by {dict(hparams['model_overrides'])}. "
        "Its scores say nothing about real speech; pass --data_folder=/path/to/the/corpus "
        "for the real experiment.\n",
        flush=True,
    )
