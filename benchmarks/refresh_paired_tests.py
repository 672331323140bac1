"""Recompute the paired tests of the comparison tables in markdown documents, over folds.

Each ``compare`` table prints every row's UA per fold (averaged over its seeds); this script
rewrites each "UA vs <row>" Wilcoxon cell from those figures (five folds: five pairs, not
fifteen fold x seed pairs) and gives each reference a speaker-bootstrap column, pending until
``--fill`` copies it from a new ``compare`` table of the same runs
(:mod:`speechbrain_drnsa.results.published`)::

    python benchmarks/refresh_paired_tests.py docs/results.md docs/reproduction.md
    python benchmarks/refresh_paired_tests.py docs/results.md \\
        --fill recipes/EmoDB/results/small_corpus_system.md
    python benchmarks/refresh_paired_tests.py docs/results.md --check   # exit 1 if stale
"""

import argparse
import sys
from pathlib import Path

from speechbrain_drnsa.results.published import fill_bootstrap_cells, refresh_fold_tests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("documents", nargs="+", type=Path, help="markdown files, rewritten")
    parser.add_argument("--fill", nargs="*", type=Path, default=[], metavar="COMPARE_MD",
                        help="compare outputs of rerun experiments to take bootstrap cells from")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a document is not up to date")
    args = parser.parse_args(argv)
    rerun = "\n".join(path.read_text(encoding="utf-8") for path in args.fill)
    stale = []
    for document in args.documents:
        text = document.read_text(encoding="utf-8")
        new = refresh_fold_tests(text)
        if args.fill:
            new, notes = fill_bootstrap_cells(new, rerun)
            for note in notes:
                print(f"{document}: left pending: {note}")
        if new != text:
            stale.append(document)
            if not args.check:
                document.write_text(new, encoding="utf-8")
    for document in stale:
        print(f"{document}: {'not up to date' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
