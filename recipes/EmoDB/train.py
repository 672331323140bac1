#!/usr/bin/env python3
"""Recipe: speech emotion recognition on EmoDB with DRN-MHSA (Li et al., ICASSP 2019).

Reads the Berlin Database of Emotional Speech as distributed (``wav/``; speaker
and emotion from the file names), trains every fold of a speaker-independent
protocol with PyTorch Lightning, selects each fold's checkpoint on validation
UA, tests it, and writes per-fold reports and a summary in the layout of the
IEMOCAP recipe (docs/training.md).

To run::

    cd recipes/EmoDB
    python train.py hparams/drn_mhsa.yaml --data_folder=../../../shared/data/emodb
    python train.py hparams/drn_mhsa_4class.yaml --data_folder=... --speaker_normalization=true
    python train.py hparams/cpu_drn_mhsa_4class.yaml --data_folder=...   # CPU-sized protocol

Running the same command again skips finished folds and resumes the
unfinished one. The classic baselines in the same folds: ``baseline_svm.py``.
"""

import sys

from speechbrain_drnsa.training.entry import run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe())
