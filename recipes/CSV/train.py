#!/usr/bin/env python3
"""Recipe: speech emotion recognition on any corpus described by a CSV table.

The CSV has the columns ``path, speaker, emotion`` (optional ``duration``,
``gender``, ``id``; paths relative to the CSV's folder), see
:mod:`speechbrain_drnsa.data.csv_corpus`. The label set is the CSV's emotions
(sorted); folds are leave-one-speaker-out or speaker groups
(``--protocol=speaker_kfold5``). Training, selection, reports and resume as in
the IEMOCAP recipe (docs/training.md).

To run::

    cd recipes/CSV
    python train.py hparams/drn_mhsa.yaml --csv=../../../shared/data/savee/manifest.csv
    python train.py hparams/cnn.yaml --csv=/data/corpus.csv --protocol=speaker_kfold5 --fold=0
"""

import sys

from speechbrain_drnsa.training.entry import run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe())
