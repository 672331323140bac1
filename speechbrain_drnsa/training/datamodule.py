"""The Lightning data module of one cross-validation fold of an emotional speech corpus.

It knows no corpus: the manifest, the fold file and the feature indexes come
prepared (:func:`~speechbrain_drnsa.training.preparation.prepare_experiment`,
run once before the fold loop). ``setup`` runs on every process: it builds
SpeechBrain ``DynamicItemDataset`` s for the fold's train, valid and test
parts, with a pipeline that loads cached features and maps the emotion to its
index in ``labels``, adds the perturbed copies of the training utterances to
the training part (with their own functionals), and fits the feature normaliser
(:class:`~speechbrain_drnsa.features.normalize.FeatureNormalizer`): each
speaker's statistics first when it normalises per speaker (on all of the
fold's utterances of that speaker: transductive), then the fold statistics
on the training part's original utterances only. With
``normalization_group="corpus"`` the groups the normaliser standardises first
are the corpora of a merged manifest instead of its speakers (each on all of
the fold's utterances of that corpus, the tested corpus's included: transductive
at the level of a corpus, no speaker labels needed). The loaders pad with
SpeechBrain's ``PaddedBatch`` and batch by length
(:mod:`speechbrain_drnsa.training.sampler`).
"""

import functools
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.dataset import DynamicItemDataset
from torch.utils.data import DataLoader

from speechbrain_drnsa.data.fold_files import load_folds
from speechbrain_drnsa.data.folds import Fold
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.cache import FeatureIndex, load_features
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.training.preparation import PreparedData
from speechbrain_drnsa.training.sampler import (
    BucketBatchSampler,
    LengthSortedSampler,
    padded_share,
)

__all__ = ["NORMALIZATION_GROUPS", "SERDataModule"]

logger = logging.getLogger(__name__)

_PARTS = ("train", "valid", "test")

#: What a per-speaker normaliser can group utterances by (a manifest key).
NORMALIZATION_GROUPS = ("speaker", "corpus")


class SERDataModule(pl.LightningDataModule):
    """Datasets and loaders of fold ``fold`` of a prepared corpus.

    Arguments
    ---------
    prepared : PreparedData
        Manifest, fold file and feature indexes.
    fold : int
        Fold number, from 0, in the fold file.
    normalizer : FeatureNormalizer
        ``setup`` fits it on the fold (per speaker first if it normalises per
        speaker). Pass the same object to
        :class:`~speechbrain_drnsa.training.module.SERModule`.
    labels : sequence of str
        Class names; an utterance labelled otherwise is an error.
    functionals_normalizer : FeatureNormalizer, optional
        With the prepared data's functionals: fitted like ``normalizer`` on
        the utterances' functionals, which batches then carry as ``functionals``.
    batch_size : int
        Most utterances per batch.
    max_batch_frames : int, optional
        Most padded frames per batch (bounds memory on long utterances).
    num_workers : int
        Loader worker processes.
    seed : int
        Seed of the batch order.
    train_on_validation : bool
        Train on the validation utterances too (their normalisation statistics
        included), for a final model whose epochs were chosen on them.
    normalization_group : str
        What a per-speaker normaliser's groups are: ``"speaker"``, or
        ``"corpus"`` (the manifest's ``corpus`` of each utterance). Batches
        carry each utterance's group as ``speaker``.

    Example
    -------
    >>> from pathlib import Path
    >>> prepared = PreparedData(Path("m.json"), Path("folds.json"), FeatureIndex("h", {}))
    >>> data = SERDataModule(prepared, fold=0, normalizer=FeatureNormalizer())
    >>> data.fold, data.labels
    (0, ['neu', 'hap', 'sad', 'ang'])
    """

    def __init__(
        self,
        prepared: PreparedData,
        fold: int,
        normalizer: FeatureNormalizer,
        labels: Sequence[str] = ("neu", "hap", "sad", "ang"),
        batch_size: int = 16,
        max_batch_frames: int | None = None,
        num_workers: int = 0,
        seed: int = 1234,
        functionals_normalizer: FeatureNormalizer | None = None,
        train_on_validation: bool = False,
        normalization_group: str = "speaker",
    ):
        super().__init__()
        if (functionals_normalizer is None) != (prepared.functionals is None):
            raise ValueError("functionals need both prepared functionals and their normaliser")
        if normalization_group not in NORMALIZATION_GROUPS:
            raise ValueError(f"normalization_group must be one of {', '.join(NORMALIZATION_GROUPS)}"
                             f", got {normalization_group!r}")
        self.prepared = prepared
        self.functionals_normalizer = functionals_normalizer
        self.fold = fold
        self.normalizer = normalizer
        self.labels = list(labels)
        self.batch_size = batch_size
        self.max_batch_frames = max_batch_frames
        self.num_workers = num_workers
        self.seed = seed
        self.train_on_validation = train_on_validation
        self.normalization_group = normalization_group
        self.datasets: dict[str, DynamicItemDataset] = {}
        self.frames: dict[str, list[int]] = {}

    def setup(self, stage: str | None = None) -> None:
        """Build the fold's datasets and fit the normaliser on the fold."""
        if self.datasets:
            return
        manifest = load_json(self.prepared.manifest)
        index = self.prepared.features
        fold = self._load_fold()
        self._check_fold(fold, manifest, index)
        group_of = self._groups(manifest)
        if self.train_on_validation:
            fold = fold._replace(train=[*fold.train, *fold.valid])
        for part, ids in zip(_PARTS, fold, strict=True):
            # entry id: (utterance id, the indexes holding its features and functionals)
            entries = {utt_id: (utt_id, index, self.prepared.functionals) for utt_id in ids}
            if part == "train":
                entries |= {
                    f"{utt_id}@{name}": (
                        utt_id, copies, self.prepared.perturbed_functionals.get(name)
                    )
                    for name, copies in self.prepared.perturbed.items()
                    for utt_id in ids
                }
            data = {
                entry_id: {
                    "feats_path": features.path(utt_id),
                    "emo": manifest[utt_id]["emo"],
                    "speaker": group_of[utt_id],
                    **({"functionals_path": (functionals or self.prepared.functionals).path(utt_id)}
                       if self.prepared.functionals is not None else {}),
                }
                for entry_id, (utt_id, features, functionals) in entries.items()
            }
            dataset = DynamicItemDataset(data)
            dataset.add_dynamic_item(load_features, takes=["feats_path"], provides="feats")
            keys = ["id", "feats", "label", "speaker"]
            if self.prepared.functionals is not None:
                dataset.add_dynamic_item(
                    load_features, takes=["functionals_path"], provides="functionals"
                )
                keys.append("functionals")
            dataset.add_dynamic_item(
                functools.partial(_label_index, labels=tuple(self.labels)),
                takes=["emo"],
                provides="label",
            )
            dataset.set_output_keys(keys)
            self.datasets[part] = dataset
            self.frames[part] = [
                features.frames(utt_id)
                for utt_id, features, _ in map(entries.get, dataset.data_ids)
            ]
        self._fit_normalizer(self.normalizer, fold, group_of, index)
        if self.functionals_normalizer is not None:
            self._fit_normalizer(self.functionals_normalizer, fold, group_of,
                                 self.prepared.functionals)
        logger.info(
            "fold %d of %s: %d train, %d valid, %d test utterances%s",
            self.fold, self.prepared.folds.name, *(len(ids) for ids in fold),
            f"; {len(self.datasets['train'])} training items with the perturbed copies"
            if self.prepared.perturbed else "",
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
        protocol = self.prepared.folds.stem.removeprefix("folds_")
        return {"fold": self.fold, "protocol": protocol, "labels": self.labels,
                "train_on_validation": self.train_on_validation}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse a checkpoint written for another fold, protocol or label set."""
        mine = self.state_dict()
        # a key an older checkpoint lacks is not checked
        if any(key in state_dict and state_dict[key] != value for key, value in mine.items()):
            raise ValueError(
                f"the checkpoint was written for {state_dict}, not for {mine}: "
                "resume only into the same fold"
            )

    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[part],
            batch_sampler=self._batch_sampler(part, shuffle),
            collate_fn=functools.partial(PaddedBatch, padded_keys=["feats", "functionals"]),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def _batch_sampler(self, part: str, shuffle: bool) -> BucketBatchSampler:
        trainer = self.trainer
        order = LengthSortedSampler(self.frames[part], shuffle=shuffle, seed=self.seed)
        # Lightning reads the loader's length before it sets the epoch (the batches are
        # drawn after): start from the trainer's epoch so both agree in a resumed run
        order.set_epoch(trainer.current_epoch if trainer is not None else 0)
        return BucketBatchSampler(
            order,
            batch_size=self.batch_size,
            max_batch_frames=self.max_batch_frames,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            even_batches=shuffle,
        )

    def _groups(self, manifest: dict) -> dict[str, str]:
        """Each utterance's normalisation group: its speaker, or its corpus."""
        key = self.normalization_group
        missing = [utt_id for utt_id, entry in manifest.items() if key not in entry]
        if missing:
            raise InputFileError(
                self.prepared.manifest,
                f"normalization_group {key!r}: utterance {missing[0]} has no {key!r} "
                "(corpus groups need several corpora merged by the CSV recipe's csv list)",
            )
        return {utt_id: str(entry[key]) for utt_id, entry in manifest.items()}

    def _fit_normalizer(
        self, normalizer: FeatureNormalizer, fold: Fold, group_of: dict[str, str],
        index: FeatureIndex,
    ) -> None:
        if normalizer.per_speaker:
            # every utterance of each group of the fold, the tested ones included (transductive)
            groups = {group_of[utt_id] for ids in fold for utt_id in ids}
            paths = defaultdict(list)
            for utt_id, group in group_of.items():
                if group in groups:
                    paths[group].append(index.path(utt_id))
            logger.info("per-%s normalisation: statistics of %d groups",
                        self.normalization_group, len(paths))
            for group, files in paths.items():
                normalizer.fit_speaker(group, map(load_features, files))
        normalizer.fit(
            (load_features(index.path(utt_id)) for utt_id in fold.train),
            speakers=[group_of[utt_id] for utt_id in fold.train],
        )

    def _load_fold(self) -> Fold:
        folds = load_folds(self.prepared.folds)
        if not 0 <= self.fold < len(folds):
            raise InputFileError(
                self.prepared.folds,
                f"has {len(folds)} folds (0 to {len(folds) - 1}), there is no fold {self.fold}",
            )
        return folds[self.fold]

    def _check_fold(self, fold: Fold, manifest: dict, index: FeatureIndex) -> None:
        for part, ids in zip(_PARTS, fold, strict=True):
            unknown = [utt_id for utt_id in ids if utt_id not in manifest]
            if unknown:
                raise InputFileError(
                    self.prepared.folds,
                    f"fold {self.fold} {part} lists {len(unknown)} utterance(s) missing from "
                    f"{self.prepared.manifest}, e.g. {unknown[0]}",
                )
            foreign = sorted({manifest[utt_id]["emo"] for utt_id in ids} - set(self.labels))
            if foreign:
                raise InputFileError(
                    self.prepared.manifest,
                    f"fold {self.fold} {part} has labels {foreign} outside {self.labels}",
                )
            missing = [utt_id for utt_id in ids if utt_id not in index]
            if missing:
                raise InputFileError(
                    self.prepared.manifest,
                    f"no features for {len(missing)} utterance(s) of fold {self.fold}, "
                    f"e.g. {missing[0]}",
                )
        train_labels = {manifest[utt_id]["emo"] for utt_id in fold.train}
        absent = [label for label in self.labels if label not in train_labels]
        if absent:
            raise InputFileError(
                self.prepared.folds,
                f"fold {self.fold} of {self.prepared.folds.name}: the training part has no "
                f"utterance labelled {', '.join(map(repr, absent))}, so the model cannot "
                "learn that class; use a protocol whose training parts hold every class",
            )


def _label_index(emo: str, labels: tuple[str, ...]) -> int:
    return labels.index(emo)
