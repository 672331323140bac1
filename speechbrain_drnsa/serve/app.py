"""The web app: a page to upload or record speech, and ``POST /classify`` for scripts.

Routes:

- ``GET /``: the page (``page.html``, plain HTML and JavaScript, no build step).
- ``GET /info``: the model's labels, the upload limits, whether speech segments are found,
  whether the model was trained per speaker.
- ``POST /classify``: a multipart form with the audio in field ``file``
  (``curl -F file=@a.wav http://127.0.0.1:7860/classify``); ``?figures=true`` adds
  the timeline and explain figures. Answers :func:`~speechbrain_drnsa.serve.analysis.
  analyse_upload`'s JSON, or ``{"error": ...}`` with 400 (no file, unreadable audio),
  413 (over the limits) or 500.

Bodies over the byte limit are refused as they arrive (:class:`BodyLimit`), before
the form is parsed; each request's file lives in a temporary folder of its own.
"""

import importlib.resources
import importlib.util
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
except ImportError:
    raise ImportError(
        "the web page needs FastAPI and uvicorn: pip install 'speechbrain-drnsa[serve]'"
    ) from None

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.serve.analysis import (
    UploadLimits, UploadTooLarge, analyse_upload, upload_name,
)

__all__ = ["BodyLimit", "create_app"]

logger = logging.getLogger(__name__)
_COPY_BLOCK = 1 << 20


def create_app(recognizer: EmotionRecognizer, limits: UploadLimits = UploadLimits()) -> FastAPI:
    """The app around one loaded model.

    Arguments
    ---------
    recognizer : EmotionRecognizer
        Loaded once (torch backend: the explain figure needs the attention weights).
    limits : UploadLimits
        The largest upload taken.

    Returns
    -------
    fastapi.FastAPI
        Serve it with uvicorn (:func:`~speechbrain_drnsa.serve.server.serve`).

    Usage (a runnable version is ``tests/test_serve.py``)::

        app = create_app(EmotionRecognizer.from_hparams("model"))
        uvicorn.run(app, host="127.0.0.1", port=7860)
    """
    app = FastAPI(title="speechbrain-drnsa", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=limits.max_bytes, describe=limits.describe())
    lock = threading.Lock()
    page = importlib.resources.files(__package__).joinpath("page.html").read_text("utf-8")
    info = {
        "model": recognizer.folder.path.name,
        "labels": list(recognizer.labels),
        "max_bytes": limits.max_bytes,
        "max_seconds": limits.max_seconds,
        "limits": limits.describe(),
        "speech_segments": importlib.util.find_spec("silero_vad") is not None,
        # no speaker can be enrolled here: each upload is standardised with its own statistics
        "per_speaker": recognizer.speaker_normalization,
    }

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/info")
    def model_info() -> dict[str, Any]:
        return info

    @app.post("/classify")
    async def classify(request: Request, figures: bool = False) -> JSONResponse:
        with tempfile.TemporaryDirectory(prefix="speechbrain-drnsa-") as folder:
            path = await _save_upload(request, Path(folder))
            if isinstance(path, JSONResponse):
                return path
            try:
                answer = await run_in_threadpool(
                    analyse_upload, recognizer, path, path.name, limits, lock, figures
                )
            except UploadTooLarge as err:
                return _error(413, str(err))
            except InputFileError as err:
                return _error(400, str(err))
            except Exception:  # a bug, not the upload's fault: say so, keep serving
                logger.exception("classifying %s failed", path.name)
                return _error(500, f"{path.name}: classification failed on the server "
                                   "(see its log)")
        return JSONResponse(answer)

    return app


async def _save_upload(request: Request, folder: Path) -> Path | JSONResponse:
    """The form's ``file`` written into ``folder`` under a safe name, or the error to answer."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as err:  # a malformed multipart body
        return _error(400, f"not a multipart form upload ({err.detail})")
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _error(400, "no audio: send the file as form field 'file' "
                               "(curl -F file=@speech.wav .../classify)")
        path = folder / upload_name(upload.filename)
        with path.open("wb") as out:
            while block := await upload.read(_COPY_BLOCK):
                out.write(block)
        return path
    finally:
        await form.close()


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, as they arrive.

    A declared ``Content-Length`` over the limit is refused before any of the
    body is read; a body without one (chunked) is counted as it arrives.

    Arguments
    ---------
    app : ASGI app
        The app to guard.
    max_bytes : int
        The largest body.
    describe : str
        The limits in words, for the message.
    """

    def __init__(self, app: Any, max_bytes: int, describe: str):
        self.app, self.max_bytes, self.describe = app, max_bytes, describe

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, f"of {int(declared) / 2**20:.1f} MB")
            return
        received, started = 0, False

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, "over the limit")

    async def _refuse(self, scope: dict, receive: Any, send: Any, size: str) -> None:
        message = f"upload {size} refused: this server takes {self.describe}"
        await _error(413, message)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
