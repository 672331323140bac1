"""Model folders on the Hugging Face Hub: download (cached, offline-capable) and upload.

Both go through ``huggingface_hub`` (``pip install 'speechbrain-drnsa[hub]'``).
A download fetches only the model folder's own files, into the client's cache;
with ``HF_HUB_OFFLINE=1`` it is served from that cache without any network.
Files in the cache are symlinks into the repository's ``blobs/`` folder, so
that folder is where a downloaded model's links may lead
(:func:`~speechbrain_drnsa.inference.folder.check_folder`).
"""

import re
from os import PathLike
from pathlib import Path
from typing import Any

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.folder import CARD_NAME, ONNX_NAME, REQUIRED, check_folder

__all__ = ["push", "resolve_source"]

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_ASSETS = [*REQUIRED, CARD_NAME, ONNX_NAME]  # the graph when exported


def resolve_source(
    source: str | PathLike, savedir: str | PathLike | None = None, revision: str | None = None
) -> tuple[Path, Path]:
    """The local folder of a model given as a folder or a hub id.

    Arguments
    ---------
    source : str or PathLike
        A model folder, or a hub repository id ``owner/name``.
    savedir : str or PathLike, optional
        Hub cache folder (default: the client's, ``HF_HUB_CACHE``).
    revision : str, optional
        Branch, tag or commit of the hub repository.

    Returns
    -------
    folder : pathlib.Path
        The model folder.
    root : pathlib.Path
        Where its symlinks may lead: the folder itself, or the cached repository.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> resolve_source(folder)[0] == Path(folder)
    True
    """
    path = Path(source)
    if path.exists() or not _HUB_ID.match(str(source)):
        if not path.exists():
            raise InputFileError(path, "no such model folder, and not a hub id (owner/name)")
        return path, path
    snapshot_download = _hub().snapshot_download
    try:
        folder = Path(
            snapshot_download(
                repo_id=str(source),
                revision=revision,
                cache_dir=str(savedir) if savedir is not None else None,
                allow_patterns=_ASSETS,
            )
        )
    except Exception as err:  # noqa: BLE001 - network, auth, missing cache entries
        raise InputFileError(source, f"cannot get it from the hub ({type(err).__name__}: {err})")
    # a cache snapshot: <cache>/models--owner--name/snapshots/<commit>, linking to ../../blobs
    root = folder.parents[1] if folder.parent.name == "snapshots" else folder
    return folder, root


def push(
    folder: str | PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    api: Any = None,
) -> str:
    """Upload a model folder's files to a hub repository (created if needed).

    The folder is checked first (:func:`check_folder`), and only its model
    files are uploaded, so nothing else lying in the folder is published.

    Arguments
    ---------
    folder : str or PathLike
        A folder written by :func:`~speechbrain_drnsa.inference.export`.
    repo_id : str
        ``owner/name``.
    token : str, optional
        Hub token (default: the client's login).
    private : bool
        Create the repository as private.
    api : huggingface_hub.HfApi, optional
        The client to use (default: a new ``HfApi``).

    Returns
    -------
    str
        The commit's URL.
    """
    folder = check_folder(folder)
    if not _HUB_ID.match(repo_id):
        raise ValueError(f"{repo_id!r} is not a hub repository id (owner/name)")
    api = api or _hub().HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        allow_patterns=_ASSETS,
        commit_message="Upload speechbrain-drnsa model folder",
    )
    return str(getattr(commit, "commit_url", commit))


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise ImportError(
            "hub ids need huggingface_hub: pip install 'speechbrain-drnsa[hub]'"
        ) from None
    return huggingface_hub
