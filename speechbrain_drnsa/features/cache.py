"""Corpus feature cache: the 17 LLDs of every utterance, extracted once, in parallel.

Layout::

    <cache_dir>/<config hash, 16 hex>/drnsa_lld.conf          copy of the config used
    <cache_dir>/<config hash, 16 hex>/<utt_id>.<audio hash, 16 hex>.npy

Each ``.npy`` holds one utterance's ``(frames, 17)`` float32 features. The
config hash (:attr:`OpenSmileLLD.config_hash`) and the SHA-256 of the audio
file's bytes are part of the path, so a file is reused exactly when neither
changed: an interrupted run resumes where it stopped, edited audio is
re-extracted (its older file is removed), and a changed config starts a new
folder. Files are written to a temporary name in the same folder and renamed,
so a crash never leaves a truncated file under a valid name. ``shard="K/N"``
takes every N-th utterance (sorted by id) from the K-th, so N cluster jobs
fill one shared cache without overlap.
"""

import functools
import glob
import hashlib
import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from speechbrain_drnsa.io import (
    load_json, remove_stale_temporaries, save_array_atomic, write_bytes_atomic, write_json_atomic,
)
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.opensmile import OpenSmileLLD

__all__ = [
    "ExtractionReport", "FeatureIndex", "extract_corpus", "index_features", "load_features",
    "parse_shard",
]

logger = logging.getLogger(__name__)

_HASH_CHARS = 16
_STALE_AFTER_S = 600.0  # far longer than writing one utterance's array takes
_Job = tuple[str, str, str]  # utterance id, audio path, cache file
_Done = tuple[str, str, str, str]  # the same and the problem, "" if none


@dataclass
class ExtractionReport:
    """What :func:`extract_corpus` did.

    Arguments
    ---------
    paths : dict of str to str
        Cache file of every utterance of the shard that has features.
    failures : dict of str to str
        Audio file to the reason it has none.
    extracted : int
        Utterances extracted by this run.
    reused : int
        Utterances found in the cache.

    Example
    -------
    >>> report = ExtractionReport(failures={"a.wav": "empty file (0 bytes)"})
    >>> report.ok
    False
    """

    paths: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    extracted: int = 0
    reused: int = 0

    @property
    def ok(self) -> bool:
        """Whether every utterance of the shard has features."""
        return not self.failures


def extract_corpus(
    manifests: Sequence[str | PathLike],
    cache_dir: str | PathLike,
    jobs: int = 1,
    shard: str | None = None,
    data_root: str | PathLike | None = None,
    extractor: OpenSmileLLD | None = None,
) -> ExtractionReport:
    """Fill the feature cache for every utterance of SpeechBrain JSON manifests.

    Bad audio files do not stop the run: they are listed in the report (and
    logged at the end) while every good file is extracted.

    Arguments
    ---------
    manifests : sequence of str or PathLike
        JSON manifests ``{utt_id: {"wav": path, ...}}``; an id may appear in
        several manifests only with the same path.
    cache_dir : str or PathLike
        Cache folder (created if needed).
    jobs : int
        Worker processes (spawned, one openSMILE thread each); 1 runs in
        this process.
    shard : str, optional
        ``"K/N"``: only the K-th of N shares of the utterances (1 <= K <= N).
    data_root : str or PathLike, optional
        Replaces ``{data_root}`` in the manifests' paths.
    extractor : OpenSmileLLD, optional
        The extractor (default: the packaged configuration).

    Returns
    -------
    ExtractionReport
        Cache paths of the shard's utterances and the failures.

    Raises
    ------
    InputFileError
        If a manifest is unreadable or malformed.
    ValueError
        If ``jobs`` or ``shard`` is invalid.

    Example
    -------
    >>> import json, tempfile, numpy, soundfile
    >>> folder = tempfile.mkdtemp()
    >>> soundfile.write(f"{folder}/a.wav", numpy.zeros(16000), 16000)
    >>> with open(f"{folder}/m.json", "w") as f:
    ...     json.dump({"utt_a": {"wav": "{data_root}/a.wav"}}, f)
    >>> report = extract_corpus([f"{folder}/m.json"], f"{folder}/cache", data_root=folder)
    >>> report.ok, report.extracted, load_features(report.paths["utt_a"]).shape
    (True, 1, torch.Size([97, 17]))
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    extractor = extractor if extractor is not None else OpenSmileLLD()
    wavs = _read_manifests(manifests, data_root)
    ids = sorted(wavs)
    if shard is not None:
        index, count = parse_shard(shard)
        ids = ids[index - 1 :: count]
    folder = Path(cache_dir) / extractor.config_hash[:_HASH_CHARS]
    _write_config_copy(extractor, folder)
    # left by killed extractions; shards of a running one may share the folder, hence the age
    remove_stale_temporaries(folder, older_than_s=_STALE_AFTER_S)
    report, tasks = ExtractionReport(), []
    # Fingerprints are checked here, so a run with nothing to do starts no processes.
    for utt_id in ids:
        try:
            target = _target(folder, utt_id, wavs[utt_id])
        except InputFileError as err:
            report.failures[wavs[utt_id]] = err.problem
            continue
        if target.is_file():
            report.paths[utt_id] = str(target)
            report.reused += 1
        else:
            tasks.append((utt_id, wavs[utt_id], str(target)))
    outcomes = _run(tasks, functools.partial(_extract_one, extractor=extractor), jobs)
    for utt_id, wav, target, problem in tqdm(outcomes, total=len(tasks), desc="LLDs", unit="utt"):
        if problem:
            report.failures[wav] = problem
        else:
            report.paths[utt_id] = target
            report.extracted += 1
    report.paths = dict(sorted(report.paths.items()))
    logger.info(
        "feature cache %s: %d extracted, %d reused, %d failed",
        folder, report.extracted, report.reused, len(report.failures),
    )
    for wav, reason in sorted(report.failures.items()):
        logger.error("no features for %s: %s", wav, reason)
    return report


@dataclass(frozen=True)
class FeatureIndex:
    """Which cached array holds each utterance's features, and how many frames it has.

    Arguments
    ---------
    config_hash : str
        The extractor's configuration hash (:attr:`OpenSmileLLD.config_hash`).
    entries : dict of str to tuple of (str, int)
        Utterance id to its ``.npy`` file and frame count.

    Example
    -------
    >>> index = FeatureIndex("abc", {"u1": ("cache/u1.npy", 120)})
    >>> index.path("u1"), index.frames("u1"), "u2" in index
    ('cache/u1.npy', 120, False)
    """

    config_hash: str
    entries: dict[str, tuple[str, int]]

    def __contains__(self, utt_id: object) -> bool:
        return utt_id in self.entries

    def path(self, utt_id: str) -> str:
        """The cached array of ``utt_id``."""
        return self.entries[utt_id][0]

    def frames(self, utt_id: str) -> int:
        """The number of frames of ``utt_id``."""
        return self.entries[utt_id][1]

    def save(self, path: str | PathLike) -> Path:
        """Write the index as JSON (atomically), for other processes to :meth:`load`."""
        entries = {utt: {"path": p, "frames": n} for utt, (p, n) in self.entries.items()}
        return write_json_atomic({"config_hash": self.config_hash, "utterances": entries}, path)

    @classmethod
    def load(cls, path: str | PathLike) -> "FeatureIndex":
        """Read an index written by :meth:`save`."""
        data = load_json(path)
        try:
            entries = {u: (e["path"], int(e["frames"])) for u, e in data["utterances"].items()}
            return cls(data["config_hash"], entries)
        except (KeyError, TypeError, AttributeError):
            raise InputFileError(path, "not a feature index (config_hash, utterances)") from None


def index_features(
    manifest: str | PathLike,
    cache_dir: str | PathLike,
    extractor: OpenSmileLLD | None = None,
    data_root: str | PathLike | None = None,
    jobs: int = 1,
) -> FeatureIndex:
    """Fill the cache for every utterance of a manifest and index the arrays.

    Every call checks each audio file's fingerprint and the extractor's
    configuration hash (:func:`extract_corpus`), so the index never points at
    arrays of edited audio, of another configuration or of another openSMILE
    release: those are extracted again.

    Arguments
    ---------
    manifest : str or PathLike
        A SpeechBrain JSON manifest ``{utt_id: {"wav": path, ...}}``.
    cache_dir : str or PathLike
        Cache folder.
    extractor : OpenSmileLLD, optional
        The extractor (default: the packaged configuration).
    data_root : str or PathLike, optional
        Replaces ``{data_root}`` in the manifest's paths.
    jobs : int
        Worker processes extracting features.

    Returns
    -------
    FeatureIndex
        Every utterance's array and frame count.

    Raises
    ------
    InputFileError
        If an utterance has no features (naming up to five files and why).

    Example
    -------
    >>> import json, tempfile, numpy, soundfile
    >>> folder = tempfile.mkdtemp()
    >>> soundfile.write(f"{folder}/a.wav", numpy.zeros(16000), 16000)
    >>> with open(f"{folder}/m.json", "w") as f:
    ...     json.dump({"utt_a": {"wav": f"{folder}/a.wav"}}, f)
    >>> index_features(f"{folder}/m.json", f"{folder}/cache").frames("utt_a")
    97
    """
    extractor = extractor if extractor is not None else OpenSmileLLD()
    report = extract_corpus([manifest], cache_dir, jobs=jobs, data_root=data_root,
                            extractor=extractor)
    if not report.ok:
        failures = "; ".join(f"{wav}: {why}" for wav, why in list(report.failures.items())[:5])
        raise InputFileError(
            manifest,
            f"feature extraction failed for {len(report.failures)} utterance(s): {failures}",
        )
    entries = {utt: (path, _frame_count(path)) for utt, path in report.paths.items()}
    return FeatureIndex(extractor.config_hash, entries)


def load_features(path: str | PathLike) -> torch.Tensor:
    """Load one utterance's cached features.

    Arguments
    ---------
    path : str or PathLike
        A ``.npy`` file of the cache.

    Returns
    -------
    torch.Tensor
        ``(frames, features)`` float32.

    Raises
    ------
    InputFileError
        If the file is missing or is not a 2-D float32 array.

    Example
    -------
    >>> import tempfile, numpy
    >>> path = f"{tempfile.mkdtemp()}/x.npy"
    >>> numpy.save(path, numpy.zeros((5, 17), dtype=numpy.float32))
    >>> load_features(path).shape
    torch.Size([5, 17])
    """
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputFileError(path, "feature file not found") from None
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"not a feature file ({err})") from None
    if array.ndim != 2 or array.dtype != np.float32:
        raise InputFileError(
            path, f"expected (frames, features) float32, got {array.dtype} {array.shape}"
        )
    return torch.from_numpy(array)


def _read_manifests(
    manifests: Sequence[str | PathLike], data_root: str | PathLike | None
) -> dict[str, str]:
    """Utterance id to audio path, over all manifests."""
    if isinstance(manifests, (str, PathLike)):
        manifests = [manifests]
    wavs: dict[str, str] = {}
    origin: dict[str, str | PathLike] = {}
    for manifest in manifests:
        entries = load_json(manifest)
        if not isinstance(entries, dict):
            raise InputFileError(manifest, "expected a JSON object {utt_id: {'wav': ...}}")
        for utt_id, entry in entries.items():
            wav = entry.get("wav") if isinstance(entry, dict) else None
            if not isinstance(wav, str):
                raise InputFileError(manifest, f"utterance {utt_id!r} has no 'wav' path")
            if "{data_root}" in wav:
                if data_root is None:
                    raise InputFileError(
                        manifest, "wav paths contain {data_root}: give data_root (--data-root)"
                    )
                wav = wav.replace("{data_root}", str(data_root))
            if wavs.get(utt_id, wav) != wav:
                raise InputFileError(
                    manifest, f"utterance {utt_id!r} is {origin[utt_id]}'s {wavs[utt_id]} too"
                )
            wavs[utt_id], origin[utt_id] = wav, manifest
    return wavs


def parse_shard(shard: str) -> tuple[int, int]:
    """``"K/N"`` to ``(K, N)``, checking ``1 <= K <= N`` (``extract`` and ``classify --shard``).

    Arguments
    ---------
    shard : str
        ``"K/N"``: the K-th of N shares, from 1.

    Returns
    -------
    tuple of int
        ``(K, N)``.

    Example
    -------
    >>> parse_shard("2/3")
    (2, 3)
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(shard))
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"shard must be K/N with 1 <= K <= N, got {shard!r}")
    return int(match[1]), int(match[2])


def _run(tasks: list[_Job], work: Callable[[_Job], _Done], jobs: int) -> Iterator[_Done]:
    """Yield ``work(task)`` for every task, in ``jobs`` spawned processes when > 1."""
    if jobs == 1 or len(tasks) < 2:
        yield from map(work, tasks)
        return
    context = multiprocessing.get_context("spawn")  # fork is unsafe with torch threads
    processes = min(jobs, len(tasks))
    chunksize = max(1, len(tasks) // (8 * processes))
    with context.Pool(processes, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        yield from pool.imap_unordered(work, tasks, chunksize=chunksize)


def _target(folder: Path, utt_id: str, wav: str) -> Path:
    """Cache file of an utterance: its id and the fingerprint of its audio."""
    if not utt_id or utt_id.startswith(".") or "/" in utt_id or os.sep in utt_id:
        raise InputFileError(wav, f"utterance id {utt_id!r} cannot name a cache file")
    return folder / f"{utt_id}.{_fingerprint(wav)}.npy"


def _extract_one(job: _Job, extractor: OpenSmileLLD) -> _Done:
    """Extract one utterance into its cache file; a failure becomes the problem field."""
    utt_id, wav, target = job
    try:
        save_array_atomic(extractor.extract_file(wav).numpy(), target)
        _remove_stale(Path(target).parent, utt_id, keep=Path(target))
        return utt_id, wav, target, ""
    except InputFileError as err:
        return utt_id, wav, target, err.problem
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the corpus
        return utt_id, wav, target, f"{type(err).__name__}: {err}"


def _fingerprint(wav: str) -> str:
    """Leading hex digits of the SHA-256 of the file's bytes."""
    try:
        with open(wav, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()[:_HASH_CHARS]
    except FileNotFoundError:
        raise InputFileError(wav, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(wav, "is a folder, expected an audio file") from None


def _remove_stale(folder: Path, utt_id: str, keep: Path) -> None:
    """Delete this utterance's files for audio that has since changed."""
    stale = re.compile(rf"{re.escape(utt_id)}\.[0-9a-f]{{{_HASH_CHARS}}}\.npy")
    for path in folder.glob(f"{glob.escape(utt_id)}.*.npy"):
        if path != keep and stale.fullmatch(path.name):
            path.unlink(missing_ok=True)


def _write_config_copy(extractor: OpenSmileLLD, folder: Path) -> None:
    """Keep the config text next to its features, so the folder explains itself."""
    if getattr(extractor, "config", None) is None:  # the waveform has none
        return
    copy = folder / extractor.config.name
    if not copy.is_file():
        write_bytes_atomic(extractor.config.read_bytes(), copy)


def _frame_count(path: str | PathLike) -> int:
    # reads the .npy header only
    return int(np.load(path, mmap_mode="r").shape[0])
