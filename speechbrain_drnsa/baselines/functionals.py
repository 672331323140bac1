"""openSMILE functionals of every utterance of a manifest, through the feature cache.

The classic baseline's input: one vector per utterance
(:class:`~speechbrain_drnsa.features.functionals.OpenSmileFunctionals`),
cached by :func:`~speechbrain_drnsa.features.cache.extract_corpus` like the LLDs.
"""

from os import PathLike

import numpy as np

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.cache import extract_corpus, load_features
from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.io import load_json

__all__ = ["extract_functionals"]


def extract_functionals(
    manifest_path: str | PathLike,
    feature_set: str,
    cache_dir: str | PathLike,
    data_root: str | PathLike | None = None,
) -> np.ndarray:
    """Functionals of every utterance of a manifest, in manifest order, through the cache.

    Arguments
    ---------
    manifest_path : str or PathLike
        SpeechBrain JSON manifest ``{utt_id: {"wav": path, ...}}``.
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.
    cache_dir : str or PathLike
        Feature cache folder (one subfolder per set and openSMILE release).
    data_root : str or PathLike, optional
        Value of ``{data_root}`` in the manifest's paths.

    Returns
    -------
    numpy.ndarray
        ``(utterances, features)`` float32.

    Raises
    ------
    InputFileError
        If the manifest is unusable or an utterance has no functionals (the
        error names the audio files and why).

    Example
    -------
    >>> import json, tempfile
    >>> import soundfile as sf
    >>> folder = tempfile.mkdtemp()
    >>> t = np.arange(16000) / 16000
    >>> sf.write(f"{folder}/a.wav", 0.3 * np.sin(2 * np.pi * 200 * t), 16000)
    >>> with open(f"{folder}/m.json", "w") as f:
    ...     json.dump({"a": {"wav": "{data_root}/a.wav"}}, f)
    >>> extract_functionals(f"{folder}/m.json", "eGeMAPSv02", f"{folder}/cache", folder).shape
    (1, 88)
    """
    report = extract_corpus(
        [manifest_path], cache_dir, data_root=data_root, extractor=OpenSmileFunctionals(feature_set)
    )
    if not report.ok:
        failures = "; ".join(f"{wav}: {why}" for wav, why in sorted(report.failures.items()))
        raise InputFileError(manifest_path, f"no {feature_set} functionals for {failures}")
    rows = [load_features(report.paths[utt]).numpy() for utt in load_json(manifest_path)]
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
