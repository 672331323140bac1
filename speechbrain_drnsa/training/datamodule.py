"""The Lightning data module of one cross-validation fold of an emotional speech corpus.

``prepare_data`` runs on global rank 0 only while the other processes wait:
it writes the manifest and the fold files (the ``prepare`` function of the
corpus, :func:`speechbrain_drnsa.data.iemocap.prepare_iemocap` by default,
skipped when up to date), fills the openSMILE feature cache
(:func:`speechbrain_drnsa.features.cache.extract_corpus`) and writes a
feature index ``{utt_id: {"path", "frames"}}`` (one more per waveform
perturbation, :mod:`speechbrain_drnsa.features.perturb`). ``setup`` runs on
every process: it builds SpeechBrain ``DynamicItemDataset`` s for the fold's
train, valid and test parts, with a pipeline that loads cached features and
maps the emotion to its index in ``labels``, adds the perturbed copies of the
training utterances to the training part, and fits the feature normaliser on
the training part's original utterances only (after standardising each
utterance with its speaker's statistics, when ``speaker_normalization`` is
on). The loaders
pad with SpeechBrain's ``PaddedBatch`` and batch by length
(:mod:`speechbrain_drnsa.training.sampler`).
"""

import functools
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.dataset import DynamicItemDataset
from torch import nn
from torch.utils.data import DataLoader

from speechbrain_drnsa.data.demo import DEMO_LABELS_NAME, make_demo_corpus
from speechbrain_drnsa.data.folds import Fold, folds_file, load_folds
from speechbrain_drnsa.data.iemocap import prepare_iemocap
from speechbrain_drnsa.io import load_json, write_json_atomic
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.cache import extract_corpus, load_features
from speechbrain_drnsa.features.normalize import (
    FeatureNormalizer,
    speaker_statistics,
    standardize_by_speaker,
)
from speechbrain_drnsa.features.perturb import PerturbedLLD, WaveformPerturbation
from speechbrain_drnsa.training.sampler import (
    BucketBatchSampler,
    LengthSortedSampler,
    padded_share,
)

__all__ = ["FEATURE_INDEX_NAME", "SERDataModule"]

logger = logging.getLogger(__name__)

#: Feature index written by ``prepare_data`` in the save folder.
FEATURE_INDEX_NAME = "features.json"

_PARTS = ("train", "valid", "test")
_STANDARD_PROTOCOLS = ("speaker10", "session5", "random")


class SERDataModule(pl.LightningDataModule):
    """Manifest, feature cache and loaders of fold ``fold`` of a protocol.

    Arguments
    ---------
    data_folder : str or PathLike
        The corpus folder: what ``{data_root}`` stands for in the manifest's
        paths (``IEMOCAP_full_release`` for the default ``prepare``).
    save_folder : str or PathLike
        Where the manifest, fold files and feature index go.
    cache_folder : str or PathLike
        Feature cache folder.
    fold : int
        Fold number, from 0, in the protocol's fold file.
    normalizer : torch.nn.Module
        Feature normaliser with a ``fit(iterable of (frames, features)
        tensors)`` method; ``setup`` fits it on the training part. Pass the
        same object to :class:`~speechbrain_drnsa.training.module.SERModule`.
    protocol : str
        Fold protocol, see :mod:`speechbrain_drnsa.data.folds`.
    labels : sequence of str
        Class names; an utterance labelled otherwise is an error.
    batch_size : int
        Most utterances per batch.
    max_batch_frames : int, optional
        Most padded frames per batch (bounds memory on long utterances).
    num_workers : int
        Loader worker processes.
    seed : int
        Seed of the batch order.
    split_seed : int
        Seed of the folds of shuffled protocols (``random``, ``speaker_kfold<N>``),
        kept apart from ``seed`` so that runs with other seeds share the folds.
    extraction_jobs : int
        Processes extracting features.
    demo_corpus : bool
        Generate the synthetic demo corpus
        (:func:`speechbrain_drnsa.data.demo.make_demo_corpus`) in
        ``data_folder`` first, unless it is already there.
    prepare : callable, optional
        The corpus preparation, called as ``prepare(save_folder=...,
        protocol=..., seed=split_seed, skip_prep=...)`` and returning the
        manifest path (write manifest and fold files unless ``skip_prep``);
        bind the corpus location and other options beforehand, e.g. a
        hyperpyyaml ``!name:speechbrain_drnsa.data.emodb.prepare_emodb`` with
        ``data_folder`` and ``classes``. None: IEMOCAP in ``data_folder``
        (:func:`speechbrain_drnsa.data.iemocap.prepare_iemocap`, writing every
        standard protocol's folds).
    speaker_normalization : bool
        Standardise every utterance with the statistics of all utterances of
        its speaker (the test speaker's audio included: transductive, as SER
        papers commonly do) before the fold's normaliser.
    perturbations : sequence of WaveformPerturbation or mapping
        Waveform perturbations (or their keyword arguments, e.g.
        ``{"speed": 1.1}``); each adds a perturbed copy of every training
        utterance, as a training utterance ``<utt_id>@<perturbation name>``.
        Validation and test parts are never perturbed.

    Example
    -------
    >>> from speechbrain_drnsa.features.normalize import FeatureNormalizer
    >>> data = SERDataModule("corpus", "prep", "cache", fold=0, normalizer=FeatureNormalizer())
    >>> data.fold, data.labels
    (0, ['neu', 'hap', 'sad', 'ang'])
    """

    def __init__(
        self,
        data_folder: str | PathLike,
        save_folder: str | PathLike,
        cache_folder: str | PathLike,
        fold: int,
        normalizer: nn.Module,
        protocol: str = "speaker10",
        labels: Sequence[str] = ("neu", "hap", "sad", "ang"),
        batch_size: int = 16,
        max_batch_frames: int | None = None,
        num_workers: int = 0,
        seed: int = 1234,
        split_seed: int = 1234,
        extraction_jobs: int = 1,
        demo_corpus: bool = False,
        prepare: Callable[..., Path] | None = None,
        speaker_normalization: bool = False,
        perturbations: Sequence[WaveformPerturbation | Mapping[str, float]] = (),
    ):
        super().__init__()
        # prepare_data writes shared files: once per job, not once per node
        self.prepare_data_per_node = False
        self.data_folder = Path(data_folder)
        self.save_folder = Path(save_folder)
        self.cache_folder = Path(cache_folder)
        self.fold = fold
        self.normalizer = normalizer
        self.protocol = protocol
        self.labels = list(labels)
        self.batch_size = batch_size
        self.max_batch_frames = max_batch_frames
        self.num_workers = num_workers
        self.seed = seed
        self.split_seed = split_seed
        self.extraction_jobs = extraction_jobs
        self.demo_corpus = demo_corpus
        self.prepare = prepare
        self.speaker_normalization = speaker_normalization
        self.perturbations = [
            p if isinstance(p, WaveformPerturbation) else WaveformPerturbation(**p)
            for p in perturbations
        ]
        self.datasets: dict[str, DynamicItemDataset] = {}
        self.frames: dict[str, list[int]] = {}

    @property
    def manifest_path(self) -> Path:
        """The manifest written by ``prepare_data``."""
        return self._prepare(skip_prep=True)

    @property
    def folds_path(self) -> Path:
        """The fold file of the protocol."""
        return folds_file(self.save_folder, self.protocol)

    def prepare_data(self) -> None:
        """Write manifest and folds, fill the feature cache, write the feature index."""
        if self.demo_corpus and not (self.data_folder / DEMO_LABELS_NAME).is_file():
            logger.info("generating the synthetic demo corpus in %s", self.data_folder)
            make_demo_corpus(self.data_folder)
        manifest_path = self._prepare(skip_prep=False)
        self._index_features(manifest_path, None)
        for perturbation in self.perturbations:
            self._index_features(manifest_path, perturbation)

    def setup(self, stage: str | None = None) -> None:
        """Build the fold's datasets and fit the normaliser on its training part."""
        if self.datasets:
            return
        manifest = load_json(self.manifest_path)
        index = load_json(self.save_folder / FEATURE_INDEX_NAME)["utterances"]
        fold = self._load_fold()
        self._check_fold(fold, manifest, index)
        statistics = (
            self._speaker_statistics(fold, manifest, index) if self.speaker_normalization else None
        )
        load = functools.partial(_load_features, statistics=statistics)
        copies = {
            perturbation.name: load_json(_index_path(self.save_folder, perturbation))["utterances"]
            for perturbation in self.perturbations
        }
        for part, ids in zip(_PARTS, fold, strict=True):
            # entry id: (utterance id, its features' index entry)
            entries = {utt_id: (utt_id, index[utt_id]) for utt_id in ids}
            if part == "train":
                entries |= {
                    f"{utt_id}@{name}": (utt_id, copy[utt_id])
                    for name, copy in copies.items()
                    for utt_id in ids
                }
            data = {
                entry_id: {
                    "feats_path": entry["path"],
                    "emo": manifest[utt_id]["emo"],
                    "speaker": manifest[utt_id]["speaker"],
                }
                for entry_id, (utt_id, entry) in entries.items()
            }
            dataset = DynamicItemDataset(data)
            dataset.add_dynamic_item(load, takes=["feats_path", "speaker"], provides="feats")
            dataset.add_dynamic_item(
                functools.partial(_label_index, labels=tuple(self.labels)),
                takes=["emo"],
                provides="label",
            )
            dataset.set_output_keys(["id", "feats", "label"])
            self.datasets[part] = dataset
            self.frames[part] = [entries[entry_id][1]["frames"] for entry_id in dataset.data_ids]
        self.normalizer.fit(
            load(index[utt_id]["path"], manifest[utt_id]["speaker"]) for utt_id in fold.train
        )
        logger.info(
            "fold %d of %s: %d train, %d valid, %d test utterances%s",
            self.fold, self.protocol, *(len(ids) for ids in fold),
            f"; {len(self.datasets['train'])} training items with the perturbed copies"
            if self.perturbations else "",
        )

    def train_dataloader(self) -> DataLoader:
        """Length-bucketed training batches, reshuffled every epoch."""
        loader = self._loader("train", shuffle=True)
        logger.info(
            "train loader: %d batches, padded frames %.1f%%",
            len(loader.batch_sampler),
            100 * self.padded_share("train"),
        )
        return loader

    def val_dataloader(self) -> DataLoader:
        """Validation batches; every utterance once over all processes."""
        return self._loader("valid", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches; every utterance once over all processes."""
        return self._loader("test", shuffle=False)

    def padded_share(self, part: str) -> float:
        """Share of padded frames in ``part``'s batches of the current epoch (one process)."""
        sampler = self._batch_sampler(part, shuffle=part == "train")
        return padded_share(sampler.batches(), self.frames[part])

    def state_dict(self) -> dict[str, Any]:
        """The fold and protocol, checked when a checkpoint is restored."""
        return {"fold": self.fold, "protocol": self.protocol, "labels": self.labels}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse a checkpoint written for another fold, protocol or label set."""
        mine = self.state_dict()
        if any(state_dict.get(key) != value for key, value in mine.items()):
            raise ValueError(
                f"the checkpoint was written for {state_dict}, not for {mine}: "
                "resume only into the same fold"
            )

    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[part],
            batch_sampler=self._batch_sampler(part, shuffle),
            collate_fn=functools.partial(PaddedBatch, padded_keys=["feats"]),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def _batch_sampler(self, part: str, shuffle: bool) -> BucketBatchSampler:
        trainer = self.trainer
        order = LengthSortedSampler(self.frames[part], shuffle=shuffle, seed=self.seed)
        # the loader's first batches are drawn before Lightning calls set_epoch,
        # so a resumed run must start from its epoch here
        order.set_epoch(trainer.current_epoch if trainer is not None else 0)
        return BucketBatchSampler(
            order,
            batch_size=self.batch_size,
            max_batch_frames=self.max_batch_frames,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            even_batches=shuffle,
        )

    def _prepare(self, skip_prep: bool) -> Path:
        if self.prepare is not None:
            return Path(
                self.prepare(
                    save_folder=self.save_folder,
                    protocol=self.protocol,
                    seed=self.split_seed,
                    skip_prep=skip_prep,
                )
            )
        # every standard protocol, so experiments sharing the folder keep their fold files
        protocols = tuple(dict.fromkeys((*_STANDARD_PROTOCOLS, self.protocol)))
        return prepare_iemocap(
            self.data_folder,
            self.save_folder,
            protocols=protocols,
            seed=self.split_seed,
            skip_prep=skip_prep,
        )

    def _index_features(
        self, manifest_path: Path, perturbation: WaveformPerturbation | None
    ) -> None:
        """Fill the cache for the manifest (perturbed or not) and write its feature index."""
        index_path = _index_path(self.save_folder, perturbation)
        source = {
            "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
            "cache_folder": str(self.cache_folder.resolve()),
            "perturbation": perturbation.name if perturbation is not None else None,
        }
        if index_path.is_file():
            index = load_json(index_path)
            if all(index.get(key) == value for key, value in source.items()):
                return
        report = extract_corpus(
            [manifest_path],
            self.cache_folder,
            jobs=self.extraction_jobs,
            data_root=self.data_folder,
            extractor=PerturbedLLD(perturbation) if perturbation is not None else None,
        )
        if not report.ok:
            failures = "; ".join(f"{utt}: {why}" for utt, why in list(report.failures.items())[:5])
            raise InputFileError(
                manifest_path,
                f"feature extraction failed for {len(report.failures)} utterance(s): {failures}",
            )
        utterances = {
            utt_id: {"path": str(path), "frames": _frame_count(path)}
            for utt_id, path in sorted(report.paths.items())
        }
        write_json_atomic({**source, "utterances": utterances}, index_path)

    def _speaker_statistics(
        self, fold: Fold, manifest: dict, index: dict
    ) -> dict[str, FeatureNormalizer]:
        # every utterance of each speaker of the fold, test speakers included (transductive)
        speakers = {manifest[utt_id]["speaker"] for ids in fold for utt_id in ids}
        paths = defaultdict(list)
        for utt_id, entry in manifest.items():
            if entry["speaker"] in speakers:
                paths[entry["speaker"]].append(index[utt_id]["path"])
        logger.info("per-speaker normalisation: statistics of %d speakers", len(paths))
        return speaker_statistics(
            {speaker: map(load_features, files) for speaker, files in paths.items()},
            num_features=self.normalizer.num_features,
        )

    def _load_fold(self) -> Fold:
        folds = load_folds(self.folds_path)
        if not 0 <= self.fold < len(folds):
            raise InputFileError(
                self.folds_path,
                f"has {len(folds)} folds (0 to {len(folds) - 1}), there is no fold {self.fold}",
            )
        return folds[self.fold]

    def _check_fold(self, fold: Fold, manifest: dict, index: dict) -> None:
        for part, ids in zip(_PARTS, fold, strict=True):
            unknown = [utt_id for utt_id in ids if utt_id not in manifest]
            if unknown:
                raise InputFileError(
                    self.folds_path,
                    f"fold {self.fold} {part} lists {len(unknown)} utterance(s) missing from "
                    f"{self.manifest_path}, e.g. {unknown[0]}",
                )
            foreign = sorted({manifest[utt_id]["emo"] for utt_id in ids} - set(self.labels))
            if foreign:
                raise InputFileError(
                    self.manifest_path,
                    f"fold {self.fold} {part} has labels {foreign} outside {self.labels}",
                )
            missing = [utt_id for utt_id in ids if utt_id not in index]
            if missing:
                raise InputFileError(
                    self.save_folder / FEATURE_INDEX_NAME,
                    f"no features for {len(missing)} utterance(s) of fold {self.fold}, "
                    f"e.g. {missing[0]}; delete the file to extract again",
                )
        train_labels = {manifest[utt_id]["emo"] for utt_id in fold.train}
        absent = [label for label in self.labels if label not in train_labels]
        if absent:
            raise InputFileError(
                self.folds_path,
                f"fold {self.fold} of protocol {self.protocol!r}: the training part has no "
                f"utterance labelled {', '.join(map(repr, absent))}, so the model cannot "
                "learn that class; use a protocol whose training parts hold every class",
            )


def _index_path(save_folder: Path, perturbation: WaveformPerturbation | None) -> Path:
    # one index per perturbation: experiments sharing the save folder never rewrite each other's
    if perturbation is None:
        return save_folder / FEATURE_INDEX_NAME
    return save_folder / f"features@{perturbation.name}.json"


def _load_features(
    feats_path: str, speaker: str, statistics: dict[str, FeatureNormalizer] | None
) -> torch.Tensor:
    features = load_features(feats_path)
    if statistics is None:
        return features
    return standardize_by_speaker(features, speaker, statistics)


def _label_index(emo: str, labels: tuple[str, ...]) -> int:
    return labels.index(emo)


def _frame_count(path: str | PathLike) -> int:
    # reads the .npy header only
    return int(np.load(path, mmap_mode="r").shape[0])
