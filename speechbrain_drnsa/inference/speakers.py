"""Enrolled speakers: their audio files, and their statistics saved to and read from JSON.

A per-speaker model needs each speaker's feature statistics
(:meth:`~speechbrain_drnsa.inference.recognizer.EmotionRecognizer.enrol`): the
LLDs' and, for a fusion model, the utterance functionals'. They are plain
numbers, kept in a JSON file so a speaker is enrolled once.
"""

from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path

import numpy as np

from speechbrain_drnsa.features.statistics import FeatureStatistics
from speechbrain_drnsa.io import load_json, write_json_atomic

__all__ = ["AUDIO_SUFFIXES", "audio_files", "is_audio_name", "load_speakers", "save_speakers"]

#: File name endings taken as audio in a folder.
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au"})


def is_audio_name(path: Path) -> bool:
    """Whether a file's name says audio.

    Example
    -------
    >>> is_audio_name(Path("a.WAV")), is_audio_name(Path("notes.txt"))
    (True, False)
    """
    return path.suffix.lower() in AUDIO_SUFFIXES


def audio_files(files: str | PathLike | Iterable[str | PathLike]) -> list[Path]:
    """A folder's audio files (recursively, sorted), or the given files.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "b.wav").write_bytes(b""), (folder / "a.flac").write_bytes(b"")
    >>> [p.name for p in audio_files(folder)]
    ['a.flac', 'b.wav']
    """
    if isinstance(files, (str, PathLike)):
        path = Path(files)
        if path.is_dir():
            return sorted(p for p in path.rglob("*") if p.is_file() and is_audio_name(p))
        return [path]
    return [Path(p) for p in files]


def save_speakers(
    llds: Mapping[str, FeatureStatistics],
    functionals: Mapping[str, FeatureStatistics],
    path: str | PathLike,
) -> Path:
    """Write speakers' LLD (and functionals) statistics to a JSON file.

    Example
    -------
    >>> import tempfile
    >>> stats = {"F1": FeatureStatistics.fit([[[1.0, 2.0], [3.0, 4.0]]], num_features=2)}
    >>> path = save_speakers(stats, {}, f"{tempfile.mkdtemp()}/speakers.json")
    >>> llds, functionals = load_speakers(path)
    >>> llds["F1"].mean.tolist(), llds["F1"].count, functionals
    ([2.0, 3.0], 2, {})
    """
    data = {
        name: {"llds": _plain(stats), **({"functionals": _plain(functionals[name])}
                                         if name in functionals else {})}
        for name, stats in llds.items()
    }
    return write_json_atomic(data, path)


def load_speakers(
    path: str | PathLike,
) -> tuple[dict[str, FeatureStatistics], dict[str, FeatureStatistics]]:
    """Read what :func:`save_speakers` wrote: LLD and functionals statistics by speaker."""
    llds, functionals = {}, {}
    for name, entry in load_json(path).items():
        llds[name] = _normalizer(entry["llds"])
        if "functionals" in entry:
            functionals[name] = _normalizer(entry["functionals"])
    return llds, functionals


def _plain(stats: FeatureStatistics) -> dict:
    return {"mean": stats.mean.tolist(), "std": stats.std.tolist(), "count": int(stats.count)}


def _normalizer(stats: Mapping) -> FeatureStatistics:
    return FeatureStatistics(np.array(stats["mean"], dtype=np.float32),
                             np.array(stats["std"], dtype=np.float32), int(stats["count"]))
