"""Prepare any corpus described by a CSV (path, speaker, emotion[, duration]): manifest and folds.

The work is done by :func:`speechbrain_drnsa.data.csv_corpus.prepare_csv_corpus`;
this file keeps SpeechBrain's recipe layout, where ``train.py`` imports
``prepare_csv_corpus`` from ``csv_prepare``. Paths in the CSV are relative to its
folder (the manifest's ``{data_root}``) or absolute; the label set is the set of
emotions found.

Usage::

    python csv_prepare.py /path/to/corpus/manifest.csv results/mycorpus/prep --protocol loso
"""

import argparse
import logging
import sys
from collections.abc import Sequence

from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus
from speechbrain_drnsa.errors import InputFileError

__all__ = ["prepare_csv_corpus", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the preparation from the command line and return the exit status.

    Arguments
    ---------
    argv : sequence of str, optional
        ``csv_path save_folder [--protocol P] [--seed N]``; ``sys.argv`` if None.

    Returns
    -------
    int
        0 on success, 2 when the input cannot be used (the message names the file).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_path", help="the corpus CSV: path, speaker, emotion[, duration]")
    parser.add_argument("save_folder", help="where corpus.json and the folds file go")
    parser.add_argument(
        "--protocol", default="loso",
        help="loso (leave one speaker out) or speaker_kfold<N> (speakers in N groups)",
    )
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        manifest = prepare_csv_corpus(
            args.csv_path, args.save_folder, protocol=args.protocol, seed=args.seed
        )
    except InputFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Manifest: {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
