"""Paired tests of published comparison tables, recomputed from the per-fold UAs they print.

Every table of ``speechbrain-drnsa compare`` prints each row's UA per fold,
already averaged over the row's seeds: the unit of the fold-level Wilcoxon
test (:mod:`speechbrain_drnsa.results.stats`). :func:`refresh_fold_tests`
rewrites every "UA vs <row>" Wilcoxon cell of such markdown tables from those
figures, so a document's tables can be corrected without their runs, and
gives every reference a speaker-bootstrap column whose cells read
:data:`PENDING` until :func:`fill_bootstrap_cells` copies them from a new
``compare`` table of the same runs: only for rows whose UA per fold (and
their reference's) is the published one, so no figure of another run slips in.

The published per-fold UAs have three decimals, so a recomputed mean
difference can differ from one computed on the runs by 0.001.
"""

import re
from collections.abc import Callable, Sequence

from speechbrain_drnsa.results.stats import paired_wilcoxon

__all__ = ["PENDING", "fill_bootstrap_cells", "refresh_fold_tests"]

#: A bootstrap cell waiting for the runs' predictions.
PENDING = "bootstrap: pending rerun"

_WILCOXON = re.compile(r"^UA vs (?P<ref>.+): mean difference \(Wilcoxon p, (pairs|folds)\)$")
_BOOTSTRAP = "UA vs {ref}: pooled difference [95% speaker bootstrap], share <= 0, speakers"

Table = list[list[str]]  # header, separator, rows; cells without the outer pipes


def refresh_fold_tests(text: str) -> str:
    """Recompute the Wilcoxon cells of every comparison table in a markdown text, over folds.

    A comparison table has a ``UA per fold`` column and ``UA vs <row>: mean
    difference (Wilcoxon p, ...)`` columns. Each such cell becomes the
    Wilcoxon signed-rank test of the row's UA per fold against the reference
    row's; each reference gets a bootstrap column (cells :data:`PENDING`
    unless already filled). Other tables and text are left as they are.

    Arguments
    ---------
    text : str
        A markdown document.

    Returns
    -------
    str
        The document with its comparison tables recomputed.

    Example
    -------
    >>> table = '''| system | UA per fold | UA vs a: mean difference (Wilcoxon p, pairs) |
    ... |---|---|---|
    ... | a | 0.5, 0.6, 0.7, 0.6, 0.5 | (reference) |
    ... | b | 0.6, 0.7, 0.8, 0.7, 0.6 | +0.100 (p 6.1e-05, 15 pairs) |
    ... '''
    >>> print(refresh_fold_tests(table).splitlines()[-1])
    | b | 0.6, 0.7, 0.8, 0.7, 0.6 | +0.100 (p 0.0625, 5 folds) | bootstrap: pending rerun |
    """
    return _map_tables(text, _refresh)


def fill_bootstrap_cells(text: str, rerun: str) -> tuple[str, list[str]]:
    """Fill the pending bootstrap cells of a document from a new ``compare`` output.

    A pending cell of row R against reference F is filled from the rerun's
    table holding both rows with that bootstrap column, when R's and F's UA
    per fold there are the published ones; otherwise it stays pending and a
    note says why.

    Arguments
    ---------
    text : str
        The markdown document (after :func:`refresh_fold_tests`).
    rerun : str
        Markdown holding ``compare`` tables of the rerun (e.g. the file a
        recipe script writes).

    Returns
    -------
    text : str
        The document with what could be filled filled.
    notes : list of str
        One line per cell left pending because the rerun differs or lacks it.

    Example
    -------
    >>> doc = '''| system | UA per fold | UA vs a: mean difference (Wilcoxon p, folds) | x |
    ... |---|---|---|---|
    ... | b | 0.6, 0.7 | +0.100 (p 0.5, 2 folds) | bootstrap: pending rerun |
    ... | a | 0.5, 0.6 | (reference) | (reference) |
    ... '''.replace("| x |", "| " + _BOOTSTRAP.format(ref="a") + " |")
    >>> rerun = doc.replace(PENDING, "+0.1 [+0.05, +0.2], <= 0 in 0.00, 4 speakers")
    >>> filled, notes = fill_bootstrap_cells(doc, rerun)
    >>> filled.splitlines()[2].split(" | ")[-1], notes
    ('+0.1 [+0.05, +0.2], <= 0 in 0.00, 4 speakers |', [])
    >>> filled.splitlines()[1]  # the separator keeps the table's width
    '|---|---|---|---|'

    >>> filled, notes = fill_bootstrap_cells(doc, rerun.replace("0.6, 0.7", "0.6, 0.8"))
    >>> notes
    ["row 'b' against 'a': UA per fold 0.6, 0.8 in the rerun, 0.6, 0.7 here"]
    """
    reruns = [table for _, table in _tables(rerun)]
    notes: list[str] = []

    def fill(table: Table) -> Table:
        header, rows = table[0], table[2:]
        if "UA per fold" not in header:
            return table
        per_fold = header.index("UA per fold")
        published = {row[0]: row[per_fold] for row in rows}
        for column, name in enumerate(header):
            ref = _bootstrap_reference(name)
            if ref is None:
                continue
            for row in rows:
                if row[column] != PENDING:
                    continue
                cell, why = _rerun_cell(reruns, name, row[0], ref, published)
                if cell is None:
                    notes.append(f"row {row[0]!r} against {ref!r}: {why}")
                else:
                    row[column] = cell
        return table

    return _map_tables(text, fill), notes


def _refresh(table: Table) -> Table:
    header, rows = table[0], table[2:]
    if "UA per fold" not in header:
        return table
    per_fold = header.index("UA per fold")
    uas = {row[0]: [float(v) for v in row[per_fold].split(",")] for row in rows}
    new_header, columns = [], []  # columns: (source index or None, ref, kind)
    for index, name in enumerate(header):
        match = _WILCOXON.match(name)
        if _bootstrap_reference(name) is not None:
            continue  # re-added after its Wilcoxon column
        if match is None:
            new_header.append(name)
            columns.append((index, None, "keep"))
            continue
        ref = match["ref"]
        if ref not in uas:
            raise ValueError(f"table column {name!r}: no row named {ref!r}")
        bootstrap = _BOOTSTRAP.format(ref=ref)
        new_header += [f"UA vs {ref}: mean difference (Wilcoxon p, folds)", bootstrap]
        old = header.index(bootstrap) if bootstrap in header else None
        columns += [(index, ref, "wilcoxon"), (old, ref, "bootstrap")]
    new_rows = []
    for row in rows:
        cells = []
        for index, ref, kind in columns:
            if kind == "keep":
                cells.append(row[index])
            elif ref == row[0]:
                cells.append("(reference)")
            elif kind == "wilcoxon":
                cells.append(str(paired_wilcoxon(uas[row[0]], uas[ref])))
            else:
                cells.append(PENDING if index is None else row[index])
        new_rows.append(cells)
    return [new_header, ["---"] * len(new_header), *new_rows]


def _bootstrap_reference(name: str) -> str | None:
    match = re.match(r"^UA vs (?P<ref>.+): pooled difference \[95% speaker bootstrap\]", name)
    return match["ref"] if match else None


def _rerun_cell(
    reruns: Sequence[Table], column: str, row: str, ref: str, published: dict[str, str]
) -> tuple[str | None, str]:
    """The rerun's cell for (row, column) if its UA per fold matches, else why not."""
    for table in reruns:
        header, rows = table[0], {cells[0]: cells for cells in table[2:]}
        if column not in header or row not in rows or ref not in rows:
            continue
        per_fold = header.index("UA per fold")
        for name in (row, ref):
            if rows[name][per_fold] != published[name]:
                return None, (f"UA per fold {rows[name][per_fold]} in the rerun, "
                              f"{published[name]} here")
        return rows[row][header.index(column)], ""
    return None, "not in the rerun"


def _tables(text: str) -> list[tuple[range, Table]]:
    """Every markdown table of the text: its line range and its cells."""
    lines = text.split("\n")
    found, start = [], None
    for number, line in enumerate([*lines, ""]):
        if line.startswith("|") and start is None:
            start = number
        elif not line.startswith("|") and start is not None:
            if number - start >= 2 and set(lines[start + 1]) <= set("|-: "):
                cells = [_cells(row) for row in lines[start:number]]
                found.append((range(start, number), cells))
            start = None
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split(" | ")]


def _map_tables(text: str, change: Callable[[Table], Table]) -> str:
    """The text with each table replaced by ``change(table)``; unchanged tables kept verbatim."""
    lines = text.split("\n")
    for span, table in reversed(_tables(text)):
        before = [list(cells) for cells in table]
        changed = change(table)
        if changed == before:
            continue
        lines[span.start:span.stop] = [
            # the separator row as wide as the header (its own line has no " | " to split on)
            "|" + "---|" * len(changed[0]) if n == 1 else "| " + " | ".join(cells) + " |"
            for n, cells in enumerate(changed)
        ]
    return "\n".join(lines)
