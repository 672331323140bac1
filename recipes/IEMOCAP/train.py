#!/usr/bin/env python3
"""Recipe: speech emotion recognition on IEMOCAP with DRN-MHSA (Li et al., ICASSP 2019).

Trains every fold of a cross-validation protocol with PyTorch Lightning (one
``Trainer`` per fold), selects each fold's checkpoint on validation UA,
tests it, and writes per-fold reports and an experiment summary.

To run::

    cd recipes/IEMOCAP
    python train.py hparams/drn_mhsa.yaml                       # demo corpus, short schedule
    python train.py hparams/drn_mhsa.yaml --data_folder=/data/IEMOCAP_full_release
    python train.py hparams/drn_mhsa.yaml --data_folder=... --fold=3 --precision=bf16-mixed \\
        --devices=4 --strategy=ddp

Running the same command again skips finished folds and resumes the
unfinished one from its last checkpoint. Data preparation and feature
extraction run on the main process while the others wait (the data module's
``prepare_data``). See docs/training.md for clusters, precision and resume.
"""

import sys

from speechbrain_drnsa.training.entry import run_recipe as main

if __name__ == "__main__":
    sys.exit(main())
