"""Classic baselines on a CSV-described corpus: openSMILE functionals into a linear SVM.

Prepares the corpus (:func:`speechbrain_drnsa.data.csv_corpus.prepare_csv_corpus`)
with the folds the network uses, then runs every variant of
:func:`speechbrain_drnsa.baselines.functionals_svm.run_baselines` (eGeMAPSv02
and ComParE_2016; standardised on the training part, or per speaker, which is
transductive) into ``<output_folder>``: one folder per variant (per-fold
reports and ``summary.md``) and ``baselines.md``.

Usage (needs ``pip install speechbrain-drnsa[baseline]``)::

    python baseline_svm.py /path/to/corpus.csv --output_folder=results/baselines
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from speechbrain_drnsa.baselines.functionals_svm import NORMALISATIONS, run_baselines
from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus
from speechbrain_drnsa.data.fold_files import folds_file
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.functionals import FEATURE_SETS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the baselines from the command line and return the exit status.

    Arguments
    ---------
    argv : sequence of str, optional
        See ``--help``; ``sys.argv`` if None.

    Returns
    -------
    int
        0 on success, 2 when the input cannot be used (the message names the file).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_path", help="the corpus CSV: path, speaker, emotion[, duration]")
    parser.add_argument("--output_folder", default="results/baselines")
    parser.add_argument("--protocol", default="loso",
                        help="loso (leave one speaker out) or speaker_kfold<N>")
    parser.add_argument("--feature_sets", nargs="+", choices=sorted(FEATURE_SETS),
                        default=list(FEATURE_SETS))
    parser.add_argument("--normalisations", nargs="+", choices=NORMALISATIONS,
                        default=list(NORMALISATIONS))
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    output = Path(args.output_folder)
    try:
        manifest = prepare_csv_corpus(args.csv_path, output / "prep", protocol=args.protocol,
                                      seed=args.seed)
        table = run_baselines(
            manifest, folds_file(output / "prep", args.protocol), output,
            feature_sets=args.feature_sets, normalisations=args.normalisations,
            data_root=Path(args.csv_path).parent,
            title=f"{Path(args.csv_path).name}, protocol {args.protocol}",
        )
    except (InputFileError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table.read_text())
    print(f"Table: {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
