#!/usr/bin/env bash
# The small-corpus options of docs/results.md, each added alone to the same base run of
# DRN-MHSA (widths / 4) on EmoDB's 4 classes: same speaker_kfold5 folds, seed and schedule.
# Finished folds are skipped, so an interrupted run picks up where it stopped. A run takes
# 12 minutes alone on 2 CPU cores with one torch thread (the perturbation runs longer); the
# wall times of each run are in docs/results.md.
#
#   cd recipes/EmoDB && bash small_corpus_options.sh ../../../shared/data/emodb
#
# Writes results/small_corpus_options.md (speechbrain-drnsa compare).
set -euo pipefail
data_folder=${1:?usage: bash small_corpus_options.sh EMODB_FOLDER}
widths="channels: [16, 32, 64, 96, 128], out_channels: 128, lstm_hidden: 64, lin_neurons: [128]"
base=(hparams/cpu_drn_mhsa_4class.yaml "--data_folder=$data_folder"
      --speaker_normalization=true --time_masks=2 --feature_masks=1 --label_smoothing=0.1)
long=(--max_epochs=60 --early_stopping_patience=15)
name=cpu_drn_mhsa_4class_spknorm_aug

# the base run with four seeds: what the seed alone does
for seed in 1234 2 3 4; do
    python train.py "${base[@]}" "${long[@]}" --experiment=${name}_60ep --seed=$seed
done
for seed in 1234 2; do
    python train.py "${base[@]}" "${long[@]}" --experiment=${name}_60ep_dropwd --seed=$seed \
        "--model_overrides={$widths, dropout: 0.2}" --weight_decay=0.0001
    python train.py "${base[@]}" "${long[@]}" --experiment=${name}_60ep_mixup --seed=$seed \
        --mixup_alpha=0.2
done
# the same training as the base run (deterministic on CPU), testing other weights
for seed in 1234 2; do
    python train.py "${base[@]}" "${long[@]}" --experiment=${name}_60ep_avg5 --average_top_k=5 \
        --seed=$seed
done
python train.py "${base[@]}" "${long[@]}" --experiment=${name}_60ep_width8 \
    "--model_overrides={channels: [8, 16, 32, 48, 64], out_channels: 64, lstm_hidden: 32, lin_neurons: [64]}"
# an epoch holds every utterance once more per perturbation: fewer epochs, shorter patience
python train.py "${base[@]}" --max_epochs=20 --early_stopping_patience=5 \
    "--perturbations=[{speed: 0.9}, {speed: 1.1}, {gain_db: -6}]" --experiment=${name}_speedvol
python train.py "${base[@]}" --max_epochs=30 --early_stopping_patience=8 \
    "--perturbations=[{snr_db: 30}]" --experiment=${name}_noise30
# pretrain on SAVEE (all 4 speakers, 7 emotions), then start every EmoDB fold from it
savee_csv=$(dirname "$data_folder")/savee/manifest.csv
(cd ../CSV && python train.py hparams/cpu_drn_mhsa.yaml "--csv=$savee_csv" --corpus=savee \
    --protocol=random --fold=0 --speaker_normalization=true --time_masks=2 --feature_masks=1 \
    --label_smoothing=0.1 "${long[@]}")
python train.py "${base[@]}" "${long[@]}" --experiment=${name}_60ep_savee \
    --init_from=../CSV/results/savee/cpu_drn_mhsa/1234/fold_0
python train.py "${base[@]}" "${long[@]}" --experiment=${name}_60ep_savee_lr1e-4 \
    --init_from=../CSV/results/savee/cpu_drn_mhsa/1234/fold_0 --lr=0.0001

speechbrain-drnsa compare \
    "base: per-speaker norm, masking, label smoothing 0.1, 60 epochs=results/${name}_60ep/1234" \
    "base, seeds 1234, 2, 3, 4=results/${name}_60ep" \
    "+ dropout 0.2, weight decay 1e-4; seeds 1234, 2=results/${name}_60ep_dropwd" \
    "+ mixup (alpha 0.2); seeds 1234, 2=results/${name}_60ep_mixup" \
    "+ average of the 5 best checkpoints; seeds 1234, 2=results/${name}_60ep_avg5" \
    "widths / 8 instead of / 4=results/${name}_60ep_width8/1234" \
    "+ speed 0.9, 1.1 and -6 dB copies (20 epochs)=results/${name}_speedvol/1234" \
    "+ white noise copies at 30 dB SNR (30 epochs)=results/${name}_noise30/1234" \
    "+ pretrained on SAVEE=results/${name}_60ep_savee/1234" \
    "+ pretrained on SAVEE, fine-tuned at lr 1e-4=results/${name}_60ep_savee_lr1e-4/1234" \
    > results/small_corpus_options.md
cat results/small_corpus_options.md
