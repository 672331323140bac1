"""openSMILE functionals per utterance (eGeMAPSv02, ComParE_2016), cached as ``.npy`` files.

Functionals are statistics over a whole utterance of openSMILE's low-level
descriptors: one vector per utterance, 88 values for the extended Geneva
Minimalistic Acoustic Parameter Set (eGeMAPSv02, Eyben et al., IEEE TAC 2016)
and 6373 for the INTERSPEECH 2016 ComParE set (Schuller et al., 2016). They
are computed by ``opensmile.Smile`` at ``FeatureLevel.Functionals``.

Each vector is stored once, keyed like the LLD cache of
:mod:`speechbrain_drnsa.features.cache`, as
``<cache_dir>/<feature set>-opensmile<version>/<utt_id>.<audio hash>.npy``
(the first 16 hex digits of the SHA-256 of the audio file's bytes): edited
audio or another openSMILE release is extracted again, unchanged utterances
are read back.
"""

import hashlib
import logging
import os
import uuid
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import opensmile

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.audio import read_audio

__all__ = ["FEATURE_SETS", "functionals_extractor", "extract_functionals"]

logger = logging.getLogger(__name__)

#: Functional sets by name, as openSMILE names them.
FEATURE_SETS = {
    "eGeMAPSv02": opensmile.FeatureSet.eGeMAPSv02,
    "ComParE_2016": opensmile.FeatureSet.ComParE_2016,
}


def functionals_extractor(feature_set: str) -> opensmile.Smile:
    """Build openSMILE's extractor of one functional set.

    Arguments
    ---------
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.

    Returns
    -------
    opensmile.Smile
        Extracts one row of functionals per signal.

    Example
    -------
    >>> len(functionals_extractor("eGeMAPSv02").feature_names)
    88
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(
            f"unknown functional set {feature_set!r}; expected one of {', '.join(FEATURE_SETS)}"
        )
    return opensmile.Smile(
        feature_set=FEATURE_SETS[feature_set], feature_level=opensmile.FeatureLevel.Functionals
    )


def extract_functionals(
    manifest: Mapping[str, Mapping[str, Any]],
    feature_set: str,
    cache_dir: str | PathLike,
    data_root: str | PathLike | None = None,
) -> np.ndarray:
    """Functionals of every utterance of a manifest, in manifest order, through the cache.

    Arguments
    ---------
    manifest : mapping
        ``{utt_id: {"wav": path, ...}}``; ``{data_root}`` in paths is replaced
        by ``data_root``.
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.
    cache_dir : str or PathLike
        Cache folder; the set's vectors go to a subfolder named after it and
        the openSMILE version.
    data_root : str or PathLike, optional
        Value of ``{data_root}``; needed when the paths use it.

    Returns
    -------
    numpy.ndarray
        ``(utterances, features)`` float32.

    Example
    -------
    >>> import tempfile
    >>> import soundfile as sf
    >>> folder = tempfile.mkdtemp()
    >>> t = np.arange(16000) / 16000
    >>> sf.write(f"{folder}/a.wav", 0.3 * np.sin(2 * np.pi * 200 * t), 16000)
    >>> manifest = {"a": {"wav": "{data_root}/a.wav"}}
    >>> extract_functionals(manifest, "eGeMAPSv02", f"{folder}/cache", folder).shape
    (1, 88)
    """
    extractor = functionals_extractor(feature_set)
    folder = Path(cache_dir) / f"{feature_set}-opensmile{opensmile.__version__}"
    folder.mkdir(parents=True, exist_ok=True)
    rows, extracted = [], 0
    for utt, entry in manifest.items():
        audio = _audio_path(utt, entry, data_root)
        cached = folder / f"{utt}.{_fingerprint(audio)}.npy"
        if cached.is_file():
            rows.append(np.load(cached))
            continue
        signal, sample_rate = read_audio(audio)
        vector = extractor.process_signal(signal.numpy(), sample_rate).to_numpy()[0]
        vector = vector.astype(np.float32)
        if not np.isfinite(vector).all():
            raise InputFileError(audio, f"openSMILE {feature_set} gave non-finite functionals")
        _save_atomic(vector, cached)
        rows.append(vector)
        extracted += 1
        if extracted % 100 == 0:
            logger.info("%s: %d utterances extracted", feature_set, extracted)
    logger.info("%s functionals: %d extracted, %d from the cache %s",
                feature_set, extracted, len(rows) - extracted, folder)
    return np.stack(rows)


def _audio_path(utt: str, entry: Mapping[str, Any], data_root: str | PathLike | None) -> Path:
    """The audio file of a manifest entry, ``{data_root}`` filled in."""
    wav = str(entry["wav"])
    if "{data_root}" in wav:
        if data_root is None:
            raise ValueError(f"{utt}: the manifest path {wav!r} needs a data_root")
        wav = wav.replace("{data_root}", str(data_root))
    return Path(wav)


def _fingerprint(audio: Path) -> str:
    """First 16 hex digits of the SHA-256 of the audio file's bytes."""
    try:
        data = audio.read_bytes()
    except OSError as err:
        raise InputFileError(audio, f"cannot read the audio file ({err.strerror})") from None
    return hashlib.sha256(data).hexdigest()[:16]


def _save_atomic(vector: np.ndarray, path: Path) -> None:
    # same folder, so os.replace is an atomic rename: no half-written cache entry
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.npy")
    try:
        np.save(tmp, vector)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
