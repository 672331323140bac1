"""openSMILE functionals per utterance (eGeMAPSv02, ComParE_2016) as a feature-cache extractor.

Functionals are statistics over a whole utterance of openSMILE's low-level
descriptors: one vector per utterance, 88 values for the extended Geneva
Minimalistic Acoustic Parameter Set (eGeMAPSv02, Eyben et al., IEEE TAC 2016)
and 6373 for the INTERSPEECH 2016 ComParE set (Schuller et al., 2016). They
are computed by ``opensmile.Smile`` at ``FeatureLevel.Functionals``, on the
signal resampled to 16 kHz and clipped as the LLDs' (:func:`smile_input`):
the same speech gives the same functionals at any rate.

:class:`OpenSmileFunctionals` is an extractor for
:func:`speechbrain_drnsa.features.cache.extract_corpus`, so each vector is
cached like the LLDs, as a ``(1, features)`` array keyed by the set's config
hash (its configuration, level, rate, resampler and the openSMILE release) and the audio
file's fingerprint: edited audio or another openSMILE release is extracted
again, unchanged utterances are read back.
"""

import hashlib
from importlib.metadata import version
from os import PathLike

import numpy as np
import opensmile
import torch

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.opensmile import OpenSmileLLD, smile_input
from speechbrain_drnsa.features.resample import RESAMPLER
from speechbrain_drnsa.features.stock_sets import FEATURE_SETS, OpenSmileStockSet

__all__ = ["FEATURE_SETS", "FEATURE_SET_SIZES", "OpenSmileFunctionals"]

#: Values per utterance of each functional set (a model's ``functionals_size``).
FEATURE_SET_SIZES = {"eGeMAPSv02": 88, "ComParE_2016": 6373}


class OpenSmileFunctionals(OpenSmileStockSet):
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

    #: Sample rate openSMILE runs at, in Hz.
    sample_rate = OpenSmileLLD.sample_rate

    level = opensmile.FeatureLevel.Functionals
    kind = "functional set"

    @property
    def config_hash(self) -> str:
        """SHA-256 of the set's configuration, its level, rate, resampler and openSMILE release."""
        digest = hashlib.sha256(self.config.read_bytes())
        digest.update(
            f"{self.feature_set}|functionals|{self.sample_rate}|{RESAMPLER}|"
            f"opensmile {version('opensmile')}".encode()
        )
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
        vector = self.extract(signal, sample_rate)
        if not torch.isfinite(vector).all():
            raise InputFileError(path, f"openSMILE {self.feature_set} gave non-finite functionals")
        return vector

    def extract(self, signal: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """The functionals of one mono signal.

        Arguments
        ---------
        signal : torch.Tensor
            ``(samples,)`` or ``(channels, samples)`` floats in [-1, 1].
        sample_rate : int
            Its sample rate in Hz; resampled to 16 kHz if different.

        Returns
        -------
        torch.Tensor
            ``(1, features)`` float32.

        Raises
        ------
        ValueError
            For an empty or non-finite signal, or a bad sample rate.

        Example
        -------
        >>> OpenSmileFunctionals("eGeMAPSv02").extract(torch.randn(8000) * 0.1, 16000).shape
        torch.Size([1, 88])
        """
        samples = smile_input(signal, sample_rate, min_samples=1)
        frame = self._get_smile().process_signal(samples, self.sample_rate)
        return torch.from_numpy(frame.to_numpy()[:1].astype(np.float32))
