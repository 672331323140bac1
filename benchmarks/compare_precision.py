"""How bfloat16 inference changes the decisions of trained models, on their own test folds.

The bf16 reading of ``docs/inference.md`` comes from this script. For every
finished fold given (a ``fold_<k>`` folder, or a folder holding them) it exports
the fold, classifies the fold's test utterances (its ``predictions.csv``) from
their audio with ``EmotionRecognizer`` in fp32 and in bf16, and prints per
run (its folds together): test files, mean UA in fp32 and in bf16, the files
whose label changed, and the largest change of a probability. The fp32 labels
are checked against the training run's own predictions (column "fp32 labels =
run's").

Run: ``python benchmarks/compare_precision.py RUN [RUN ...] --wav-dir DIR``
(``DIR`` holds ``<utt_id>.wav``; EmoDB's ``wav`` folder by default). Models
trained with per-speaker statistics are refused: they need enrolment.
"""

import argparse
import csv
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.results.scores import scores_from_confusion

EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "wav"


def fold_folders(run: Path) -> list[Path]:
    """The finished fold folders of a run (itself, if it is one), in order."""
    found = [run] if run.name.startswith("fold_") else sorted(run.rglob("fold_*"))
    return [fold for fold in found if (fold / "predictions.csv").is_file()]


def unweighted_accuracy(true: list[str], predicted: list[str], labels: list[str]) -> float:
    """UA (mean per-class recall) of two label lists."""
    matrix = torch.zeros(len(labels), len(labels), dtype=torch.long)
    for t, p in zip(true, predicted):
        matrix[labels.index(t), labels.index(p)] += 1
    return scores_from_confusion(matrix)["UA"]


@dataclass
class FoldComparison:
    """One fold's test files classified in fp32 and in bf16."""

    params: int
    files: int
    same_as_run: int
    ua_fp32: float
    ua_bf16: float
    changed: int
    largest: float


def compare_fold(fold: Path, wav_dir: Path, out: Path) -> FoldComparison:
    """Export a fold and classify its test files (its predictions.csv) in fp32 and bf16."""
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
    return FoldComparison(
        params=sum(p.numel() for p in exact.models[0].parameters()),
        files=len(rows),
        same_as_run=sum(a == row["predicted"] for a, row in zip(exact_labels, rows)),
        ua_fp32=unweighted_accuracy(true, exact_labels, exact.labels),
        ua_bf16=unweighted_accuracy(true, fast_labels, exact.labels),
        changed=sum(a != b for a, b in zip(exact_labels, fast_labels)),
        largest=largest,
    )


def run_row(run: Path, folds: list[FoldComparison]) -> str:
    """One table row per run: its folds' files summed, UAs averaged."""
    files, name = sum(f.files for f in folds), "/".join(run.parts[-2:])
    return (f"| {name} | {folds[0].params / 1e6:.2f}M | {len(folds)} | {files} "
            f"| {sum(f.same_as_run for f in folds)}/{files} "
            f"| {sum(f.ua_fp32 for f in folds) / len(folds):.4f} "
            f"| {sum(f.ua_bf16 for f in folds) / len(folds):.4f} "
            f"| {sum(f.changed for f in folds)} | {max(f.largest for f in folds):.4f} |")


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
    print("| run | params | folds | test files | fp32 labels = run's | mean UA fp32 "
          "| mean UA bf16 | labels changed | largest change of a probability |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs:
            folds = [compare_fold(f, args.wav_dir, Path(tmp)) for f in fold_folders(run)]
            if not folds:
                raise SystemExit(f"{run}: no finished fold folder (fold_<k>/predictions.csv)")
            print(run_row(run, folds), flush=True)
    print(f"\n_{_cpu()}; torch {torch.__version__}._")


if __name__ == "__main__":
    main()
