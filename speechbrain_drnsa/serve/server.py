"""``speechbrain-drnsa serve``: load a model folder once and serve the page with uvicorn."""

import importlib.util
import logging
from os import PathLike

from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.vad import load_vad
from speechbrain_drnsa.serve.analysis import UploadLimits
from speechbrain_drnsa.serve.app import create_app

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "load_recognizer", "serve"]

logger = logging.getLogger(__name__)
#: Only this machine can reach the page unless another host is given.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def load_recognizer(model: str | PathLike, device: str = "cpu") -> EmotionRecognizer:
    """The model, loaded with the safe folder loader (no code from the folder), and Silero VAD.

    Arguments
    ---------
    model : str or PathLike
        A model folder (``speechbrain-drnsa export``) or a hub id.
    device : str
        Torch device of the models.

    Returns
    -------
    EmotionRecognizer
        Torch backend (the explain figure needs the attention weights), its
        VAD loaded now when the ``vad`` extra is installed, so that the first
        request does not wait for it.
    """
    recognizer = EmotionRecognizer.from_hparams(model, run_opts={"device": device})
    if importlib.util.find_spec("silero_vad") is not None:
        recognizer.vad = load_vad()
    return recognizer


def serve(
    model: str | PathLike,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    limits: UploadLimits = UploadLimits(),
    device: str = "cpu",
) -> None:
    """Serve the page and ``POST /classify`` until interrupted.

    Arguments
    ---------
    model : str or PathLike
        A model folder or a hub id.
    host : str
        Address to bind; the default is reachable from this machine only.
    port : int
        TCP port.
    limits : UploadLimits
        The largest upload taken.
    device : str
        Torch device of the models.
    """
    import uvicorn

    app = create_app(load_recognizer(model, device), limits)
    logger.info("serving %s at http://%s:%d (%s per upload)", model, host, port,
                limits.describe())
    uvicorn.run(app, host=host, port=port, log_level="info")
