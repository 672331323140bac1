"""Prepare IEMOCAP for the DRN-MHSA recipe: a 4-class SpeechBrain manifest and CV folds.

The work is done by :func:`speechbrain_drnsa.data.iemocap.prepare_iemocap`; this file
keeps SpeechBrain's recipe layout: ``hparams/common.yaml`` names :func:`prepare_data`
(``prepare: !name:iemocap_prepare.prepare_data``), which also writes the synthetic
demo corpus when the recipe runs without a ``--data_folder``.

Usage::

    python iemocap_prepare.py /path/to/IEMOCAP_full_release results/prep
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from speechbrain_drnsa.data.demo import DEMO_LABELS_NAME, make_demo_corpus
from speechbrain_drnsa.data.folds import PROTOCOLS
from speechbrain_drnsa.data.iemocap import prepare_iemocap
from speechbrain_drnsa.errors import InputFileError

__all__ = ["STANDARD_PROTOCOLS", "main", "prepare_data"]

logger = logging.getLogger(__name__)

#: Written by every preparation, so experiments sharing a prepared folder keep their folds.
STANDARD_PROTOCOLS = ("speaker10", "session5", "random")


def prepare_data(
    data_folder: str | PathLike,
    save_folder: str | PathLike,
    protocol: str = "speaker10",
    seed: int = 1234,
    skip_prep: bool = False,
    demo_corpus: bool = False,
) -> Path:
    """The recipe's preparation: IEMOCAP's manifest and folds (the demo corpus first if asked).

    Arguments
    ---------
    data_folder : str or PathLike
        ``IEMOCAP_full_release``, or where the demo corpus goes.
    save_folder : str or PathLike
        Where ``iemocap.json`` and the folds files go.
    protocol : str
        The experiment's protocol; the standard ones are written too.
    seed : int
        Seed of the shuffled protocols' folds.
    skip_prep : bool
        Only return the manifest path.
    demo_corpus : bool
        Write the synthetic demo corpus in ``data_folder`` unless it is there.

    Returns
    -------
    pathlib.Path
        The manifest.
    """
    if demo_corpus and not (Path(data_folder) / DEMO_LABELS_NAME).is_file():
        logger.info("generating the synthetic demo corpus in %s", data_folder)
        make_demo_corpus(data_folder)
    protocols = tuple(dict.fromkeys((*STANDARD_PROTOCOLS, protocol)))
    return prepare_iemocap(data_folder, save_folder, protocols, seed=seed, skip_prep=skip_prep)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the preparation from the command line and return the exit status.

    Arguments
    ---------
    argv : sequence of str, optional
        ``data_folder save_folder [--protocols ...] [--seed N]``; ``sys.argv`` if None.

    Returns
    -------
    int
        0 on success, 2 when the input cannot be used (the message names the file).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_folder", help="IEMOCAP_full_release, holding Session1..5")
    parser.add_argument("save_folder", help="where iemocap.json and the folds files go")
    parser.add_argument(
        "--protocols",
        nargs="+",
        default=list(STANDARD_PROTOCOLS),
        help=f"fold protocols: {', '.join(PROTOCOLS)} or speaker_kfold<N>",
    )
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        manifest = prepare_iemocap(
            args.data_folder, args.save_folder, protocols=args.protocols, seed=args.seed
        )
    except InputFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Manifest: {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
