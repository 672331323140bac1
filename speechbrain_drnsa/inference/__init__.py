"""Use and share trained models: export to a safe model folder, load it, classify audio."""

from typing import Any

from speechbrain_drnsa.inference.hub import push
from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.windows import FileResult, WindowResult

__all__ = ["EmotionRecognizer", "FileResult", "WindowResult", "export", "push"]


def __getattr__(name: str) -> Any:
    # exporting reads Lightning checkpoints; classifying must not pay for importing Lightning
    if name == "export":
        from speechbrain_drnsa.inference.exporter import export

        return export
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
