"""Declarative model specifications: the package's own lobes and plain constructor arguments.

A model folder describes its network as nested plain data,
``{"class": "EmotionClassifier", "args": {"encoder": {"class": "DRNEncoder", "args":
{...}}, ...}}``, never as hyperpyyaml ``!new:`` tags. :func:`build_from_spec`
builds only classes of :data:`ARCHITECTURES` and passes only arguments their
constructors declare, so a model folder cannot name anything else to import or
call. :func:`spec_from_model_yaml` turns a training model yaml (the text kept in
every checkpoint) into such a specification by resolving its ``!ref``
references as text and reading the ``!new:`` tags as data: nothing is built.
"""

import inspect
from collections.abc import Mapping
from os import PathLike
from typing import Any

import ruamel.yaml
from hyperpyyaml import resolve_references
from torch import nn

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.inference.inputs import check_yaml_text
from speechbrain_drnsa.lobes import (
    AttentionPooling,
    ConvEncoder,
    DeltaFeatures,
    DNNClassifier,
    DRNEncoder,
    EmotionClassifier,
    FunctionalsFusionClassifier,
    LSTMPooling,
    MaskedStatisticsPooling,
    RecurrentEncoder,
    WeightedLayerEncoder,
)

__all__ = ["ARCHITECTURES", "build_from_spec", "spec_from_model_yaml"]

#: The classes a model folder may name, by the name it uses.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        EmotionClassifier,
        FunctionalsFusionClassifier,
        DRNEncoder,
        LSTMPooling,
        DNNClassifier,
        FeatureNormalizer,
        # the paper's Table 1 baselines
        DeltaFeatures,
        ConvEncoder,
        RecurrentEncoder,
        MaskedStatisticsPooling,
        AttentionPooling,
        # the learned sum of an SSL model's layers (the SSL model itself is no lobe)
        WeightedLayerEncoder,
    )
}
_LOBES_MODULE = "speechbrain_drnsa.lobes."
_PLAIN = (bool, int, float, str, type(None))


def build_from_spec(spec: Any, path: str | PathLike, key: str = "model") -> nn.Module:
    """Build a module from a declarative specification, allowing only :data:`ARCHITECTURES`.

    Arguments
    ---------
    spec : Any
        ``{"class": NAME, "args": {...}}``; an argument is plain data (numbers,
        strings, booleans, lists of them) or a nested specification.
    path : str or PathLike
        The file the specification comes from, named in errors.
    key : str
        Where ``spec`` sits in that file, named in errors.

    Returns
    -------
    torch.nn.Module
        The module, freshly initialised.

    Raises
    ------
    InputFileError
        For an unknown class, an argument its constructor does not take, a
        value that is not plain data, or arguments the constructor refuses.

    Example
    -------
    >>> build_from_spec({"class": "DNNClassifier", "args": {"input_size": 8}}, "m.yaml")
    DNNClassifier(...)
    >>> build_from_spec({"class": "os.system", "args": {}}, "m.yaml")
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: m.yaml: model.class: unknown architecture ...
    """
    if not isinstance(spec, Mapping) or set(spec) - {"class", "args"} or "class" not in spec:
        raise InputFileError(path, f"{key}: expected a mapping with 'class' and 'args'")
    name = spec["class"]
    if name not in ARCHITECTURES:
        raise InputFileError(
            path, f"{key}.class: unknown architecture {name!r}; allowed: {sorted(ARCHITECTURES)}"
        )
    cls = ARCHITECTURES[name]
    args = spec.get("args") or {}
    if not isinstance(args, Mapping):
        raise InputFileError(path, f"{key}.args: expected a mapping of constructor arguments")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kwargs = {}
    for arg, value in args.items():
        where = f"{key}.args.{arg}"
        if arg not in accepted:
            raise InputFileError(path, f"{where}: {name} takes no argument {arg!r}")
        if isinstance(value, Mapping):
            kwargs[arg] = build_from_spec(value, path, where)
        elif _is_plain(value):
            kwargs[arg] = value
        else:
            raise InputFileError(path, f"{where}: not plain data ({type(value).__name__})")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise InputFileError(path, f"{key}: {name} refuses its arguments ({err})") from None


def spec_from_model_yaml(
    text: str, overrides: Mapping[str, Any] | None = None, path: str | PathLike = "model yaml"
) -> dict[str, Any]:
    """The declarative specification of the ``model`` a training model yaml defines.

    Arguments
    ---------
    text : str
        A model yaml such as ``speechbrain_drnsa/hparams/drn_mhsa.yaml`` (as a checkpoint keeps it).
    overrides : mapping, optional
        Its overrides (``model_overrides`` plus ``n_classes``).
    path : str or PathLike
        Named in errors.

    Returns
    -------
    dict
        ``{"class", "args"}``, nested for the submodules.

    Raises
    ------
    InputFileError
        If ``model`` is missing or uses anything but the package's lobes with
        keyword arguments, or the yaml is too large or deep once its aliases
        are expanded (:func:`~speechbrain_drnsa.inference.inputs.check_yaml_text`).

    Example
    -------
    >>> text = ("size: 8\\nmodel: !new:speechbrain_drnsa.lobes.DNNClassifier\\n"
    ...         "    input_size: !ref <size>\\n    out_neurons: 3\\n")
    >>> spec_from_model_yaml(text, {"size": 16})
    {'class': 'DNNClassifier', 'args': {'input_size': 16, 'out_neurons': 3}}
    """
    check_yaml_text(text, path, aliases=True)  # a checkpoint's text is as untrusted as a folder
    resolved = resolve_references(text, dict(overrides or {})).getvalue()
    document = ruamel.yaml.YAML(typ="rt").load(resolved)
    if not isinstance(document, Mapping) or "model" not in document:
        raise InputFileError(path, "defines no 'model' key")
    return _spec_of(document["model"], path, "model")


def _spec_of(node: Any, path: str | PathLike, key: str) -> Any:
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag is None or not tag.startswith("!"):
        if isinstance(node, list):
            return [_spec_of(item, path, f"{key}[{i}]") for i, item in enumerate(node)]
        if isinstance(node, Mapping):
            return {str(k): _spec_of(v, path, f"{key}.{k}") for k, v in node.items()}
        if _is_plain(node):
            # ruamel's round-trip scalars subclass the builtins; keep the builtins only
            return node if node is None else type(_builtin(node))(node)
        raise InputFileError(path, f"{key}: not plain data ({type(node).__name__})")
    target = tag.removeprefix("!new:")
    name = target.rpartition(".")[2]
    if tag == target or not target.startswith(_LOBES_MODULE) or name not in ARCHITECTURES:
        raise InputFileError(
            path, f"{key}: {tag} is not one of the package's lobes {sorted(ARCHITECTURES)}"
        )
    if not isinstance(node, Mapping):
        raise InputFileError(path, f"{key}: {tag} must take keyword arguments")
    args = {str(k): _spec_of(v, path, f"{key}.{k}") for k, v in node.items()}
    return {"class": name, "args": args}


def _builtin(value: Any) -> Any:
    return next(kind(value) for kind in (bool, int, float, str) if isinstance(value, kind))


def _is_plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    return isinstance(value, _PLAIN)
