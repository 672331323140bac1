"""Recipe hparams: shared defaults, a recipe's own keys, command-line overrides; the model.

A recipe folder keeps its shared training settings in one ``common.yaml``;
each recipe yaml beside it (``drn_mhsa.yaml``, ``cnn.yaml`` ...) holds only
what differs, typically ``seed``, ``experiment`` and ``model_file``.
:func:`load_recipe_hparams` loads ``common.yaml`` with hyperpyyaml, using
the recipe's keys and then the command line's as overrides, so ``!ref``
expressions see the final values. When ``data_folder`` ends up null, the
``demo`` block of ``common.yaml`` is applied between the recipe and the
command line (demo corpus, short schedule).

Every key of the recipe yaml, of the ``demo`` block and of the command line
must exist in ``common.yaml``: a typo is an :class:`UnknownKeyError` naming
the key and the closest valid one. ``model_file`` is relative to the
recipe yaml's folder (as hyperpyyaml's ``!include:``); other paths are
relative to the working directory, as in SpeechBrain recipes.

SpeechBrain's ``parse_arguments`` owns ``--precision`` (fp32/fp16/bf16) and
other ``Brain`` run options, which would swallow Lightning's precision names,
so :func:`parse_command_line` reads ``--key=value`` overrides itself, with
the same syntax and YAML-typed values. :func:`build_model` builds the
``model`` of a model yaml (``speechbrain_drnsa/hparams/drn_mhsa.yaml`` ...).
"""

import difflib
import io
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import ruamel.yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references
from torch import nn

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.functionals import FEATURE_SET_SIZES
from speechbrain_drnsa.features.lld_sets import FRAME_FEATURE_SIZES
from speechbrain_drnsa.features.ssl import SSLFeatures, SSLSettings

__all__ = [
    "COMMON_NAME",
    "UnknownKeyError",
    "build_model",
    "closest_key",
    "load_recipe_hparams",
    "load_seed_runs",
    "model_keys",
    "parse_command_line",
    "recipe_model_overrides",
]

#: The shared settings file, next to the recipe yamls.
COMMON_NAME = "common.yaml"


class UnknownKeyError(InputFileError):
    """A recipe yaml or an override names a key the settings do not have.

    Arguments
    ---------
    path : str or PathLike
        The yaml the key was checked against (or that holds it).
    key : str
        The unknown key.
    closest : str
        The most similar valid key.
    where : str
        Where the key came from, e.g. ``"override --precison"``.
    valid : iterable of str, optional
        The valid keys, listed in the message when given.

    Example
    -------
    >>> err = UnknownKeyError("hparams/common.yaml", "precison", "precision", "override")
    >>> str(err)
    "hparams/common.yaml: unknown override 'precison'; did you mean 'precision'?"
    """

    def __init__(
        self, path: str | PathLike, key: str, closest: str, where: str,
        valid: Iterable[str] = (),
    ):
        self.key = key
        self.closest = closest
        listed = f" valid keys: {', '.join(valid)}" if valid else ""
        super().__init__(path, f"unknown {where} {key!r}; did you mean {closest!r}?{listed}")


def closest_key(key: str, valid: Iterable[str]) -> str:
    """Return the valid key most similar to ``key`` (difflib's ratio, ties by order).

    Arguments
    ---------
    key : str
        A key that is not valid.
    valid : iterable of str
        The valid keys.

    Returns
    -------
    str
        The closest valid key.

    Example
    -------
    >>> closest_key("max_epoch", ["lr", "max_epochs", "seed"])
    'max_epochs'
    """
    return max(valid, key=lambda name: difflib.SequenceMatcher(None, key, name).ratio())


def parse_command_line(argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Split ``train.py``'s arguments into the hparams file and the overrides.

    Arguments
    ---------
    argv : sequence of str
        ``hparams.yaml --key=value --other value ...``.

    Returns
    -------
    hparams_file : str
        The yaml to load.
    overrides : dict
        Override values parsed as YAML (``--fold=3`` gives the int 3,
        ``--fold=null`` None, ``--labels=[neu,sad]`` a list); a repeated key
        keeps its last value.

    Example
    -------
    >>> parse_command_line(["hparams/drn_mhsa.yaml", "--fold=3", "--precision", "bf16-mixed"])
    ('hparams/drn_mhsa.yaml', {'fold': 3, 'precision': 'bf16-mixed'})
    """
    usage = "usage: train.py HPARAMS.yaml [--key=value ...]"
    if not argv or argv[0].startswith("-"):
        raise SystemExit(usage)
    overrides: dict[str, Any] = {}
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--") or arg == "--":
            raise SystemExit(f"{usage}\nunexpected argument {arg!r}")
        key, equals, value = arg[2:].partition("=")
        if not equals:
            if not rest:
                raise SystemExit(f"{usage}\n--{key} needs a value")
            value = rest.pop(0)
        # one document per override, so that a repeated key takes its last value
        overrides.update(_yaml().load(f"{key}: {value}"))
    return argv[0], overrides


def load_recipe_hparams(
    hparams_file: str | PathLike, overrides: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    """Load a recipe yaml over its folder's ``common.yaml``, with overrides.

    Arguments
    ---------
    hparams_file : str or PathLike
        A recipe yaml; ``common.yaml`` must sit in the same folder.
    overrides : mapping, optional
        Command-line overrides (see :func:`parse_command_line`).

    Returns
    -------
    hparams : dict
        The loaded hparams; ``model_file`` made absolute; ``demo_mode`` is True
        when the ``demo`` block was applied.
    text : str
        The resolved yaml (every ``!ref`` replaced), to save with the results.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "common.yaml").write_text(
    ...     "seed: 1\\nexperiment: !PLACEHOLDER\\nmodel_file: m.yaml\\n"
    ...     "data_folder: null\\nout: !ref results/<experiment>/<seed>\\n"
    ...     "demo:\\n    data_folder: demo_corpus\\n")
    >>> _ = (folder / "cnn.yaml").write_text("seed: 7\\nexperiment: cnn\\n")
    >>> hparams, text = load_recipe_hparams(folder / "cnn.yaml", {"seed": 3})
    >>> hparams["out"], hparams["data_folder"], hparams["demo_mode"]
    ('results/cnn/3', 'demo_corpus', True)
    >>> load_recipe_hparams(folder / "cnn.yaml", {"sed": 3})
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.training.hparams.UnknownKeyError: ...: unknown override 'sed'; did you mean...
    """
    recipe_path = Path(hparams_file)
    common_path = recipe_path.parent / COMMON_NAME
    common = _read_yaml(common_path)
    recipe = common if recipe_path.resolve() == common_path.resolve() else _read_yaml(recipe_path)
    overrides = dict(overrides or {})
    _check_keys(recipe, common, recipe_path, "key")
    _check_keys(overrides, common, recipe_path, "override")
    layers: list[Mapping[str, Any]] = [recipe, overrides]
    hparams, text = _load(common_path, layers)
    demo_mode = hparams.get("data_folder") is None and "demo" in common
    if demo_mode:
        _check_keys(common["demo"], common, common_path, "key in the demo block:")
        hparams, text = _load(common_path, [recipe, common["demo"], overrides])
    hparams["demo_mode"] = demo_mode
    if hparams.get("model_file") is not None:
        hparams["model_file"] = (recipe_path.parent / hparams["model_file"]).resolve()
    from speechbrain_drnsa.training.validation import check_settings  # it builds on this module

    check_settings(hparams, recipe_path)
    return hparams, text


def load_seed_runs(
    hparams_file: str | PathLike, overrides: Mapping[str, Any] | None = None
) -> list[tuple[dict[str, Any], str]]:
    """Load a recipe's hparams once per seed of its ``seeds`` list (or once, for ``seed``).

    Arguments
    ---------
    hparams_file : str or PathLike
        A recipe yaml; ``common.yaml`` must sit in the same folder.
    overrides : mapping, optional
        Command-line overrides; ``seeds`` (a list, or null) among them.

    Returns
    -------
    list of (dict, str)
        :func:`load_recipe_hparams`'s result for each seed, the seed set as
        an override, so every ``!ref <seed>`` (the experiment folder) follows.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "common.yaml").write_text(
    ...     "seed: 1\\nseeds: null\\nout: !ref results/<seed>\\n")
    >>> [h["out"] for h, _ in load_seed_runs(folder / "common.yaml", {"seeds": [7, 8]})]
    ['results/7', 'results/8']
    >>> [h["out"] for h, _ in load_seed_runs(folder / "common.yaml")]
    ['results/1']
    """
    hparams, text = load_recipe_hparams(hparams_file, overrides)
    seeds = hparams.get("seeds")
    if not seeds:
        return [(hparams, text)]
    if not isinstance(seeds, list) or not all(isinstance(seed, int) for seed in seeds):
        raise InputFileError(hparams_file, f"seeds must be a list of integers, got {seeds!r}")
    return [load_recipe_hparams(hparams_file, {**(overrides or {}), "seed": seed})
            for seed in dict.fromkeys(seeds)]


def _load(common_path: Path, layers: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], str]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    with open(common_path, encoding="utf-8") as stream:
        try:
            resolved = resolve_references(stream, merged, overrides_must_match=True).getvalue()
        except ValueError as err:
            raise InputFileError(common_path, str(err)) from None
    return load_hyperpyyaml(resolved), resolved


def _check_keys(
    mapping: Mapping[str, Any], valid: Mapping[str, Any], path: Path, where: str
) -> None:
    for key in mapping:
        if key not in valid:
            raise UnknownKeyError(path, str(key), closest_key(str(key), map(str, valid)), where)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    try:
        data = _yaml().load(io.StringIO(text))
    except ruamel.yaml.YAMLError as err:
        raise InputFileError(path, f"not valid YAML: {err}") from None
    if not isinstance(data, Mapping):
        raise InputFileError(path, "expected a mapping of hparams at the top level")
    return data


def _yaml() -> ruamel.yaml.YAML:
    # round-trip mode keeps hyperpyyaml's tags (!ref, !new: ...) for overrides
    return ruamel.yaml.YAML()


def model_keys(model_file: str | Path) -> list[str]:
    """The top-level keys of a model yaml, the keys ``model_overrides`` may set."""
    path = Path(model_file)
    try:
        loaded = _yaml().load(path.read_text(encoding="utf-8"))
    except (OSError, ruamel.yaml.YAMLError) as err:
        raise InputFileError(path, f"cannot read the model definition ({err})") from None
    if not isinstance(loaded, Mapping):
        raise InputFileError(path, "expected a mapping at the top level")
    return [str(key) for key in loaded]


def recipe_model_overrides(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides a recipe gives its model yaml.

    The recipe's ``model_overrides``, ``n_classes`` from ``labels`` and, for
    a model yaml with a ``functionals_size`` (``input_size``), the size of the
    recipe's ``functionals`` (``frame_features``) set, so that
    ``--functionals=ComParE_2016`` or ``--frame_features=eGeMAPSv02`` alone
    switches the set. With ``frame_features: ssl``, ``input_size`` and
    ``ssl_layers`` come from the SSL model's ``config.json``
    (:mod:`speechbrain_drnsa.features.ssl`).

    Arguments
    ---------
    hparams : mapping
        A recipe's hparams (``model_file``, ``labels``, ``model_overrides``,
        ``functionals``, ``frame_features``).

    Returns
    -------
    dict
        Overrides for :func:`build_model`.

    Raises
    ------
    InputFileError
        When ``model_overrides`` sets a ``functionals_size`` or ``input_size``
        other than the set's.

    Example
    -------
    >>> from speechbrain_drnsa import hparams_path
    >>> hparams = {"model_file": hparams_path("drn_mhsa_functionals"), "labels": ["a", "b"],
    ...            "model_overrides": {"lstm_hidden": 8}, "functionals": "ComParE_2016"}
    >>> recipe_model_overrides(hparams)
    {'lstm_hidden': 8, 'n_classes': 2, 'functionals_size': 6373}
    >>> recipe_model_overrides({**hparams, "frame_features": "eGeMAPSv02"})["input_size"]
    50
    """
    overrides = {**(hparams.get("model_overrides") or {}), "n_classes": len(hparams["labels"])}
    keys = model_keys(hparams["model_file"])
    sizes = {
        "input_size": (FRAME_FEATURE_SIZES.get(hparams.get("frame_features")),
                       f"frame_features {hparams.get('frame_features')}", "frame"),
        "functionals_size": (FEATURE_SET_SIZES.get(hparams.get("functionals")),
                             str(hparams.get("functionals")), "utterance"),
    }
    sizes.update(_ssl_sizes(hparams) or {})
    if sizes.get("ssl_layers", (1,))[0] > 1 and "ssl_layers" not in keys:
        raise InputFileError(
            hparams["model_file"], "ssl_layer: weighted needs a model that sums the layers "
            "(ssl_layers, as speechbrain_drnsa/hparams/wavlm_drn_mhsa.yaml); or choose one "
            "layer, e.g. --ssl_layer=6"
        )
    for key, (size, setting, per) in sizes.items():
        if size is None or key not in keys:
            continue
        if overrides.setdefault(key, size) != size:
            raise InputFileError(
                hparams["model_file"],
                f"model_overrides {key}: {overrides[key]} but {setting} has {size} values "
                f"per {per}; leave it out",
            )
    return overrides


def _ssl_sizes(hparams: Mapping[str, Any]) -> dict[str, tuple[int, str, str]] | None:
    """``input_size`` and ``ssl_layers`` from the SSL model's config (None without one)."""
    settings = SSLSettings.from_hparams(hparams)
    if settings is None:
        return None
    model = SSLFeatures(settings)
    setting = f"ssl_source {settings.source}"
    return {"input_size": (model.hidden_size, setting, "layer and frame"),
            "ssl_layers": (model.layers_per_frame, f"{setting} with ssl_layer {settings.layer}",
                           "frame (layers)")}


def build_model(
    model_file: str | Path, overrides: Mapping[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the ``model`` defined by a model yaml, and describe how to rebuild it.

    Arguments
    ---------
    model_file : str or Path
        A yaml defining ``model`` (e.g. ``speechbrain_drnsa/hparams/drn_mhsa.yaml``).
    overrides : mapping, optional
        Overrides of the yaml's keys, e.g. ``{"n_classes": 4}``.

    Returns
    -------
    model : torch.nn.Module
        The freshly initialised model.
    config : dict
        ``{"file", "yaml", "overrides"}``: the file name, its text and the
        overrides, enough to rebuild the same architecture later.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "tiny.yaml"
    >>> _ = path.write_text("size: 3\\nmodel: !new:torch.nn.Linear [17, !ref <size>]\\n")
    >>> model, config = build_model(path, {"size": 4})
    >>> model.out_features, config["overrides"]
    (4, {'size': 4})
    """
    path = Path(model_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputFileError(path, f"cannot read the model definition ({err.strerror})") from None
    overrides = dict(overrides or {})
    loaded = load_hyperpyyaml(text, overrides)
    if "model" not in loaded:
        raise InputFileError(path, "defines no 'model' key")
    return loaded["model"], {"file": path.name, "yaml": text, "overrides": overrides}
