"""Prepare any corpus described by a CSV (path, speaker, emotion[, duration]): manifest and folds.

The work is done by :func:`speechbrain_drnsa.data.csv_corpora.prepare_csv_corpora`
(one CSV: :func:`speechbrain_drnsa.data.csv_corpus.prepare_csv_corpus`); this
file keeps SpeechBrain's recipe layout, where ``train.py`` imports
``prepare_csv_corpus`` from ``csv_prepare``. Paths in the CSV are relative to its
folder (the manifest's ``{data_root}``) or absolute; the label set is the set of
emotions found, or the label map's. Several corpora are merged, each named
(``NAME=CSV``), their utterance and speaker ids prefixed with the name.

Usage::

    python csv_prepare.py /path/to/corpus/manifest.csv results/mycorpus/prep --protocol loso
    python csv_prepare.py emodb=/data/emodb/manifest.csv savee=/data/savee/manifest.csv \\
        results/emodb+savee/prepared --protocol leave_one_corpus_out \\
        --label_map angry=angry happy=happy neutral=neutral sad=sad
"""

import argparse
import logging
import sys
from collections.abc import Sequence

from speechbrain_drnsa.data.csv_corpora import (
    add_corpora_options, parse_label_map, prepare_csv_corpora,
)
from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus

__all__ = ["prepare_csv_corpus", "prepare_csv_corpora", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the preparation from the command line and return the exit status.

    Arguments
    ---------
    argv : sequence of str, optional
        ``[NAME=]CSV [...] save_folder [--protocol P] [--test_csv [NAME=]CSV]
        [--label_map FROM=TO ...] [--seed N]``; ``sys.argv`` if None.

    Returns
    -------
    int
        0 on success, 2 when the input cannot be used (the message names the file).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "csv_path", nargs="+", metavar="[NAME=]CSV",
        help="the corpus CSV: path, speaker, emotion[, duration]; or several, NAME=CSV each",
    )
    parser.add_argument("save_folder", help="where corpus.json and the folds file go")
    add_corpora_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    csv = args.csv_path[0] if len(args.csv_path) == 1 else args.csv_path
    try:
        manifest = prepare_csv_corpora(
            csv, args.save_folder, protocol=args.protocol, seed=args.seed,
            test_csv=args.test_csv, label_map=parse_label_map(args.label_map),
        )
    except ValueError as err:  # InputFileError included: a bad CSV, a bad label map
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Manifest: {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
