#!/usr/bin/env bash
# Two more levers of docs/results.md on EmoDB's 4 classes (speaker_kfold5, split seed 1234,
# per-speaker normalisation), three seeds each, paired against the runs of
# small_corpus_system.sh (run it first):
#   - richer frames: the eGeMAPS fusion system on eGeMAPSv02 LLDs and their deltas (50 per
#     frame) instead of the paper's 17 LLDs (frame_features: eGeMAPSv02);
#   - more training speakers: the small-corpus system (ComParE fusion) retrained on the
#     training and validation speakers (retrain_on_validation: true).
# Finished folds are skipped, so an interrupted run picks up where it stopped.
#
#   cd recipes/EmoDB && bash small_corpus_levers.sh ../../../shared/data/emodb
#
# Writes results/small_corpus_levers.md (speechbrain-drnsa compare: Wilcoxon over folds and a
# speaker bootstrap; --speakers reads the speakers of runs written before predictions had them).
set -euo pipefail
data_folder=${1:?usage: bash small_corpus_levers.sh EMODB_FOLDER}
seeds="--seeds=[1234, 2, 3]"
python train.py hparams/small_corpus.yaml "--data_folder=$data_folder" "$seeds" \
    --functionals=eGeMAPSv02 --weight_decay=0.0 --frame_features=eGeMAPSv02 \
    --experiment=frames_egemaps_spk
python train.py hparams/small_corpus.yaml "--data_folder=$data_folder" "$seeds" \
    --retrain_on_validation=true --experiment=fusion_compare_retrain_spk
speechbrain-drnsa compare \
    "ComParE_2016 + SVM=results/baselines_kfold5/4class/ComParE_2016_speaker" \
    "eGeMAPS fusion, 3 seeds=results/fusion_egemaps_spk" \
    "eGeMAPS fusion on eGeMAPS frames, 3 seeds=results/frames_egemaps_spk" \
    "eGeMAPS fusion on eGeMAPS frames, ensemble=results/frames_egemaps_spk_seed_ensemble" \
    "ComParE fusion (small-corpus system), 3 seeds=results/fusion_compare_spk" \
    "ComParE fusion retrained on train + valid speakers, 3 seeds=results/fusion_compare_retrain_spk" \
    "ComParE fusion retrained, ensemble=results/fusion_compare_retrain_spk_seed_ensemble" \
    --speakers results/prepared/4class/corpus.json \
    --paired-with "ComParE_2016 + SVM" "eGeMAPS fusion, 3 seeds" \
    "ComParE fusion (small-corpus system), 3 seeds" > results/small_corpus_levers.md
cat results/small_corpus_levers.md
