"""openSMILE functionals into a linear SVM: the classic speech emotion baseline.

The reference that speech emotion recognition papers compare with since the
INTERSPEECH 2009 Emotion Challenge (Schuller et al.): one vector of statistics
(functionals) per utterance, from openSMILE's eGeMAPSv02 (88 features, Eyben
et al. 2016) or ComParE_2016 (6373 features) set, into a linear support vector
machine (scikit-learn's ``SVC(kernel="linear")``, one-against-one like the
WEKA SMO of the challenge baselines, after a ``StandardScaler``).

Two usual forms of standardisation (``normalisation``):

- ``"train"``: each feature standardised with the mean and variance of the
  training part of the fold, as the network's inputs are. Inductive.
- ``"speaker"``: each speaker standardised with their own statistics over all
  of their utterances, **the test speaker included**. This is transductive (it
  uses the test speaker's unlabelled features at training time) and it is what
  SER papers commonly report; it removes much of the speaker variation, so
  compare it only with a network given the same per-speaker normalisation.
- ``"corpus"``: each corpus of a merged manifest standardised with its own
  statistics over all of its utterances, the tested corpus included. Also
  transductive, at the level of a corpus: it needs a corpus's unlabelled
  audio, not its speakers (the network's ``normalization_group: corpus``).

In every form the SVM is trained on the fold's training and validation parts
together (the speakers that are not tested), with the class weights balanced,
and its ``C`` is chosen by cross-validation over those training speakers only
(leave one training speaker out, scored with UA); the test speaker never takes
part in choosing it.

scikit-learn is an optional extra: ``pip install speechbrain-drnsa[baseline]``.
"""

import logging
import time
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechbrain_drnsa.baselines.functionals import extract_functionals
from speechbrain_drnsa.baselines.svm import DEFAULT_C_GRID, fit_predict, speaker_standardise
from speechbrain_drnsa.data.csv_corpora import corpus_of
from speechbrain_drnsa.data.fold_files import load_folds
from speechbrain_drnsa.io import load_json, write_json_atomic, write_text_atomic
from speechbrain_drnsa.results.report import fold_folder, write_fold_report, write_summary
from speechbrain_drnsa.results.scores import (
    SCORE_NAMES,
    Evaluation,
    scores_by_corpus,
    scores_from_confusion,
)

__all__ = ["DEFAULT_NORMALISATIONS", "NORMALISATIONS", "run_baselines", "run_svm_baseline"]

logger = logging.getLogger(__name__)

NORMALISATIONS = ("train", "speaker", "corpus")
#: What :func:`run_baselines` runs unless told: ``corpus`` only means something for several.
DEFAULT_NORMALISATIONS = ("train", "speaker")


def run_svm_baseline(
    manifest_path: str | PathLike,
    folds_path: str | PathLike,
    output_folder: str | PathLike,
    feature_set: str = "eGeMAPSv02",
    normalisation: str = "train",
    cache_dir: str | PathLike | None = None,
    data_root: str | PathLike | None = None,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    class_weight: str | None = "balanced",
    title: str = "",
) -> dict[str, Any]:
    """Run one baseline variant over every fold and write the training runs' reports.

    In each fold the SVM learns from the training and validation parts (the
    speakers not tested) and predicts the test part. The results layout is
    that of the network's runs: ``output_folder/fold_<k>/`` (k from 0) with
    ``metrics.json`` (plus the chosen ``C``), the confusion matrix and the
    predictions, and ``summary.{md,csv,json}`` with per-fold UA, WA, macro-F1,
    their mean and std.

    Arguments
    ---------
    manifest_path : str or PathLike
        SpeechBrain JSON manifest with ``wav``, ``emo`` and ``speaker``.
    folds_path : str or PathLike
        Folds file of the same manifest (``folds_<protocol>.json``).
    output_folder : str or PathLike
        Where the reports go.
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.
    normalisation : str
        ``"train"``, ``"speaker"`` or ``"corpus"`` (both transductive), see the
        module docstring.
    cache_dir : str or PathLike, optional
        Functionals cache; ``output_folder/../functionals_cache`` if None.
    data_root : str or PathLike, optional
        Value of ``{data_root}`` in the manifest's paths.
    c_grid : sequence of float
        Candidate values of C.
    class_weight : str or None
        Passed to :func:`make_svm`.
    title : str
        Heading of ``summary.md``.

    Returns
    -------
    dict
        The summary (``folds``, ``mean``, ``std``, ``wall_time_s``) as in
        ``summary.json``, plus ``confusion``: the confusion matrix summed over
        folds, and ``labels``.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(
            f"unknown normalisation {normalisation!r}; expected one of {', '.join(NORMALISATIONS)}"
        )
    output_folder = Path(output_folder)
    manifest = load_json(manifest_path)
    folds = load_folds(folds_path)
    ids = list(manifest)
    row_of = {utt: i for i, utt in enumerate(ids)}
    labels = sorted({entry["emo"] for entry in manifest.values()})
    targets = np.array([labels.index(manifest[utt]["emo"]) for utt in ids])
    speakers = np.array([manifest[utt]["speaker"] for utt in ids])
    by_corpus = corpus_of(manifest)  # several corpora: scores per test corpus too
    cache_dir = output_folder.parent / "functionals_cache" if cache_dir is None else cache_dir
    features = extract_functionals(manifest_path, feature_set, cache_dir, data_root)
    if normalisation == "speaker":
        features = speaker_standardise(features, speakers)
    elif normalisation == "corpus":
        if len(by_corpus) != len(ids):
            raise ValueError(f"{manifest_path}: normalisation 'corpus' needs a manifest of "
                             "several corpora (a corpus for every utterance)")
        features = speaker_standardise(features, np.array([by_corpus[utt] for utt in ids]))

    reports = {}
    total = np.zeros((len(labels), len(labels)), dtype=int)
    for k, fold in enumerate(folds):
        started = time.monotonic()
        unknown = [utt for utt in fold.train + fold.valid + fold.test if utt not in row_of]
        if unknown:
            raise ValueError(f"{folds_path}: fold {k} names {unknown[0]!r}, not in {manifest_path}")
        train_rows = np.array([row_of[utt] for utt in fold.train + fold.valid])
        test_rows = np.array([row_of[utt] for utt in sorted(fold.test)])
        predicted, probabilities, c = fit_predict(
            features, targets, speakers, train_rows, test_rows, c_grid, class_weight
        )
        confusion = np.zeros_like(total)
        np.add.at(confusion, (targets[test_rows], predicted), 1)
        total += confusion
        evaluation = Evaluation(
            scores=scores_from_confusion(torch.from_numpy(confusion)),
            confusion=confusion.tolist(),
            labels=labels,
            predictions=[
                (ids[row], labels[targets[row]], labels[p]) for row, p in zip(test_rows, predicted)
            ],
            probabilities=probabilities.tolist(),
            speakers=[str(speakers[row]) for row in test_rows],
        )
        reports[k] = write_fold_report(
            fold_folder(output_folder, k),
            evaluation,
            {"C": c, "feature_set": feature_set, "normalisation": normalisation,
             **({"corpora": corpora} if (corpora := scores_by_corpus(evaluation, by_corpus))
                else {}),
             "wall_time_s": time.monotonic() - started},
        )
        logger.info("%s/%s fold %d: UA %.4f (C=%g)", feature_set, normalisation, k,
                    reports[k]["UA"], c)
    write_summary(output_folder, reports, title or f"{feature_set} + linear SVM, {normalisation}")
    summary = load_json(output_folder / "summary.json")
    return {**summary, "labels": labels, "confusion": total.tolist()}


def run_baselines(
    manifest_path: str | PathLike,
    folds_path: str | PathLike,
    output_folder: str | PathLike,
    feature_sets: Sequence[str] = ("eGeMAPSv02", "ComParE_2016"),
    normalisations: Sequence[str] = DEFAULT_NORMALISATIONS,
    cache_dir: str | PathLike | None = None,
    data_root: str | PathLike | None = None,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    title: str = "Classic baselines",
) -> Path:
    """Run every (feature set, normalisation) variant and write one comparison table.

    Each variant's reports go to ``output_folder/<feature_set>_<normalisation>/``
    (see :func:`run_svm_baseline`); ``output_folder/baselines.md`` and
    ``baselines.json`` compare them: mean and std over folds of UA, WA and
    macro-F1, and the recall of each class over all test utterances (every
    utterance is tested once across the folds).

    Arguments
    ---------
    manifest_path : str or PathLike
        SpeechBrain JSON manifest.
    folds_path : str or PathLike
        Its folds file.
    output_folder : str or PathLike
        Where the reports go.
    feature_sets : sequence of str
        Functional sets to run.
    normalisations : sequence of str
        Standardisations to run.
    cache_dir : str or PathLike, optional
        Functionals cache; ``output_folder/functionals_cache`` if None.
    data_root : str or PathLike, optional
        Value of ``{data_root}`` in the manifest's paths.
    c_grid : sequence of float
        Candidate values of C.
    title : str
        Heading of ``baselines.md``.

    Returns
    -------
    pathlib.Path
        Path of ``baselines.md``.

    Example
    -------
    >>> import tempfile
    >>> import soundfile as sf
    >>> from speechbrain_drnsa.data.fold_files import save_folds
    >>> from speechbrain_drnsa.data.folds import leave_one_speaker_out
    >>> folder = Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> manifest = {}
    >>> for spk in "abc":
    ...     for i, (emo, f0) in enumerate([("low", 120), ("high", 300)] * 2):
    ...         t = np.arange(8000) / 16000
    ...         sf.write(folder / f"{spk}{i}.wav", 0.3 * np.sin(2 * np.pi * f0 * t)
    ...                  + 0.01 * rng.normal(size=8000), 16000)
    ...         manifest[f"{spk}{i}"] = {"wav": str(folder / f"{spk}{i}.wav"), "emo": emo,
    ...                                  "speaker": spk}
    >>> _ = write_json_atomic(manifest, folder / "corpus.json")
    >>> _ = save_folds(leave_one_speaker_out(manifest), folder / "folds_loso.json")
    >>> table = run_baselines(folder / "corpus.json", folder / "folds_loso.json",
    ...                       folder / "out", feature_sets=["eGeMAPSv02"], c_grid=[1.0])
    >>> print(table.read_text())
    # Classic baselines
    ...
    | eGeMAPSv02 | train | 1.0000 ± 0.0000 | ...
    """
    output_folder = Path(output_folder)
    cache_dir = output_folder / "functionals_cache" if cache_dir is None else cache_dir
    results = {}
    for feature_set in feature_sets:
        for normalisation in normalisations:
            variant = f"{feature_set}_{normalisation}"
            results[variant] = run_svm_baseline(
                manifest_path, folds_path, output_folder / variant, feature_set, normalisation,
                cache_dir=cache_dir, data_root=data_root, c_grid=c_grid,
                title=f"{title}: {feature_set} + linear SVM, {normalisation} standardisation",
            )
    write_json_atomic(results, output_folder / "baselines.json")
    path = output_folder / "baselines.md"
    write_text_atomic(_comparison_table(title, results), path)
    return path


def _comparison_table(title: str, results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per variant, scores as mean ± std, then pooled per-class recall."""
    labels = next(iter(results.values()))["labels"]
    lines = [
        f"# {title}",
        "",
        f"{len(next(iter(results.values()))['folds'])} folds. UA: mean per-class recall; WA: "
        "accuracy; F1: macro-F1; mean ± std over folds (population std). Recall per class: "
        "over all test utterances of all folds. C chosen per fold by leave-one-speaker-out "
        "over the training speakers; 'speaker' standardisation is transductive.",
        "",
        "| features | standardisation | " + " | ".join(SCORE_NAMES) + " | "
        + " | ".join(f"recall {label}" for label in labels) + " |",
        "|---|---|" + "---|" * (len(SCORE_NAMES) + len(labels)),
    ]
    for variant, result in results.items():
        feature_set, normalisation = variant.rsplit("_", 1)
        scores = [f"{result['mean'][n]:.4f} ± {result['std'][n]:.4f}" for n in SCORE_NAMES]
        confusion = np.array(result["confusion"])
        recall = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
        lines.append(
            f"| {feature_set} | {normalisation} | " + " | ".join(scores) + " | "
            + " | ".join(f"{r:.3f}" for r in recall) + " |"
        )
    return "\n".join(lines) + "\n"
