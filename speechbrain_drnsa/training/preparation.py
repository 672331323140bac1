"""Data preparation of an experiment, once, on the main process, before the fold loop.

As in SpeechBrain recipes, the corpus is prepared before any training: the
recipe's ``prepare`` function writes the manifest and the fold file of the
protocol, then the feature cache is filled and indexed
(:func:`~speechbrain_drnsa.features.cache.index_features`) for the original
audio and for each waveform perturbation of the training copies (their LLDs,
and their functionals when the experiment fuses functionals). The number
of folds is known from then on.

Only the main process (global rank 0, as Lightning reads it from the
launcher's environment) prepares; it writes ``prepared.json`` in the
prepared folder last. Other processes started beside it by torchrun or SLURM
wait for that record with the same settings and read it; processes that
Lightning itself launches start after the main process has prepared.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities import rank_zero_only

from speechbrain_drnsa.data.fold_files import folds_file, load_folds
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.cache import FeatureIndex, index_features
from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.features.lld_sets import frame_extractor
from speechbrain_drnsa.features.perturb import (
    PerturbedFunctionals,
    PerturbedLLD,
    WaveformPerturbation,
)
from speechbrain_drnsa.features.ssl import SSLSettings
from speechbrain_drnsa.io import load_json, write_json_atomic

__all__ = ["PREPARED_RECORD_NAME", "PreparedData", "perturbations_of", "prepare_experiment"]

logger = logging.getLogger(__name__)

#: Written last by the main process in the prepared folder.
PREPARED_RECORD_NAME = "prepared.json"

_WAIT_SECONDS = 6 * 3600


@dataclass(frozen=True)
class PreparedData:
    """What data preparation produced: the manifest, the folds and the feature indexes.

    Arguments
    ---------
    manifest : pathlib.Path
        SpeechBrain JSON manifest (``wav``, ``emo``, ``speaker`` per utterance).
    folds : pathlib.Path
        The protocol's fold file.
    features : FeatureIndex
        Cached LLDs of every utterance.
    perturbed : dict of str to FeatureIndex
        Cached LLDs of each perturbed copy, by perturbation name.
    functionals : FeatureIndex, optional
        Cached utterance functionals (``(1, features)`` each), when the
        experiment asks for them (``functionals: eGeMAPSv02``).
    perturbed_functionals : dict of str to FeatureIndex
        Cached functionals of each perturbed copy, by perturbation name
        (with functionals and perturbations both).

    Example
    -------
    >>> data = PreparedData(Path("m.json"), Path("folds.json"), FeatureIndex("h", {}))
    >>> data.perturbed
    {}
    """

    manifest: Path
    folds: Path
    features: FeatureIndex
    perturbed: dict[str, FeatureIndex] = field(default_factory=dict)
    functionals: FeatureIndex | None = None
    perturbed_functionals: dict[str, FeatureIndex] = field(default_factory=dict)

    @property
    def num_folds(self) -> int:
        """The number of folds of the protocol."""
        return len(load_folds(self.folds))


def perturbations_of(hparams: Mapping[str, Any]) -> list[WaveformPerturbation]:
    """The waveform perturbations an experiment's hparams ask for.

    Arguments
    ---------
    hparams : mapping
        With ``perturbations``: perturbations or their keyword arguments.

    Returns
    -------
    list of WaveformPerturbation

    Example
    -------
    >>> [p.name for p in perturbations_of({"perturbations": [{"speed": 1.1}]})]
    ['speed1.1']
    """
    return [
        p if isinstance(p, WaveformPerturbation) else WaveformPerturbation(**p)
        for p in hparams.get("perturbations", ())
    ]


def prepare_experiment(hparams: Mapping[str, Any]) -> PreparedData:
    """Prepare the corpus and the features of an experiment (main process), or wait for it.

    Arguments
    ---------
    hparams : mapping
        A recipe's hparams: ``prepare`` (called as ``prepare(save_folder=...,
        protocol=..., seed=..., skip_prep=False)``, returning the manifest
        path; corpus location and options bound beforehand, e.g. with
        hyperpyyaml's ``!name:``), ``prepared_folder``, ``protocol``,
        ``split_seed``, ``data_folder`` (the manifest's ``{data_root}``),
        ``feature_cache``, ``extraction_jobs``, ``perturbations`` and
        ``functionals`` (None, ``eGeMAPSv02`` or ``ComParE_2016``) and
        ``frame_features`` (the same choices or ``ssl`` with the ``ssl_*`` keys;
        None: the paper's 17 LLDs).

    Returns
    -------
    PreparedData
        The manifest, fold file and feature indexes.

    Raises
    ------
    InputFileError
        When the corpus cannot be prepared or a fold is out of range.
    """
    save_folder = Path(hparams["prepared_folder"])
    perturbations = perturbations_of(hparams)
    if perturbations and hparams.get("frame_features"):
        raise InputFileError(
            save_folder, "perturbations are extracted as the paper's 17 LLDs only: "
            f"leave them out with frame_features: {hparams['frame_features']}"
        )
    signature = _signature(hparams, perturbations)
    if rank_zero_only.rank == 0:
        prepared = _prepare(hparams, hparams["prepare"], perturbations)
        _write_record(save_folder, signature, prepared)
    else:
        prepared = _wait_for_record(save_folder, signature)
    _check_fold(hparams.get("fold"), prepared)
    return prepared


def _prepare(
    hparams: Mapping[str, Any],
    prepare: Callable[..., str | PathLike],
    perturbations: Sequence[WaveformPerturbation],
) -> PreparedData:
    save_folder = Path(hparams["prepared_folder"])
    manifest = Path(
        prepare(
            save_folder=save_folder,
            protocol=hparams["protocol"],
            seed=hparams.get("split_seed", 1234),
            skip_prep=False,
        )
    )
    index = {
        "cache_dir": hparams["feature_cache"],
        "data_root": hparams.get("data_folder"),
        "jobs": hparams.get("extraction_jobs", 1),
    }
    folds = folds_file(save_folder, hparams["protocol"])
    # perturbed copies only of the utterances a fold trains on (never of a tested corpus)
    trained = _training_manifest(manifest, folds, save_folder) if perturbations else manifest
    return PreparedData(
        manifest=manifest,
        folds=folds,
        features=index_features(
            manifest, extractor=_frame_extractor(hparams), **index
        ),
        perturbed={
            p.name: index_features(trained, extractor=PerturbedLLD(p), **index)
            for p in perturbations
        },
        functionals=(
            index_features(manifest, extractor=OpenSmileFunctionals(hparams["functionals"]),
                           **index)
            if hparams.get("functionals") else None
        ),
        perturbed_functionals={
            p.name: index_features(
                trained, extractor=PerturbedFunctionals(p, hparams["functionals"]), **index
            )
            for p in (perturbations if hparams.get("functionals") else ())
        },
    )


def _training_manifest(manifest: Path, folds: Path, save_folder: Path) -> Path:
    """The manifest's utterances that some fold trains or validates on, written beside it."""
    used = {utt_id for fold in load_folds(folds) for utt_id in (*fold.train, *fold.valid)}
    entries = {utt_id: entry for utt_id, entry in load_json(manifest).items() if utt_id in used}
    return write_json_atomic(entries, save_folder / f"{manifest.stem}_trained.json")


def _signature(hparams: Mapping[str, Any], perturbations: Sequence[WaveformPerturbation]) -> str:
    """What decides the preparation, so a waiting process never reads another run's record."""
    decisive = {
        "data_folder": str(Path(str(hparams.get("data_folder"))).resolve()),
        "protocol": hparams["protocol"],
        "split_seed": hparams.get("split_seed", 1234),
        "feature_cache": str(Path(hparams["feature_cache"]).resolve()),
        "features": _frame_extractor(hparams).config_hash,
        "perturbations": [p.name for p in perturbations],
        "functionals": hparams.get("functionals"),
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()


def _frame_extractor(hparams: Mapping[str, Any]) -> Any:
    """The extractor of the frames the encoder reads (LLDs, a set, an SSL model's states)."""
    ssl = SSLSettings.from_hparams(hparams)
    return frame_extractor(hparams.get("frame_features"), ssl.record() if ssl else None)


def _write_record(save_folder: Path, signature: str, prepared: PreparedData) -> None:
    indexes = {"": prepared.features, **prepared.perturbed}
    if prepared.functionals is not None:
        indexes["functionals"] = prepared.functionals
    indexes |= {f"functionals@{name}": index
                for name, index in prepared.perturbed_functionals.items()}
    paths = {
        name: str(index.save(save_folder / f"features{'@' + name if name else ''}.json"))
        for name, index in indexes.items()
    }
    write_json_atomic(
        {
            "signature": signature,
            "manifest": str(prepared.manifest),
            "folds": str(prepared.folds),
            "features": paths,
        },
        save_folder / PREPARED_RECORD_NAME,
    )


def _wait_for_record(save_folder: Path, signature: str) -> PreparedData:
    path = save_folder / PREPARED_RECORD_NAME
    deadline = time.monotonic() + _WAIT_SECONDS
    while not (path.is_file() and load_json(path).get("signature") == signature):
        if time.monotonic() > deadline:
            raise InputFileError(path, "the main process did not finish preparing the data")
        time.sleep(1.0)
    record = load_json(path)
    features = {name: FeatureIndex.load(p) for name, p in record["features"].items()}
    perturbed_functionals = {
        name.removeprefix("functionals@"): features.pop(name)
        for name in list(features) if name.startswith("functionals@")
    }
    return PreparedData(
        manifest=Path(record["manifest"]),
        folds=Path(record["folds"]),
        features=features.pop(""),
        functionals=features.pop("functionals", None),
        perturbed=features,
        perturbed_functionals=perturbed_functionals,
    )


def _check_fold(fold: int | None, prepared: PreparedData) -> None:
    count = prepared.num_folds
    if fold is not None and not 0 <= int(fold) < count:
        raise InputFileError(
            prepared.folds, f"has {count} folds (0 to {count - 1}), there is no fold {fold}"
        )
