"""A local web page and JSON endpoint to try a model: ``speechbrain-drnsa serve --model DIR``.

Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart). Builds on
:mod:`speechbrain_drnsa.inference`, which never imports this package:
:mod:`~speechbrain_drnsa.serve.analysis` turns one upload into JSON and
figures, :mod:`~speechbrain_drnsa.serve.app` is the FastAPI app and its page,
:mod:`~speechbrain_drnsa.serve.server` loads the model and runs uvicorn.
"""

from speechbrain_drnsa.serve.analysis import UploadLimits, analyse_upload
from speechbrain_drnsa.serve.app import create_app
from speechbrain_drnsa.serve.server import load_recognizer, serve

__all__ = ["UploadLimits", "analyse_upload", "create_app", "load_recognizer", "serve"]
