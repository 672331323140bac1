"""Prepare EmoDB (Berlin Database of Emotional Speech): a SpeechBrain manifest and speaker folds.

The work is done by :func:`speechbrain_drnsa.data.emodb.prepare_emodb`; this file
keeps SpeechBrain's recipe layout, where ``train.py`` imports ``prepare_emodb`` from
``emodb_prepare``.

Usage::

    python emodb_prepare.py /path/to/emodb results/emodb/prep_all7 --classes all7
"""

import argparse
import logging
import sys
from collections.abc import Sequence

from speechbrain_drnsa.data.emodb import CLASS_SETS, prepare_emodb
from speechbrain_drnsa.errors import InputFileError

__all__ = ["prepare_emodb", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the preparation from the command line and return the exit status.

    Arguments
    ---------
    argv : sequence of str, optional
        ``data_folder save_folder [--classes all7|4class] [--protocol P] [--seed N]``;
        ``sys.argv`` if None.

    Returns
    -------
    int
        0 on success, 2 when the input cannot be used (the message names the file).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_folder", help="the EmoDB folder, holding wav/")
    parser.add_argument("save_folder", help="where corpus.json and the folds file go")
    parser.add_argument("--classes", choices=sorted(CLASS_SETS), default="all7")
    parser.add_argument(
        "--protocol", default="loso", help="loso (leave one speaker out) or speaker_kfold<N>"
    )
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        manifest = prepare_emodb(
            args.data_folder, args.save_folder, classes=args.classes,
            protocol=args.protocol, seed=args.seed,
        )
    except InputFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Manifest: {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
