"""Classic baselines on a CSV-described corpus: openSMILE functionals into a linear SVM.

Prepares the corpus, or several merged
(:func:`speechbrain_drnsa.data.csv_corpora.prepare_csv_corpora`) with the folds
the network uses, then runs every variant of
:func:`speechbrain_drnsa.baselines.functionals_svm.run_baselines` (eGeMAPSv02
and ComParE_2016; standardised on the training part, or per speaker, which is
transductive) into ``<output_folder>``: one folder per variant (per-fold
reports and ``summary.md``, with UA per test corpus for several corpora) and
``baselines.md``.

Usage (needs ``pip install speechbrain-drnsa[baseline]``)::

    python baseline_svm.py /path/to/corpus.csv --output_folder=results/baselines
    python baseline_svm.py emodb=../emodb/manifest.csv savee=../savee/manifest.csv \\
        --label_map angry=angry happy=happy neutral=neutral sad=sad \\
        --protocol=leave_one_corpus_out --output_folder=results/emodb+savee/baselines_loco
    python baseline_svm.py emodb=../emodb/manifest.csv --test_csv=savee=../savee/manifest.csv \\
        --protocol=cross_corpus --output_folder=results/emodb_to_savee/baselines_cross
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from speechbrain_drnsa.baselines.functionals_svm import (
    DEFAULT_NORMALISATIONS,
    NORMALISATIONS,
    run_baselines,
)
from speechbrain_drnsa.data.csv_corpora import (
    add_corpora_options,
    corpora_data_root,
    corpus_csvs,
    parse_label_map,
    prepare_csv_corpora,
)
from speechbrain_drnsa.data.fold_files import folds_file
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
    parser.add_argument(
        "csv_path", nargs="+", metavar="[NAME=]CSV",
        help="the corpus CSV (path, speaker, emotion[, duration]), or several, each "
        "NAME=CSV (a CSV alone is named after its folder)",
    )
    parser.add_argument("--output_folder", default="results/baselines")
    add_corpora_options(parser)
    parser.add_argument("--feature_sets", nargs="+", choices=sorted(FEATURE_SETS),
                        default=list(FEATURE_SETS))
    parser.add_argument("--normalisations", nargs="+", choices=NORMALISATIONS,
                        default=list(DEFAULT_NORMALISATIONS),
                        help="train (inductive), speaker, corpus (several corpora; both "
                        "transductive)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    output = Path(args.output_folder)
    csv = args.csv_path[0] if len(args.csv_path) == 1 else args.csv_path
    try:
        label_map = parse_label_map(args.label_map)
        manifest = prepare_csv_corpora(
            csv, output / "prep", protocol=args.protocol, seed=args.seed,
            test_csv=args.test_csv, label_map=label_map,
        )
        names = Path(csv).name if isinstance(csv, str) and "=" not in csv else (
            "+".join(corpus_csvs(csv)))
        if args.test_csv:
            names += f" -> {'+'.join(corpus_csvs(args.test_csv))}"
        table = run_baselines(
            manifest, folds_file(output / "prep", args.protocol), output,
            feature_sets=args.feature_sets, normalisations=args.normalisations,
            data_root=corpora_data_root(csv, args.test_csv),
            title=f"{names}, protocol {args.protocol}",
        )
    except (ValueError, ImportError) as err:  # InputFileError included; sklearn missing
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table.read_text())
    print(f"Table: {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
