"""How bfloat16 inference changes the decisions of trained models, on their own test folds.

The bf16 reading of ``docs/inference.md`` comes from this script. For every
finished fold given (a ``fold_<k>`` folder, or a folder holding them) it exports
the fold, classifies the fold's test utterances (its ``predictions.csv``) from
their audio with ``EmotionRecognizer`` in fp32 and in bf16, and prints per
fold: files, UA in fp32 and in bf16, the files whose label changed, and the
largest change of a probability. The fp32 labels are checked against the
training run's own predictions first (column "fp32 = run").

Run: ``python benchmarks/compare_precision.py RUN [RUN ...] --wav-dir DIR``
(``DIR`` holds ``<utt_id>.wav``; EmoDB's ``wav`` folder by default). Models
trained with per-speaker statistics are refused: they need enrolment.
"""

import argparse
import csv
import platform
import tempfile
from pathlib import Path

import torch

from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.results.scores import scores_from_confusion

EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "wav"


def fold_folders(runs: list[Path]) -> list[Path]:
    """Every finished fold folder under the given runs, in order."""
    folds = []
    for run in runs:
        found = [run] if run.name.startswith("fold_") else sorted(run.rglob("fold_*"))
        folds += [f for f in found if (f / "predictions.csv").is_file()]
    return folds


def unweighted_accuracy(true: list[str], predicted: list[str], labels: list[str]) -> float:
    """UA (mean per-class recall) of two label lists."""
    matrix = torch.zeros(len(labels), len(labels), dtype=torch.long)
    for t, p in zip(true, predicted):
        matrix[labels.index(t), labels.index(p)] += 1
    return scores_from_confusion(matrix)["UA"]


def compare_fold(fold: Path, wav_dir: Path, out: Path) -> str:
    """One table row: the fold's test files in fp32 and bf16."""
    with open(fold / "predictions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    model = export(fold, out / fold.parent.name / fold.name)
    exact = EmotionRecognizer.from_hparams(model)
    if exact.speaker_normalization:
        raise SystemExit(f"{fold}: a per-speaker model needs enrolment; not compared here")
    fast = EmotionRecognizer.from_hparams(model, run_opts={"precision": "bf16"})
    exact_labels, fast_labels, largest = [], [], 0.0
    for row in rows:
        wav = wav_dir / f"{row['utt_id']}.wav"
        p_exact, p_fast = exact.classify_file(wav)[0][0], fast.classify_file(wav)[0][0]
        exact_labels.append(exact.labels[int(p_exact.argmax())])
        fast_labels.append(exact.labels[int(p_fast.argmax())])
        largest = max(largest, float((p_exact - p_fast).abs().max()))
    true = [row["true"] for row in rows]
    same_as_run = sum(a == row["predicted"] for a, row in zip(exact_labels, rows))
    changed = sum(a != b for a, b in zip(exact_labels, fast_labels))
    ua_exact = unweighted_accuracy(true, exact_labels, exact.labels)
    ua_fast = unweighted_accuracy(true, fast_labels, exact.labels)
    params = sum(p.numel() for p in exact.models[0].parameters())
    return (f"| {fold.parent.parent.name}/{fold.parent.name}/{fold.name} | {params / 1e6:.2f}M "
            f"| {len(rows)} | {same_as_run}/{len(rows)} | {ua_exact:.4f} | {ua_fast:.4f} "
            f"| {changed} | {largest:.4f} |")


def _cpu() -> str:
    """The CPU's model name and whether it computes bfloat16 natively."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), platform.machine())
    native = "avx512_bf16" in info or "amx_bf16" in info
    return f"{name}, native bfloat16 (AVX512-BF16 or AMX): {'yes' if native else 'no'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="fold folders or folders holding them")
    parser.add_argument("--wav-dir", type=Path, default=EMODB, help="<utt_id>.wav files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| fold | params | test files | fp32 = run | UA fp32 | UA bf16 | labels changed "
          "| largest change of a probability |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for fold in fold_folders(args.runs):
            print(compare_fold(fold, args.wav_dir, Path(tmp)), flush=True)
    print(f"\n_{_cpu()}; torch {torch.__version__}._")


if __name__ == "__main__":
    main()
