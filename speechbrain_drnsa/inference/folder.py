"""Model folders read without running anything from them.

A model folder (written by :func:`speechbrain_drnsa.inference.export`) holds
``model.safetensors``, ``hyperparams.yaml`` (plain data), ``label_encoder.txt``
and ``README.md``, and optionally ``model.onnx`` (read as data by
:mod:`~speechbrain_drnsa.inference.onnx_backend`). SpeechBrain's own hub models
are loaded with hyperpyyaml, whose ``!new:``/``!name:``/``!apply:`` tags import
and call whatever they name, and with pickled checkpoints; a downloaded folder can therefore run its
author's code. :func:`load_model_folder` refuses what could: any yaml tag, any
pickled file in the folder, any symlink leading outside it; weights come from
safetensors only, and the network is built from the package's own lobes
(:func:`~speechbrain_drnsa.inference.architecture.build_from_spec`).
"""

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ruamel.yaml

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.inputs import (
    check_config, check_finite_tensors, check_yaml_text, one_line, quoted, read_text,
)

if TYPE_CHECKING:  # imported by load_model_folder: read_model_folder (ONNX) needs no torch
    import torch
    from torch import nn

__all__ = [
    "CONFIG_NAME",
    "LABELS_NAME",
    "CARD_NAME",
    "WEIGHTS_NAME",
    "ONNX_NAME",
    "ModelFolder",
    "check_folder",
    "label_encoder_text",
    "load_model_folder",
    "read_config",
    "read_model_folder",
    "read_labels",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "hyperparams.yaml"
LABELS_NAME = "label_encoder.txt"
CARD_NAME = "README.md"
#: Optional: the fold ensemble as one ONNX graph (``export --onnx``).
ONNX_NAME = "model.onnx"
#: Files a model folder must hold, in the order they are checked.
REQUIRED = (CONFIG_NAME, LABELS_NAME, WEIGHTS_NAME)
# pickle-based formats, which run code when read
_PICKLED = {".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle", ".joblib", ".npy", ".npz"}
_CONFIG_KEYS = {
    "format", "library", "package_version", "labels", "folds", "ensemble", "model",
    "normalizer", "features", "speaker_normalization", "inference_window",
    "functionals", "functionals_normalizer",
}
_PARTS = ("model", "normalizer", "functionals_normalizer")
# yaml's core schema; everything else (!new:, !apply:, !!python/...) could build objects
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "seq", "map")
}
_REQUIRED_KEYS = {"labels", "folds", "model", "normalizer", "features", "speaker_normalization"}


@dataclass
class ModelFolder:
    """What a model folder holds, checked and built.

    Arguments
    ---------
    path : pathlib.Path
        The folder.
    config : dict
        The plain-data ``hyperparams.yaml``.
    labels : list of str
        Class names, in output order.
    models : list of torch.nn.Module
        One classifier per fold, in evaluation mode.
    normalizers : list of torch.nn.Module
        Each fold's feature normaliser.
    functionals_normalizers : list of torch.nn.Module
        Each fold's normaliser of the utterance functionals, for a model that
        takes them (``config["functionals"]``); empty otherwise.
    """

    path: Path
    config: dict[str, Any]
    labels: list[str]
    models: list["nn.Module"]
    normalizers: list["nn.Module"]
    functionals_normalizers: list["nn.Module"] = field(default_factory=list)


def check_folder(folder: str | PathLike, root: str | PathLike | None = None) -> Path:
    """Refuse a folder with missing files, pickled files or symlinks leading out of ``root``.

    Arguments
    ---------
    folder : str or PathLike
        The model folder.
    root : str or PathLike, optional
        Where symlinks may lead (default ``folder``; the hub cache's repository
        folder for a hub snapshot, whose files link to its ``blobs/``).

    Returns
    -------
    pathlib.Path
        ``folder``.

    Raises
    ------
    InputFileError
        Naming the offending file.

    Example
    -------
    >>> import tempfile
    >>> check_folder(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../hyperparams.yaml: missing from the model folder
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "not a model folder (not a directory)")
    allowed = Path(root or folder).resolve()
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not path.resolve().is_relative_to(allowed):
            raise InputFileError(path, "symlink leading outside the model folder, refused")
        if path.suffix.lower() in _PICKLED:
            raise InputFileError(
                path, "pickled file in the model folder, refused (loading it could run code)"
            )
    for name in REQUIRED:
        if not (folder / name).is_file():
            raise InputFileError(folder / name, "missing from the model folder")
    return folder


def read_config(path: str | PathLike) -> dict[str, Any]:
    """Read ``hyperparams.yaml`` as plain data, refusing every yaml tag.

    Arguments
    ---------
    path : str or PathLike
        The config file.

    Returns
    -------
    dict
        The config.

    Raises
    ------
    InputFileError
        For a tag (``!new:``, ``!apply:`` ...), malformed yaml, an unknown or
        missing key.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "hyperparams.yaml"
    >>> _ = path.write_text("model: !apply:os.system [touch x]\\n")
    >>> read_config(path)
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: ...: line 1: tag !apply:os.system refused ...
    """
    path = Path(path)
    text = read_text(path)
    check_yaml_text(text, path)  # no aliases, bounded nesting: composing it stays cheap
    try:
        node = ruamel.yaml.YAML(typ="safe", pure=True).compose(text)
        if node is not None:
            _refuse_tags(node, path)
        config = ruamel.yaml.YAML(typ="safe", pure=True).load(text)
    except ruamel.yaml.YAMLError as err:
        raise InputFileError(path, one_line(f"not a readable yaml file ({err})")) from None
    if not isinstance(config, dict):
        raise InputFileError(path, "expected a mapping at the top level")
    unknown = sorted(map(str, set(config) - _CONFIG_KEYS))
    if unknown:
        raise InputFileError(path, one_line(
            f"unknown key {unknown[0]!r}; allowed: {sorted(_CONFIG_KEYS)}", 400))
    missing = sorted(_REQUIRED_KEYS - set(config))
    if missing:
        raise InputFileError(path, f"missing key {missing[0]!r}")
    check_config(config, path)
    return config


def label_encoder_text(labels: Sequence[str]) -> str:
    """SpeechBrain's ``CategoricalEncoder`` file for ``labels`` (index from 0).

    Arguments
    ---------
    labels : sequence of str
        Class names, in output order.

    Returns
    -------
    str
        The text ``CategoricalEncoder.load`` reads.

    Example
    -------
    >>> print(label_encoder_text(["neu", "ang"]), end="")
    'neu' => 0
    'ang' => 1
    ================
    'starting_index' => 0
    """
    lines = [f"{label!r} => {index}" for index, label in enumerate(labels)]
    return "\n".join([*lines, "=" * 16, "'starting_index' => 0"]) + "\n"


def read_labels(path: str | PathLike) -> list[str]:
    """Read a ``label_encoder.txt`` (literals only, as ``CategoricalEncoder.load`` does).

    Arguments
    ---------
    path : str or PathLike
        The file.

    Returns
    -------
    list of str
        Labels in index order.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "label_encoder.txt"
    >>> _ = path.write_text(label_encoder_text(["neu", "ang"]))
    >>> read_labels(path)
    ['neu', 'ang']
    """
    path = Path(path)
    mapping = {}
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if line.startswith("="):
            break
        label, sep, index = line.rpartition(" => ")
        try:
            label, index = ast.literal_eval(label), int(index)
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            raise InputFileError(path, f"line {number}: expected 'label' => index") from None
        if not sep or not isinstance(label, str):
            raise InputFileError(path, f"line {number}: expected 'label' => index")
        mapping[index] = label
    if sorted(mapping) != list(range(len(mapping))) or not mapping:
        raise InputFileError(path, f"indices must be 0..n-1, got {quoted(sorted(mapping))}")
    return [mapping[i] for i in range(len(mapping))]


def read_model_folder(
    folder: str | PathLike, root: str | PathLike | None = None
) -> ModelFolder:
    """Check a model folder and read its config and labels, building no model.

    What the ONNX backend needs (:class:`~speechbrain_drnsa.inference.onnx_backend.OnnxEnsemble`
    reads ``model.onnx`` itself); :func:`load_model_folder` builds the torch models.

    Arguments
    ---------
    folder : str or PathLike
        A folder written by :func:`~speechbrain_drnsa.inference.export`.
    root : str or PathLike, optional
        Where its symlinks may lead (:func:`check_folder`).

    Returns
    -------
    ModelFolder
        Config and labels; no models or normalisers.

    Raises
    ------
    InputFileError
        As :func:`check_folder` and :func:`read_config`, or for labels that
        differ from the config's.
    """
    folder = check_folder(folder, root)
    config = read_config(folder / CONFIG_NAME)
    labels = read_labels(folder / LABELS_NAME)
    if labels != list(config["labels"]):
        raise InputFileError(
            folder / LABELS_NAME,
            f"labels {quoted(labels)} differ from {CONFIG_NAME}'s {quoted(config['labels'])}",
        )
    return ModelFolder(folder, config, labels, [], [])


def load_model_folder(
    folder: str | PathLike, root: str | PathLike | None = None
) -> ModelFolder:
    """Check a model folder and build its models, running nothing from it.

    Arguments
    ---------
    folder : str or PathLike
        A folder written by :func:`~speechbrain_drnsa.inference.export`.
    root : str or PathLike, optional
        Where its symlinks may lead (:func:`check_folder`).

    Returns
    -------
    ModelFolder
        Config, labels and one (model, normaliser) pair per fold, on the CPU.

    Raises
    ------
    InputFileError
        For a missing file, a refused file or tag, an unknown architecture,
        weights that do not fit the config (naming the tensors) or labels that
        do not match the output size.
    """
    import safetensors.torch

    from speechbrain_drnsa.inference.architecture import build_from_spec

    checked = read_model_folder(folder, root)
    folder, config, labels = checked.path, checked.config, checked.labels
    weights_path = folder / WEIGHTS_NAME
    try:
        tensors = safetensors.torch.load_file(weights_path)
    except Exception as err:  # noqa: BLE001 - safetensors raises several kinds
        raise InputFileError(
            weights_path, one_line(f"not a readable safetensors file ({err})")
        ) from None
    check_finite_tensors(tensors, weights_path)
    parts = [part for part in _PARTS if part in config]
    built: dict[str, list[Any]] = {part: [] for part in parts}
    for fold in config["folds"]:
        for part in parts:
            module = build_from_spec(config[part], folder / CONFIG_NAME, part)
            _load_part(module, tensors, f"fold_{fold}.{part}.", weights_path)
            built[part].append(module.eval())
        _check_output_size(built["model"][-1], labels, folder / LABELS_NAME)
    prefixes = tuple(f"fold_{fold}.{part}." for fold in config["folds"] for part in parts)
    unused = sorted(name for name in tensors if not name.startswith(prefixes))
    if unused:
        raise InputFileError(
            weights_path, f"tensors the config does not describe: {quoted(unused)}"
        )
    return ModelFolder(folder, config, labels, built["model"], built["normalizer"],
                       built.get("functionals_normalizer", []))


def _refuse_tags(node: Any, path: Path) -> None:
    tag = node.tag
    if tag not in _PLAIN_TAGS:
        raise InputFileError(
            path,
            f"line {node.start_mark.line + 1}: tag {tag} refused (a model folder's config is "
            "plain data; tags could import or call code)",
        )
    if isinstance(node.value, list):
        for item in node.value:
            for child in item if isinstance(item, tuple) else (item,):
                _refuse_tags(child, path)


def _load_part(
    module: "nn.Module", tensors: Mapping[str, "torch.Tensor"], prefix: str, path: Path
) -> None:
    import torch

    # tensors only: the normaliser's per-speaker extra state is not part of a model folder
    own = {n: t for n, t in module.state_dict().items() if isinstance(t, torch.Tensor)}
    given = {n.removeprefix(prefix): t for n, t in tensors.items() if n.startswith(prefix)}
    missing = sorted(prefix + n for n in set(own) - set(given))
    unexpected = sorted(prefix + n for n in set(given) - set(own))
    wrong = sorted(
        f"{prefix}{n} {tuple(given[n].shape)} (config: {tuple(t.shape)})"
        for n, t in own.items()
        if n in given and given[n].shape != t.shape
    )
    integer = sorted(  # floats may come in another precision, never as integers
        f"{prefix}{n} {given[n].dtype} (config: {t.dtype})" for n, t in own.items()
        if n in given and t.is_floating_point() and not given[n].is_floating_point()
    )
    for problem, names in (("missing", missing), ("unexpected", unexpected),
                           ("misshapen", wrong), ("integer", integer)):
        if names:
            raise InputFileError(
                path, f"weights do not fit the config: {problem} tensors {names[:5]}"
                + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            )
    module.load_state_dict(given, strict=False)  # every tensor checked just above


def _check_output_size(model: "nn.Module", labels: list[str], path: Path) -> None:
    from torch import nn

    outputs = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)][-1:]
    if outputs and outputs[0] != len(labels):
        raise InputFileError(
            path, f"{len(labels)} labels but the model has {outputs[0]} outputs"
        )
