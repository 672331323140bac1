"""openSMILE front end: audio reading, the 17 DRN-MHSA descriptors, cache and normalisation."""

from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.cache import (
    ExtractionReport,
    FeatureIndex,
    extract_corpus,
    index_features,
    load_features,
)
from speechbrain_drnsa.features.normalize import FeatureNormalizer, fit_normalizer
from speechbrain_drnsa.features.opensmile import FEATURE_NAMES, OpenSmileLLD

__all__ = [
    "FEATURE_NAMES",
    "ExtractionReport",
    "FeatureIndex",
    "FeatureNormalizer",
    "OpenSmileLLD",
    "extract_corpus",
    "fit_normalizer",
    "index_features",
    "load_features",
    "read_audio",
]
