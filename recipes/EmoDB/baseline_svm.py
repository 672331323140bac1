"""Classic baselines on EmoDB: openSMILE functionals into a linear SVM, leave one speaker out.

Prepares EmoDB for each class set (``all7``, ``4class``) with the folds the
network uses, then runs every variant of
:func:`speechbrain_drnsa.baselines.functionals_svm.run_baselines` (eGeMAPSv02
and ComParE_2016; standardised on the training part, or per speaker, which is
transductive). Each class set gets ``<output_folder>/<classes>/`` with one
folder per variant (per-fold reports and ``summary.md``) and ``baselines.md``;
``<output_folder>/baselines.md`` joins the class sets' tables.

Usage (from this folder; needs ``pip install speechbrain-drnsa[baseline]``)::

    python baseline_svm.py --data_folder=/path/to/emodb --output_folder=results/baselines
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from speechbrain_drnsa.baselines.functionals_svm import NORMALISATIONS, run_baselines
from speechbrain_drnsa.data.emodb import CLASS_SETS, prepare_emodb
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
    parser.add_argument("--data_folder", required=True, help="the EmoDB folder, holding wav/")
    parser.add_argument("--output_folder", default="results/baselines")
    parser.add_argument("--classes", nargs="+", choices=sorted(CLASS_SETS),
                        default=["all7", "4class"])
    parser.add_argument("--protocol", default="loso",
                        help="loso (10 folds) or speaker_kfold<N>")
    parser.add_argument("--feature_sets", nargs="+", choices=sorted(FEATURE_SETS),
                        default=list(FEATURE_SETS))
    parser.add_argument("--normalisations", nargs="+", choices=NORMALISATIONS,
                        default=list(NORMALISATIONS))
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    output = Path(args.output_folder)
    tables = []
    try:
        for classes in args.classes:
            prepared = output / classes / "prep"
            manifest = prepare_emodb(args.data_folder, prepared, classes=classes,
                                     protocol=args.protocol, seed=args.seed)
            table = run_baselines(
                manifest, folds_file(prepared, args.protocol), output / classes,
                feature_sets=args.feature_sets, normalisations=args.normalisations,
                cache_dir=output / "functionals_cache", data_root=args.data_folder,
                title=f"EmoDB {classes}, protocol {args.protocol}",
            )
            tables.append(table.read_text())
    except (InputFileError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    joined = output / "baselines.md"
    joined.write_text("\n".join(tables))
    print("\n".join(tables))
    print(f"Tables: {joined}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
