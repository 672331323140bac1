#!/usr/bin/env python3
"""The general model in one command: train on several corpora, measure in and across them, export.

Three steps, each resumable like ``train.py`` (finished folds are skipped):

1. ``train.py`` with the recipe yaml (``hparams/general.yaml``: EmoDB, SAVEE and TESS
   on their 4 shared emotions), its protocol holding speakers out across the merged
   corpora: the in-corpus UA per corpus;
2. the same recipe with ``--protocol=leave_one_corpus_out`` (experiment
   ``<experiment>_loco``): each corpus tested by models trained on the others, the
   cross-corpus UA per corpus;
3. ``speechbrain-drnsa export`` of step 1's first seed (its folds as an ensemble) to
   ``<output_root>/<corpus>/<experiment>_model``, whose card lists the corpora and
   gives both UAs per corpus.

Usage (overrides go to both trainings)::

    cd recipes/CSV
    python general_model.py hparams/general.yaml [--key=value ...]
"""

import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from speechbrain_drnsa.inference import export
from speechbrain_drnsa.training import RECIPE_ERRORS, load_seed_runs, parse_command_line

logger = logging.getLogger("general_model")

#: The cross-corpus protocol of step 2.
CROSS_PROTOCOL = "leave_one_corpus_out"


def main(argv: Sequence[str] | None = None) -> int:
    """Train in-corpus and cross-corpus, then export; 2 when the input is unusable."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    hparams_file, overrides = parse_command_line(argv)
    train = _train_script()
    try:
        runs = load_seed_runs(hparams_file, overrides)
        experiment = runs[0][0]["experiment"]
        cross = {"protocol": CROSS_PROTOCOL, "experiment": f"{experiment}_loco"}
        cross_runs = load_seed_runs(hparams_file, {**overrides, **cross})
    except RECIPE_ERRORS as err:
        logger.error("%s", err)
        return 2
    for step in (argv, [*argv, *(f"--{key}={value}" for key, value in cross.items())]):
        status = train.main(step)
        if status:
            return status
    source = Path(runs[0][0]["experiment_folder"])
    model_dir = source.parent.with_name(f"{experiment}_model")
    try:
        export(source, model_dir, cross_corpus=Path(cross_runs[0][0]["experiment_folder"]).parent)
    except RECIPE_ERRORS as err:
        logger.error("%s", err)
        return 2
    print(f"\nGeneral model: {model_dir.resolve()}")
    print(f"Its card: {(model_dir / 'README.md').resolve()}")
    return 0


def _train_script():
    """This folder's ``train.py``, loaded as a module wherever this script runs from."""
    spec = importlib.util.spec_from_file_location("csv_train", Path(__file__).with_name("train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(main())
