"""The Lightning system that trains an utterance-level emotion classifier.

Model and system are kept apart, as Lightning recommends: the classifier
(:class:`speechbrain_drnsa.lobes.EmotionClassifier`, a plain ``nn.Module``)
and the per-fold feature normaliser are built elsewhere and handed in;
:class:`SERModule` holds the steps, the cross-entropy loss, the scores and
the optimiser. Every checkpoint it writes carries a ``"speechbrain_drnsa"``
block (package version, labels, model definition) next to the state dict,
whose ``normalizer.*`` buffers hold the feature statistics, so that a
checkpoint can be turned into a classifier without the training yaml.
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from speechbrain.dataio.batch import PaddedBatch
from torch import nn
from torchmetrics import MeanMetric

from speechbrain_drnsa import __version__
from speechbrain_drnsa.results.scores import (
    SCORE_NAMES,
    Evaluation,
    confusion_matrix,
    emotion_scores,
)

__all__ = ["CHECKPOINT_KEY", "SERModule"]

#: Key of the package's own block inside a Lightning checkpoint.
CHECKPOINT_KEY = "speechbrain_drnsa"


class SERModule(pl.LightningModule):
    """Train, validate and test an emotion classifier on padded LLD batches.

    Arguments
    ---------
    model : torch.nn.Module
        Maps ``(feats (batch, time, features), lengths (batch,))`` to logits
        ``(batch, len(labels))``; lengths are relative, in (0, 1].
    normalizer : torch.nn.Module
        Maps ``(feats, lengths, speakers)`` to normalised feats, e.g.
        :class:`~speechbrain_drnsa.features.normalize.FeatureNormalizer`; its
        statistics travel in the state dict.
    labels : sequence of str
        Class names, in the order of the model's outputs.
    lr : float
        Adam learning rate (1e-4 in Li et al., 2019).
    weight_decay : float
        Adam weight decay.
    scheduler : callable, optional
        ``scheduler(optimizer)`` returns a learning-rate scheduler, e.g. a
        hyperpyyaml ``!name:torch.optim.lr_scheduler.StepLR`` with its kwargs.
        Schedulers that need a metric (``ReduceLROnPlateau``) watch ``valid/UA``.
    seed : int, optional
        When given, the random generators are re-seeded from ``(seed, epoch,
        rank)`` at the start of every training epoch, so that a run resumed
        from an epoch checkpoint draws the same dropout masks as an
        uninterrupted one.
    model_config : mapping, optional
        Plain data describing how to rebuild ``model`` (for instance the model
        yaml text and its overrides); stored in every checkpoint.
    label_smoothing : float
        Label smoothing of the training cross-entropy (0: none); validation
        and test losses are plain cross-entropy.
    augment : torch.nn.Module, optional
        Applied to the normalised ``(batch, time, features)`` of training
        batches only, e.g. SpeechBrain's ``SpectrogramDrop`` masking frames (``dim=1``)
        or features (``dim=2``).
    functionals_normalizer : torch.nn.Module, optional
        For a model that also takes the utterances' functionals
        (:class:`~speechbrain_drnsa.lobes.FunctionalsFusionClassifier`): maps
        the batches' ``functionals`` ``(batch, 1, features)`` (and speakers)
        to normalised ones, passed to the model as its third argument.
    functionals : str, optional
        The name of the functional set (``eGeMAPSv02`` ...), stored in every
        checkpoint so that inference extracts the same.
    frame_features : str, optional
        The openSMILE set of the frames when not the paper's 17 LLDs
        (``eGeMAPSv02`` ...; :mod:`~speechbrain_drnsa.features.lld_sets`),
        stored in every checkpoint so that inference extracts the same.
    ssl : mapping, optional
        With ``frame_features: ssl``: the SSL front end's source, resolved
        revision, layer choice and sizes
        (:meth:`~speechbrain_drnsa.features.ssl.SSLFeatures.record`), stored in
        every checkpoint so that inference loads the same model.
    feature_config_hash : str, optional
        The configuration hash of the features the model is trained on
        (:attr:`~speechbrain_drnsa.features.opensmile.OpenSmileLLD.config_hash`),
        stored in every checkpoint.
    corpus : mapping, optional
        What is known of the training corpus
        (:func:`~speechbrain_drnsa.data.provenance.corpus_provenance`), stored
        in every checkpoint for the model card of an exported folder.
    mixup_alpha : float
        Mixup (Zhang et al., ICLR 2018) of training batches when above 0:
        each batch is mixed with a shuffled copy of itself, normalised
        features and one-hot targets alike, with one weight drawn from
        Beta(alpha, alpha); a mixed pair keeps the longer of its two lengths.
        Training scores still compare with each utterance's own label;
        validation and test batches are never mixed.

    Example
    -------
    >>> class Tiny(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.out = nn.Linear(17, 4)
    ...     def forward(self, feats, lengths):
    ...         return self.out(feats.mean(dim=1))
    >>> class Identity(nn.Module):
    ...     def forward(self, feats, lengths, speakers=None):
    ...         return feats
    >>> system = SERModule(Tiny(), Identity(), labels=["neu", "hap", "sad", "ang"])
    >>> system(torch.randn(2, 50, 17), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        model: nn.Module,
        normalizer: nn.Module,
        labels: Sequence[str],
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
        seed: int | None = None,
        model_config: Mapping[str, Any] | None = None,
        label_smoothing: float = 0.0,
        augment: nn.Module | None = None,
        mixup_alpha: float = 0.0,
        feature_config_hash: str | None = None,
        functionals_normalizer: nn.Module | None = None,
        functionals: str | None = None,
        frame_features: str | None = None,
        corpus: Mapping[str, Any] | None = None,
        ssl: Mapping[str, Any] | None = None,
    ):
        if mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be 0 (off) or positive, got {mixup_alpha}")
        if mixup_alpha > 0 and functionals_normalizer is not None:
            raise ValueError("mixup does not mix utterance functionals yet: use one or the other")
        super().__init__()
        self.save_hyperparameters(
            ignore=["model", "normalizer", "scheduler", "model_config", "augment",
                    "functionals_normalizer", "corpus", "ssl"]
        )
        self.model = model
        self.normalizer = normalizer
        self.functionals_normalizer = functionals_normalizer
        self.functionals = functionals
        self.frame_features = frame_features
        self.ssl = dict(ssl) if ssl is not None else None
        self.feature_config_hash = feature_config_hash
        self.labels = list(labels)
        self.scheduler = scheduler
        self.model_config = dict(model_config or {})
        self.corpus = dict(corpus) if corpus is not None else None
        self.loss = nn.CrossEntropyLoss()
        self.train_loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.augment = augment
        num_classes = len(self.labels)
        # accumulated per step, computed (and synced over processes) once per epoch:
        # logging metric objects every step costs more than the step of a small model
        self.train_scores = emotion_scores(num_classes, prefix="train/")
        self.valid_scores = emotion_scores(num_classes, prefix="valid/")
        self.test_scores = emotion_scores(num_classes, prefix="test/")
        self.train_loss, self.valid_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.padded_share = MeanMetric()
        self.test_confusion = confusion_matrix(num_classes)
        self._test_records: list[tuple[str, int, int, list[float]]] = []
        self._train_utterances = 0
        self.evaluation: Evaluation | None = None
        self.train_utterances_per_rank: list[int] | None = None

    def forward(
        self,
        feats: torch.Tensor,
        lengths: torch.Tensor,
        speakers: Sequence[str] | None = None,
        functionals: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalise the features and return class logits ``(batch, classes)``."""
        return self._logits(self.normalizer(feats, lengths, speakers), lengths, speakers,
                            functionals)

    def training_step(self, batch: PaddedBatch, batch_idx: int) -> torch.Tensor:
        """Cross-entropy on one batch; accumulates loss, scores and the padded-frame share."""
        _, loss = self._shared_step(batch, "train")
        self._train_utterances += len(batch.id)
        feats, lengths = batch.feats
        total_frames = feats.shape[0] * feats.shape[1]
        real_frames = torch.round(lengths * feats.shape[1]).sum()
        # weighted by total frames, the epoch value is sum(padded) / sum(total)
        self.padded_share.update(1.0 - real_frames / total_frames, total_frames)
        return loss

    def validation_step(self, batch: PaddedBatch, batch_idx: int) -> None:
        """Score one validation batch; UA here selects the checkpoint."""
        self._shared_step(batch, "valid")

    def test_step(self, batch: PaddedBatch, batch_idx: int) -> None:
        """Score one test batch and keep its per-utterance predictions."""
        logits, _ = self._shared_step(batch, "test")
        predictions = logits.argmax(dim=-1)
        self.test_confusion.update(predictions, batch.label)
        probabilities = logits.float().softmax(dim=-1).tolist()
        self._test_records.extend(
            zip(batch.id, batch.label.tolist(), predictions.tolist(), probabilities, strict=True)
        )

    def on_train_epoch_end(self) -> None:
        """Log the epoch's training loss, UA, WA, F1 and padded-frame share."""
        self.log("train/padded_share", self.padded_share.compute(), sync_dist=True)
        self.padded_share.reset()
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        """Log the epoch's validation loss, UA, WA and F1."""
        self._log_epoch("valid")

    def on_train_start(self) -> None:
        """Start counting the utterances this process trains on."""
        self._train_utterances = 0

    def on_train_end(self) -> None:
        """Gather, per process, how many utterances it trained on (in this run)."""
        self.train_utterances_per_rank = _gather_objects([self._train_utterances])

    def on_test_epoch_start(self) -> None:
        """Forget the predictions of an earlier test run."""
        self._test_records = []
        self.evaluation = None

    def on_test_epoch_end(self) -> None:
        """Compute the test scores over all processes and keep them in ``evaluation``."""
        scores = self._log_epoch("test")
        matrix = self.test_confusion.compute()
        self.test_confusion.reset()
        records = sorted(_gather_objects(self._test_records))
        self.evaluation = Evaluation(
            scores={name: scores[f"test/{name}"] for name in SCORE_NAMES},
            confusion=matrix.tolist(),
            labels=list(self.labels),
            predictions=[
                (utt_id, self.labels[true], self.labels[pred]) for utt_id, true, pred, _ in records
            ],
            probabilities=[probabilities for *_, probabilities in records],
        )

    def on_train_epoch_start(self) -> None:
        """Re-seed the generators from (seed, epoch, rank) so resumed runs repeat exactly."""
        if self.hparams.seed is not None:
            key = f"{self.hparams.seed}/{self.current_epoch}/{self.global_rank}".encode()
            torch.manual_seed(int.from_bytes(hashlib.sha256(key).digest()[:7], "little"))

    def configure_optimizers(self) -> Any:
        """Adam over every trainable parameter, with the optional scheduler."""
        optimizer = torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler(optimizer), "monitor": "valid/UA"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add the package's block: version, labels and how to rebuild the model."""
        checkpoint[CHECKPOINT_KEY] = {
            "version": __version__,
            "labels": list(self.labels),
            "model_class": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            "normalizer_class": (
                f"{type(self.normalizer).__module__}.{type(self.normalizer).__qualname__}"
            ),
            "model_config": self.model_config,
            "speaker_normalization": bool(getattr(self.normalizer, "per_speaker", False)),
            "feature_config_hash": self.feature_config_hash,
            "functionals": self.functionals,
            "frame_features": self.frame_features,
        }
        if self.ssl is not None:
            checkpoint[CHECKPOINT_KEY]["ssl"] = self.ssl
        if self.corpus is not None:
            checkpoint[CHECKPOINT_KEY]["corpus"] = self.corpus

    def _shared_step(self, batch: PaddedBatch, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        feats, lengths = batch.feats
        feats = self.normalizer(feats, lengths, getattr(batch, "speaker", None))
        targets = batch.label
        if stage == "train" and self.hparams.mixup_alpha > 0:
            feats, lengths, targets = self._mixup(feats, lengths, targets)
        if stage == "train" and self.augment is not None:
            feats = self.augment(feats)
        functionals = batch.functionals.data if hasattr(batch, "functionals") else None
        logits = self._logits(feats, lengths, getattr(batch, "speaker", None), functionals)
        loss = (self.train_loss_fn if stage == "train" else self.loss)(logits.float(), targets)
        getattr(self, f"{stage}_loss").update(loss.detach(), feats.shape[0])
        getattr(self, f"{stage}_scores").update(logits.detach(), batch.label)
        return logits, loss

    def _logits(
        self,
        feats: torch.Tensor,
        lengths: torch.Tensor,
        speakers: Sequence[str] | None,
        functionals: torch.Tensor | None,
    ) -> torch.Tensor:
        """The model's logits, with the normalised functionals if it takes them."""
        if self.functionals_normalizer is None:
            return self.model(feats, lengths)
        if functionals is None:
            raise ValueError("this model needs the utterances' functionals in every batch")
        functionals = self.functionals_normalizer(functionals, None, speakers)[:, 0]
        return self.model(feats, lengths, functionals)

    def _mixup(
        self, feats: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mix the batch with a shuffled copy: features, lengths (max of the pair), targets."""
        alpha = torch.tensor(float(self.hparams.mixup_alpha))
        weight = torch.distributions.Beta(alpha, alpha).sample().to(feats.device)
        order = torch.randperm(feats.shape[0], device=feats.device)
        one_hot = nn.functional.one_hot(labels, len(self.labels)).float()
        return (
            weight * feats + (1 - weight) * feats[order],
            torch.maximum(lengths, lengths[order]),
            weight * one_hot + (1 - weight) * one_hot[order],
        )

    def _log_epoch(self, stage: str) -> dict[str, float]:
        """Log loss and scores of ``stage`` (already summed over processes) and reset them."""
        loss, scores = getattr(self, f"{stage}_loss"), getattr(self, f"{stage}_scores")
        values = {f"{stage}/loss": loss.compute(), **scores.compute()}
        loss.reset()
        scores.reset()
        # torchmetrics already summed over processes: sync_dist only averages equal values
        self.log_dict(values, prog_bar=stage != "test", sync_dist=True)
        return {name: value.item() for name, value in values.items()}


def _gather_objects(records: list) -> list:
    """Concatenate a list from every process (itself when not distributed)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return list(records)
    gathered: list[list | None] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, records)
    return [record for part in gathered for record in part]
