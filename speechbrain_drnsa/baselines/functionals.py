"""openSMILE functionals per utterance (eGeMAPSv02, ComParE_2016), through the feature cache.

Functionals are statistics over a whole utterance of openSMILE's low-level
descriptors: one vector per utterance, 88 values for the extended Geneva
Minimalistic Acoustic Parameter Set (eGeMAPSv02, Eyben et al., IEEE TAC 2016)
and 6373 for the INTERSPEECH 2016 ComParE set (Schuller et al., 2016). They
are computed by ``opensmile.Smile`` at ``FeatureLevel.Functionals``.

:class:`OpenSmileFunctionals` is an extractor for
:func:`speechbrain_drnsa.features.cache.extract_corpus`, so each vector is
cached like the LLDs, as a ``(1, features)`` array keyed by the set's config
hash (its configuration, level and the openSMILE release) and the audio
file's fingerprint: edited audio or another openSMILE release is extracted
again, unchanged utterances are read back.
"""

import hashlib
from importlib.metadata import version
from os import PathLike
from pathlib import Path

import numpy as np
import opensmile
import torch

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.cache import extract_corpus, load_features
from speechbrain_drnsa.io import load_json

__all__ = ["FEATURE_SETS", "OpenSmileFunctionals", "extract_functionals"]

#: Functional sets by name, as openSMILE names them.
FEATURE_SETS = {
    "eGeMAPSv02": opensmile.FeatureSet.eGeMAPSv02,
    "ComParE_2016": opensmile.FeatureSet.ComParE_2016,
}


class OpenSmileFunctionals:
    """One openSMILE functional set as a feature-cache extractor.

    Arguments
    ---------
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.

    Raises
    ------
    ValueError
        If the set is unknown.

    Example
    -------
    >>> extractor = OpenSmileFunctionals("eGeMAPSv02")
    >>> extractor.config.name, len(extractor.config_hash)
    ('eGeMAPSv02.conf', 64)
    """

    def __init__(self, feature_set: str):
        if feature_set not in FEATURE_SETS:
            raise ValueError(
                f"unknown functional set {feature_set!r}; expected one of {', '.join(FEATURE_SETS)}"
            )
        self.feature_set = feature_set
        self._smile: opensmile.Smile | None = None

    @property
    def config(self) -> Path:
        """openSMILE's configuration file of the set."""
        return Path(self._get_smile().config_path)

    @property
    def config_hash(self) -> str:
        """SHA-256 of the set's configuration, its level and the openSMILE release."""
        digest = hashlib.sha256(self.config.read_bytes())
        digest.update(f"{self.feature_set}|functionals|opensmile {version('opensmile')}".encode())
        return digest.hexdigest()

    def extract_file(self, path: str | PathLike) -> torch.Tensor:
        """The functionals of one audio file.

        Arguments
        ---------
        path : str or PathLike
            Any audio file :func:`~speechbrain_drnsa.features.audio.read_audio` reads.

        Returns
        -------
        torch.Tensor
            ``(1, features)`` float32.

        Raises
        ------
        InputFileError
            If the file cannot be read or openSMILE gives non-finite values.
        """
        signal, sample_rate = read_audio(path)
        vector = self._get_smile().process_signal(signal.numpy(), sample_rate).to_numpy()
        vector = vector[:1].astype(np.float32)
        if not np.isfinite(vector).all():
            raise InputFileError(path, f"openSMILE {self.feature_set} gave non-finite functionals")
        return torch.from_numpy(vector)

    def __getstate__(self) -> dict:
        # the openSMILE object wraps a C library handle: rebuild it in the new process
        return {**self.__dict__, "_smile": None}

    def _get_smile(self) -> opensmile.Smile:
        if self._smile is None:
            self._smile = opensmile.Smile(
                feature_set=FEATURE_SETS[self.feature_set],
                feature_level=opensmile.FeatureLevel.Functionals,
            )
        return self._smile


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
