#!/usr/bin/env bash
# The small-corpus system (hparams/small_corpus.yaml: ComParE_2016 functionals fusion, three seeds
# and their ensemble) and its eGeMAPSv02 variant against the classic SVMs on EmoDB's 7 classes, speaker_kfold5 folds (split seed 1234), per normalisation
# setting: spk (per-speaker, transductive) and train (training-part statistics, inductive).
# Finished folds are skipped. docs/results.md's 7-class rows:
#
#   cd recipes/EmoDB && SETTINGS=spk bash small_corpus_all7.sh ../../../shared/data/emodb
#
# Writes results/small_corpus_all7.md (speechbrain-drnsa compare: Wilcoxon over folds and a
# speaker bootstrap; --speakers reads the speakers of runs written before predictions had them).
set -euo pipefail
data_folder=${1:?usage: bash small_corpus_all7.sh EMODB_FOLDER}
settings=${SETTINGS:-spk train}
python baseline_svm.py "--data_folder=$data_folder" --classes all7 --protocol=speaker_kfold5 \
    --output_folder=results/baselines7_kfold5
for norm in $settings; do
    flag=$([ "$norm" = spk ] && echo true || echo false)
    python train.py hparams/small_corpus.yaml "--data_folder=$data_folder" --classes=all7 \
        --functionals=eGeMAPSv02 --weight_decay=0.0 "--speaker_normalization=$flag" \
        "--experiment=fusion_egemaps7_$norm"
    python train.py hparams/small_corpus.yaml "--data_folder=$data_folder" --classes=all7 \
        "--speaker_normalization=$flag" "--experiment=fusion_compare7_$norm"
done
for norm in $settings; do
    svm=results/baselines7_kfold5/all7/ComParE_2016_$([ "$norm" = spk ] && echo speaker || echo train)
    echo "## EmoDB all7, speaker_kfold5, normalisation: $norm"
    echo
    speechbrain-drnsa compare \
        "ComParE_2016 + SVM=$svm" \
        "eGeMAPSv02 + SVM=${svm/ComParE_2016/eGeMAPSv02}" \
        "eGeMAPS fusion, 3 seeds=results/fusion_egemaps7_$norm" \
        "eGeMAPS fusion, ensemble of the 3 seeds=results/fusion_egemaps7_${norm}_seed_ensemble" \
        "ComParE fusion (small-corpus system), 3 seeds=results/fusion_compare7_$norm" \
        "ComParE fusion, ensemble of the 3 seeds=results/fusion_compare7_${norm}_seed_ensemble" \
        --speakers results/prepared/all7/corpus.json --paired-with "ComParE_2016 + SVM"
    echo
done > results/small_corpus_all7.md
cat results/small_corpus_all7.md
