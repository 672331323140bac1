#!/usr/bin/env bash
# The small-corpus system (hparams/small_corpus.yaml: DRN-MHSA/4 + ComParE_2016 functionals
# fusion, three seeds and their ensemble) and its eGeMAPSv02 variant against the classic SVMs on any corpus CSV, in the same folds,
# per normalisation setting: spk (per-speaker, transductive) and train (training-part
# statistics, inductive). Finished folds are skipped, so an interrupted run picks up where it
# stopped. docs/results.md's SAVEE rows:
#
#   cd recipes/CSV
#   SETTINGS=spk bash small_corpus_system.sh ../../../shared/data/savee/manifest.csv savee loso
#
# Writes results/<corpus>/small_corpus_system.md (speechbrain-drnsa compare: Wilcoxon over folds
# and a speaker bootstrap; --speakers reads the speakers of runs written before predictions had
# them).
set -euo pipefail
csv=${1:?usage: bash small_corpus_system.sh CSV CORPUS [PROTOCOL]}
corpus=${2:?usage: bash small_corpus_system.sh CSV CORPUS [PROTOCOL]}
protocol=${3:-loso}
settings=${SETTINGS:-spk train}
out=results/$corpus
python baseline_svm.py "$csv" "--protocol=$protocol" "--output_folder=$out/baselines_$protocol"
for norm in $settings; do
    flag=$([ "$norm" = spk ] && echo true || echo false)
    python train.py hparams/small_corpus.yaml "--csv=$csv" "--corpus=$corpus" \
        "--protocol=$protocol" "--speaker_normalization=$flag" --functionals=eGeMAPSv02 \
        --weight_decay=0.0 "--experiment=fusion_egemaps_$norm"
    python train.py hparams/small_corpus.yaml "--csv=$csv" "--corpus=$corpus" \
        "--protocol=$protocol" "--speaker_normalization=$flag" "--experiment=fusion_compare_$norm"
done
for norm in $settings; do
    svm=$out/baselines_$protocol/ComParE_2016_$([ "$norm" = spk ] && echo speaker || echo train)
    echo "## $corpus, $protocol, normalisation: $norm"
    echo
    speechbrain-drnsa compare \
        "ComParE_2016 + SVM=$svm" \
        "eGeMAPSv02 + SVM=${svm/ComParE_2016/eGeMAPSv02}" \
        "eGeMAPS fusion, 3 seeds=$out/fusion_egemaps_$norm" \
        "eGeMAPS fusion, ensemble of the 3 seeds=$out/fusion_egemaps_${norm}_seed_ensemble" \
        "ComParE fusion (small-corpus system), 3 seeds=$out/fusion_compare_$norm" \
        "ComParE fusion, ensemble of the 3 seeds=$out/fusion_compare_${norm}_seed_ensemble" \
        --speakers "$out/prepared/corpus.json" --paired-with "ComParE_2016 + SVM"
    echo
done > "$out/small_corpus_system.md"
cat "$out/small_corpus_system.md"
