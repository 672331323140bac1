"""The linear SVM of the classic baseline: standardisation, choice of C, fit and predict.

A ``StandardScaler`` then scikit-learn's ``SVC(kernel="linear")`` (one-against-one,
like the WEKA SMO of the INTERSPEECH 2009 challenge baselines), its ``C`` chosen
by leave-one-speaker-out over the training speakers only, scored with UA.
Per-speaker standardisation (:func:`speaker_standardise`) is the transductive
option SER papers commonly report.

scikit-learn is an optional extra: ``pip install speechbrain-drnsa[baseline]``.
"""

from collections.abc import Sequence

import numpy as np
import torch

from speechbrain_drnsa.results.scores import scores_from_confusion

__all__ = [
    "DEFAULT_C_GRID",
    "choose_c",
    "fit_predict",
    "make_svm",
    "speaker_standardise",
    "unweighted_accuracy",
]

DEFAULT_C_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_INSTALL_HINT = (
    "the classic baseline needs scikit-learn: pip install speechbrain-drnsa[baseline]"
)


def _sklearn():
    """Import the parts of scikit-learn the baseline uses, or say how to install it."""
    try:
        from sklearn import calibration, metrics, model_selection, pipeline, preprocessing, svm
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return metrics, model_selection, pipeline, preprocessing, svm, calibration


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
    metrics, _, pipeline, preprocessing, svm, _ = _sklearn()
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
    _, model_selection, _, preprocessing, svm, _ = _sklearn()
    speakers = np.asarray(speakers)
    num_classes = int(np.max(labels)) + 1
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
            # the package's UA, as the reports count it: a class the held-out speaker
            # lacks (EmoDB's speaker 08 has no disgust) but the SVM predicts has recall 0
            ua[i] += unweighted_accuracy(labels[held], model.predict(cross), num_classes)
    return float(grid[int(np.argmax(ua))])


def unweighted_accuracy(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> float:
    """UA as every report of the package counts it (:func:`scores_from_confusion`).

    Arguments
    ---------
    true, predicted : numpy.ndarray
        Class indices.
    num_classes : int
        Number of classes.

    Returns
    -------
    float
        Mean recall over the classes that are true or predicted.

    Example
    -------
    >>> unweighted_accuracy(np.array([0, 0, 1]), np.array([0, 2, 1]), 3)
    0.5
    """
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true, predicted), 1)
    return scores_from_confusion(torch.from_numpy(confusion))["UA"]


def fit_predict(
    features: np.ndarray,
    labels: np.ndarray,
    speakers: Sequence[str],
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    class_weight: str | None = "balanced",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Choose C on the training rows, fit on them, predict the test rows (and their probabilities).

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
    probabilities : numpy.ndarray
        ``(test rows, classes)`` Platt-scaled class probabilities.
    c : float
        The C chosen on the training speakers.

    Example
    -------
    >>> y = np.tile([0, 1], 6)
    >>> x = y[:, None] * 4.0 + np.linspace(0, 1, 12)[:, None]
    >>> spk = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    >>> pred, prob, c = fit_predict(x, y, spk, np.arange(8), np.arange(8, 12), c_grid=[1.0])
    >>> pred.tolist(), prob.shape, c
    ([0, 1, 0, 1], (4, 2), 1.0)
    """
    speakers = np.asarray(speakers)
    if set(speakers[train_rows]) & set(speakers[test_rows]):
        raise ValueError("a speaker is in both the training and the test rows")
    c = choose_c(
        features[train_rows], labels[train_rows], speakers[train_rows], c_grid, class_weight
    )
    train, test = features[train_rows], features[test_rows]
    model = make_svm(c, class_weight).fit(train, labels[train_rows])
    # Platt-scaled probabilities (for ensembles with a network) from a calibrated copy:
    # the predictions stay the SVM's own
    calibration = _sklearn()[-1]
    calibrated = calibration.CalibratedClassifierCV(make_svm(c, class_weight), cv=3,
                                                    ensemble=False)
    calibrated.fit(train, labels[train_rows])
    return model.predict(test), calibrated.predict_proba(test), c
