"""A small synthetic emotional speech corpus in IEMOCAP's on-disk layout.

IEMOCAP is licensed, so the package ships a generator instead: 10 speakers (a woman
and a man in each of 5 sessions) speaking voiced, speech-like babble whose four kept
classes differ in prosody the way acted emotions do (Banse & Scherer, 1996):

========  =======  ===========  ========  ======  ==============
class     pitch    pitch range  loudness  rate    spectral tilt
========  =======  ===========  ========  ======  ==============
ang       high     medium       loud      fast    flat
hap       high     wide         medium    fast    medium
neu       middle   narrow       medium    medium  medium-steep
sad       low      very narrow  quiet     slow    steep
========  =======  ===========  ========  ======  ==============

Each utterance is a glottal pulse train following an F0 contour, shaped by a
one-pole tilt filter and vowel formant resonators, cut into syllables by an
amplitude envelope with pauses, with fricative bursts and a little breath noise.
Speakers differ in F0 (women higher), formant scale, loudness, tilt and rate, and
every utterance draws its own variation, so classes overlap a little.

The EmoEvaluation files are written as the release writes them: header, tab
separated summary lines, categorical (``C-E2:``) and attribute (``A-E3:``)
evaluator lines, dropped labels (``fru``, ``xxx`` ...) and a ``Categorical/``
subfolder. ``demo_labels.json`` (outside the Session folders, written last) records
the label of every turn.
"""

import logging
import wave
from dataclasses import astuple, dataclass, replace
from os import PathLike
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from speechbrain_drnsa.io import write_json_atomic

__all__ = ["make_demo_corpus", "DEMO_LABELS_NAME"]

logger = logging.getLogger(__name__)

#: File, directly inside the corpus folder, mapping every turn to its written label.
DEMO_LABELS_NAME = "demo_labels.json"

_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"

# Three dialogs per session, including the real names that defeat fixed positions.
_DIALOGS = {
    1: ("Ses01F_impro01", "Ses01F_script01_1", "Ses01M_impro02"),
    2: ("Ses02F_impro03", "Ses02M_script02_1", "Ses02M_impro04"),
    3: ("Ses03M_impro05a", "Ses03M_impro08b", "Ses03F_script01_2"),
    4: ("Ses04F_impro06", "Ses04M_script02_2", "Ses04F_impro07"),
    5: ("Ses05M_script01_1b", "Ses05F_impro02", "Ses05M_impro03"),
}
_DROPPED = ("fru", "xxx", "sur", "fru", "xxx", "fea", "oth", "dis")
_CATEGORY = {
    "neu": "Neutral", "hap": "Happiness", "exc": "Excited", "sad": "Sadness",
    "ang": "Anger", "fru": "Frustration", "sur": "Surprise", "fea": "Fear",
    "oth": "Other", "dis": "Disgust",
}
# Mean (valence, activation, dominance) the attribute evaluators give each label.
_VAD = {
    "neu": (3.0, 2.5, 3.0), "hap": (4.0, 3.5, 3.0), "exc": (4.0, 4.0, 3.5),
    "sad": (2.0, 2.0, 2.0), "ang": (1.5, 4.0, 4.0), "fru": (2.0, 3.5, 3.5),
}
# F1, F2, F3 (Hz) of five vowels for an adult male; speakers scale them.
_VOWELS = np.array(
    [[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]]
)
_FORMANT_BANDWIDTHS = (90.0, 110.0, 170.0)
_REFERENCE_DBFS = -26.0


@dataclass(frozen=True)
class _Style:
    """Prosody of one class."""

    f0_factor: float  # times the speaker's base F0
    range_st: float  # spread of the pitch contour, semitones
    level_db: float  # loudness relative to neutral
    rate: float  # syllables per second
    tilt: float  # pole of the source low-pass: higher is a steeper spectral tilt
    pause: float  # probability of a pause after a syllable
    breath: float  # aspiration noise relative to the voice


_STYLES = {
    "ang": _Style(1.32, 2.4, 7.0, 5.6, 0.50, 0.08, 0.02),
    "hap": _Style(1.28, 5.0, 2.5, 4.8, 0.72, 0.12, 0.03),
    "neu": _Style(1.00, 1.6, 0.0, 3.9, 0.84, 0.18, 0.03),
    "sad": _Style(0.86, 0.8, -7.0, 2.7, 0.93, 0.32, 0.05),
}


@dataclass(frozen=True)
class _Speaker:
    """Voice of one actor."""

    f0: float
    formant_scale: float
    level_db: float
    tilt_shift: float
    rate_scale: float


def make_demo_corpus(
    out: str | PathLike,
    seed: int = 1234,
    utterances_per_class: int = 6,
    dropped_per_speaker: int = 6,
    sample_rate: int = 16000,
) -> Path:
    """Write the synthetic corpus: ``Session1..5`` as in IEMOCAP, plus ``demo_labels.json``.

    Each of the 10 speakers gets ``utterances_per_class`` turns of each kept class
    (the happy ones split between ``hap`` and ``exc``) and ``dropped_per_speaker`` turns
    with labels that preparation drops, each 1.5 to 3.5 s of 16-bit mono audio. The
    same seed gives byte-identical files.

    Arguments
    ---------
    out : str or PathLike
        Folder to write to (created if needed); it plays ``IEMOCAP_full_release``.
    seed : int
        Seed of every random choice.
    utterances_per_class : int
        Turns per speaker of each of neu, hap (+exc), sad, ang.
    dropped_per_speaker : int
        Turns per speaker labelled fru, xxx, sur, fea, oth or dis.
    sample_rate : int
        Sampling rate of the wavs.

    Returns
    -------
    pathlib.Path
        ``out``, ready for :func:`speechbrain_drnsa.data.iemocap.prepare_iemocap`.

    Example
    -------
    >>> import tempfile
    >>> root = make_demo_corpus(tempfile.mkdtemp(), utterances_per_class=1,
    ...                         dropped_per_speaker=1)
    >>> sorted(p.name for p in root.iterdir())
    ['Session1', 'Session2', 'Session3', 'Session4', 'Session5', 'demo_labels.json']
    >>> len(list(root.glob("Session*/sentences/wav/*/*.wav")))
    50
    """
    if utterances_per_class < 1 or dropped_per_speaker < 0:
        raise ValueError("need utterances_per_class >= 1 and dropped_per_speaker >= 0")
    out = Path(out)
    rng = np.random.default_rng(seed)
    labels: dict[str, str] = {}
    index = 0
    for session, dialogs in _DIALOGS.items():
        speakers = {gender: _draw_speaker(gender, rng) for gender in "FM"}
        turns = {
            gender: _speaker_turns(utterances_per_class, dropped_per_speaker, rng)
            for gender in "FM"
        }
        n_dialogs = min(len(dialogs), len(turns["F"]))
        for d, dialog in enumerate(dialogs[:n_dialogs]):
            dialog_turns = {gender: turns[gender][d::n_dialogs] for gender in "FM"}
            timed = _timeline(dialog, dialog_turns, sample_rate, rng)
            folder = out / f"Session{session}"
            _write_evaluation(folder / "dialog" / "EmoEvaluation", dialog, timed, rng)
            for utt, label, _, _, n_samples in timed:
                audio = _synthesise(
                    _style(label, np.random.default_rng([seed, index])),
                    speakers[utt.rsplit("_", 1)[1][0]],
                    n_samples,
                    sample_rate,
                    np.random.default_rng([seed, index, 1]),
                )
                _write_wav(folder / "sentences" / "wav" / dialog / f"{utt}.wav", audio,
                           sample_rate)
                labels[utt] = label
                index += 1
    write_json_atomic(dict(sorted(labels.items())), out / DEMO_LABELS_NAME)
    logger.info("demo corpus: %d turns of 10 speakers in %s", len(labels), out)
    return out


def _draw_speaker(gender: str, rng: np.random.Generator) -> _Speaker:
    """A voice: women have a higher F0 and shorter vocal tract (higher formants)."""
    female = gender == "F"
    return _Speaker(
        f0=rng.uniform(185, 235) if female else rng.uniform(100, 135),
        formant_scale=rng.uniform(1.10, 1.20) if female else rng.uniform(0.95, 1.03),
        level_db=rng.uniform(-3, 3),
        tilt_shift=rng.uniform(-0.03, 0.03),
        rate_scale=rng.uniform(0.9, 1.1),
    )


def _speaker_turns(per_class: int, dropped: int, rng: np.random.Generator) -> list[str]:
    """Shuffled labels of one speaker's turns."""
    happy = ["hap"] * (per_class // 2) + ["exc"] * (per_class - per_class // 2)
    labels = ["neu", "sad", "ang"] * per_class + happy
    labels += [_DROPPED[k % len(_DROPPED)] for k in range(dropped)]
    return [str(label) for label in rng.permutation(labels)]


def _timeline(
    dialog: str, turns: dict[str, list[str]], sample_rate: int, rng: np.random.Generator
) -> list[tuple[str, str, float, float, int]]:
    """(utterance id, label, start s, end s, samples) of a dialog's turns, in time order."""
    order = rng.permutation(["F"] * len(turns["F"]) + ["M"] * len(turns["M"]))
    taken = {"F": 0, "M": 0}
    time = rng.uniform(1.0, 4.0)
    timed = []
    for gender in order:
        k = taken[gender]
        taken[gender] += 1
        n_samples = int(round(rng.uniform(1.5, 3.5) * sample_rate))
        start = round(time, 4)
        end = round(start + n_samples / sample_rate, 4)
        timed.append((f"{dialog}_{gender}{k:03d}", turns[gender][k], start, end, n_samples))
        time = end + rng.uniform(0.3, 2.0)
    return timed


def _write_evaluation(
    folder: Path,
    dialog: str,
    timed: list[tuple[str, str, float, float, int]],
    rng: np.random.Generator,
) -> None:
    """``<dialog>.txt`` as the release writes it, and its ``Categorical/`` file."""
    # The release lists each actor's turns as a group: F000, F001 ..., then M000 ...
    ordered = sorted(timed, key=lambda turn: turn[0])
    blocks, categorical = [], []
    for utt, label, start, end, _ in ordered:
        block, main_category = _evaluator_block(utt, label, rng)
        vad = block.pop()
        blocks.append(f"[{start:.4f} - {end:.4f}]\t{utt}\t{label}\t{vad}\n" + "".join(block))
        category = "Neutral state" if main_category == "Neutral" else main_category
        categorical.append(f"{utt} :{category}; ()\n")
    (folder / "Categorical").mkdir(parents=True, exist_ok=True)
    (folder / f"{dialog}.txt").write_text(_HEADER + "\n".join(blocks) + "\n", encoding="ascii")
    (folder / "Categorical" / f"{dialog}_e2_cat.txt").write_text(
        "".join(categorical), encoding="ascii"
    )


def _evaluator_block(utt: str, label: str, rng: np.random.Generator) -> tuple[list[str], str]:
    """Evaluator lines whose majority gives ``label`` (none for xxx), then the [v, a, d].

    Returns the lines (the last item is the summary's ``[v, a, d]`` text) and the
    category the first evaluator chose.
    """
    others = [name for code, name in _CATEGORY.items() if code != label]
    if label == "xxx":
        chosen = [str(name) for name in rng.choice(others, size=3, replace=False)]
    else:
        chosen = [_CATEGORY[label]] * 2 + [str(rng.choice([_CATEGORY[label]] + others))]
        chosen = [str(name) for name in rng.permutation(chosen)]
    self_letter = utt.rsplit("_", 1)[1][0]
    lines = []
    for evaluator, category in zip(("C-E2", "C-E3", "C-E4"), chosen):
        extra = f" {rng.choice(others)};" if rng.random() < 0.1 else ""
        lines.append(f"{evaluator}:\t{category};{extra}\t()\n")
    lines.append(f"C-{self_letter}1:\t{rng.choice(list(_CATEGORY.values()))};\t()\n")
    means = np.array(_VAD.get(label, (3.0, 3.0, 3.0)))
    scores = np.clip(np.round(means + rng.normal(0, 0.7, size=(3, 3))), 1, 5).astype(int)
    for evaluator, (val, act, dom) in zip(("A-E3", "A-E4", f"A-{self_letter}1"), scores):
        lines.append(f"{evaluator}:\tval {val}; act {act}; dom  {dom};\t()\n")
    # The summary's V/A/D is the mean of the A-E evaluators only, not the self-rating.
    vad = scores[:2].mean(axis=0)
    lines.append(f"[{vad[0]:.4f}, {vad[1]:.4f}, {vad[2]:.4f}]")
    return lines, chosen[0]


def _style(label: str, rng: np.random.Generator) -> _Style:
    """Prosody of a label; dropped labels mix two kept classes."""
    if label in _STYLES:
        return _STYLES[label]
    if label == "exc":
        return _STYLES["hap"]
    first, second = rng.choice(sorted(_STYLES), size=2, replace=False)
    weight = rng.uniform(0.3, 0.7)
    a, b = _STYLES[first], _STYLES[second]
    return _Style(*(weight * x + (1 - weight) * y for x, y in zip(astuple(a), astuple(b))))


def _synthesise(
    style: _Style, speaker: _Speaker, n_samples: int, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """One utterance as float samples in [-1, 1]."""
    # Per-utterance variation, so that classes overlap a little.
    style = replace(
        style,
        f0_factor=style.f0_factor * np.exp(rng.normal(0, 0.05)),
        range_st=style.range_st * np.exp(rng.normal(0, 0.2)),
        level_db=style.level_db + speaker.level_db + rng.normal(0, 1.5),
        rate=style.rate * speaker.rate_scale * np.exp(rng.normal(0, 0.1)),
        tilt=float(np.clip(style.tilt + speaker.tilt_shift + rng.normal(0, 0.02), 0.3, 0.97)),
    )
    f0 = _f0_contour(speaker.f0 * style.f0_factor, style.range_st, n_samples, sample_rate, rng)
    phase = np.cumsum(f0 / sample_rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    # Glottal flow (two-pole low-pass: the tilt) and lip radiation (a difference),
    # which also removes the pulse train's DC.
    source = lfilter([1.0], [1.0, -2 * style.tilt, style.tilt**2], pulses)
    source = np.diff(source, prepend=0.0)
    source = source / (np.std(source) + 1e-12) + style.breath * rng.standard_normal(n_samples)

    voice = np.zeros(n_samples)
    for start, length, vowel, stress in _syllables(style, n_samples, sample_rate, rng):
        segment = source[start:start + length]
        formants = _VOWELS[vowel] * speaker.formant_scale
        shaped = _resonate(segment, formants, sample_rate)
        envelope = np.clip(1.6 * np.sin(np.pi * np.linspace(0, 1, length)), 0, 1)
        voice[start:start + length] += stress * envelope * shaped
        burst = min(int(rng.uniform(0.03, 0.08) * sample_rate), start)
        if rng.random() < 0.6 and burst > 0:
            # A fricative before the vowel: high-passed noise, unvoiced, a fixed
            # fraction of the vowel's level so that it does not undo the class's tilt.
            noise = lfilter([1.0, -0.97], [1.0], rng.standard_normal(burst))
            level = 0.3 * stress * np.std(shaped) / np.std(noise)
            voice[start - burst:start] += level * noise * np.hanning(burst)

    active = np.abs(voice) > 0
    rms = np.sqrt(np.mean(voice[active] ** 2)) if active.any() else 1.0
    gain = 10 ** ((_REFERENCE_DBFS + style.level_db) / 20) / rms
    floor = 10 ** (-62 / 20) * rng.standard_normal(n_samples)
    return np.clip(gain * voice + floor, -0.999, 0.999)


def _f0_contour(
    f0: float, range_st: float, n_samples: int, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """F0 in Hz per sample: random knots every ~0.2 s, a falling declination."""
    n_knots = max(2, int(n_samples / sample_rate / 0.2) + 1)
    knots = rng.normal(0, range_st, n_knots)
    declination = np.linspace(1.0, -1.0, n_knots)
    semitones = np.interp(
        np.arange(n_samples), np.linspace(0, n_samples - 1, n_knots), knots + declination
    )
    return f0 * 2 ** (semitones / 12)


def _syllables(
    style: _Style, n_samples: int, sample_rate: int, rng: np.random.Generator
) -> list[tuple[int, int, int, float]]:
    """(start, length, vowel, stress) of each voiced syllable, with pauses between."""
    period = sample_rate / style.rate
    position = rng.uniform(0.08, 0.2) * sample_rate
    tail = int(0.1 * sample_rate)
    syllables = []
    while position + 0.3 * period < n_samples - tail:
        length = int(min(period * rng.uniform(0.6, 0.85), n_samples - tail - position))
        stress = rng.uniform(0.55, 1.0)
        syllables.append((int(position), length, int(rng.integers(len(_VOWELS))), stress))
        position += period * rng.uniform(0.9, 1.1)
        if rng.random() < style.pause:
            position += rng.uniform(0.15, 0.45) * sample_rate
    return syllables


def _resonate(signal: np.ndarray, formants: np.ndarray, sample_rate: int) -> np.ndarray:
    """Pass ``signal`` through one two-pole resonator per formant, in cascade."""
    denominator = np.array([1.0])
    for frequency, bandwidth in zip(formants, _FORMANT_BANDWIDTHS):
        radius = np.exp(-np.pi * bandwidth / sample_rate)
        theta = 2 * np.pi * min(frequency, 0.45 * sample_rate) / sample_rate
        denominator = np.convolve(denominator, [1.0, -2 * radius * np.cos(theta), radius**2])
    # Unit gain at DC keeps vowels of different formants at comparable loudness.
    return lfilter([denominator.sum()], denominator, signal)


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit mono PCM; the wave module writes no timestamp, so output is reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(audio * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
