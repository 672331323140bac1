"""Prepare IEMOCAP for the DRN-MHSA recipe: a 4-class SpeechBrain manifest and CV folds.

The work is done by :func:`speechbrain_drnsa.data.iemocap.prepare_iemocap`; this file
keeps SpeechBrain's recipe layout, where ``train.py`` imports ``prepare_iemocap`` from
``iemocap_prepare``.

Usage::

    python iemocap_prepare.py /path/to/IEMOCAP_full_release results/prep
"""

import argparse
import logging
import sys
from collections.abc import Sequence

from speechbrain_drnsa.data.folds import PROTOCOLS
from speechbrain_drnsa.data.iemocap import prepare_iemocap
from speechbrain_drnsa.errors import InputFileError

__all__ = ["prepare_iemocap", "main"]


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
        default=["speaker10", "session5", "random"],
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
