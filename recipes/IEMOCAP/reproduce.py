#!/usr/bin/env python3
"""Reproduce Table 1 or Table 2 of Li et al. (ICASSP 2019) with one command.

Trains every system of the table over every fold (and seed) of the recipe's
protocol, exactly as ``train.py`` trains one, then writes ``table<N>.md`` and
``table<N>.csv`` in the results folder: parameters, UA and F1 beside the
paper's, the difference, the std over folds, per-class recall, and a paired
Wilcoxon test of every system against S4 (DRN-MHSA). See docs/reproduction.md.

To run::

    cd recipes/IEMOCAP
    python reproduce.py --table=1 --data_folder=/data/IEMOCAP_full_release
    python reproduce.py --table=2 --data_folder=... --fold=$SLURM_ARRAY_TASK_ID  # a fold per job
    python reproduce.py --table=2 --smoke                    # every system, one epoch, demo corpus
    cd ../EmoDB && python ../IEMOCAP/reproduce.py --table=2 --corpus=emodb \\
        --data_folder=../../../shared/data/emodb --seeds=[1234,2,3]

Any other ``--key=value`` is a recipe override, given to every system (as
for ``train.py``: ``--precision=bf16-mixed``, ``--devices=4`` ...). Running
the same command again skips finished folds, so an interrupted run, or the
last job of an array, completes the table.
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from speechbrain_drnsa.results.paper import PAPER_TABLES
from speechbrain_drnsa.training import RECIPE_ERRORS, parse_command_line
from speechbrain_drnsa.training.paper_tables import run_paper_table

logger = logging.getLogger("reproduce")

RECIPES = Path(__file__).resolve().parent.parent
#: Per corpus: the recipe's hparams folder and its systems' recipe yamls.
CORPORA = {
    "iemocap": (RECIPES / "IEMOCAP" / "hparams", "{system}.yaml"),
    "emodb": (RECIPES / "EmoDB" / "hparams", "cpu_{system}_4class.yaml"),
    "csv": (RECIPES / "CSV" / "hparams", "cpu_{system}.yaml"),
}


def parse_arguments(argv: Sequence[str]) -> tuple[argparse.Namespace, dict]:
    """The script's own options, and every other ``--key=value`` as recipe overrides."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=int, required=True, choices=sorted(PAPER_TABLES))
    parser.add_argument("--systems", nargs="+", help="a subset of the table's systems")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="iemocap")
    parser.add_argument(
        "--pattern", help="the systems' recipe yamls (default: the corpus's, see CORPORA)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="every system one epoch of fold 0 at demo widths"
    )
    args, rest = parser.parse_known_args(argv)
    systems = [row.system for row in PAPER_TABLES[args.table]]
    unknown = sorted(set(args.systems or ()) - set(systems))
    if unknown:
        parser.error(f"table {args.table} has no system {unknown[0]!r}; systems: {systems}")
    if args.smoke and args.corpus != "iemocap":
        parser.error("--smoke runs the IEMOCAP recipe (its demo corpus and widths)")
    # recipe overrides, parsed as train.py parses them (--fold=3, --seeds=[1,2,3] ...)
    _, overrides = parse_command_line(["reproduce", *rest])
    return args, overrides


def main(argv: Sequence[str] | None = None) -> int:
    """Train the table's systems and write the table; 2 when the input is unusable."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args, overrides = parse_arguments(sys.argv[1:] if argv is None else argv)
    hparams_folder, pattern = CORPORA[args.corpus]
    try:
        written = run_paper_table(
            args.table,
            hparams_folder,
            overrides,
            systems=args.systems,
            yaml_pattern=args.pattern or pattern,
            smoke=args.smoke,
        )
    except RECIPE_ERRORS as err:
        logger.error("%s", err)  # one line naming the file, no traceback
        return 2
    if written is None:
        print("No fold has finished yet: no table written.")
        return 0
    markdown, table_csv = written
    print(f"\n{markdown.resolve()}\n{table_csv.resolve()}\n")
    print(markdown.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
