"""Use and share trained models: export to a safe model folder, load it, classify audio.

``load_embedding_model`` starts a SpeechBrain recipe's ``embedding_model`` from a folder.
"""

from typing import Any

from speechbrain_drnsa.inference.hub import push
from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.windows import FileResult, WindowResult

__all__ = [
    "EmotionRecognizer", "FileResult", "WindowResult", "export", "load_embedding_model", "push",
]


def __getattr__(name: str) -> Any:
    # exporting reads Lightning checkpoints and the embedding lobe is torch: classifying must
    # not pay for importing Lightning, and the ONNX backend imports no torch at all
    if name == "export":
        from speechbrain_drnsa.inference.exporter import export

        return export
    if name == "load_embedding_model":
        from speechbrain_drnsa.inference.embedding import load_embedding_model

        return load_embedding_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
