#!/usr/bin/env bash
# EmoDB 4-class runs of docs/reproduction.md (Table 2) and docs/results.md (small-corpus levers)
# side by side on one GPU machine, one process per system and seed:
#   - Table 2, five systems x three seeds (recipes/IEMOCAP/reproduce.py --corpus=emodb);
#   - the small-corpus system with ComParE_2016 functionals, per-speaker and training-part
#     normalisation, and at full width (speechbrain_drnsa/hparams/drn_mhsa_functionals.yaml as published, dropout
#     0.2), three seeds each.
# Then the seed summaries, seed ensembles and table2.md/csv, and the results (no checkpoints)
# as a tarball. Run from the repository root on a machine with a GPU and >= 16 cores:
#   bash benchmarks/emodb_gpu_runs.sh EMODB_FOLDER OUT_FOLDER [SECONDS_PER_PROCESS]
# A process still running after SECONDS_PER_PROCESS (default 380) is stopped; running the script
# again resumes its unfinished folds. The preparation and the summaries take about 3 more
# minutes: a time limit around the whole script needs that room, or the tarball is never written.
# Measured on an H200 machine (16 cores): 24 processes side by side are bound by the CPU, not
# the GPU; a CPU-sized fold then takes 2-4 minutes, against 15-20 s with few processes. EXTRA_OVERRIDES (e.g. "--fold=0 --max_epochs=1") is given
# to every command, for a quick check of the script itself.
set -uo pipefail
data=$(realpath "$1")
out=$(realpath -m "$2")
budget=${3:-380}
extra=(${EXTRA_OVERRIDES:-})
mkdir -p "$out/logs"
cd recipes/EmoDB

run() {  # name, command...: one process, its log, its exit status
    local name=$1
    shift
    timeout "$budget" "$@" "${extra[@]}" >"$out/logs/$name.log" 2>&1
    echo "$name: exit $?" >>"$out/logs/exits.txt"
}
small=(train.py hparams/small_corpus.yaml "--data_folder=$data")
table2=(../IEMOCAP/reproduce.py --table=2 --corpus=emodb "--data_folder=$data")

# the manifest, folds, LLDs and ComParE_2016 functionals, once, before the runs that share them
run prepare python "${small[@]}" --functionals=ComParE_2016 --experiment=prepare_only \
    --seeds=null --fold=0 --max_epochs=1 --extraction_jobs=16
for seed in 1234 2 3; do
    for system in cnn cnn_res drn drn_sha drn_mhsa; do
        run "table2_${system}_$seed" python "${table2[@]}" --systems "$system" "--seeds=[$seed]" &
    done
    run "compare_spk_$seed" python "${small[@]}" --functionals=ComParE_2016 \
        --experiment=small_corpus_compare_spk "--seeds=[$seed]" &
    run "compare_train_$seed" python "${small[@]}" --functionals=ComParE_2016 \
        --speaker_normalization=false --experiment=small_corpus_compare_train "--seeds=[$seed]" &
    run "full_spk_$seed" python "${small[@]}" "--model_overrides={dropout: 0.2}" \
        --experiment=small_corpus_full_spk "--seeds=[$seed]" &
done
wait

# every seed's run has finished: these only summarise (seed summaries, ensembles, the table)
run table2 python "${table2[@]}" "--seeds=[1234, 2, 3]"
run compare_spk python "${small[@]}" --functionals=ComParE_2016 --experiment=small_corpus_compare_spk
run compare_train python "${small[@]}" --functionals=ComParE_2016 --speaker_normalization=false \
    --experiment=small_corpus_compare_train
run full_spk python "${small[@]}" "--model_overrides={dropout: 0.2}" --experiment=small_corpus_full_spk
tar -czf "$out/results.tgz" --exclude='*.ckpt' --exclude=results/features results
cat "$out/logs/exits.txt"
