#!/usr/bin/env python3
"""Recipe: speech emotion recognition on any corpus described by a CSV table.

The CSV has the columns ``path, speaker, emotion`` (optional ``duration``,
``gender``, ``id``; paths relative to the CSV's folder), see
:mod:`speechbrain_drnsa.data.csv_corpus`. The label set is the CSV's emotions
(sorted); folds are leave-one-speaker-out or speaker groups
(``--protocol=speaker_kfold5``). Several corpora are merged with
``--csv=[name1=path1, name2=path2]`` and ``--label_map``, and tested whole with
``--protocol=leave_one_corpus_out`` or ``cross_corpus`` (``--test_csv=name=path``);
:mod:`speechbrain_drnsa.data.csv_corpora`. Training, selection, reports and
resume as in the IEMOCAP recipe (docs/training.md).

To run::

    cd recipes/CSV
    python train.py hparams/drn_mhsa.yaml --csv=../../../shared/data/savee/manifest.csv
    python train.py hparams/cnn.yaml --csv=/data/corpus.csv --protocol=speaker_kfold5 --fold=0
    python train.py hparams/drn_mhsa.yaml --csv=[emodb=/data/emodb.csv, savee=/data/savee.csv] \
        --corpus=emodb+savee --protocol=leave_one_corpus_out
"""

import logging
import sys
from collections.abc import Sequence

from speechbrain_drnsa.training import (
    RECIPE_ERRORS,
    load_seed_runs,
    parse_command_line,
    prepare_experiment,
    run_folds,
    write_run_summary,
    write_seeds_summary,
)

logger = logging.getLogger("train")


def main(argv: Sequence[str] | None = None) -> int:
    """Train and test the folds the command line asks for; 2 when the input is unusable."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    hparams_file, overrides = parse_command_line(sys.argv[1:] if argv is None else argv)
    try:
        runs = load_seed_runs(hparams_file, overrides)  # one per seed of --seeds
        hparams = runs[0][0]
        # manifest, folds and features, once, on the main process
        prepared = prepare_experiment(hparams)
        for seed_hparams, hparams_text in runs:
            run_folds(seed_hparams, prepared, hparams_text)
            summary = write_run_summary(seed_hparams)
        if len(runs) > 1:
            summary = write_seeds_summary([seed_hparams for seed_hparams, _ in runs])
    except RECIPE_ERRORS as err:
        logger.error("%s", err)  # one line naming the file, no traceback
        return 2
    if summary is not None:
        print(f"\nSummary of {hparams['experiment']}: {summary.resolve()}")
        print(summary.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
