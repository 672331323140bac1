"""Emotion recognition scores: UA, WA, macro-F1, the confusion matrix and a test's record.

The speech emotion literature (Li et al., ICASSP 2019, and IEMOCAP papers in
general) reports the unweighted accuracy UA (the mean of the per-class
recalls), the weighted accuracy WA (the plain accuracy over utterances) and,
more and more, the macro-averaged F1 score. The metrics are torchmetrics
objects, so that Lightning accumulates them over an epoch and torchmetrics
sums their states over every process under DDP before computing.

Per-class scores follow torchmetrics' macro averaging: a class that is
neither in the targets nor predicted is left out of the mean; a class that
is predicted but absent from the targets counts with recall 0.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
)

__all__ = [
    "SCORE_NAMES",
    "Evaluation",
    "confusion_matrix",
    "emotion_scores",
    "scores_by_corpus",
    "scores_from_confusion",
]

#: Names of the scalar scores, in the order reports list them.
SCORE_NAMES = ("UA", "WA", "F1")


@dataclass
class Evaluation:
    """What testing one fold found.

    Arguments
    ---------
    scores : dict
        ``{"UA", "WA", "F1"}`` as floats.
    confusion : list of list of int
        Counts, rows true classes, columns predicted ones.
    labels : list of str
        Class names, in the order of the confusion matrix.
    predictions : list of tuple
        ``(utt_id, true_label, predicted_label)`` sorted by id, every test
        utterance exactly once.
    probabilities : list of list of float, optional
        The class probabilities of each prediction, in ``labels`` order, so
        that several models' outputs can be averaged (an ensemble) later.
    speakers : list of str, optional
        The speaker of each prediction, so that comparisons can resample
        test speakers (:func:`~speechbrain_drnsa.results.stats.speaker_bootstrap`).

    Example
    -------
    >>> ev = Evaluation({"UA": 1.0}, [[1]], ["neu"], [("u1", "neu", "neu")])
    >>> ev.scores["UA"]
    1.0
    """

    scores: dict[str, float]
    confusion: list[list[int]]
    labels: list[str]
    predictions: list[tuple[str, str, str]]
    probabilities: list[list[float]] | None = None
    speakers: list[str] | None = None


def emotion_scores(num_classes: int, prefix: str = "") -> MetricCollection:
    """Build the scalar scores of one evaluation: UA, WA and macro-F1.

    Arguments
    ---------
    num_classes : int
        Number of emotion classes.
    prefix : str
        Put in front of every score name, e.g. ``"valid/"``.

    Returns
    -------
    MetricCollection
        ``{prefix + "UA", prefix + "WA", prefix + "F1"}``, updated with
        ``(predictions, targets)`` as class indices or logits ``(batch, classes)``.

    Example
    -------
    >>> scores = emotion_scores(4, prefix="test/")
    >>> preds = torch.tensor([0, 1, 2, 3, 3, 0])
    >>> targets = torch.tensor([0, 1, 2, 3, 2, 1])
    >>> {k: round(v.item(), 4) for k, v in scores(preds, targets).items()}
    {'test/F1': 0.6667, 'test/UA': 0.75, 'test/WA': 0.6667}
    """
    return MetricCollection(
        {
            "UA": MulticlassRecall(num_classes, average="macro"),
            "WA": MulticlassAccuracy(num_classes, average="micro"),
            "F1": MulticlassF1Score(num_classes, average="macro"),
        },
        prefix=prefix,
    )


def confusion_matrix(num_classes: int) -> MulticlassConfusionMatrix:
    """Build a confusion matrix counter: rows are true classes, columns predicted ones.

    Arguments
    ---------
    num_classes : int
        Number of emotion classes.

    Returns
    -------
    MulticlassConfusionMatrix
        Counts (not normalised), summed over processes under DDP.

    Example
    -------
    >>> matrix = confusion_matrix(3)
    >>> matrix(torch.tensor([0, 2, 2]), torch.tensor([0, 1, 2]))
    tensor([[1, 0, 0],
            [0, 0, 1],
            [0, 0, 1]])
    """
    return MulticlassConfusionMatrix(num_classes)


def scores_from_confusion(matrix: torch.Tensor) -> dict[str, float]:
    """Compute UA, WA and macro-F1 from a confusion matrix of counts.

    Used to check a report: the scores of a fold must follow from its
    confusion matrix.

    Arguments
    ---------
    matrix : torch.Tensor
        ``(classes, classes)`` counts, rows true classes, columns predictions.

    Returns
    -------
    dict
        ``{"UA": float, "WA": float, "F1": float}`` with torchmetrics' rules
        for absent classes (see the module docstring).

    Example
    -------
    >>> scores_from_confusion(torch.tensor([[2, 0], [1, 1]]))
    {'UA': 0.75, 'WA': 0.75, 'F1': 0.7333...}
    """
    matrix = matrix.double()
    true_positives = matrix.diag()
    support = matrix.sum(dim=1)
    predicted = matrix.sum(dim=0)
    # torchmetrics leaves out classes with no target and no prediction
    present = (support + predicted) > 0
    recall = true_positives / support.clamp(min=1)
    f1 = 2 * true_positives / (support + predicted).clamp(min=1)
    return {
        "UA": recall[present].mean().item(),
        "WA": (true_positives.sum() / matrix.sum()).item(),
        "F1": f1[present].mean().item(),
    }


def scores_by_corpus(
    evaluation: Evaluation, corpus_of: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """UA, WA, macro-F1 and test size of each corpus among a test's utterances.

    Arguments
    ---------
    evaluation : Evaluation
        A test's predictions.
    corpus_of : mapping
        Utterance id to its corpus; utterances it lacks are left out.

    Returns
    -------
    dict
        ``{corpus: {"UA", "WA", "F1", "n_test"}}`` from each corpus's own confusion
        matrix (:func:`scores_from_confusion`), corpora sorted; empty when no
        utterance has a corpus.

    Example
    -------
    >>> ev = Evaluation({}, [], ["neu", "ang"], [("x.1", "neu", "neu"), ("x.2", "ang", "neu"),
    ...                                          ("y.1", "ang", "ang")])
    >>> scores_by_corpus(ev, {"x.1": "x", "x.2": "x", "y.1": "y"})["x"]
    {'UA': 0.5, 'WA': 0.5, 'F1': 0.333..., 'n_test': 2}
    """
    index = {label: i for i, label in enumerate(evaluation.labels)}
    matrices: dict[str, torch.Tensor] = {}
    for utt, true, predicted in evaluation.predictions:
        if utt not in corpus_of:
            continue
        matrix = matrices.setdefault(
            corpus_of[utt], torch.zeros(len(index), len(index), dtype=torch.long)
        )
        matrix[index[true], index[predicted]] += 1
    return {
        corpus: {**scores_from_confusion(matrix), "n_test": int(matrix.sum())}
        for corpus, matrix in sorted(matrices.items())
    }
