"""The model definitions: one hyperpyyaml file per system of the paper, installed with the package.

``drn_mhsa.yaml`` is the proposed DRN-MHSA; ``cnn.yaml``, ``cnn_res.yaml``,
``drn.yaml`` and ``drn_sha.yaml`` its Table 2 ablations; ``xia2017.yaml``,
``poria2016.yaml``, ``poria2017.yaml`` and ``mirsamadi2017.yaml`` the Table 1
baselines; ``drn_mhsa_functionals.yaml`` DRN-MHSA fused with utterance
functionals; ``wavlm_drn_mhsa.yaml`` DRN-MHSA over a self-supervised model's hidden
states (``frame_features: ssl``). Each defines ``model`` (and its parts) from keyword widths that
``!include`` overrides can change. They live inside the package, not beside
it, so that a pip-installed package has them: :func:`hparams_path` finds them
in a clone, an editable install and a wheel alike.
"""

from importlib.resources import files
from pathlib import Path

__all__ = ["hparams_path", "model_yamls"]


def model_yamls() -> list[str]:
    """Names of the installed model yamls.

    Returns
    -------
    list of str
        File names, sorted.

    Example
    -------
    >>> "drn_mhsa.yaml" in model_yamls()
    True
    """
    return sorted(entry.name for entry in files(__name__).iterdir() if entry.name.endswith(".yaml"))


def hparams_path(name: str | None = None) -> Path:
    """The installed model yaml ``name``, or the folder holding them all.

    A recipe yaml includes one by this path (``!include:`` takes a path,
    absolute or relative to the including file), or Python loads it with
    ``hyperpyyaml.load_hyperpyyaml``.

    Arguments
    ---------
    name : str, optional
        A file name of :func:`model_yamls` (``"drn_mhsa.yaml"``; the ``.yaml`` may be
        left out); None for the folder.

    Returns
    -------
    pathlib.Path
        The file (or folder) on disk.

    Raises
    ------
    FileNotFoundError
        For a name that is not one of :func:`model_yamls`, listing them.

    Example
    -------
    >>> from hyperpyyaml import load_hyperpyyaml
    >>> path = hparams_path("drn_mhsa.yaml")
    >>> with open(path) as stream:
    ...     hparams = load_hyperpyyaml(stream, {"n_classes": 7})
    >>> hparams["classifier"].layers[-1].out_features
    7
    >>> hparams_path("drn_mhsa") == path
    True
    >>> hparams_path("drn_mhas.yaml")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no model yaml 'drn_mhas.yaml' in the package; available: cnn.yaml, ...
    """
    folder = Path(str(files(__name__)))
    if name is None:
        return folder
    if not name.endswith(".yaml"):
        name += ".yaml"
    if name not in model_yamls():
        raise FileNotFoundError(
            f"no model yaml {name!r} in the package; available: {', '.join(model_yamls())}"
        )
    return folder / name
