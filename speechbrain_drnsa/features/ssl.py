"""Self-supervised front ends: WavLM, wav2vec 2.0 or HuBERT hidden states as the encoder's frames.

``frame_features: ssl`` replaces the openSMILE LLDs with the hidden states of
a self-supervised speech model, every 20 ms, through SpeechBrain's own
wrappers (``WavLM``, ``Wav2Vec2``, ``HuBERT``, ``WeightedSSLModel`` of
``speechbrain.integrations.huggingface``, ``lobes.models.huggingface_transformers``
before SpeechBrain 1.1). The recipe keys:

``ssl_source``
    A hub id (``microsoft/wavlm-base-plus``) or a local folder holding the
    model's ``config.json``, ``preprocessor_config.json`` and weights.
``ssl_revision``
    The hub branch, tag or commit (null: ``main``); the commit found is recorded.
``ssl_layer``
    A hidden layer (0: the convolutional front end's projection, 1...: the
    transformer layers) or ``weighted``: every layer, summed with weights the
    model learns (softmax of zero-initialised weights, as SUPERB and
    ``WeightedSSLModel``).
``ssl_freeze``
    True (the default): the SSL model is not trained; its hidden states are
    computed once per utterance into the feature cache (:class:`SSLFeatures`),
    keyed by the model, its revision and the layer choice. False: the SSL
    model is fine-tuned with the classifier (:class:`WaveformFrames` then
    caches the 16 kHz waveform and the SSL model runs in every step).

``transformers`` comes with the ``ssl`` extra and is imported only here, when
a front end is built. Hub ids are resolved with ``huggingface_hub`` (the
local Hugging Face cache first, so ``HF_HUB_OFFLINE=1`` works with a model
downloaded before); the wrappers then load the resolved local folder, so
nothing else reaches the network.
"""

import functools
import hashlib
import importlib
import importlib.util
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from os import PathLike
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.features.opensmile import smile_input
from speechbrain_drnsa.features.resample import RESAMPLER

__all__ = [
    "SSL_MODEL_TYPES",
    "SSLFeatures",
    "SSLSettings",
    "WaveformFrames",
    "resolve_ssl_source",
    "speechbrain_ssl_module",
]

#: The model types of a ``config.json`` and the SpeechBrain wrapper of each.
SSL_MODEL_TYPES = {"wavlm": "WavLM", "wav2vec2": "Wav2Vec2", "hubert": "HuBERT"}
_WEIGHTED = "weighted"
_HUB_FILES = ["config.json", "preprocessor_config.json", "*.safetensors", "*.bin"]
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_INSTALL = "pip install 'speechbrain-drnsa[ssl]'"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SSLSettings:
    """A recipe's SSL front end: model source, revision, layer choice, freezing.

    Arguments
    ---------
    source : str
        A hub id or a local folder.
    revision : str, optional
        Hub branch, tag or commit; for a local folder, the hash of its files
        once resolved.
    layer : int or str
        A hidden layer, from 0, or ``"weighted"`` (a learned sum of all of them).
    freeze : bool
        Keep the SSL model's weights (features cached) or fine-tune them.

    Example
    -------
    >>> SSLSettings.from_hparams({"frame_features": "ssl", "ssl_source": "microsoft/wavlm-base"})
    SSLSettings(source='microsoft/wavlm-base', revision=None, layer='weighted', freeze=True)
    >>> SSLSettings.from_hparams({"frame_features": None}) is None
    True
    >>> SSLSettings("m", layer="last")
    Traceback (most recent call last):
    ...
    ValueError: ssl_layer must be a layer number (0, 1, ...) or 'weighted', got 'last'
    """

    source: str
    revision: str | None = None
    layer: int | str = _WEIGHTED
    freeze: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(
                "frame_features: ssl needs ssl_source: a hub id (microsoft/wavlm-base-plus) "
                "or a local folder holding the model"
            )
        layer = self.layer
        if layer != _WEIGHTED and (isinstance(layer, bool) or not isinstance(layer, int)
                                   or layer < 0):
            raise ValueError(
                f"ssl_layer must be a layer number (0, 1, ...) or 'weighted', got {layer!r}"
            )
        if not isinstance(self.freeze, bool):
            raise ValueError(f"ssl_freeze must be true or false, got {self.freeze!r}")
        if self.revision is not None and not isinstance(self.revision, str):
            raise ValueError(f"ssl_revision must be a branch, tag or commit, got {self.revision!r}")

    @property
    def weighted(self) -> bool:
        """Whether the model learns a weighted sum of every layer."""
        return self.layer == _WEIGHTED

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> "SSLSettings | None":
        """The settings of a recipe with ``frame_features: ssl`` (None for other frames)."""
        if hparams.get("frame_features") != "ssl":
            return None
        return cls(
            source=hparams.get("ssl_source"),
            revision=hparams.get("ssl_revision"),
            layer=hparams.get("ssl_layer", _WEIGHTED),
            freeze=hparams.get("ssl_freeze", True),
        )

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "SSLSettings":
        """The settings a checkpoint or a model folder recorded (:meth:`record`)."""
        return cls(record.get("source"), record.get("revision"),
                   record.get("layer", _WEIGHTED), record.get("freeze", True))

    def record(self) -> dict[str, Any]:
        """Plain data for a checkpoint or a model folder's ``hyperparams.yaml``."""
        return {"source": self.source, "revision": self.revision, "layer": self.layer,
                "freeze": self.freeze}


@dataclass(frozen=True)
class ResolvedSource:
    """Where an SSL model's files are, and which version they are.

    Arguments
    ---------
    folder : pathlib.Path
        A local folder with ``config.json`` and the weights.
    revision : str
        The hub commit, or ``sha256-...`` of a local folder's config and weights.
    """

    folder: Path
    revision: str


def resolve_ssl_source(source: str, revision: str | None = None) -> ResolvedSource:
    """The local folder and revision of a hub id or a local folder.

    A hub id is looked up with ``huggingface_hub.snapshot_download`` (only its
    config and weights), which reads the local Hugging Face cache first and,
    with ``HF_HUB_OFFLINE=1``, only the cache.

    Arguments
    ---------
    source : str
        A local folder or a hub id.
    revision : str, optional
        Hub branch, tag or commit (None: ``main``). For a local folder, the
        ``sha256-...`` it must have, checked when given.

    Returns
    -------
    ResolvedSource
        The folder and its revision.

    Raises
    ------
    InputFileError
        Naming the source, when it cannot be fetched (offline, private,
        missing) or is not a model folder, and how to pass a local folder.

    Example
    -------
    >>> import tempfile
    >>> resolve_ssl_source(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../config.json: missing: ssl_source must be ...
    """
    path = Path(source).expanduser()
    if path.is_dir():
        folder = _checked_folder(path)
        found = "sha256-" + _folder_digest(*_weights_signature(folder))[:16]
        if revision is not None and revision.startswith("sha256-") and revision != found:
            # another copy of the model, or other weights: say so, use what is there
            logger.warning(
                "%s: its files hash to %s, the model was trained on %s", folder, found, revision
            )
        return ResolvedSource(folder, found)
    if revision is not None and revision.startswith("sha256-"):
        raise InputFileError(source, "the SSL model was a local folder (files "
                             f"{revision}) that is not here; " + _LOCAL_HINT)
    if path.exists() or source.startswith(("/", "./", "../", "~")):  # a path, not a hub id
        raise InputFileError(source, "not a folder: ssl_source must be a hub id or a local "
                             "model folder. " + _LOCAL_HINT)
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id=source, revision=revision, allow_patterns=_HUB_FILES)
    except ImportError:
        raise InputFileError(source, f"hub ids need huggingface_hub: {_INSTALL}") from None
    except Exception as err:  # noqa: BLE001 - the hub raises many kinds (offline, 401, 404...)
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise InputFileError(
            source, f"cannot fetch the SSL model (revision {revision or 'main'}) from the "
            f"Hugging Face hub, and it is no local folder ({reason}). " + _LOCAL_HINT
        ) from None
    folder = _checked_folder(Path(folder))
    return ResolvedSource(folder, folder.name)


_LOCAL_HINT = (
    "Pass a local folder holding config.json, preprocessor_config.json and the weights: "
    "--ssl_source=/path/to/model (made where the hub is reachable with `hf "
    "download <hub id> --local-dir /path/to/model`), or download the hub id into the "
    "Hugging Face cache there and set HF_HUB_OFFLINE=1 here"
)


def _checked_folder(folder: Path) -> Path:
    if not (folder / "config.json").is_file():
        raise InputFileError(folder / "config.json", "missing: ssl_source must be a model "
                             "folder (config.json, preprocessor_config.json, weights)")
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir()):
        raise InputFileError(folder, "holds no weights (*.safetensors or *.bin)")
    return folder.resolve()


def _weights_signature(folder: Path) -> tuple[Path, tuple[tuple[str, int, int], ...]]:
    files = sorted(p for p in folder.iterdir()
                   if p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES)
    return folder, tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)


@functools.lru_cache(maxsize=8)
def _folder_digest(folder: Path, files: tuple[tuple[str, int, int], ...]) -> str:
    """SHA-256 of a local model's config and weights (hashed once per version of the files)."""
    digest = hashlib.sha256()
    for name, _, _ in files:
        digest.update(name.encode())
        with open(folder / name, "rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())
    return digest.hexdigest()


def speechbrain_ssl_module() -> ModuleType:
    """SpeechBrain's Hugging Face wrappers, wherever the installed SpeechBrain keeps them.

    Raises
    ------
    ImportError
        When ``transformers`` is missing, naming the extra that brings it.
    """
    if importlib.util.find_spec("transformers") is None:
        raise ImportError(f"frame_features: ssl needs transformers: {_INSTALL}")
    try:  # SpeechBrain 1.1
        return importlib.import_module("speechbrain.integrations.huggingface")
    except ModuleNotFoundError:  # SpeechBrain 1.0
        return importlib.import_module("speechbrain.lobes.models.huggingface_transformers")


class SSLFeatures:
    """Hidden states of a frozen SSL model per 20 ms frame, as a feature-cache extractor.

    The signal is read, averaged to mono and resampled to 16 kHz as for the
    LLDs, and passed whole through SpeechBrain's wrapper of the model (one
    utterance at a time, so no padding). ``extract`` returns the chosen
    layer, ``(frames, hidden)``, or every layer side by side for the weighted
    sum, ``(frames, layers * hidden)``, which the model sums with its own
    learned weights (:class:`~speechbrain_drnsa.lobes.WeightedLayerEncoder`).

    The model is built on first use and not pickled, so an extractor can be
    sent to worker processes; it runs on the GPU when there is one.

    Arguments
    ---------
    settings : SSLSettings
        Source, revision and layer. With ``freeze`` false the extractor only
        describes the model (sizes, record) and loads its trainable wrapper
        (:meth:`load_wrapper`): the cache then holds :class:`WaveformFrames`.

    Raises
    ------
    InputFileError
        If ``transformers`` is missing, the source cannot be fetched or is no
        supported model.
    """

    #: Sample rate of every supported model, in Hz.
    sample_rate = 16000
    kind = "SSL front end"

    def __init__(self, settings: SSLSettings):
        if importlib.util.find_spec("transformers") is None:
            raise InputFileError(settings.source, f"frame_features: ssl needs transformers: "
                                 f"{_INSTALL}")
        self.settings = settings
        resolved = resolve_ssl_source(settings.source, settings.revision)
        self.folder, self.revision = resolved.folder, resolved.revision
        self.model_config = _read_config(self.folder)
        self.model_type = self.model_config["model_type"]
        layers = self.num_layers
        if not settings.weighted and settings.layer >= layers:
            raise InputFileError(self.config, f"ssl_layer {settings.layer}: the model has "
                                 f"layers 0 to {layers - 1}")
        self._model = None

    @property
    def config(self) -> Path:
        """The model's ``config.json`` (the cache keeps a copy)."""
        return self.folder / "config.json"

    @property
    def hidden_size(self) -> int:
        """Values per layer and frame (768 for base models, 1024 for large)."""
        return int(self.model_config["hidden_size"])

    @property
    def num_layers(self) -> int:
        """Hidden states per frame: the front end's projection and every transformer layer."""
        return int(self.model_config["num_hidden_layers"]) + 1

    @property
    def layers_per_frame(self) -> int:
        """Layers per frame the classifier reads: all for a frozen weighted sum, else one.

        A fine-tuned model's wrapper picks the layer or sums them itself.
        """
        return self.num_layers if self.settings.weighted and self.settings.freeze else 1

    @property
    def hop(self) -> int:
        """Samples at 16 kHz between frames (320: 20 ms): the product of the conv strides."""
        return int(np.prod(self.model_config["conv_stride"]))

    @property
    def window(self) -> int:
        """Samples at 16 kHz one frame sees through the convolutions (400: 25 ms)."""
        field, jump = 1, 1
        for kernel, stride in zip(self.model_config["conv_kernel"],
                                  self.model_config["conv_stride"], strict=True):
            field, jump = field + (kernel - 1) * jump, jump * stride
        return field

    @property
    def num_features(self) -> int:
        """Values per frame of :meth:`extract`."""
        return self.layers_per_frame * self.hidden_size

    @property
    def feature_names(self) -> tuple[str, ...]:
        """``layer<l>_<i>`` for every value of a frame."""
        layers = range(self.num_layers) if self.settings.weighted else [self.settings.layer]
        return tuple(f"layer{layer}_{i}" for layer in layers for i in range(self.hidden_size))

    def record(self) -> dict[str, Any]:
        """Plain data for checkpoints and model folders: the settings, resolved, and sizes."""
        local = self.revision.startswith("sha256-")  # recorded as an absolute path
        settings = SSLSettings(str(self.folder) if local else self.settings.source,
                               self.revision, self.settings.layer, self.settings.freeze)
        return {**settings.record(),
                "model_type": self.model_type, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers}

    @property
    def config_hash(self) -> str:
        """SHA-256 of what decides the values: model, revision, layer choice, versions."""
        model = self.settings.source if not self.revision.startswith("sha256-") else "local"
        key = (f"ssl|{model}|{self.revision}|layer={self.settings.layer}|{self.model_type}|"
               f"{self.sample_rate}|{RESAMPLER}|transformers {version('transformers')}")
        return hashlib.sha256(key.encode()).hexdigest()

    def load_wrapper(self, freeze: bool = True) -> nn.Module:
        """SpeechBrain's wrapper of the model: every layer's states, or their weighted sum.

        Arguments
        ---------
        freeze : bool
            Passed to the wrapper (False: its weights train).

        Returns
        -------
        torch.nn.Module
            ``(wav (batch, samples), wav_lens)`` to ``(layers, batch, frames,
            hidden)``, or with ``weighted`` and not ``freeze``: SpeechBrain's
            ``WeightedSSLModel``, to ``(batch, frames, hidden)``.
        """
        lobes = speechbrain_ssl_module()
        if self.settings.weighted and not freeze:
            wrapper = lobes.WeightedSSLModel(str(self.folder), save_path=str(self.folder),
                                             freeze=False)
            # trained like the other wrappers with freeze_feature_extractor (as wav2vec 2.0
            # is fine-tuned): the transformer in training mode, the convolutions as pretrained
            wrapper.model.train()
            wrapper.model.feature_extractor.eval().requires_grad_(False)
            wrapper.model.config.apply_spec_augment = False  # the others' default, too
        else:
            wrapper = getattr(lobes, SSL_MODEL_TYPES[self.model_type])(
                str(self.folder), save_path=str(self.folder), freeze=freeze,
                freeze_feature_extractor=True, output_all_hiddens=True)
        if not freeze:
            # LayerDrop skips layers in training, and a skipped layer has no hidden state:
            # the chosen layer, or the weighted sum's count, would shift from step to step
            wrapper.model.config.layerdrop = 0.0
        return wrapper

    def extract(self, signal: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """The hidden states of every frame of a signal.

        Arguments
        ---------
        signal : torch.Tensor
            ``(samples,)`` or ``(channels, samples)`` floats in [-1, 1].
        sample_rate : int
            Its sample rate in Hz; resampled to 16 kHz if different.

        Returns
        -------
        torch.Tensor
            ``(frames, num_features)`` float32 on the CPU; a signal shorter than
            one frame's window is padded with zeros to it.
        """
        samples = smile_input(signal, sample_rate, min_samples=self.window)
        model = self._get_model()
        device = next(model.parameters()).device
        wav = torch.from_numpy(samples).to(device).unsqueeze(0)
        with torch.inference_mode():
            states = model(wav, torch.ones(1, device=device))[:, 0]  # (layers, frames, hidden)
        if not self.settings.weighted:
            return states[self.settings.layer].float().cpu().contiguous()
        return states.permute(1, 0, 2).flatten(1).float().cpu().contiguous()

    def extract_array(self, signal: Any, sample_rate: int) -> np.ndarray:
        """:meth:`extract` as a numpy array (the recognizer's feature path)."""
        return self.extract(signal, sample_rate).numpy()

    def extract_file(self, path: str | PathLike) -> torch.Tensor:
        """Read an audio file and extract its frames (see :meth:`extract`)."""
        signal, sample_rate = read_audio(path)
        feats = self.extract(signal, sample_rate)
        if not torch.isfinite(feats).all():
            raise InputFileError(path, f"{self.settings.source} gave non-finite hidden states")
        return feats

    def __getstate__(self) -> dict[str, Any]:
        # a worker process builds its own model
        return {**self.__dict__, "_model": None}

    def _get_model(self) -> nn.Module:
        if self._model is None:
            model = self.load_wrapper(freeze=True).eval()
            self._model = model.to("cuda" if torch.cuda.is_available() else "cpu")
        return self._model


class WaveformFrames:
    """The 16 kHz mono waveform as ``(samples, 1)`` frames: what a fine-tuned SSL model reads.

    With ``ssl_freeze: false`` the SSL model runs in every training step, so
    the feature cache holds the waveform (read, averaged to mono, resampled
    once) instead of hidden states.

    Example
    -------
    >>> WaveformFrames().extract(torch.zeros(2, 8000), 8000).shape
    torch.Size([16000, 1])
    """

    sample_rate = SSLFeatures.sample_rate
    hop = 1
    feature_names = ("waveform",)
    kind = "waveform"

    @property
    def config_hash(self) -> str:
        """SHA-256 of the rate and resampler."""
        return hashlib.sha256(f"waveform|{self.sample_rate}|{RESAMPLER}".encode()).hexdigest()

    def extract(self, signal: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``(samples, 1)`` float32 at 16 kHz (at least 25 ms, zero-padded)."""
        samples = smile_input(signal, sample_rate, min_samples=400)
        return torch.from_numpy(np.ascontiguousarray(samples[:, None], dtype=np.float32))

    def extract_array(self, signal: Any, sample_rate: int) -> np.ndarray:
        """:meth:`extract` as a numpy array (the recognizer's feature path)."""
        return self.extract(signal, sample_rate).numpy()

    def extract_file(self, path: str | PathLike) -> torch.Tensor:
        """Read an audio file and return its waveform frames."""
        return self.extract(*read_audio(path))


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"not a readable model config ({err})") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SSL_MODEL_TYPES:
        raise InputFileError(path, f"model_type {model_type!r} is not a supported SSL model "
                             f"({', '.join(SSL_MODEL_TYPES)})")
    missing = [key for key in ("hidden_size", "num_hidden_layers", "conv_stride", "conv_kernel")
               if key not in config]
    if missing:
        raise InputFileError(path, f"missing {', '.join(missing)}")
    return config
