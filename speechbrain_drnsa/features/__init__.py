"""openSMILE front end: audio reading, the 17 DRN-MHSA descriptors, cache and normalisation."""

from speechbrain_drnsa.features.opensmile import FEATURE_NAMES, OpenSmileLLD

__all__ = ["FEATURE_NAMES", "OpenSmileLLD"]
