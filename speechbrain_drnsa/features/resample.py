"""The one resampler of the package: python-soxr, fast at any pair of rates.

Every feature (the 17 LLDs, the stock LLD sets, the utterance functionals)
is computed at the rate the models are trained at, 16 kHz, whatever the
file's rate, so the same speech gives the same features at 8, 22.05, 24.414,
44.1 or 48 kHz. :func:`resample` converts with libsoxr (through python-soxr,
librosa's default resampler) at its ``"HQ"`` quality. Its cost does not
depend on the ratio of the rates: about 1 ms for 5 s of audio at any rate,
where ``torchaudio.functional.resample`` builds a sinc kernel as long as the
reduced ratio, seconds for rates such as 24414 Hz that share a small divisor
with 16000 (BENCHMARKS.md). A signal already at the target rate is returned
as it is, so 16 kHz audio is never touched. :data:`RESAMPLER` names the
resampler in the config hashes of the extractors, so features computed
another way are recomputed, not read from the cache.
"""

import numpy as np
import soxr

__all__ = ["QUALITY", "RESAMPLER", "resample", "resampled_length"]

#: libsoxr's quality preset (python-soxr's and librosa's default).
QUALITY = "HQ"
#: What decides the resampled values, for the extractors' config hashes.
RESAMPLER = f"soxr {soxr.__libsoxr_version__} {QUALITY}"


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample a mono float32 signal; the same array back when the rates are equal.

    Arguments
    ---------
    samples : numpy.ndarray
        ``(samples,)`` float32.
    orig_rate : int
        Its sample rate in Hz.
    new_rate : int
        The rate wanted, in Hz.

    Returns
    -------
    numpy.ndarray
        ``(resampled_length(len(samples), orig_rate, new_rate),)`` float32.

    Example
    -------
    >>> x = np.sin(np.arange(24414, dtype=np.float32) / 5)
    >>> resample(x, 24414, 16000).shape, resample(x, 16000, 16000) is x
    ((16000,), True)
    """
    if orig_rate == new_rate:
        return samples
    return soxr.resample(np.ascontiguousarray(samples, dtype=np.float32), orig_rate, new_rate,
                         quality=QUALITY)


def resampled_length(num_samples: int, orig_rate: int, new_rate: int) -> int:
    """Length :func:`resample` returns: ``num_samples * new_rate / orig_rate``, rounded half up.

    Arguments
    ---------
    num_samples : int
        Length of the signal.
    orig_rate, new_rate : int
        Its rate and the rate wanted, in Hz.

    Returns
    -------
    int
        The resampled length (libsoxr's rounding, in double precision).

    Example
    -------
    >>> resampled_length(441, 44100, 16000), resampled_length(3, 48000, 16000)
    (160, 1)
    """
    if orig_rate == new_rate:
        return num_samples
    return int(num_samples * new_rate / orig_rate + 0.5)
