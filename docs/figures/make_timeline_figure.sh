#!/usr/bin/env bash
# docs/figures/timeline_emodb.png: `speechbrain-drnsa timeline` on a recording made of every
# EmoDB sentence of speaker 08 (a test speaker of fold 0: the model never heard that voice),
# in file-name order, with pauses of faint noise (0.3 to 3 s, seed 0) between them.
# The model is the one of make_explain_figure.sh: the CPU-sized DRN-MHSA of recipes/EmoDB
# (every width / 4, 4 classes), fold 0 of speaker_kfold5 only, 8 epochs.
#
#   bash docs/figures/make_timeline_figure.sh ../shared/data/emodb [WORK_DIR]
#
# Run from the top of the repository with the vad extra installed; WORK_DIR (default
# /tmp/timeline_figure) holds the run, the recording and the figure's numbers (.json, .csv).
set -euo pipefail
emodb=$(realpath "${1:?usage: bash docs/figures/make_timeline_figure.sh EMODB_FOLDER [WORK_DIR]}")
work=$(realpath -m "${2:-/tmp/timeline_figure}")
figure=$(pwd)/docs/figures/timeline_emodb.png
if [ ! -d "$work/model" ]; then
    (
        cd recipes/EmoDB
        python train.py hparams/cpu_drn_mhsa_4class.yaml --data_folder="$emodb" \
            --output_root="$work" --fold=0 --max_epochs=8
    )
    speechbrain-drnsa export "$work/cpu_drn_mhsa_4class/1234/fold_0" "$work/model" --corpus EmoDB
fi
python - "$emodb" "$work/speaker08.wav" <<'PY'
import sys
from pathlib import Path

import numpy as np
import soundfile

emodb, out = Path(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
parts = []
for path in sorted((emodb / "wav").glob("08*.wav")):
    speech, rate = soundfile.read(path, dtype="float32")
    pause = int(rng.uniform(0.3, 3.0) * rate)
    parts += [1e-3 * rng.standard_normal(pause).astype(np.float32), speech]
soundfile.write(out, np.concatenate(parts), rate)
PY
speechbrain-drnsa timeline "$work/speaker08.wav" --model "$work/model" --out "$figure" \
    --json "$work/speaker08.json" --csv "$work/speaker08.csv"
