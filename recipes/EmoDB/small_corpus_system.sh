#!/usr/bin/env bash
# The small-corpus system of docs/results.md (hparams/small_corpus.yaml: ComParE_2016 functionals
# fusion) against the paper's model, the eGeMAPSv02 fusion it replaced and the classic SVMs, on
# EmoDB's 4 classes (speaker_kfold5 folds, split seed 1234), three seeds each, in both settings:
# per-speaker normalisation (transductive, as SER papers report) and training-part statistics
# (inductive). Finished folds are skipped, so an interrupted run picks up where it stopped.
# About 12 minutes per seed on 2 idle CPU cores with one torch thread each.
#
#   cd recipes/EmoDB && bash small_corpus_system.sh ../../../shared/data/emodb
#
# Writes results/small_corpus_system.md (speechbrain-drnsa compare: Wilcoxon over folds and a
# speaker bootstrap; --speakers reads the speakers of runs written before predictions had them).
set -euo pipefail
data_folder=${1:?usage: bash small_corpus_system.sh EMODB_FOLDER}
seeds="--seeds=[1234, 2, 3]"
# the paper's model with the best options of the earlier table (its base row)
base=(hparams/cpu_drn_mhsa_4class.yaml "--data_folder=$data_folder" --time_masks=2
      --feature_masks=1 --label_smoothing=0.1 --max_epochs=60 --early_stopping_patience=15)
for norm in spk train; do
    flag=$([ $norm = spk ] && echo true || echo false)
    python train.py "${base[@]}" "$seeds" --speaker_normalization=$flag --experiment=base_$norm
    python train.py hparams/small_corpus.yaml "--data_folder=$data_folder" "$seeds" \
        --functionals=eGeMAPSv02 --weight_decay=0.0 --speaker_normalization=$flag \
        --experiment=fusion_egemaps_$norm
    python train.py hparams/small_corpus.yaml "--data_folder=$data_folder" "$seeds" \
        --speaker_normalization=$flag --experiment=fusion_compare_$norm
done
python baseline_svm.py "--data_folder=$data_folder" --classes 4class --protocol=speaker_kfold5 \
    --output_folder=results/baselines_kfold5
svm=results/baselines_kfold5/4class
# late fusion: the mean of the network ensemble's and the SVM's probabilities, fold by fold
for norm in spk train; do
    svm_norm=$([ $norm = spk ] && echo speaker || echo train)
    for net in base fusion_egemaps fusion_compare; do
        speechbrain-drnsa ensemble "results/late_${net}_${norm}" \
            "results/${net}_${norm}_seed_ensemble" "$svm/ComParE_2016_$svm_norm" > /dev/null
    done
done

table() {  # $1: normalisation (spk | train), $2: the SVMs' name for it
    speechbrain-drnsa compare \
        "ComParE_2016 + SVM=$svm/ComParE_2016_$2" \
        "eGeMAPSv02 + SVM=$svm/eGeMAPSv02_$2" \
        "DRN-MHSA/4 (paper's model), 3 seeds=results/base_$1" \
        "DRN-MHSA/4, ensemble of the 3 seeds=results/base_$1_seed_ensemble" \
        "DRN-MHSA/4 + eGeMAPS fusion, 3 seeds=results/fusion_egemaps_$1" \
        "DRN-MHSA/4 + eGeMAPS fusion, ensemble of the 3 seeds=results/fusion_egemaps_$1_seed_ensemble" \
        "DRN-MHSA/4 + ComParE fusion (small-corpus system), 3 seeds=results/fusion_compare_$1" \
        "DRN-MHSA/4 + ComParE fusion, ensemble of the 3 seeds=results/fusion_compare_$1_seed_ensemble" \
        "late fusion: paper's model ensemble + ComParE SVM=results/late_base_$1" \
        "late fusion: eGeMAPS-fusion ensemble + ComParE SVM=results/late_fusion_egemaps_$1" \
        "late fusion: ComParE-fusion ensemble + ComParE SVM=results/late_fusion_compare_$1" \
        --speakers results/prepared/4class/corpus.json \
        --paired-with "ComParE_2016 + SVM" "DRN-MHSA/4 (paper's model), 3 seeds" \
        "DRN-MHSA/4 + eGeMAPS fusion, 3 seeds"
}
{
    echo "## Per-speaker normalisation (transductive)"; echo; table spk speaker; echo
    echo "## Training-part statistics (inductive)"; echo; table train train
} > results/small_corpus_system.md
cat results/small_corpus_system.md
