"""openSMILE front end: audio reading, the 17 DRN-MHSA descriptors, cache and normalisation.

Each name is imported from its module on first use, so that reading audio and
extracting LLDs for the ONNX backend import no torch (the cache and the
normaliser return and are torch objects).
"""

import importlib
from typing import Any

# name -> the module defining it
_EXPORTS = {
    "FEATURE_NAMES": "opensmile",
    "ExtractionReport": "cache",
    "FeatureIndex": "cache",
    "FeatureNormalizer": "normalize",
    "OpenSmileLLD": "opensmile",
    "extract_corpus": "cache",
    "fit_normalizer": "normalize",
    "index_features": "cache",
    "load_features": "cache",
    "read_audio": "audio",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
