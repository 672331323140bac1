"""What an exported model folder's card says about its run, each fact read from the run.

:func:`run_facts` gathers, for the folds being exported, the corpus (as the
training recorded it in the checkpoints,
:func:`~speechbrain_drnsa.data.provenance.corpus_provenance`), the protocol
and its number of folds, the test scores of exactly the weights exported
(each fold's ``metrics.json``, used only when the exported checkpoint is the
one that fold tested), the licence and the model's name. A fact the run does
not hold is None (or absent from ``corpus``): the card then leaves it out
rather than invent it. :func:`~speechbrain_drnsa.inference.model_card.model_card`
writes the card from these facts alone.
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from speechbrain_drnsa.data.provenance import CORPORA
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.results.report import read_fold_metrics, summarize
from speechbrain_drnsa.training.pretrained import resolve_checkpoint

__all__ = ["run_facts", "checkpoint_scores"]

_FOLD = re.compile(r"fold_(\d+)$")


def run_facts(
    checkpoints: Mapping[int, Path],
    corpus: Mapping[str, Any],
    hparams: Mapping[str, Any],
    corpus_name: str | None = None,
    license: str | None = None,
    running: str | None = None,
) -> dict[str, Any]:
    """The facts of the model card of ``checkpoints`` exported as one folder.

    Arguments
    ---------
    checkpoints : mapping of int to pathlib.Path
        Fold number to the exported checkpoint.
    corpus : mapping
        The corpus the checkpoints record (empty: not recorded).
    hparams : mapping
        The first fold's ``hparams.yaml`` as data ({} when there is none).
    corpus_name : str, optional
        A corpus named by the user instead (``export --corpus``): a known one
        (``IEMOCAP``, ``EmoDB``, ``demo``) brings its facts, another only its name.
    license : str, optional
        Hub licence id of the weights given by the user; default: the one the
        corpus imposes, when known.
    running : str, optional
        Process id of a training still running in the experiment folder.

    Returns
    -------
    dict
        ``corpus`` (dict), ``protocol``, ``folds`` (exported fold numbers),
        ``folds_total``, ``scores`` (:func:`~speechbrain_drnsa.results.report.summarize`
        of the exported folds), ``scores_note`` (why there are none),
        ``license``, ``model_name`` and ``running``; None where unknown.

    Example
    -------
    >>> facts = run_facts({0: Path("model.ckpt")}, {"name": "EmoDB"}, {})
    >>> facts["corpus"]["name"], facts["scores"], facts["protocol"], facts["license"]
    ('EmoDB', None, None, None)
    >>> facts["scores_note"]
    'model.ckpt is not inside a fold folder of a run'
    """
    if corpus_name:
        corpus = _named_corpus(corpus_name)
    tested = {fold: checkpoint_scores(path) for fold, path in checkpoints.items()}
    reports = {fold: metrics for fold, (metrics, _) in tested.items() if metrics is not None}
    missing = [note for metrics, note in tested.values() if metrics is None]
    any_report = next(iter(reports.values()), {})
    return {
        "corpus": dict(corpus),
        "protocol": hparams.get("protocol") or any_report.get("protocol"),
        "folds": sorted(checkpoints),
        "folds_total": any_report.get("protocol_folds"),
        "scores": summarize(reports) if not missing else None,
        "scores_note": "; ".join(missing) or None,
        "license": license or corpus.get("license"),
        "model_name": hparams.get("experiment"),
        "running": running,
    }


def checkpoint_scores(checkpoint: Path) -> tuple[dict[str, Any] | None, str]:
    """The test report of ``checkpoint``'s fold if the fold tested these very weights.

    Arguments
    ---------
    checkpoint : pathlib.Path
        An exported checkpoint.

    Returns
    -------
    metrics : dict or None
        The fold's ``metrics.json``; None when it does not score this checkpoint.
    note : str
        Why not, for the card ("" when it does).

    Example
    -------
    >>> checkpoint_scores(Path("runs/fold_2/checkpoints/last.ckpt"))
    (None, 'fold 2 has no test report (metrics.json)')
    """
    fold_folder = next((p for p in checkpoint.parents if _FOLD.match(p.name)), None)
    if fold_folder is None:
        return None, f"{checkpoint.name} is not inside a fold folder of a run"
    fold = fold_folder.name.removeprefix("fold_")
    metrics = read_fold_metrics(fold_folder)
    if metrics is None:
        return None, f"fold {fold} has no test report (metrics.json)"
    try:
        scored = resolve_checkpoint(fold_folder)
    except InputFileError:
        scored = None
    if scored is None or not (scored.is_file() and scored.samefile(checkpoint)):
        return None, (
            f"{checkpoint.name} is not the checkpoint fold {fold} was tested with "
            f"({metrics.get('checkpoint', '?')})"
        )
    return metrics, ""


def _named_corpus(name: str) -> dict[str, Any]:
    """The facts of a corpus the user names: a known one's, else its name alone."""
    known = CORPORA | {facts["name"].lower(): facts for facts in CORPORA.values()}
    return dict(known.get(name.lower(), {"id": name, "name": name}))
