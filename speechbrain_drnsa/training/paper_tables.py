"""Train every system of one of the paper's tables, then write the table beside the paper's.

:func:`run_paper_table` is the body of ``recipes/IEMOCAP/reproduce.py``: for
each system of Table 1 or 2 (:data:`~speechbrain_drnsa.results.paper.PAPER_TABLES`)
it loads that system's recipe yaml with the same overrides, trains its folds
and seeds exactly as ``train.py`` does (finished folds are skipped, an
unfinished one resumes), and then writes ``table<N>.md`` and ``table<N>.csv``
(:func:`~speechbrain_drnsa.results.paper.write_paper_table`) in the output
root. The manifest, folds and features are prepared once, with the first
system's settings, and shared by all (they depend on the data settings only,
which the systems share).
"""

import logging
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from speechbrain_drnsa.results.paper import PAPER_TABLES, write_paper_table
from speechbrain_drnsa.training.hparams import (
    build_model,
    load_recipe_hparams,
    load_seed_runs,
    recipe_model_overrides,
)
from speechbrain_drnsa.training.preparation import prepare_experiment
from speechbrain_drnsa.training.runner import run_folds, write_run_summary, write_seeds_summary

__all__ = ["SMOKE_OVERRIDES", "run_paper_table", "smoke_overrides"]

logger = logging.getLogger(__name__)

#: What ``--smoke`` changes: one short epoch of one fold, tiny batches, one thread.
SMOKE_OVERRIDES: dict[str, Any] = {
    "max_epochs": 1,
    "fold": 0,
    "num_threads": 1,
    "enable_progress_bar": False,
}


def smoke_overrides(recipe_yaml: str | PathLike, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A system's overrides for a smoke run: :data:`SMOKE_OVERRIDES`, its demo widths.

    The widths come from the recipe's ``demo_model_overrides`` (the IEMOCAP
    recipe's demo run), so a smoke run is tiny with or without a
    ``data_folder``; the caller's overrides win.

    Arguments
    ---------
    recipe_yaml : str or PathLike
        The system's recipe yaml.
    overrides : mapping
        The caller's overrides.

    Returns
    -------
    dict
        The overrides to run the system with.
    """
    hparams, _ = load_recipe_hparams(recipe_yaml, overrides)
    widths = dict(hparams["demo_model_overrides"])
    return {**SMOKE_OVERRIDES, "model_overrides": widths, **overrides}


def run_paper_table(
    table: int,
    hparams_folder: str | PathLike,
    overrides: Mapping[str, Any],
    systems: Sequence[str] | None = None,
    yaml_pattern: str = "{system}.yaml",
    smoke: bool = False,
) -> tuple[Path, Path] | None:
    """Train the folds asked for of every system of a table, then write the table.

    Arguments
    ---------
    table : int
        1 or 2.
    hparams_folder : str or PathLike
        The recipe's ``hparams/`` folder (with ``common.yaml``).
    overrides : mapping
        Overrides for every system (``data_folder``, ``fold``, ``seeds`` ...).
    systems : sequence of str, optional
        A subset of the table's systems (default: all of them).
    yaml_pattern : str
        A system's recipe yaml in ``hparams_folder``, e.g. ``cpu_{system}_4class.yaml``.
    smoke : bool
        One epoch of one fold at the demo widths (:func:`smoke_overrides`).

    Returns
    -------
    tuple of pathlib.Path or None
        ``table<N>.md`` and ``table<N>.csv`` in the output root; None when no
        system has a finished fold yet.

    Raises
    ------
    ValueError
        For an unknown table or system.
    """
    rows = {row.system: row for row in PAPER_TABLES.get(table, ())}
    if not rows:
        raise ValueError(f"no table {table} in the paper; tables: {sorted(PAPER_TABLES)}")
    systems = list(rows) if not systems else list(systems)
    unknown = [system for system in systems if system not in rows]
    if unknown:
        raise ValueError(f"table {table} has no system {unknown[0]!r}; systems: {list(rows)}")
    folder = Path(hparams_folder)
    experiments, parameters, prepared = {}, {}, None
    for system in systems:
        recipe = folder / yaml_pattern.format(system=system)
        system_overrides = smoke_overrides(recipe, overrides) if smoke else dict(overrides)
        runs = load_seed_runs(recipe, system_overrides)
        first = runs[0][0]
        if prepared is None:
            prepared = prepare_experiment(first)
        logger.info("table %d: %s (%s)", table, rows[system].label, recipe.name)
        for hparams, text in runs:
            run_folds(hparams, prepared, text)
            write_run_summary(hparams)
        if len(runs) > 1:
            write_seeds_summary([hparams for hparams, _ in runs])
        # the seeds asked for only, not others run earlier into the same experiment folder
        run_folders = [Path(hparams["experiment_folder"]) for hparams, _ in runs]
        experiments[system] = [f for f in run_folders if any(f.glob("fold_*/metrics.json"))]
        parameters[system] = _parameter_count(first)
    # beside the experiments: results/ (IEMOCAP, EmoDB) or results/<corpus> (CSV)
    output_root = run_folders[0].parent.parent
    experiments = {name: folders for name, folders in experiments.items() if folders}
    if not experiments:
        return None
    title = f"Recipe yamls {folder / yaml_pattern}, protocol {first['protocol']}" + (
        " (smoke run: one epoch, demo widths; the numbers mean nothing)" if smoke else ""
    )
    return write_paper_table(table, experiments, parameters, output_root, title)


def _parameter_count(hparams: Mapping[str, Any]) -> int:
    model, _ = build_model(hparams["model_file"], recipe_model_overrides(hparams))
    return sum(parameter.numel() for parameter in model.parameters())
