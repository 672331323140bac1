"""Use and share trained models: export to a safe model folder, load it, classify audio."""

from speechbrain_drnsa.inference.export import export
from speechbrain_drnsa.inference.hub import push
from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.windows import FileResult, WindowResult

__all__ = ["EmotionRecognizer", "FileResult", "WindowResult", "export", "push"]
