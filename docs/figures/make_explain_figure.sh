#!/usr/bin/env bash
# docs/figures/explain_emodb.png: `speechbrain-drnsa explain` on a real EmoDB file, with a
# small model trained here: the CPU-sized DRN-MHSA of recipes/EmoDB (every width / 4,
# 4 classes), fold 0 of speaker_kfold5 only, 8 epochs: about a minute on 2 CPU cores.
# The file is of a test speaker of fold 0 (speaker 08), so the model never heard that voice.
#
#   bash docs/figures/make_explain_figure.sh ../shared/data/emodb [WORK_DIR]
#
# Run from the top of the repository; WORK_DIR (default /tmp/explain_figure) holds the run.
set -euo pipefail
emodb=$(realpath "${1:?usage: bash docs/figures/make_explain_figure.sh EMODB_FOLDER [WORK_DIR]}")
work=$(realpath -m "${2:-/tmp/explain_figure}")
figure=$(pwd)/docs/figures/explain_emodb.png
(
    cd recipes/EmoDB
    python train.py hparams/cpu_drn_mhsa_4class.yaml --data_folder="$emodb" \
        --output_root="$work" --fold=0 --max_epochs=8
)
speechbrain-drnsa export "$work/cpu_drn_mhsa_4class/1234/fold_0" "$work/model" --corpus EmoDB
speechbrain-drnsa explain "$emodb/wav/08a01Wa.wav" --model "$work/model" --out "$figure" --heads
