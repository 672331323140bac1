"""The ``speechbrain-drnsa`` command line: one subcommand per task.

Each subcommand is a thin shell over a library function, which stays the
documented way to do the same thing from Python.
"""

import argparse
import importlib.util
import logging
import sys
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def _window_seconds(text: str) -> float:
    """``--window``: seconds within the range the recognizer accepts, or a usage error."""
    from speechbrain_drnsa.inference.inputs import check_window

    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"window must be a number of seconds, got {text!r}")
    try:
        return check_window(seconds)[0]
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _make_demo_corpus(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.data.demo import make_demo_corpus

    make_demo_corpus(args.out, seed=args.seed)
    print(f"Demo corpus written to {args.out}")
    return 0


def _extract(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.features.cache import extract_corpus

    try:
        report = extract_corpus(
            args.manifests,
            cache_dir=args.cache,
            jobs=args.jobs,
            shard=args.shard,
            data_root=args.data_root,
        )
    except ValueError as err:  # InputFileError included: a bad manifest or option
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{report.extracted} extracted, {report.reused} reused, {len(report.failures)} failed")
    if report.failures:
        print(f"{len(report.failures)} file(s) without features:")
        for wav, reason in sorted(report.failures.items()):
            print(f"  {wav}: {reason}")
    return 0 if report.ok else 1


def _baseline(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.baselines.functionals_svm import run_baselines

    try:
        table = run_baselines(
            args.manifest,
            args.folds,
            args.out,
            feature_sets=args.feature_sets,
            normalisations=args.normalisations,
            cache_dir=args.cache,
            data_root=args.data_root,
        )
    except (ValueError, ImportError) as err:  # InputFileError included; sklearn missing
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table.read_text())
    return 0


def _compare(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.results.compare import comparison_table, manifest_speakers

    experiments = {}
    for item in args.experiments:
        name, equals, folder = item.rpartition("=")
        experiments[name if equals else folder] = folder
    try:
        speakers = manifest_speakers(args.speakers) if args.speakers else None
        table = comparison_table(experiments, paired_with=args.paired_with, speakers=speakers,
                                 resamples=args.resamples, seed=args.bootstrap_seed)
    except ValueError as err:  # InputFileError: a folder without finished folds; a bad row
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table, end="")
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.results.ensemble import write_ensemble

    try:
        summary = write_ensemble(args.runs, args.out)
    except ValueError as err:  # InputFileError: a run without finished folds or probabilities
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary.read_text(), end="")
    return 0


def _export(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.inference import export

    try:
        out = export(
            args.source, args.out_dir, corpus=args.corpus, license=args.license, onnx=args.onnx,
            partial=args.partial, cross_corpus=args.cross_corpus,
        )
    except (ValueError, ImportError) as err:  # InputFileError included; onnx extra missing
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Model folder written to {out}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    if args.csv or not args.inputs or args.out or args.shard or args.jobs != 1:
        return _classify_corpus(args)
    from tqdm import tqdm

    from speechbrain_drnsa.inference import EmotionRecognizer
    from speechbrain_drnsa.inference.batch import (
        classify_paths, expand_inputs, format_json_line, format_table_row,
    )

    try:
        recognizer = EmotionRecognizer.from_hparams(
            args.model, backend=args.backend,
            run_opts={"precision": args.precision, "device": args.device},
        )
        if args.speaker_dir:
            recognizer.enrol("speaker", args.speaker_dir)
        segments = _segment_lengths(args, recognizer) if args.vad else None
    except (ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    paths = expand_inputs(args.inputs)
    if not args.json:
        print("\t".join(["file", "label", "confidence", *recognizer.labels]))
    failures = []
    speaker = "speaker" if args.speaker_dir else None
    progress = tqdm(total=len(paths), file=sys.stderr, disable=len(paths) < 2, unit="file")
    for path, result, reason in classify_paths(recognizer, paths, args.window, speaker, segments):
        progress.update()
        if result is None:
            failures.append(reason)
            continue
        for warning in result.warnings:
            progress.write(f"warning: {warning}", file=sys.stderr)
        lines = (
            [format_json_line(result, recognizer.labels)]
            if args.json
            else format_table_row(result, recognizer.labels)
        )
        progress.write("\n".join(lines), file=sys.stdout)
    progress.close()
    if failures:
        print(f"{len(failures)} of {len(paths)} file(s) not classified:", file=sys.stderr)
        for reason in failures:
            print(f"  {reason}", file=sys.stderr)
    return 1 if failures or not paths else 0


def _classify_corpus(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.inference.corpus import classify_corpus

    if args.speaker_dir:
        print("error: --csv enrols the manifest's speakers (its speaker column), not "
              "--speaker-dir", file=sys.stderr)
        return 2
    if args.vad:
        print("error: --vad classifies the speech segments of FILE arguments; --csv classifies "
              "each manifest row whole", file=sys.stderr)
        return 2
    if not args.csv or args.inputs or not args.out:
        print("error: give FILE_OR_DIR arguments, or --csv MANIFEST with --out TABLE "
              "(--jobs and --shard go with --csv)", file=sys.stderr)
        return 2
    try:
        report = classify_corpus(
            args.model, args.csv, args.out, jobs=args.jobs, shard=args.shard,
            window_s=args.window, backend=args.backend, precision=args.precision,
            output_format=args.format,
        )
    except (ValueError, ImportError) as err:  # InputFileError included: a bad manifest or table
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{report.classified} row(s) classified, {report.resumed} already in {report.table}, "
          f"{len(report.failures)} failed", file=sys.stderr)
    if report.failures:
        print(f"failed rows and reasons: {report.errors}", file=sys.stderr)
    return 0 if report.ok else 1


def _merge(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.inference.corpus import merge_tables

    try:
        out = merge_tables(args.parts, args.out)
    except ValueError as err:  # InputFileError included
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Merged table written to {out}")
    return 0


def _segment_lengths(args: argparse.Namespace, recognizer):
    """``--vad``'s segment rules, its model loaded now (a missing extra fails before any file)."""
    from speechbrain_drnsa.inference.vad import SegmentLengths, load_vad

    recognizer.vad = load_vad()
    given = {"merge_gap_s": args.merge_gap, "min_s": args.min_segment, "max_s": args.max_segment}
    return SegmentLengths(**{name: value for name, value in given.items() if value is not None})


def _add_vad_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--merge-gap", type=float, default=None, metavar="S",
        help="speech segments: speech across shorter pauses is one segment (default 0.5)",
    )
    parser.add_argument(
        "--min-segment", type=float, default=None, metavar="S",
        help="speech segments: shorter ones are widened to this (default 1)",
    )
    parser.add_argument(
        "--max-segment", type=float, default=None, metavar="S",
        help="speech segments: longer ones are split in equal parts (default 10)",
    )


def _explain(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.inference import EmotionRecognizer
    from speechbrain_drnsa.inference.explain import explain_file, plot_explanation

    try:
        recognizer = EmotionRecognizer.from_hparams(args.model)
        if args.speaker_dir:
            recognizer.enrol("speaker", args.speaker_dir)
        explanation = explain_file(
            recognizer, args.file, heads=args.heads, window_s=args.window,
            speaker="speaker" if args.speaker_dir else None,
        )
        out = plot_explanation(explanation, args.out)
    except (ValueError, ImportError) as err:  # InputFileError included
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.file}: {explanation.label}; figure written to {out}")
    return 0


def _timeline(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.inference import EmotionRecognizer
    from speechbrain_drnsa.inference.timeline import (
        draw_timeline, make_timeline, write_timeline_data,
    )

    try:
        recognizer = EmotionRecognizer.from_hparams(args.model)
        if args.speaker_dir:
            recognizer.enrol("speaker", args.speaker_dir)
        vad = not args.windows and importlib.util.find_spec("silero_vad") is not None
        if not vad and not args.windows:
            logger.info("Silero VAD is not installed (the vad extra): the model's windows instead")
        timeline = make_timeline(
            recognizer, args.file, speaker="speaker" if args.speaker_dir else None, vad=vad,
            **({"lengths": _segment_lengths(args, recognizer)} if vad else {}),
        )
        written = [draw_timeline(timeline, args.out)]
        written += [write_timeline_data(timeline, out) for out in (args.json, args.csv) if out]
    except (ValueError, ImportError) as err:  # InputFileError included
        print(f"error: {err}", file=sys.stderr)
        return 2
    for warning in timeline.result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    label = timeline.result.label or "no speech"
    print(f"{args.file}: {label}, {len(timeline.result.windows)} {timeline.source}; "
          f"written: {', '.join(map(str, written))}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:  # the web stack is the serve extra's: the other subcommands never import it
        from speechbrain_drnsa.serve import UploadLimits, serve

        limits = UploadLimits(int(args.max_mb * 2**20), args.max_seconds)
        serve(args.model, host=args.host, port=args.port, limits=limits, device=args.device)
    except (ValueError, ImportError) as err:  # InputFileError included: a bad model folder
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _push(args: argparse.Namespace) -> int:
    from speechbrain_drnsa.inference import push

    try:
        url = push(args.folder, args.repo_id, private=args.private)
    except (ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Uploaded {args.folder} to {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``speechbrain-drnsa``.

    Returns
    -------
    argparse.ArgumentParser
        The parser, one subparser per subcommand.

    Example
    -------
    >>> parser = build_parser()
    >>> parser.parse_args(["make-demo-corpus", "demo"]).out
    'demo'
    """
    parser = argparse.ArgumentParser(
        prog="speechbrain-drnsa", description="Speech emotion recognition with DRN-MHSA."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "make-demo-corpus", help="write a small synthetic corpus in IEMOCAP's on-disk layout"
    )
    demo.add_argument("out", help="folder to write the corpus to")
    demo.add_argument("--seed", type=int, default=1234)
    demo.set_defaults(func=_make_demo_corpus)

    extract = commands.add_parser(
        "extract", help="extract the 17 openSMILE LLDs of every utterance into a cache"
    )
    extract.add_argument("manifests", nargs="+", help="SpeechBrain JSON manifests")
    extract.add_argument("--cache", required=True, help="feature cache folder")
    extract.add_argument("--jobs", type=int, default=1, help="worker processes")
    extract.add_argument("--shard", default=None, help="K/N: extract only share K of N")
    extract.add_argument(
        "--data-root", default=None, help="value of {data_root} in the manifests' wav paths"
    )
    extract.set_defaults(func=_extract)

    baseline = commands.add_parser(
        "baseline",
        help="classic baseline: openSMILE functionals into a linear SVM, in the network's folds",
    )
    baseline.add_argument("manifest", help="SpeechBrain JSON manifest (wav, emo, speaker)")
    baseline.add_argument("folds", help="its folds file, e.g. folds_loso.json")
    baseline.add_argument("--out", required=True, help="results folder")
    baseline.add_argument(
        "--feature-sets", nargs="+", default=["eGeMAPSv02", "ComParE_2016"],
        choices=["eGeMAPSv02", "ComParE_2016"],
    )
    baseline.add_argument(
        "--normalisations", nargs="+", default=["train", "speaker"], choices=["train", "speaker"],
        help="standardise on the training part, or per speaker (transductive)",
    )
    baseline.add_argument("--cache", default=None, help="functionals cache folder")
    baseline.add_argument(
        "--data-root", default=None, help="value of {data_root} in the manifest's wav paths"
    )
    baseline.set_defaults(func=_baseline)

    compare = commands.add_parser(
        "compare", help="one markdown table of finished experiments (scores over their folds)"
    )
    compare.add_argument(
        "experiments", nargs="+", metavar="[NAME=]FOLDER",
        help="experiment folders results/<experiment>/<seed>, each optionally named NAME=",
    )
    compare.add_argument(
        "--paired-with", nargs="*", default=None, metavar="NAME",
        help="rows to compare every other row with: Wilcoxon signed-rank over folds (each "
        "fold's UA averaged over a row's seeds) and a speaker-cluster bootstrap of the pooled UA "
        "difference (default: the first row; none given: no comparison)",
    )
    compare.add_argument(
        "--resamples", type=int, default=10_000,
        help="speaker-bootstrap resamples (default 10000; 0: no bootstrap, no predictions read)",
    )
    compare.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resampling")
    compare.add_argument(
        "--speakers", default=None, metavar="MANIFEST",
        help="the corpus's JSON manifest (a speaker per utterance), for runs whose "
        "predictions.csv has no speaker column",
    )
    compare.set_defaults(func=_compare)

    ensemble = commands.add_parser(
        "ensemble",
        help="the ensemble of finished runs of the same folds: mean class probabilities per fold",
    )
    ensemble.add_argument("out", help="folder for the ensemble's reports (the layout of a run)")
    ensemble.add_argument("runs", nargs="+", help="run folders results/<experiment>/<seed>")
    ensemble.set_defaults(func=_ensemble)

    export = commands.add_parser(
        "export", help="write a hub-ready model folder from a checkpoint, fold or experiment"
    )
    export.add_argument(
        "source", help="a .ckpt, a finished fold_<k> folder or results/<exp>/<seed>"
    )
    export.add_argument("out_dir", help="the model folder to write")
    export.add_argument(
        "--corpus", default=None,
        help="corpus named in the model card (default: the one the training recorded)",
    )
    export.add_argument(
        "--license", default=None,
        help="hub licence id of the weights (default: the corpus's, where known)",
    )
    export.add_argument(
        "--onnx", action="store_true", help="also write model.onnx (needs the onnx extra)"
    )
    export.add_argument(
        "--partial", action="store_true",
        help="export the finished folds of a run whose training is still running",
    )
    export.add_argument(
        "--cross-corpus", default=None, metavar="FOLDER",
        help="a run of the same recipe with protocol leave_one_corpus_out (several corpora): "
        "its UA per test corpus goes to the model card",
    )
    export.set_defaults(func=_export)

    classify = commands.add_parser("classify", help="classify the emotion of audio files")
    classify.add_argument("inputs", nargs="*", metavar="FILE_OR_DIR")
    classify.add_argument("--model", required=True, help="model folder or hub id (owner/name)")
    classify.add_argument("--json", action="store_true", help="one JSON object per line")
    classify.add_argument(
        "--window", type=_window_seconds, default=None,
        help="window in seconds for long files, 0.25 to 600 (hop: half)",
    )
    classify.add_argument(
        "--speaker-dir", default=None, help="files of the one speaker of all inputs, to enrol"
    )
    classify.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch",
        help="run the torch models or the folder's model.onnx (export --onnx)",
    )
    classify.add_argument(
        "--precision", choices=["fp32", "bf16"], default="fp32",
        help="torch models in fp32 (exact) or bfloat16 (faster where the CPU has it)",
    )
    classify.add_argument(
        "--device", default="cpu", help="torch device of the models: cpu, cuda, cuda:1 ..."
    )
    corpus = classify.add_argument_group(
        "a corpus", "--csv MANIFEST --out TABLE: every row of a manifest into one table"
    )
    corpus.add_argument(
        "--csv", default=None, metavar="MANIFEST",
        help="CSV with a path column (relative to the CSV's folder), an optional speaker column "
        "(a per-speaker model enrols each speaker from their rows) and any others, kept",
    )
    corpus.add_argument(
        "--out", default=None, metavar="TABLE",
        help="output table (.csv, or .jsonl for JSON lines); rows already in it are skipped",
    )
    corpus.add_argument("--format", choices=["csv", "jsonl"], default=None,
                        help="output format (default: by TABLE's extension)")
    corpus.add_argument("--jobs", type=int, default=1, help="worker processes")
    corpus.add_argument(
        "--shard", default=None, metavar="K/N",
        help="classify only share K of N (1 <= K <= N; a speaker's rows stay together); "
        "join the shards' tables with merge",
    )
    classify.add_argument(
        "--vad", action="store_true",
        help="classify each speech segment Silero VAD finds (the vad extra), not windows",
    )
    _add_vad_options(classify)
    classify.set_defaults(func=_classify)

    merge = commands.add_parser(
        "merge", help="join the tables of classify --csv --shard runs, in manifest order"
    )
    merge.add_argument("out", help="the merged table")
    merge.add_argument("parts", nargs="+", help="the shards' tables (all .csv or all .jsonl)")
    merge.set_defaults(func=_merge)

    explain = commands.add_parser(
        "explain", help="draw a file's waveform, LLDs and the model's last self-attention"
    )
    explain.add_argument("file", help="the audio file")
    explain.add_argument("--model", required=True, help="model folder or hub id (owner/name)")
    explain.add_argument("--out", required=True, help="image to write (.png, .pdf, .svg)")
    explain.add_argument("--heads", action="store_true", help="also draw each attention head")
    explain.add_argument(
        "--window", type=_window_seconds, default=None,
        help="window in seconds for long files, 0.25 to 600 (hop: half)",
    )
    explain.add_argument(
        "--speaker-dir", default=None, help="files of the file's speaker, to enrol"
    )
    explain.set_defaults(func=_explain)

    timeline = commands.add_parser(
        "timeline",
        help="draw a recording's waveform, speech segments and class probabilities over time",
    )
    timeline.add_argument("file", help="the audio file")
    timeline.add_argument("--model", required=True, help="model folder or hub id (owner/name)")
    timeline.add_argument("--out", required=True, help="image to write (.png, .pdf, .svg)")
    timeline.add_argument("--json", default=None, help="also write its numbers to this .json")
    timeline.add_argument("--csv", default=None, help="also write one row per segment to this .csv")
    timeline.add_argument(
        "--windows", action="store_true",
        help="classify the model's windows, not speech segments (the default when the vad "
        "extra is missing)",
    )
    timeline.add_argument(
        "--speaker-dir", default=None, help="files of the file's speaker, to enrol"
    )
    _add_vad_options(timeline)
    timeline.set_defaults(func=_timeline)

    serve = commands.add_parser(
        "serve", help="a local web page to upload or record speech, and POST /classify (JSON)"
    )
    serve.add_argument("--model", required=True, help="model folder or hub id (owner/name)")
    serve.add_argument(
        "--host", default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every network)",
    )
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--max-mb", type=float, default=64.0,
                       help="largest upload in MiB (default 64)")
    serve.add_argument("--max-seconds", type=float, default=300.0,
                       help="longest audio in seconds (default 300)")
    serve.add_argument(
        "--device", default="cpu", help="torch device of the models: cpu, cuda, cuda:1 ..."
    )
    serve.set_defaults(func=_serve)

    push = commands.add_parser("push", help="upload a model folder to the Hugging Face Hub")
    push.add_argument("folder", help="a folder written by export")
    push.add_argument("repo_id", help="owner/name")
    push.add_argument("--private", action="store_true")
    push.set_defaults(func=_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
