"""Export trained models into a hub-ready folder that loads without running code.

:func:`export` takes one fold's checkpoint, a finished fold folder (the
weights its test scored, averaged checkpoints included), or an experiment
folder (``results/<experiment>/<seed>``: every finished fold, used as an
ensemble; refused while a training still runs in it, unless ``partial``) and
writes::

    model.safetensors   fold_<k>.model.* weights, fold_<k>.normalizer.{mean,std,count}
    hyperparams.yaml    plain data: architecture spec, labels, features, windows
    label_encoder.txt   SpeechBrain's CategoricalEncoder format
    README.md           model card with the hub's metadata block, facts from the run
    model.onnx          with ``onnx=True``: the ensemble as one ONNX graph (removed
                        otherwise, so no earlier export's graph is left beside new weights)

The architecture comes from the model yaml each checkpoint carries, read as
data (:func:`~speechbrain_drnsa.inference.architecture.spec_from_model_yaml`);
the written folder is then loaded back with
:func:`~speechbrain_drnsa.inference.folder.load_model_folder` as a check.
"""

import io
import re
import statistics
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import ruamel.yaml
import safetensors.torch
import torch

from speechbrain_drnsa import __version__
from speechbrain_drnsa.data.csv_corpora import read_corpora_record
from speechbrain_drnsa.data.folds import CROSS_CORPUS_PROTOCOLS
from speechbrain_drnsa.data.provenance import corpus_provenance
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.lld_sets import OpenSmileLLDSet, frame_extractor
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.inference.architecture import spec_from_model_yaml
from speechbrain_drnsa.inference.folder import (
    CARD_NAME,
    CONFIG_NAME,
    LABELS_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
    label_encoder_text,
    load_model_folder,
)
from speechbrain_drnsa.inference.model_card import model_card
from speechbrain_drnsa.inference.run_facts import run_facts
from speechbrain_drnsa.io import (
    remove_stale_temporaries, write_bytes_atomic, write_text_atomic,
)
from speechbrain_drnsa.results.compare import read_runs
from speechbrain_drnsa.results.report import corpus_means, read_finished_folds
from speechbrain_drnsa.training.checkpoint import load_checkpoint
from speechbrain_drnsa.training.lock import lock_holder
from speechbrain_drnsa.training.module import CHECKPOINT_KEY
from speechbrain_drnsa.training.pretrained import resolve_checkpoint

__all__ = ["config_yaml_text", "export", "find_checkpoints"]

_NORMALIZER_CLASS = "speechbrain_drnsa.features.normalize.FeatureNormalizer"
# the state dict's parts a model folder keeps
_PARTS = ("model.", "normalizer.", "functionals_normalizer.")
_FOLD = re.compile(r"fold_(\d+)$")


def find_checkpoints(source: str | PathLike) -> dict[int, Path]:
    """The checkpoint of every fold ``source`` stands for.

    Arguments
    ---------
    source : str or PathLike
        A ``.ckpt`` file, a finished ``fold_<k>`` folder, or an experiment
        folder holding finished ``fold_<k>`` folders.

    Returns
    -------
    dict of int to pathlib.Path
        Fold number to the checkpoint its test scored
        (:func:`~speechbrain_drnsa.training.pretrained.resolve_checkpoint`;
        fold 0 for a file outside a ``fold_<k>`` folder).

    Raises
    ------
    InputFileError
        If ``source`` is none of these.

    Example
    -------
    >>> import tempfile
    >>> find_checkpoints(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...: neither a checkpoint file, a finished fold ...
    """
    path = Path(source)
    folds = read_finished_folds(path) if path.is_dir() else {}
    if folds:
        return {fold: resolve_checkpoint(path / f"fold_{fold}") for fold in sorted(folds)}
    try:
        checkpoint = resolve_checkpoint(path)
    except InputFileError:
        raise InputFileError(
            path, "neither a checkpoint file, a finished fold folder nor an experiment folder "
            "with finished folds: nothing to export"
        ) from None
    fold = next((int(m.group(1)) for p in checkpoint.parents if (m := _FOLD.match(p.name))), 0)
    return {fold: checkpoint}


def export(
    source: str | PathLike,
    out_dir: str | PathLike,
    corpus: str | None = None,
    license: str | None = None,
    window_s: float = 10.0,
    hop_s: float = 5.0,
    onnx: bool = False,
    partial: bool = False,
    cross_corpus: str | PathLike | None = None,
) -> Path:
    """Write a hub-ready model folder from trained checkpoints.

    Arguments
    ---------
    source : str or PathLike
        See :func:`find_checkpoints`.
    out_dir : str or PathLike
        The model folder to write (created; files in it are replaced).
    corpus : str, optional
        Training corpus named in the model card instead of the one the run
        recorded (:mod:`~speechbrain_drnsa.inference.run_facts`).
    license : str, optional
        Hub licence identifier of the weights; default: the one the corpus
        imposes where known (``other`` for IEMOCAP's agreement), else none.
    window_s, hop_s : float
        Default window and hop, in seconds, for classifying long files.
    onnx : bool
        Also write ``model.onnx``, checked against torch
        (:func:`~speechbrain_drnsa.inference.onnx_export.export_onnx`; needs
        the ``onnx`` extra). Without it, a ``model.onnx`` already in
        ``out_dir`` is removed.
    partial : bool
        Export the finished folds of an experiment folder in which a training
        is still running (refused otherwise); the card says how many of the
        protocol's folds it holds.
    cross_corpus : str or PathLike, optional
        A finished run (or every seed of an experiment) of the same recipe with a
        cross-corpus protocol (``leave_one_corpus_out``): its UA per test corpus goes
        to the card beside the source's in-corpus UA per corpus.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    InputFileError
        If a checkpoint is not the package's, its folds disagree (labels,
        architecture, features, corpus) or its model is not built from the
        package's lobes; if a training runs in ``source`` and ``partial`` is false.
    """
    checkpoints = find_checkpoints(source)
    running = _running_training(Path(source), checkpoints, partial)
    remove_stale_temporaries(out_dir)  # left by an export that was killed
    blocks, tensors = {}, {}
    for fold, path in checkpoints.items():
        checkpoint = load_checkpoint(path)
        blocks[fold] = _describe(path, checkpoint, _fold_hparams(path))
        for name, tensor in checkpoint["state_dict"].items():
            # the training corpus's per-speaker statistics (extra state) stay behind: a user
            # enrols their own speakers (EmotionRecognizer.enrol)
            if name.startswith(_PARTS) and isinstance(tensor, torch.Tensor):
                tensors[f"fold_{fold}.{name}"] = tensor.contiguous()
    first_fold = min(blocks)
    for fold, block in blocks.items():
        for key, value in block.items():
            if key != "hparams" and value != blocks[first_fold][key]:
                raise InputFileError(
                    checkpoints[fold], f"{key} differs from fold {first_fold}'s: cannot ensemble"
                )
    block = blocks[first_fold]
    _check_ssl_export(block, checkpoints[first_fold], onnx)
    extractor = frame_extractor(block["frame_features"], block["ssl"])
    config = {
        "format": 1,
        "library": "speechbrain_drnsa",
        "package_version": __version__,
        "labels": block["labels"],
        "folds": sorted(blocks),
        "ensemble": "mean_probability",
        "model": block["model"],
        "normalizer": {
            "class": "FeatureNormalizer", "args": {"num_features": _num_features(extractor)}
        },
        "features": _features_config(extractor, block),
        "speaker_normalization": block["speaker_normalization"],
        "inference_window": {"length_s": float(window_s), "hop_s": float(hop_s)},
    }
    if block["functionals"]:
        size = tensors[f"fold_{first_fold}.functionals_normalizer.mean"].shape[0]
        config["functionals"] = {"extractor": "OpenSmileFunctionals",
                                 "feature_set": block["functionals"], "size": int(size)}
        config["functionals_normalizer"] = {
            "class": "FeatureNormalizer", "args": {"num_features": int(size)}
        }
    facts = run_facts(checkpoints, block["corpus"], block["hparams"], corpus, license, running)
    out = Path(out_dir)
    # an earlier export's graph must not outlive the weights it was made from
    (out / ONNX_NAME).unlink(missing_ok=True)
    write_bytes_atomic(safetensors.torch.save(tensors, {"format": "pt"}), out / WEIGHTS_NAME)
    write_text_atomic(config_yaml_text(config), out / CONFIG_NAME)
    write_text_atomic(label_encoder_text(config["labels"]), out / LABELS_NAME)
    corpora = _corpora(Path(source), checkpoints, cross_corpus)
    write_text_atomic(model_card(config, facts | {"corpora": corpora}), out / CARD_NAME)
    loaded = load_model_folder(out)  # what was written loads, and fits its config
    if onnx and loaded.functionals_normalizers:
        raise InputFileError(
            source, "ONNX export of a model that takes utterance functionals is not supported "
            "yet; the model folder (torch backend) was written"
        )
    if onnx:
        from speechbrain_drnsa.inference.onnx_export import export_onnx

        export_onnx(loaded)
    return out


def config_yaml_text(config: Mapping[str, Any]) -> str:
    """``hyperparams.yaml`` text: plain yaml, keys in the given order, no tags.

    Arguments
    ---------
    config : mapping
        Plain data.

    Returns
    -------
    str
        The yaml text.

    Example
    -------
    >>> print(config_yaml_text({"labels": ["neu", "ang"], "folds": [0]}), end="")
    # speechbrain_drnsa model folder: plain data only, read without running code.
    labels: [neu, ang]
    folds: [0]
    """
    dumper = ruamel.yaml.YAML(typ="safe", pure=True)
    dumper.sort_base_mapping_type_on_output = False
    dumper.default_flow_style = None  # short lists inline, mappings as blocks
    stream = io.StringIO()
    dumper.dump(dict(config), stream)
    header = "# speechbrain_drnsa model folder: plain data only, read without running code.\n"
    return header + stream.getvalue()


def _describe(
    path: Path, checkpoint: Mapping[str, Any], hparams: Mapping[str, Any]
) -> dict[str, Any]:
    """What a checkpoint's block says about its model, with defaults from the fold's hparams."""
    block = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(block, Mapping) or "model_config" not in block:
        raise InputFileError(path, f"not a checkpoint of speechbrain_drnsa (no {CHECKPOINT_KEY!r})")
    if block.get("normalizer_class") != _NORMALIZER_CLASS:
        raise InputFileError(
            path, f"normaliser {block.get('normalizer_class')} is not {_NORMALIZER_CLASS}"
        )
    model_config = block["model_config"]
    return {
        "labels": list(block["labels"]),
        "model": spec_from_model_yaml(
            model_config["yaml"], model_config.get("overrides"), model_config.get("file", path)
        ),
        "speaker_normalization": bool(
            block.get("speaker_normalization", hparams.get("speaker_normalization", False))
        ),
        "feature_config_hash": block.get("feature_config_hash", OpenSmileLLD().config_hash),
        "functionals": block.get("functionals"),
        "frame_features": block.get("frame_features", hparams.get("frame_features")),
        "ssl": block.get("ssl"),
        # recorded by the training; a run older than that record: what its hparams tell
        "corpus": block.get("corpus") or corpus_provenance(hparams),
        "hparams": hparams,
    }


def _features_config(
    extractor: OpenSmileLLD | OpenSmileLLDSet, block: Mapping[str, Any]
) -> dict[str, Any]:
    """How the model's frames are computed: the extractor, its columns, rate and hop."""
    features = {"extractor": type(extractor).__name__}
    if block["frame_features"]:
        features["feature_set"] = block["frame_features"]
    if block["ssl"]:  # where the SSL weights come from: their own source, not this folder
        features["ssl"] = dict(block["ssl"])
    else:  # an SSL model's thousands of columns have no names worth listing
        features["names"] = list(extractor.feature_names)
    features.update(config_hash=block["feature_config_hash"], sample_rate=extractor.sample_rate)
    if isinstance(extractor, OpenSmileLLD):  # the sets' LLDs have windows of several lengths
        features["frame_window"] = extractor.window
    features["frame_hop"] = extractor.hop
    return features


def _num_features(extractor: Any) -> int:
    """Values per frame the normaliser standardises."""
    return getattr(extractor, "num_features", None) or len(extractor.feature_names)


def _check_ssl_export(block: Mapping[str, Any], checkpoint: Path, onnx: bool) -> None:
    """Refuse what a model folder cannot hold of an SSL front end, before writing anything."""
    ssl = block["ssl"]
    if ssl is None:
        return
    if not ssl.get("freeze", True):
        raise InputFileError(
            checkpoint, "a model whose SSL front end was fine-tuned (ssl_freeze: false) cannot "
            "be exported yet: a model folder loads the SSL weights from their source, and "
            "these changed in training"
        )
    if onnx:
        raise InputFileError(
            checkpoint, f"ONNX export of a model on SSL features ({ssl['source']}) is not "
            "supported: the graph would have to hold the SSL model; export without --onnx and "
            "use the torch backend"
        )


def _fold_hparams(checkpoint: Path) -> dict[str, Any]:
    """The fold's ``hparams.yaml`` as plain data (tags kept as data, never run); {} if none."""
    for folder in checkpoint.parents[:3]:
        path = folder / "hparams.yaml"
        if path.is_file():
            try:
                return dict(ruamel.yaml.YAML(typ="rt").load(path.read_text(encoding="utf-8")))
            except (ruamel.yaml.YAMLError, TypeError, ValueError) as err:
                raise InputFileError(path, f"not readable as yaml ({err})") from None
    return {}


def _running_training(source: Path, checkpoints: Mapping[int, Path], partial: bool) -> str | None:
    """The process id of a training running in the experiment folder ``source``, if allowed.

    Its finished folds are a part of the run that the next minutes may change:
    exported only when ``partial`` asks for them, and the card then says so.
    """
    holder = lock_holder(source) if source.is_dir() else None
    if holder is None or partial:
        return holder
    raise InputFileError(
        source, f"a training is still running in it (process {holder}); only "
        f"{len(checkpoints)} fold(s) have finished ({', '.join(map(str, checkpoints))}). "
        "Wait for it to end, or export the finished folds with --partial (partial=True)"
    )


def _corpora(
    source: Path, checkpoints: Mapping[int, Path], cross_corpus: str | PathLike | None
) -> dict[str, Any] | None:
    """What the card says of several corpora: their record, in- and cross-corpus UA.

    The record (``corpora.json``) is the training run's, found in the experiment
    folder; the in-corpus UA per corpus comes from the exported folds' reports.
    """
    folders = [source, *(folder for path in checkpoints.values() for folder in path.parents[:3])]
    record = next((found for folder in folders
                   if (found := read_corpora_record(folder)) is not None), None)
    exported = {fold: metrics for fold, metrics in
                (read_finished_folds(source) if source.is_dir() else {}).items()
                if fold in checkpoints}
    own = {name: scores["UA"] for name, scores in corpus_means(exported).items()}
    if cross_corpus is None and record is None and not own:
        return None
    corpora: dict[str, Any] = {"record": record, "in_corpus": own, "cross_corpus": {}}
    protocol = next(iter(exported.values()), {}).get("protocol")
    if protocol in CROSS_CORPUS_PROTOCOLS:  # the exported models' own tests were cross-corpus
        corpora.update(in_corpus={}, cross_corpus=own, cross_protocol=protocol)
    if cross_corpus is not None:
        runs = read_runs(cross_corpus)
        means = [corpus_means(run) for run in runs.values()]
        tested = sorted(set().union(*means))
        if not tested:
            raise InputFileError(cross_corpus, "its folds have no UA per test corpus: "
                                 "not a run on several corpora")
        corpora["cross_corpus"] = {
            name: statistics.fmean(m[name]["UA"] for m in means if name in m) for name in tested
        }
        first = next(iter(next(iter(runs.values())).values()))
        corpora["cross_protocol"] = str(first.get("protocol", "cross-corpus"))
    return corpora
