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

In both forms the SVM is trained on the fold's training and validation parts
together (the speakers that are not tested), with the class weights balanced,
and its ``C`` is chosen by cross-validation over those training speakers only
(leave one training speaker out, scored with UA); the test speaker never takes
part in choosing it.

scikit-learn is an optional extra: ``pip install speechbrain-drnsa[baseline]``.
"""

import logging
import time
import warnings
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechbrain_drnsa.baselines.functionals import extract_functionals
from speechbrain_drnsa.data.folds import load_folds
from speechbrain_drnsa.io import load_json, write_json_atomic, write_text_atomic
from speechbrain_drnsa.results.report import fold_folder, write_fold_report, write_summary
from speechbrain_drnsa.results.scores import SCORE_NAMES, Evaluation, scores_from_confusion

__all__ = [
    "DEFAULT_C_GRID",
    "NORMALISATIONS",
    "speaker_standardise",
    "make_svm",
    "choose_c",
    "fit_predict",
    "run_svm_baseline",
    "run_baselines",
]

logger = logging.getLogger(__name__)

DEFAULT_C_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
NORMALISATIONS = ("train", "speaker")

_INSTALL_HINT = (
    "the classic baseline needs scikit-learn: pip install speechbrain-drnsa[baseline]"
)


def _sklearn():
    """Import the parts of scikit-learn the baseline uses, or say how to install it."""
    try:
        from sklearn import metrics, model_selection, pipeline, preprocessing, svm
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return metrics, model_selection, pipeline, preprocessing, svm


def speaker_standardise(features: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """Standardise each speaker's rows with that speaker's own mean and std.

    Transductive when the test speaker is among ``speakers``: their statistics
    come from their own (unlabelled) features. A feature constant within one
    speaker becomes 0 for that speaker.

    Arguments
    ---------
    features : numpy.ndarray
        Features, shape ``(utterances, dims)``.
    speakers : sequence of str
        The speaker of each row.

    Returns
    -------
    numpy.ndarray
        Standardised features (float64), same shape: zero mean and unit
        variance within every speaker.

    Example
    -------
    >>> x = np.array([[1.0], [3.0], [10.0], [30.0]])
    >>> speaker_standardise(x, ["a", "a", "b", "b"]).ravel()
    array([-1.,  1., -1.,  1.])
    """
    features = np.asarray(features, dtype=np.float64)
    speakers = np.asarray(speakers)
    if len(speakers) != len(features):
        raise ValueError(f"{len(features)} feature rows but {len(speakers)} speakers")
    out = np.empty_like(features)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        mean = features[rows].mean(axis=0)
        std = features[rows].std(axis=0)
        out[rows] = (features[rows] - mean) / np.where(std > 0, std, 1.0)
    return out


def make_svm(c: float, class_weight: str | None = "balanced"):
    """Build the baseline's classifier: StandardScaler then a linear SVM.

    Arguments
    ---------
    c : float
        The SVM's regularisation parameter ``C``.
    class_weight : str or None
        ``"balanced"`` weighs classes inversely to their frequency (the
        corpora are imbalanced and UA is the main metric); None for equal
        weights.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted pipeline with steps ``scale`` and ``svm``.

    Example
    -------
    >>> make_svm(0.01).named_steps["svm"].C
    0.01
    """
    metrics, _, pipeline, preprocessing, svm = _sklearn()
    # libsvm's one-against-one multi-class SVM, as WEKA's SMO of the classic papers.
    # The linear kernel as a callable makes scikit-learn compute the Gram matrix with
    # BLAS and hand it to libsvm precomputed: the same model as kernel="linear",
    # several times faster on ComParE's 6373 dimensions.
    kernel = metrics.pairwise.linear_kernel
    return pipeline.Pipeline([
        ("scale", preprocessing.StandardScaler()),
        ("svm", svm.SVC(kernel=kernel, C=c, class_weight=class_weight)),
    ])


def choose_c(
    features: np.ndarray,
    labels: np.ndarray,
    speakers: Sequence[str],
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    class_weight: str | None = "balanced",
) -> float:
    """Choose the SVM's C by leave-one-speaker-out cross-validation.

    Give it the training rows only: every speaker passed here is held out in
    turn, the others standardised with their own mean and variance and fitted
    with :func:`make_svm`'s linear SVM, and the C with the best mean UA
    (balanced accuracy) over the held-out speakers wins; ties go to the
    smallest C.

    Arguments
    ---------
    features : numpy.ndarray
        Training features, shape ``(utterances, dims)``.
    labels : numpy.ndarray
        Training labels, one per row.
    speakers : sequence of str
        The speaker of each row; at least two distinct speakers.
    c_grid : sequence of float
        Candidate values of C.
    class_weight : str or None
        Passed to :func:`make_svm`.

    Returns
    -------
    float
        The chosen C.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> y = np.tile([0, 1], 6)
    >>> x = rng.normal(size=(12, 3)) + y[:, None]
    >>> choose_c(x, y, ["a"] * 4 + ["b"] * 4 + ["c"] * 4, c_grid=[0.01, 1.0]) in (0.01, 1.0)
    True
    """
    metrics, model_selection, _, preprocessing, svm = _sklearn()
    speakers = np.asarray(speakers)
    if len(set(speakers)) < 2:
        raise ValueError("choosing C needs at least two training speakers")
    grid = sorted(c_grid)
    ua = np.zeros(len(grid))
    # GridSearchCV over make_svm would compute the same Gram matrix once per C;
    # computing it once per split makes ComParE's search several times faster.
    for train, held in model_selection.LeaveOneGroupOut().split(features, labels, speakers):
        scaler = preprocessing.StandardScaler().fit(features[train])
        seen, unseen = scaler.transform(features[train]), scaler.transform(features[held])
        gram, cross = seen @ seen.T, unseen @ seen.T
        for i, c in enumerate(grid):
            model = svm.SVC(kernel="precomputed", C=c, class_weight=class_weight)
            model.fit(gram, labels[train])
            with warnings.catch_warnings():
                # a held-out speaker may lack a class (EmoDB's speaker 08 has no
                # disgust); UA then averages over the classes that speaker has
                warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
                ua[i] += metrics.balanced_accuracy_score(labels[held], model.predict(cross))
    return float(grid[int(np.argmax(ua))])


def fit_predict(
    features: np.ndarray,
    labels: np.ndarray,
    speakers: Sequence[str],
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    class_weight: str | None = "balanced",
) -> tuple[np.ndarray, float]:
    """Choose C on the training rows, fit on them, predict the test rows.

    Arguments
    ---------
    features : numpy.ndarray
        Features of the whole corpus, already standardised per speaker when
        that form is wanted, shape ``(utterances, dims)``.
    labels : numpy.ndarray
        Label of every row.
    speakers : sequence of str
        Speaker of every row.
    train_rows, test_rows : numpy.ndarray
        Integer row indices of the training and test parts.
    c_grid : sequence of float
        Candidate values of C.
    class_weight : str or None
        Passed to :func:`make_svm`.

    Returns
    -------
    predictions : numpy.ndarray
        Predicted label of every test row, in ``test_rows`` order.
    c : float
        The C chosen on the training speakers.

    Example
    -------
    >>> y = np.tile([0, 1], 6)
    >>> x = y[:, None] * 4.0 + np.linspace(0, 1, 12)[:, None]
    >>> spk = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    >>> pred, c = fit_predict(x, y, spk, np.arange(8), np.arange(8, 12), c_grid=[1.0])
    >>> pred.tolist(), c
    ([0, 1, 0, 1], 1.0)
    """
    speakers = np.asarray(speakers)
    if set(speakers[train_rows]) & set(speakers[test_rows]):
        raise ValueError("a speaker is in both the training and the test rows")
    c = choose_c(
        features[train_rows], labels[train_rows], speakers[train_rows], c_grid, class_weight
    )
    model = make_svm(c, class_weight).fit(features[train_rows], labels[train_rows])
    return model.predict(features[test_rows]), c


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
        ``"train"`` or ``"speaker"`` (transductive), see the module docstring.
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
    cache_dir = output_folder.parent / "functionals_cache" if cache_dir is None else cache_dir
    features = extract_functionals(manifest_path, feature_set, cache_dir, data_root)
    if normalisation == "speaker":
        features = speaker_standardise(features, speakers)

    reports = {}
    total = np.zeros((len(labels), len(labels)), dtype=int)
    for k, fold in enumerate(folds):
        started = time.monotonic()
        unknown = [utt for utt in fold.train + fold.valid + fold.test if utt not in row_of]
        if unknown:
            raise ValueError(f"{folds_path}: fold {k} names {unknown[0]!r}, not in {manifest_path}")
        train_rows = np.array([row_of[utt] for utt in fold.train + fold.valid])
        test_rows = np.array([row_of[utt] for utt in sorted(fold.test)])
        predicted, c = fit_predict(
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
        )
        reports[k] = write_fold_report(
            fold_folder(output_folder, k),
            evaluation,
            {"C": c, "feature_set": feature_set, "normalisation": normalisation,
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
    normalisations: Sequence[str] = NORMALISATIONS,
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
    >>> from speechbrain_drnsa.data.folds import leave_one_speaker_out, save_folds
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
