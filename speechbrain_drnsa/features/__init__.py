"""openSMILE front end: audio reading, the 17 DRN-MHSA descriptors, cache and normalisation."""

from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.cache import ExtractionReport, extract_corpus, load_features
from speechbrain_drnsa.features.normalize import (
    FeatureNormalizer,
    fit_normalizer,
    speaker_statistics,
    standardize_by_speaker,
)
from speechbrain_drnsa.features.opensmile import FEATURE_NAMES, OpenSmileLLD

__all__ = [
    "FEATURE_NAMES",
    "ExtractionReport",
    "FeatureNormalizer",
    "OpenSmileLLD",
    "extract_corpus",
    "fit_normalizer",
    "load_features",
    "read_audio",
    "speaker_statistics",
    "standardize_by_speaker",
]
