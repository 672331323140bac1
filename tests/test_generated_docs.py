"""Generated documents stay generated, and the docs' comparison tables agree with their own rows."""

import importlib.util
import re
from pathlib import Path

from speechbrain_drnsa.results.published import PENDING, refresh_fold_tests

ROOT = Path(__file__).resolve().parents[1]
COMPARISON_DOCS = [ROOT / "docs" / "results.md", ROOT / "docs" / "reproduction.md"]


def _benchmarks_runner():
    spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmarks_md_is_the_join_of_kept_results_and_hand_written_notes():
    runner = _benchmarks_runner()
    assert (ROOT / "BENCHMARKS.md").read_text() == runner.joined(), (
        "BENCHMARKS.md was edited by hand: put the text in benchmarks/notes/<topic>.md "
        "and run python benchmarks/run.py --join"
    )
    # what a benchmark printed is kept apart from what was written about it
    for notes in runner.NOTES.glob("*.md"):
        assert (runner.RESULTS / notes.name).is_file(), f"{notes} has no benchmark section"
        kept = (runner.RESULTS / notes.name).read_text()
        assert not any(line in kept for line in notes.read_text().splitlines() if len(line) > 40)


def test_every_comparison_cell_of_the_docs_is_recomputed_over_folds_from_its_table():
    for document in COMPARISON_DOCS:
        text = document.read_text(encoding="utf-8")
        # refresh_fold_tests reads every row's UA per fold and rewrites every Wilcoxon cell:
        # nothing may change
        assert refresh_fold_tests(text) == text, (
            f"{document}: run python benchmarks/refresh_paired_tests.py {document.name}"
        )
        # no test over (fold, seed) pairs anywhere, in tables or sentences
        assert not re.search(r"\d+ pairs\)|fold[- ]seed UAs|fold x seed UAs", text), document
        assert "p 6.1e-05" not in text and "15 pairs" not in text.replace('15 fold x seed "pairs"',
                                                                          "")


def test_the_docs_claim_no_p_value_that_their_folds_cannot_give():
    """With n folds the smallest two-sided Wilcoxon p-value is 2 / 2**n."""
    for document in COMPARISON_DOCS:
        for p_value, folds in re.findall(r"p ([0-9.e-]+), (\d+) folds", document.read_text()):
            assert float(p_value) >= 2 / 2 ** int(folds) - 1e-9, (document, p_value, folds)


def test_pending_bootstrap_cells_are_marked_the_same_way_everywhere():
    for document in COMPARISON_DOCS:
        text = document.read_text()
        assert text.count("bootstrap: pending") == text.count(PENDING)
