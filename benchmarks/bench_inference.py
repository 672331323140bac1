"""Benchmark of inference: latency, throughput, memory on long audio, and where the time goes.

Prints a markdown section with:

1. p50/p95 latency of ``EmotionRecognizer.classify_file`` on a 5 s utterance
   on one thread, features included, with the torch backend (fp32, bf16)
   and the ONNX backend, next to SpeechBrain's ECAPA emotion pipeline (read,
   ``Fbank``, sentence mean normalisation, ``ECAPA_TDNN``, ``Classifier``;
   random weights);
2. the split of the torch and ONNX latency into features (read + openSMILE),
   normalisation and model;
3. files per second over EmoDB's files with 1 and 2 worker processes;
4. peak resident memory and time to classify a one-hour file;
5. files per second of ``classify --csv`` (``classify_corpus``) over 5 s files
   with ``--jobs 1`` and ``--jobs 2``, torch and ONNX backends, beside
   SpeechBrain's ``EncoderClassifier`` (ECAPA, random weights) classifying the
   same files in batches on as many threads.

The DRN-MHSA model is ``speechbrain_drnsa/hparams/drn_mhsa.yaml`` (9.9M parameters, 4 classes,
one fold) with random weights: time does not depend on the values. The 5 s
utterance and the one-hour file are EmoDB speech when ``../shared/data/emodb``
exists, a synthetic speech-like signal otherwise.

Run (about 10 minutes on 2 idle cores)::

    python benchmarks/run.py inference
    python benchmarks/bench_inference.py --reps 3 --files 6 --hour-minutes 1   # quick check
    python benchmarks/bench_inference.py --sections corpus   # only the corpus section
"""

import argparse
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import soundfile
import soxr
import torch

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.inference import EmotionRecognizer
from speechbrain_drnsa.inference.architecture import build_from_spec, spec_from_model_yaml
from speechbrain_drnsa.inference.exporter import config_yaml_text
from speechbrain_drnsa.inference.folder import (
    label_encoder_text, load_model_folder, read_model_folder,
)
from speechbrain_drnsa.inference.onnx_export import export_onnx
from speechbrain_drnsa.inference.windows import read_windows

ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "data" / "emodb" / "wav"
RATE = 16000
LABELS = ["neu", "hap", "sad", "ang"]
TARGETS = (
    "torch fp32 p50 <= 50 ms for 16, 44.1 and 48 kHz files, probabilities within 1e-5 of the "
    "unpacked modules' (issue #30); ONNX faster than torch; one-hour file under 1 GiB peak; "
    "classify --csv at least 2x the files per second of SpeechBrain's EncoderClassifier"
)
SECTIONS = ("latency", "throughput", "memory", "corpus")


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} logical cores; load average at start {load}"


def _speech(seconds: float) -> tuple[np.ndarray, str]:
    """EmoDB utterances end to end (16 kHz), or a synthetic voiced signal without the corpus."""
    parts, total = [], 0
    for path in sorted(EMODB.glob("*.wav")) if EMODB.is_dir() else []:
        samples, rate = soundfile.read(path, dtype="float32")
        parts.append(samples)
        total += samples.size
        if total >= seconds * RATE:
            return np.concatenate(parts)[: int(seconds * RATE)], "EmoDB speech"
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.5 * t)
    voiced = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / RATE)) * (np.sin(2 * np.pi * 2 * t) > 0)
    noise = 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return (0.3 * voiced + noise).astype(np.float32), "synthetic"


def _model_folder(folder: Path) -> Path:
    """A one-fold model folder of the packaged drn_mhsa.yaml, random weights, and its ONNX graph."""
    text = hparams_path("drn_mhsa.yaml").read_text()
    spec = spec_from_model_yaml(text, {"n_classes": len(LABELS)})
    torch.manual_seed(0)
    model = build_from_spec(spec, "drn_mhsa.yaml")
    normalizer = FeatureNormalizer().fit([torch.randn(1000, 17)])
    tensors = {f"fold_0.model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"fold_0.normalizer.{k}": v for k, v in normalizer.state_dict().items()
                    if isinstance(v, torch.Tensor)})
    folder.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(tensors, folder / "model.safetensors")
    config = {
        "labels": LABELS, "folds": [0], "model": spec,
        "normalizer": {"class": "FeatureNormalizer", "args": {"num_features": 17}},
        "features": {"extractor": "OpenSmileLLD", "sample_rate": RATE},
        "speaker_normalization": False,
        "inference_window": {"length_s": 10.0, "hop_s": 5.0},
    }
    (folder / "hyperparams.yaml").write_text(config_yaml_text(config))
    (folder / "label_encoder.txt").write_text(label_encoder_text(LABELS))
    export_onnx(load_model_folder(folder))
    return folder


def _interleaved(runs: dict[str, Callable[[], object]], reps: int,
                 warmup: int = 3) -> dict[str, dict[str, float]]:
    """p50 and p95 wall and p50 CPU milliseconds of each run, the runs taking turns.

    Taking turns, every run bears the same share of what else the machine
    runs; the CPU time of the process is the steadier figure on a loaded machine.
    """
    for run in runs.values():
        for _ in range(warmup):
            run()
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            cpu[name].append(1000 * (time.process_time() - start_cpu))
            wall[name].append(1000 * (time.perf_counter() - start))
    return {name: {"p50": float(np.percentile(wall[name], 50)),
                   "p95": float(np.percentile(wall[name], 95)),
                   "cpu": float(np.percentile(cpu[name], 50))} for name in runs}


def _ecapa_pipeline() -> Callable[[Path], torch.Tensor]:
    """SpeechBrain's ECAPA emotion pipeline (random weights): file in, probabilities out."""
    from speechbrain.lobes.features import Fbank
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
    from speechbrain.processing.features import InputNormalization

    fbank, norm = Fbank(n_mels=80), InputNormalization(norm_type="sentence", std_norm=False)
    embedding = ECAPA_TDNN(80, lin_neurons=192).eval()
    classifier = Classifier(192, out_neurons=len(LABELS)).eval()

    def classify(path: Path) -> torch.Tensor:
        samples, _ = soundfile.read(path, dtype="float32")
        with torch.inference_mode():
            wav = torch.from_numpy(samples)[None]
            feats = norm(fbank(wav), torch.ones(1))
            return classifier(embedding(feats)).squeeze(1).softmax(-1)

    return classify


def _resampled_copy(utterance: Path, rate: int) -> Path:
    """The utterance written again at ``rate`` (what a recorder gives), beside it."""
    samples, _ = soundfile.read(utterance, dtype="float32")
    path = utterance.with_name(f"{utterance.stem}_{rate}.wav")
    soundfile.write(path, soxr.resample(samples, RATE, rate, "HQ"), rate)
    return path


def _plain_recognizer(folder: Path) -> EmotionRecognizer:
    """The fp32 torch recognizer with its encoders unpacked: the modules' own forward."""
    recognizer = EmotionRecognizer.from_hparams(folder)
    for model in recognizer.models:
        model.encoder.onednn = None
    return recognizer


def _latency_table(folder: Path, utterance: Path, reps: int) -> str:
    torch_rec = EmotionRecognizer.from_hparams(folder)
    plain_rec = _plain_recognizer(folder)
    bf16_rec = EmotionRecognizer.from_hparams(folder, run_opts={"precision": "bf16"})
    onnx_rec = EmotionRecognizer(read_model_folder(folder), backend="onnx", num_threads=1)
    ecapa = _ecapa_pipeline()
    files = {rate: _resampled_copy(utterance, rate) for rate in (44100, 48000)}
    rows = {
        "DRN-MHSA, torch fp32 (`classify_file`), 16 kHz":
            lambda: torch_rec.classify_file(utterance),
        "DRN-MHSA, torch fp32 (`classify_file`), 44.1 kHz":
            lambda: torch_rec.classify_file(files[44100]),
        "DRN-MHSA, torch fp32 (`classify_file`), 48 kHz":
            lambda: torch_rec.classify_file(files[48000]),
        "DRN-MHSA, torch fp32, modules unpacked (before #30), 16 kHz":
            lambda: plain_rec.classify_file(utterance),
        "DRN-MHSA, torch bf16 (`classify_file`, `precision: bf16`), 16 kHz":
            lambda: bf16_rec.classify_file(utterance),
        "DRN-MHSA, ONNX Runtime (`classify_file`), 16 kHz":
            lambda: onnx_rec.classify_file(utterance),
        "SpeechBrain ECAPA emotion pipeline (random weights), 16 kHz": lambda: ecapa(utterance),
    }
    lines = ["| pipeline, 5 s utterance, 1 thread | p50 (ms) | p95 (ms) | CPU p50 (ms) |",
             "|---|---|---|---|"]
    for name, times in _interleaved(rows, reps).items():
        lines.append(f"| {name} | {times['p50']:.1f} | {times['p95']:.1f} | {times['cpu']:.1f} |")
    expected = plain_rec.classify_file(utterance)[0]
    largest = float((torch_rec.classify_file(utterance)[0] - expected).abs().max())
    lines.append(f"\nLargest difference between the packed and the unpacked fp32 probabilities "
                 f"on this utterance: {largest:.1e}.")
    return "\n".join(lines) + "\n\n" + _split_table(
        torch_rec, plain_rec, bf16_rec, onnx_rec, utterance, files, reps)


def _split_table(torch_rec, plain_rec, bf16_rec, onnx_rec, utterance: Path,
                 files: dict[int, Path], reps: int) -> str:
    """Median time of each stage of classify_file, measured stage by stage."""
    state = {}

    def features(path: Path = utterance):
        segment = next(read_windows(path, torch_rec.window_s, torch_rec.hop_s))
        state["feats"] = torch_rec.extractor.extract(segment.signal, segment.sample_rate)

    def normalisation():
        padded, lengths = torch_rec._standardized([state["feats"]], None)
        with torch.no_grad():
            state["x"], state["lengths"] = torch_rec.normalizers[0](padded, lengths), lengths
        state["raw"] = padded

    def torch_model(recognizer=torch_rec):
        with torch.inference_mode():
            recognizer.models[0](*recognizer._cast(state["x"], state["lengths"])).softmax(-1)

    def pooling():
        model = torch_rec.models[0]
        with torch.inference_mode():
            model.classifier(model.pooling(*state["frames"])).softmax(-1)

    def onnx_model():
        onnx_rec.onnx.probabilities(state["raw"].numpy(), state["lengths"].numpy())

    features()
    normalisation()
    with torch.inference_mode():
        state["frames"] = torch_rec.models[0].encoder(state["x"], state["lengths"])
    stages = {
        "features (read + openSMILE), 16 kHz": features,
        "features (read + resample + openSMILE), 44.1 kHz": lambda: features(files[44100]),
        "features (read + resample + openSMILE), 48 kHz": lambda: features(files[48000]),
        "normalisation": normalisation,
        "model, torch fp32 (encoder on prepacked oneDNN weights)": torch_model,
        "of which LSTM pooling and classifier": pooling,
        "model, torch fp32, modules unpacked (before #30)": lambda: torch_model(plain_rec),
        "model, torch bf16": lambda: torch_model(bf16_rec),
        "model, ONNX Runtime (its fold normaliser included)": onnx_model,
    }
    lines = ["| stage of `classify_file`, 5 s | median (ms) | CPU median (ms) |", "|---|---|---|"]
    for name, times in _interleaved(stages, reps).items():
        lines.append(f"| {name} | {times['p50']:.2f} | {times['cpu']:.2f} |")
    return "\n".join(lines)


_WORKER: dict = {}


def _load_worker(folder: str) -> None:
    torch.set_num_threads(1)
    _WORKER["recognizer"] = EmotionRecognizer.from_hparams(folder)


def _wait_loaded(_: int) -> None:
    time.sleep(0.5)  # holds this worker so that the next warm-up task goes to another


def _classify_one(path: str) -> str:
    return _WORKER["recognizer"].classify_windows(path).label


def _throughput_table(folder: Path, files: list[Path]) -> str:
    lines = ["| processes | files/s | wall (s) |", "|---|---|---|"]
    context = multiprocessing.get_context("spawn")
    for processes in (1, 2):
        with context.Pool(processes, _load_worker, (str(folder),)) as pool:
            pool.map(_wait_loaded, range(processes), chunksize=1)
            start = time.perf_counter()
            pool.map(_classify_one, [str(p) for p in files], chunksize=4)
            wall = time.perf_counter() - start
        lines.append(f"| {processes} | {len(files) / wall:.1f} | {wall:.1f} |")
    return "\n".join(lines) + f"\n\n{len(files)} EmoDB files; worker start-up not counted."


def _write_long_file(path: Path, speech: np.ndarray, minutes: float) -> None:
    """``minutes`` of audio written block by block (the speech repeated), never whole in memory."""
    remaining = int(minutes * 60 * RATE)
    with soundfile.SoundFile(path, "w", RATE, 1, "PCM_16") as stream:
        while remaining > 0:
            block = speech[:remaining]
            stream.write(block)
            remaining -= block.size


def _long_file_table(folder: Path, speech: np.ndarray, minutes: float, tmp: Path) -> str:
    path = tmp / "long.wav"
    _write_long_file(path, speech, minutes)
    command = [sys.executable, str(Path(__file__).with_name("long_file_worker.py")),
               str(folder), str(path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return (
        "| file | windows | peak RSS (MiB) | peak RSS after loading (MiB) | time (s) |\n"
        "|---|---|---|---|---|\n"
        f"| {minutes:g} min, 16 kHz | {result['windows']} | {result['peak']:.0f} | "
        f"{result['loaded']:.0f} | {result['seconds']:.1f} |"
    )


def _encoder_classifier() -> Any:
    """SpeechBrain's EncoderClassifier with an ECAPA emotion model's modules, random weights."""
    from speechbrain.dataio.encoder import CategoricalEncoder
    from speechbrain.inference.classifiers import EncoderClassifier
    from speechbrain.lobes.features import Fbank
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
    from speechbrain.processing.features import InputNormalization

    labels = CategoricalEncoder()
    labels.update_from_iterable(LABELS)
    labels.expect_len(len(LABELS))
    torch.manual_seed(0)
    modules = {
        "compute_features": Fbank(n_mels=80),
        "mean_var_norm": InputNormalization(norm_type="sentence", std_norm=False),
        "embedding_model": ECAPA_TDNN(80, lin_neurons=192),
        "classifier": Classifier(192, out_neurons=len(LABELS)),
    }
    return EncoderClassifier(modules=modules, hparams={"label_encoder": labels})


def _corpus_files(tmp: Path, count: int) -> tuple[Path, list[Path], str]:
    """``count`` different 5 s files and their manifest (a ``path`` column)."""
    speech, source = _speech(5.0 * count)
    folder = tmp / "corpus"
    folder.mkdir()
    files = []
    for index, chunk in enumerate(np.split(speech, count)):
        files.append(folder / f"{index:04d}.wav")
        soundfile.write(files[-1], chunk, RATE)
    manifest = folder / "manifest.csv"
    manifest.write_text("path\n" + "".join(f"{path.name}\n" for path in files))
    return manifest, files, source


def _corpus_table(folder: Path, tmp: Path, count: int, batch: int = 8) -> str:
    manifest, files, source = _corpus_files(tmp, count)
    lines = ["| pipeline | processes x threads | files/s | files/s after start-up | "
             "files per CPU second after start-up | wall (s) |", "|---|---|---|---|---|---|"]
    for backend in ("torch", "onnx"):
        for jobs in (1, 2):
            name = f"{backend}{jobs}"
            wall, cpu = _classify_csv_wall(folder, manifest, tmp / f"table{name}.csv", jobs,
                                           backend)
            # the command on two rows: start-up (interpreter, imports, model, workers), two files
            start_wall, start_cpu = _classify_csv_wall(
                folder, _head(manifest, 2), tmp / f"head{name}.csv", jobs, backend)
            lines.append(f"| DRN-MHSA `classify --csv --jobs {jobs} --backend {backend}` | "
                         f"{jobs} x 1 | {count / wall:.1f} | "
                         f"{(count - 2) / (wall - start_wall):.1f} | "
                         f"{(count - 2) / (cpu - start_cpu):.1f} | {wall:.1f} |")
    classifier = _encoder_classifier()

    def classify_all() -> None:
        for first in range(0, count, batch):
            wavs = [soundfile.read(path, dtype="float32")[0] for path in files[first:first + batch]]
            classifier.classify_batch(torch.from_numpy(np.stack(wavs)))

    threads = torch.get_num_threads()
    for cores in (1, 2):
        torch.set_num_threads(cores)
        classify_all()  # warm-up
        start, start_cpu = time.perf_counter(), time.process_time()
        classify_all()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        lines.append(f"| SpeechBrain `EncoderClassifier.classify_batch` (ECAPA, random weights), "
                     f"batches of {batch} | 1 x {cores} | {count / wall:.1f} | "
                     f"{count / wall:.1f} | {count / cpu:.1f} | {wall:.1f} |")
    torch.set_num_threads(threads)
    return "\n".join(lines) + (
        f"\n\n{count} files of 5 s ({source}). `classify --csv` is timed as a user waits for "
        "the command (`python -m speechbrain_drnsa.cli`: interpreter, imports, loading the model, "
        "spawning and loading the workers, reading, features, model, writing the table); after "
        "start-up: the extra files over the extra time of the same command on two rows. "
        "EncoderClassifier is timed after one warm-up pass (reading, Fbank, normalisation, ECAPA, "
        "classifier), its loading not counted. CPU seconds (user + system, workers and threads "
        "included) depend less on the load on the machine than wall seconds."
    )


def _head(manifest: Path, rows: int) -> Path:
    """A manifest of the first ``rows`` rows of another, beside it."""
    head = manifest.with_name(f"head{rows}.csv")
    head.write_text("".join(manifest.read_text().splitlines(keepends=True)[: rows + 1]))
    return head


def _classify_csv_wall(
    folder: Path, manifest: Path, table: Path, jobs: int, backend: str
) -> tuple[float, float]:
    """Wall and CPU seconds of the ``classify --csv`` command, start to end, in its own process."""
    command = [sys.executable, "-m", "speechbrain_drnsa.cli", "classify", "--csv", str(manifest),
               "--model", str(folder), "--out", str(table), "--jobs", str(jobs),
               "--backend", backend]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=50, help="timed calls per latency")
    parser.add_argument("--files", type=int, default=None, help="EmoDB files (default: all)")
    parser.add_argument("--hour-minutes", type=float, default=60.0, help="long file length")
    parser.add_argument("--corpus-files", type=int, default=96, help="5 s files, corpus section")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="what to measure (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("## Inference: latency, throughput, memory (`benchmarks/bench_inference.py`)\n")
    print(f"Machine: {_machine()}. Targets: {TARGETS}.\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = _model_folder(tmp / "model")
        speech, source = _speech(5.0)
        utterance = tmp / "utterance.wav"
        soundfile.write(utterance, speech, RATE)
        if "latency" in args.sections:
            print(f"### Latency of one 5 s utterance ({source}), one thread\n")
            print(_latency_table(folder, utterance, args.reps))
        files = sorted(EMODB.glob("*.wav"))[: args.files] if EMODB.is_dir() else []
        if "throughput" in args.sections:
            print("\n### Throughput over EmoDB files\n")
            print(_throughput_table(folder, files) if files else "EmoDB not found: not measured.")
        if "memory" in args.sections:
            print(f"\n### Memory on a long file ({source} repeated)\n")
            print(_long_file_table(folder, speech, args.hour_minutes, tmp))
        if "corpus" in args.sections:
            print("\n### A corpus: `classify --csv` beside SpeechBrain's EncoderClassifier\n")
            print(_corpus_table(folder, tmp, args.corpus_files))
        if "latency" in args.sections:
            print(f"\np50/p95 of {args.reps} calls after 3 warm-up calls, the pipelines (stages) "
                  "taking turns; CPU: the process's CPU time; torch.set_num_threads(1) and ONNX "
                  "Runtime with one intra-op thread; the split times each stage alone. The 44.1 "
                  "and 48 kHz files are the 16 kHz utterance resampled (python-soxr, HQ).")


if __name__ == "__main__":
    main()
