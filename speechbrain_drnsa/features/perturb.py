"""Waveform perturbation for offline data augmentation: speed, volume and white noise.

A small corpus gains training material from perturbed copies of its audio
(Ko et al., "Audio augmentation for speech recognition", Interspeech 2015:
speed perturbation by resampling, as Kaldi does). The LLDs come from
openSMILE, outside the network, so the copies are made before extraction:
:class:`PerturbedLLD` is an :class:`~speechbrain_drnsa.features.opensmile.OpenSmileLLD`
that perturbs every signal first, with a config hash of its own, so that
:func:`~speechbrain_drnsa.features.cache.extract_corpus` caches each
perturbation in its own folder. The perturbation of a file is seeded by the
file's name, so the copies are the same on every run and machine. Speed and
noise are SpeechBrain's (``SpeedPerturb``, ``AddNoise`` with white noise),
applied to the signal once resampled to 16 kHz, where every speed factor is
a ratio of small integers and the perturbation is the same at any file rate.
"""

import hashlib
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
from speechbrain.augment.time_domain import AddNoise, SpeedPerturb

from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.features.resample import resample

__all__ = ["PerturbedLLD", "WaveformPerturbation"]


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
        Add white noise at this signal-to-noise ratio in dB (None: no noise).

    Example
    -------
    >>> perturbation = WaveformPerturbation(speed=1.1, snr_db=20)
    >>> perturbation.name
    'speed1.1_snr20dB'
    >>> perturbation(torch.ones(16000), 16000, seed=0).shape
    torch.Size([14546])
    """

    speed: float = 1.0
    gain_db: float = 0.0
    snr_db: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.speed, (int, float)) and 0.5 <= self.speed <= 2.0):
            raise ValueError(f"speed must be a factor from 0.5 to 2, got {self.speed!r}")
        if not (isinstance(self.gain_db, (int, float)) and math.isfinite(self.gain_db)):
            raise ValueError(f"gain_db must be a finite number, got {self.gain_db!r}")
        if self.snr_db is not None and not (
            isinstance(self.snr_db, (int, float)) and math.isfinite(self.snr_db)
        ):
            raise ValueError(f"snr_db must be a finite number or None, got {self.snr_db!r}")

    @property
    def name(self) -> str:
        """A short readable name, unique to the settings (``"none"`` for the identity)."""
        parts = []
        if self.speed != 1.0:
            parts.append(f"speed{self.speed:g}")
        if self.gain_db != 0.0:
            parts.append(f"gain{self.gain_db:+g}dB")
        if self.snr_db is not None:
            parts.append(f"snr{self.snr_db:g}dB")
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
            Seed of the noise.

        Returns
        -------
        torch.Tensor
            ``(samples / speed,)`` perturbed signal.
        """
        batch = signal.float().unsqueeze(0)
        if self.speed != 1.0:
            batch = SpeedPerturb(sample_rate, speeds=[100 * self.speed])(batch)
        if self.gain_db != 0.0:
            batch = batch * 10 ** (self.gain_db / 20)
        if self.snr_db is not None:
            add_noise = AddNoise(snr_low=self.snr_db, snr_high=self.snr_db)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                batch = add_noise(batch, torch.ones(1))
        return batch.squeeze(0)


class PerturbedLLD(OpenSmileLLD):
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

    @property
    def config_hash(self) -> str:
        """The openSMILE config hash combined with the perturbation's name."""
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
            ``(frames, 17)`` float32.
        """
        signal, sample_rate = read_audio(path)
        signal = torch.from_numpy(resample(signal.numpy(), sample_rate, self.sample_rate))
        seed = int(_sha256(f"{Path(path).name}|{self.perturbation.name}")[:8], 16)
        return self.extract(self.perturbation(signal, self.sample_rate, seed), self.sample_rate)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
