"""Build one fold's Lightning system and data from a recipe's hparams.

The model comes from the recipe's model yaml (training never imports the
lobes, but puts a fine-tuned SSL front end, ``ssl_freeze: false``, before it),
its feature normaliser (and the functionals' one, for a model that takes
them) is shared by the :class:`SERModule` and the :class:`SERDataModule`
that fits it, and every random draw follows the seed.
"""

import inspect
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch

from speechbrain_drnsa.data.provenance import corpus_provenance
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.functionals import FEATURE_SET_SIZES
from speechbrain_drnsa.features.lld_sets import FRAME_FEATURE_SIZES
from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.features.opensmile import FEATURE_NAMES
from speechbrain_drnsa.features.ssl import SSLFeatures, SSLSettings
from speechbrain_drnsa.training.datamodule import SERDataModule
from speechbrain_drnsa.training.hparams import build_model, recipe_model_overrides
from speechbrain_drnsa.training.module import SERModule
from speechbrain_drnsa.training.preparation import PreparedData
from speechbrain_drnsa.training.pretrained import load_pretrained_weights

__all__ = ["build_fold"]


def build_fold(
    hparams: Mapping[str, Any], prepared: PreparedData, fold: int, train_on_validation: bool = False
) -> tuple[SERModule, SERDataModule]:
    """The seeded model in its Lightning system, and the fold's data.

    Arguments
    ---------
    hparams : mapping
        Keys as in :mod:`speechbrain_drnsa.training.runner`.
    prepared : PreparedData
        The prepared corpus.
    fold : int
        Fold number, from 0.
    train_on_validation : bool
        Train on the fold's validation speakers too (see ``SERDataModule``).

    Returns
    -------
    module : SERModule
        The freshly initialised (or ``init_from``) model, its normalisers and
        optimisation settings.
    data : SERDataModule
        The fold's data, sharing the normalisers with ``module``.

    Raises
    ------
    InputFileError
        When the model and the ``functionals`` setting do not agree.
    """
    if hparams.get("num_threads") is not None:
        torch.set_num_threads(hparams["num_threads"])
    pl.seed_everything(hparams["seed"], workers=True)
    labels = list(hparams["labels"])
    model, model_config = build_model(hparams["model_file"], recipe_model_overrides(hparams))
    _check_functionals_input(model, hparams)
    if hparams.get("init_from") is not None:
        load_pretrained_weights(model, hparams["init_from"], labels)
    num_features = FRAME_FEATURE_SIZES.get(hparams.get("frame_features"), len(FEATURE_NAMES))
    ssl = SSLSettings.from_hparams(hparams)
    if ssl is not None:
        front_end = SSLFeatures(ssl)
        # frozen: the cached states; fine-tuned: the waveform, one value per sample
        num_features = front_end.num_features if ssl.freeze else 1
        if not ssl.freeze:
            # the one lobe training builds itself: the SSL model is no yaml's
            from speechbrain_drnsa.lobes.ssl import SSLClassifier

            # the waveform's one mean and std rescale it: the SSL wrappers normalise each
            # utterance (do_normalize) or start with a norm layer, so the scale is harmless
            model = SSLClassifier(front_end.load_wrapper(freeze=False), model,
                                  layer=None if ssl.weighted else ssl.layer)
    per_speaker = bool(hparams.get("speaker_normalization"))
    normalizer = FeatureNormalizer(num_features=num_features, per_speaker=per_speaker)
    functionals_normalizer = None
    if prepared.functionals is not None:
        functionals_normalizer = FeatureNormalizer(
            num_features=FEATURE_SET_SIZES[hparams["functionals"]], per_speaker=per_speaker
        )
    module = SERModule(
        model,
        normalizer,
        labels,
        lr=hparams["lr"],
        weight_decay=hparams["weight_decay"],
        scheduler=hparams.get("scheduler"),
        seed=hparams["seed"],
        model_config=model_config,
        label_smoothing=hparams.get("label_smoothing", 0.0),
        augment=hparams.get("augment"),
        mixup_alpha=hparams.get("mixup_alpha", 0.0),
        feature_config_hash=prepared.features.config_hash,
        functionals_normalizer=functionals_normalizer,
        functionals=hparams.get("functionals"),
        frame_features=hparams.get("frame_features"),
        ssl=front_end.record() if ssl is not None else None,
        # looked at now, while the corpus folder is where the run found it
        corpus=corpus_provenance(hparams),
    )
    data = SERDataModule(
        prepared,
        fold=fold,
        normalizer=normalizer,
        labels=labels,
        batch_size=hparams["batch_size"],
        max_batch_frames=hparams.get("max_batch_frames"),
        num_workers=hparams["num_workers"],
        seed=hparams["seed"],
        functionals_normalizer=functionals_normalizer,
        train_on_validation=train_on_validation,
        normalization_group=hparams.get("normalization_group") or "speaker",
    )
    return module, data


def _check_functionals_input(model: torch.nn.Module, hparams: Mapping[str, Any]) -> None:
    """A model that takes functionals gets them, and only such a model."""
    takes = "functionals" in inspect.signature(model.forward).parameters
    if takes and not hparams.get("functionals"):
        raise InputFileError(
            hparams["model_file"],
            "the model takes utterance functionals: set functionals (eGeMAPSv02 or ComParE_2016)",
        )
    if hparams.get("functionals") and not takes:
        raise InputFileError(
            hparams["model_file"],
            f"functionals: {hparams['functionals']} is set but the model does not take them; "
            "use a model yaml such as speechbrain_drnsa/hparams/drn_mhsa_functionals.yaml",
        )
