"""Waveform perturbation for offline data augmentation: speed, room, volume and noise.

A small corpus gains training material from perturbed copies of its audio
(Ko et al., "Audio augmentation for speech recognition", Interspeech 2015:
speed perturbation by resampling, as Kaldi does). The LLDs and functionals come
from openSMILE, outside the network, so the copies are made before extraction:
:class:`PerturbedLLD` and :class:`PerturbedFunctionals` are the extractors of
:mod:`~speechbrain_drnsa.features.opensmile` and
:mod:`~speechbrain_drnsa.features.functionals` that perturb every signal first,
with a config hash of their own, so that
:func:`~speechbrain_drnsa.features.cache.extract_corpus` caches each
perturbation in its own folder. The perturbation of a file is seeded by the
file's name, so the copies are the same on every run and machine, and the LLDs
and the functionals of a copy come from the same perturbed signal. Speed and
white noise are SpeechBrain's (``SpeedPerturb``, ``AddNoise``); pink and brown
noise are white noise shaped in the frequency domain and added at the SNR by
torchaudio (``add_noise``); a room is a synthetic impulse response (exponentially
decaying Gaussian noise after the direct sound, the statistical model of late
reverberation: Polack 1988) convolved by torchaudio (``fftconvolve``). No noise
or room corpus is needed. Everything is applied to the signal once resampled
to 16 kHz, where every speed factor is a ratio of small integers and the
perturbation is the same at any file rate.
"""

import hashlib
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
import torchaudio
from speechbrain.augment.time_domain import AddNoise, SpeedPerturb

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.features.resample import resample

__all__ = [
    "NOISE_COLOURS", "PerturbedFunctionals", "PerturbedLLD", "WaveformPerturbation",
    "coloured_noise", "synthetic_room_response",
]

#: Noise spectra: power falling as 1 / f ** exponent (white 0, pink 1, brown 2).
NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


@dataclass(frozen=True)
class WaveformPerturbation:
    """One fixed perturbation of a signal.

    Arguments
    ---------
    speed : float
        Speed factor, as Kaldi's speed perturbation: the signal is resampled,
        so tempo and pitch both change (1.1: 10% faster and higher).
    gain_db : float
        Volume change in dB.
    snr_db : float, optional
        Add noise at this signal-to-noise ratio in dB (None: no noise).
    snr_high_db : float, optional
        With it, each file's SNR is drawn uniformly from ``snr_db`` to
        ``snr_high_db`` (seeded by the file, as the noise is): one copy covers
        several SNRs.
    noise : str
        Its colour, a key of :data:`NOISE_COLOURS`.
    rt60_s : float, optional
        Reverberate in a synthetic room whose sound decays by 60 dB in this
        many seconds (:func:`synthetic_room_response`; None: dry).

    Example
    -------
    >>> perturbation = WaveformPerturbation(speed=1.1, snr_db=20)
    >>> perturbation.name
    'speed1.1_snr20dB'
    >>> perturbation(torch.ones(16000), 16000, seed=0).shape
    torch.Size([14546])
    >>> WaveformPerturbation(rt60_s=0.5, snr_db=10, noise="pink").name
    'rt60-0.5s_snr10dB-pink'
    >>> WaveformPerturbation(snr_db=0, snr_high_db=20, noise="pink").name
    'snr0-20dB-pink'
    """

    speed: float = 1.0
    gain_db: float = 0.0
    snr_db: float | None = None
    snr_high_db: float | None = None
    noise: str = "white"
    rt60_s: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.speed, (int, float)) and 0.5 <= self.speed <= 2.0):
            raise ValueError(f"speed must be a factor from 0.5 to 2, got {self.speed!r}")
        if not (isinstance(self.gain_db, (int, float)) and math.isfinite(self.gain_db)):
            raise ValueError(f"gain_db must be a finite number, got {self.gain_db!r}")
        if self.snr_db is not None and not (
            isinstance(self.snr_db, (int, float)) and math.isfinite(self.snr_db)
        ):
            raise ValueError(f"snr_db must be a finite number or None, got {self.snr_db!r}")
        if self.snr_high_db is not None and not (
            self.snr_db is not None and isinstance(self.snr_high_db, (int, float))
            and self.snr_db <= self.snr_high_db < math.inf
        ):
            raise ValueError(f"snr_high_db must be a finite number from snr_db up, got "
                             f"{self.snr_high_db!r} with snr_db {self.snr_db!r}")
        if self.noise not in NOISE_COLOURS:
            raise ValueError(f"noise must be one of {', '.join(NOISE_COLOURS)}, got {self.noise!r}")
        if self.rt60_s is not None and not (
            isinstance(self.rt60_s, (int, float)) and 0.05 <= self.rt60_s <= 3.0
        ):
            raise ValueError(f"rt60_s must be from 0.05 to 3 seconds or None, got {self.rt60_s!r}")

    @property
    def name(self) -> str:
        """A short readable name, unique to the settings (``"none"`` for the identity)."""
        parts = []
        if self.speed != 1.0:
            parts.append(f"speed{self.speed:g}")
        if self.rt60_s is not None:
            parts.append(f"rt60-{self.rt60_s:g}s")
        if self.gain_db != 0.0:
            parts.append(f"gain{self.gain_db:+g}dB")
        if self.snr_db is not None:
            # white noise keeps the name it had before noise had colours (its cache folder)
            colour = "" if self.noise == "white" else f"-{self.noise}"
            high = "" if self.snr_high_db is None else f"-{self.snr_high_db:g}"
            parts.append(f"snr{self.snr_db:g}{high}dB{colour}")
        return "_".join(parts) or "none"

    def __call__(self, signal: torch.Tensor, sample_rate: int, seed: int) -> torch.Tensor:
        """Perturb a ``(samples,)`` signal; the noise is drawn from ``seed``.

        Arguments
        ---------
        signal : torch.Tensor
            ``(samples,)`` floats.
        sample_rate : int
            Its sample rate in Hz.
        seed : int
            Seed of the noise and of the room.

        Returns
        -------
        torch.Tensor
            ``(samples / speed,)`` perturbed signal.
        """
        batch = signal.float().unsqueeze(0)
        if self.speed != 1.0:
            batch = SpeedPerturb(sample_rate, speeds=[100 * self.speed])(batch)
        if self.rt60_s is not None:
            room = synthetic_room_response(self.rt60_s, sample_rate, seed)
            # the tail past the dry signal's end is cut: the copy keeps its frame count
            batch = torchaudio.functional.fftconvolve(batch, room[None, :])[:, : batch.shape[1]]
        if self.gain_db != 0.0:
            batch = batch * 10 ** (self.gain_db / 20)
        high = self.snr_db if self.snr_high_db is None else self.snr_high_db
        if self.snr_db is not None and self.noise == "white":
            add_noise = AddNoise(snr_low=self.snr_db, snr_high=high)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                batch = add_noise(batch, torch.ones(1))
        elif self.snr_db is not None:
            draw = torch.rand(1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            snr = self.snr_db + (high - self.snr_db) * float(draw)
            noise = coloured_noise(batch.shape[1], NOISE_COLOURS[self.noise], seed)
            batch = torchaudio.functional.add_noise(batch, noise[None, :], torch.tensor([snr]))
        return batch.squeeze(0)


def coloured_noise(samples: int, exponent: float, seed: int) -> torch.Tensor:
    """Gaussian noise whose power falls as ``1 / f ** exponent``, unit RMS.

    Arguments
    ---------
    samples : int
        Length.
    exponent : float
        0 white, 1 pink, 2 brown (:data:`NOISE_COLOURS`).
    seed : int
        Seed of the draw (the global generator is left alone).

    Returns
    -------
    torch.Tensor
        ``(samples,)`` float32 with RMS 1.

    Example
    -------
    >>> pink = coloured_noise(16000, 1.0, seed=0)
    >>> pink.shape, round(float(pink.pow(2).mean().sqrt()), 4)
    (torch.Size([16000]), 1.0)
    """
    generator = torch.Generator().manual_seed(seed)
    white = torch.randn(samples, generator=generator, dtype=torch.float64)
    spectrum = torch.fft.rfft(white)
    frequencies = torch.arange(spectrum.shape[0], dtype=torch.float64)
    # amplitude falls as f ** (-exponent / 2); the DC bin keeps the first bin's weight
    spectrum = spectrum * frequencies.clamp(min=1.0) ** (-exponent / 2)
    noise = torch.fft.irfft(spectrum, n=samples)
    noise = noise - noise.mean()
    return (noise / noise.pow(2).mean().sqrt()).float()


def synthetic_room_response(rt60_s: float, sample_rate: int, seed: int) -> torch.Tensor:
    """A room impulse response: the direct sound, then exponentially decaying noise.

    The late reverberation of a diffuse room is Gaussian noise under an
    envelope that falls by 60 dB in ``rt60_s`` (Polack's statistical model);
    the direct sound is a unit impulse and the reverberant tail starts 2.5 ms
    later with its energy equal to the direct sound's in a room of RT60 0.5 s
    (longer rooms: more reverberant energy). The response is scaled to unit
    energy, so the signal keeps its level and only its reverberation changes.

    Arguments
    ---------
    rt60_s : float
        Reverberation time in seconds.
    sample_rate : int
        Rate of the signal it will be convolved with, in Hz.
    seed : int
        Seed of the noise tail (the global generator is left alone).

    Returns
    -------
    torch.Tensor
        ``(samples,)`` float32 of ``rt60_s`` seconds, unit energy.

    Example
    -------
    >>> room = synthetic_room_response(0.5, 16000, seed=0)
    >>> room.shape, round(float(room.pow(2).sum()), 4), int(room.abs().argmax())
    (torch.Size([8000]), 1.0, 0)
    """
    samples = max(int(rt60_s * sample_rate), 2)
    generator = torch.Generator().manual_seed(seed)
    time = torch.arange(samples, dtype=torch.float64) / sample_rate
    # amplitude falls by 10 ** (-60 / 20) over rt60_s
    envelope = torch.exp(-3 * math.log(10) * time / rt60_s)
    tail = torch.randn(samples, generator=generator, dtype=torch.float64) * envelope
    tail[: max(int(0.0025 * sample_rate), 1)] = 0.0
    tail = tail * (rt60_s / 0.5) ** 0.5 / tail.pow(2).sum().sqrt()
    response = tail
    response[0] = 1.0
    return (response / response.pow(2).sum().sqrt()).float()


class _Perturbed:
    """Perturb every signal before the extractor it is mixed into extracts it."""

    perturbation: WaveformPerturbation

    @property
    def config_hash(self) -> str:
        """The extractor's config hash combined with the perturbation's name."""
        return _sha256(f"{super().config_hash}|{self.perturbation.name}")

    def extract_file(self, path: str | PathLike) -> torch.Tensor:
        """Read an audio file, resample it to 16 kHz, perturb it (seeded by its name), extract.

        Arguments
        ---------
        path : str or PathLike
            Any audio file libsndfile reads.

        Returns
        -------
        torch.Tensor
            The extractor's features of the perturbed signal.

        Raises
        ------
        InputFileError
            If openSMILE gives non-finite values for the perturbed signal.
        """
        signal, sample_rate = read_audio(path)
        signal = torch.from_numpy(resample(signal.numpy(), sample_rate, self.sample_rate))
        seed = int(_sha256(f"{Path(path).name}|{self.perturbation.name}")[:8], 16)
        features = self.extract(self.perturbation(signal, self.sample_rate, seed), self.sample_rate)
        if not torch.isfinite(features).all():
            raise InputFileError(path, f"non-finite features after {self.perturbation.name}")
        return features


class PerturbedLLD(_Perturbed, OpenSmileLLD):
    """The 17 LLDs of perturbed audio: perturb every signal, then extract.

    Arguments
    ---------
    perturbation : WaveformPerturbation
        What to do to every signal.
    config : str or PathLike, optional
        openSMILE configuration (default: the packaged one).

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> path = f"{tempfile.mkdtemp()}/a.wav"
    >>> soundfile.write(path, 0.1 * numpy.sin(numpy.arange(16000) / 10), 16000)
    >>> slower = PerturbedLLD(WaveformPerturbation(speed=0.9))
    >>> slower.extract_file(path).shape, OpenSmileLLD().extract_file(path).shape
    (torch.Size([108, 17]), torch.Size([97, 17]))
    >>> slower.config_hash != OpenSmileLLD().config_hash
    True
    """

    def __init__(self, perturbation: WaveformPerturbation, config: str | PathLike | None = None):
        super().__init__(config)
        self.perturbation = perturbation


class PerturbedFunctionals(_Perturbed, OpenSmileFunctionals):
    """The functionals of perturbed audio, from the same perturbed signal as its LLDs.

    Arguments
    ---------
    perturbation : WaveformPerturbation
        What to do to every signal.
    feature_set : str
        ``"eGeMAPSv02"`` or ``"ComParE_2016"``.

    Example
    -------
    >>> extractor = PerturbedFunctionals(WaveformPerturbation(rt60_s=0.4), "eGeMAPSv02")
    >>> extractor.extract(0.1 * torch.randn(16000), 16000).shape
    torch.Size([1, 88])
    >>> extractor.config_hash != OpenSmileFunctionals("eGeMAPSv02").config_hash
    True
    """

    def __init__(self, perturbation: WaveformPerturbation, feature_set: str):
        super().__init__(feature_set)
        self.perturbation = perturbation


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
