"""Every check on what users hand the inference path: options, waveforms, audio, model folders.

The command line, the Python API (:class:`~speechbrain_drnsa.inference.EmotionRecognizer`)
and any later front end share these checks, so an input is refused (or warned
about) with the same words wherever it comes in:

- options: window and hop lengths, the torch device;
- waveform batches: dtype, layout, relative lengths, NaN or infinite samples;
- what a signal lets the model see: silence, too few frames, a band missing
  below the model's sample rate, samples above full scale;
- model folders: yaml read as bounded plain data (no aliases, limited
  nesting and size: a 1.7 KB "billion laughs" file would otherwise expand
  to gigabytes), the config's value types, finite weights, capped text files.

Whether an audio file can be read at all (missing, empty, truncated, not
audio, NaN samples) is :func:`~speechbrain_drnsa.features.audio.audio_info`'s
and :func:`~speechbrain_drnsa.features.audio.read_audio`'s, which data
preparation shares too. Errors about a file are
:class:`~speechbrain_drnsa.errors.InputFileError` naming it; lists quoted in
messages are capped (:func:`quoted`), so that a label file of 10,000 lines
still gives a short line.
"""

import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ruamel.yaml
from ruamel.yaml import events

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features.stock_sets import FEATURE_SETS

if TYPE_CHECKING:  # imported where tensors are checked: the ONNX path imports no torch
    import torch

__all__ = [
    "MAX_OVERLAP",
    "MAX_TEXT_BYTES",
    "MAX_WINDOW_S",
    "MIN_WINDOW_S",
    "batch_signals",
    "check_config",
    "check_device",
    "check_finite_tensors",
    "check_window",
    "check_yaml_text",
    "one_line",
    "quoted",
    "read_text",
    "signal_warnings",
]

#: Window lengths accepted, in seconds: below, too few frames; above, minutes held in memory.
MIN_WINDOW_S, MAX_WINDOW_S = 0.25, 600.0
#: Windows may overlap so that each sample is read at most this many times.
MAX_OVERLAP = 20
#: Largest text file of a model folder (its config and labels are a few KB).
MAX_TEXT_BYTES = 1 << 20
_MAX_YAML_DEPTH = 32
#: Nodes a yaml text may hold once its aliases are expanded (where aliases are allowed).
_MAX_YAML_NODES = 100_000
_SILENCE_PEAK = 1e-4  # below -80 dBFS: nothing to classify
_MAX_CHANNELS = 8  # a "time" axis this short next to a long one is a channel axis
_QUOTED = 5


def quoted(values: Sequence[Any], limit: int = _QUOTED) -> str:
    """A list for an error message, at most ``limit`` items of it.

    Example
    -------
    >>> quoted(["neu", "ang"])
    "['neu', 'ang']"
    >>> quoted([f"l{i}" for i in range(10000)])
    "['l0', 'l1', 'l2', 'l3', 'l4', ... 9995 more]"
    """
    values = list(values)
    if len(values) <= limit:
        return repr(values)
    return repr(values[:limit])[:-1] + f", ... {len(values) - limit} more]"


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters (a library's message quoted in ours).

    Example
    -------
    >>> one_line("expected <block end>\\n  in line 2", limit=20)
    'expected <block ...'
    """
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_window(window_s: float, hop_s: float | None = None) -> tuple[float, float]:
    """Check a window length and hop in seconds (hop: half the window when not given).

    Arguments
    ---------
    window_s : float
        Window length, in [:data:`MIN_WINDOW_S`, :data:`MAX_WINDOW_S`].
    hop_s : float, optional
        Hop between windows, in [``window_s / MAX_OVERLAP``, ``window_s``].

    Returns
    -------
    tuple of float
        ``(window_s, hop_s)``.

    Raises
    ------
    ValueError
        Naming the value and the range it must lie in.

    Example
    -------
    >>> check_window(10)
    (10.0, 5.0)
    >>> check_window(-1)
    Traceback (most recent call last):
    ...
    ValueError: window must be between 0.25 and 600 seconds, got -1
    """
    if not _is_number(window_s) or not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
        raise ValueError(
            f"window must be between {MIN_WINDOW_S:g} and {MAX_WINDOW_S:g} seconds, "
            f"got {window_s!r}"
        )
    hop_s = window_s / 2 if hop_s is None else hop_s
    if not _is_number(hop_s) or not window_s / MAX_OVERLAP <= hop_s <= window_s:
        raise ValueError(
            f"hop must be between window/{MAX_OVERLAP} ({window_s / MAX_OVERLAP:g} s) and the "
            f"window ({window_s:g} s), got {hop_s!r}"
        )
    return float(window_s), float(hop_s)


def check_device(device: "str | torch.device") -> "torch.device":
    """A torch device that exists here.

    Example
    -------
    >>> check_device("cpu")
    device(type='cpu')
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device 'gpu' is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1')
    """
    import torch

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device {device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1')"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            raise ValueError(f"device {str(device)!r} asked for, but this machine has "
                             f"{count} CUDA device(s)")
    elif device.type != "cpu" and not _backend_available(device.type):
        raise ValueError(f"device {str(device)!r} asked for, but it is not available here")
    return device


def batch_signals(wavs: Any, wav_lens: Any = None) -> list["torch.Tensor"]:
    """Each utterance of a padded batch as a mono float32 CPU signal, its padding cut off.

    Arguments
    ---------
    wavs : torch.Tensor
        Float samples in [-1, 1]: ``(time,)``, ``(batch, time)`` or
        ``(batch, time, channels)`` (channels are averaged, as for files).
    wav_lens : torch.Tensor, optional
        Relative lengths ``(batch,)`` in (0, 1]; None: no padding.

    Returns
    -------
    list of torch.Tensor
        ``(samples,)`` per utterance.

    Raises
    ------
    TypeError
        For a tensor of integers (int16 PCM must be scaled to [-1, 1]).
    ValueError
        For a layout that cannot be (batch, time[, channels]), lengths
        outside (0, 1] or of the wrong size, NaN or infinite samples.

    Example
    -------
    >>> import torch
    >>> [s.shape for s in batch_signals(torch.zeros(2, 1600, 2), torch.tensor([1.0, 0.5]))]
    [torch.Size([1600]), torch.Size([800])]
    >>> batch_signals(torch.zeros(1, 1600, dtype=torch.int16))
    Traceback (most recent call last):
    ...
    TypeError: wavs are torch.int16: expected float samples in [-1, 1] (int16 PCM: ...
    """
    import torch

    if not isinstance(wavs, torch.Tensor):
        raise TypeError(f"wavs must be a torch.Tensor, got {type(wavs).__name__}")
    if not wavs.is_floating_point():
        raise TypeError(
            f"wavs are {wavs.dtype}: expected float samples in [-1, 1] "
            "(int16 PCM: wavs.float() / 32768)"
        )
    wavs = wavs.detach().to("cpu", torch.float32)
    shape = tuple(wavs.shape)
    if wavs.dim() == 3:
        if shape[2] > shape[1]:
            raise ValueError(f"wavs of shape {shape}: expected (batch, time, channels), "
                             "this looks like (batch, channels, time); transpose it")
        wavs = wavs.mean(dim=2)
    elif wavs.dim() == 1:
        wavs = wavs.unsqueeze(0)
    elif wavs.dim() != 2:
        raise ValueError(f"wavs of shape {shape}: expected (batch, time[, channels])")
    batch, time = wavs.shape
    if batch == 0 or time == 0:
        raise ValueError(f"wavs of shape {shape} holds no samples")
    if len(shape) == 2 and time <= _MAX_CHANNELS < batch:
        raise ValueError(
            f"wavs of shape {shape}: {batch} utterances of {time} samples each; for one "
            f"multi-channel signal pass (1, time, channels): wavs.unsqueeze(0)"
        )
    lens = _relative_lengths(wav_lens, batch)
    bad = (~wavs.isfinite()).any(dim=1).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"wavs[{bad[0]}] holds NaN or infinite samples")
    return [wav[: max(1, round(float(n) * time))].clone() for wav, n in zip(wavs, lens)]


def signal_warnings(
    name: str, signal_peak: float, frames: int, stride: int, rate: int, model_rate: int,
    duration_s: float,
) -> list[str]:
    """What the model cannot see in a signal, one line each (empty: nothing).

    Arguments
    ---------
    name : str
        The file (or ``wavs[i]``), starting each line.
    signal_peak : float
        Largest absolute sample.
    frames : int
        LLD frames of the signal.
    stride : int
        LLD frames summarised by one encoder output frame.
    rate, model_rate : int
        The signal's and the model's sample rates in Hz.
    duration_s : float
        Length of the signal.

    Returns
    -------
    list of str
        Warnings.

    Example
    -------
    >>> signal_warnings("a.wav", 0.5, 300, 8, 8000, 16000, 3.0)
    ['a.wav: sampled at 8000 Hz: the band above 4000 Hz, which the model was trained with ...']
    """
    found = []
    if signal_peak < _SILENCE_PEAK:
        found.append(f"{name}: silent (peak {signal_peak:.1e}); the label carries no information")
    elif signal_peak > 1.0:
        found.append(f"{name}: peak {signal_peak:.3g} above full scale (1.0): samples are "
                     "clipped before the features; the label is unreliable")
    if frames < stride:
        found.append(
            f"{name}: {duration_s * 1000:.0f} ms gives {frames} LLD frame(s), fewer than "
            f"one encoder output frame summarises ({stride}); the label is unreliable"
        )
    if rate < model_rate:
        found.append(
            f"{name}: sampled at {rate} Hz: the band above {rate // 2} Hz, which the model "
            f"was trained with ({model_rate} Hz audio), is missing; the label may differ"
        )
    return found


def read_text(path: str | PathLike, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A model folder's UTF-8 text file, refused when larger than ``max_bytes``.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "label_encoder.txt"
    >>> _ = path.write_bytes(bytes(range(200, 256)))
    >>> read_text(path)
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../label_encoder.txt: not UTF-8 text (byte 0xc8 ...
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputFileError(path, f"{size} bytes, more than a model folder's text file "
                                 f"may hold ({max_bytes}); refused")
        data = path.read_bytes()
    except OSError as err:
        raise InputFileError(path, f"cannot read it ({err.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(path, f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset "
                             f"{err.start}); a binary or swapped file?") from None


def check_yaml_text(text: str, path: str | PathLike, aliases: bool = False) -> None:
    """Refuse yaml whose parsing or expansion could exhaust time, memory or the stack.

    Walks the parser's events once, before anything is built: aliases are
    refused (or, with ``aliases``, their expanded size is limited and an alias
    inside its own anchor refused), and so is nesting deeper than 32 levels.

    Arguments
    ---------
    text : str
        The yaml.
    path : str or PathLike
        Its file, named in errors.
    aliases : bool
        Allow aliases (training yamls), up to 100,000 nodes once expanded.

    Raises
    ------
    InputFileError
        Naming the file, the line and the problem.

    Example
    -------
    >>> check_yaml_text("a: &x [1, 2]\\nb: *x\\n", "hyperparams.yaml")
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: hyperparams.yaml: line 2: yaml alias *x refused ...
    >>> check_yaml_text("a: &x [1, 2]\\nb: *x\\n", "model.yaml", aliases=True)
    """
    open_anchors: list[str | None] = []
    sizes: dict[str, int] = {}
    counts: list[int] = [0]
    total = 0
    try:
        for event in ruamel.yaml.YAML(typ="safe", pure=True).parse(text):
            line = f"line {event.start_mark.line + 1}"
            if isinstance(event, events.AliasEvent):
                if not aliases:
                    raise InputFileError(path, f"{line}: yaml alias *{event.anchor} refused (a "
                                         "model folder's config is plain data, written without)")
                if event.anchor in open_anchors:
                    raise InputFileError(path, f"{line}: alias *{event.anchor} inside its own "
                                         "anchor (recursive), refused")
                size = sizes.get(event.anchor, 1)
            elif isinstance(event, (events.MappingStartEvent, events.SequenceStartEvent)):
                if len(open_anchors) >= _MAX_YAML_DEPTH:
                    raise InputFileError(path, f"{line}: nested deeper than {_MAX_YAML_DEPTH} "
                                         "levels, refused")
                open_anchors.append(event.anchor)
                counts.append(1)
                continue
            elif isinstance(event, (events.MappingEndEvent, events.SequenceEndEvent)):
                anchor, size = open_anchors.pop(), counts.pop()
                if anchor is not None:
                    sizes[anchor] = size
                counts[-1] += size
                continue
            elif isinstance(event, events.ScalarEvent):
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            else:
                continue
            counts[-1] += size
            total += size
            if total > _MAX_YAML_NODES:
                raise InputFileError(path, f"{line}: more than {_MAX_YAML_NODES} nodes once its "
                                     "aliases are expanded, refused")
    except ruamel.yaml.YAMLError as err:
        raise InputFileError(path, one_line(f"not a readable yaml file ({err})")) from None


def check_config(config: Any, path: str | PathLike) -> None:
    """Check the value types of a model folder's ``hyperparams.yaml`` (its keys are known).

    Arguments
    ---------
    config : Any
        The loaded yaml.
    path : str or PathLike
        The file, named in errors.

    Raises
    ------
    InputFileError
        Naming the key and what it must hold.

    Example
    -------
    >>> check_config({"labels": "neu", "folds": [0]}, "hyperparams.yaml")
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: hyperparams.yaml: labels: expected a non-empty ...
    """
    def need(key: str, ok: bool, what: str) -> None:
        if key in config and not ok:
            value = one_line(repr(config[key]))[:80]
            raise InputFileError(path, f"{key}: expected {what}, got {value}")

    def mapping(key: str) -> Mapping:
        need(key, isinstance(config.get(key), Mapping), "a mapping")
        return config.get(key) or {}

    labels, folds = config.get("labels"), config.get("folds")
    need("labels", isinstance(labels, list) and bool(labels) and all(
        isinstance(x, str) for x in labels) and len(set(labels)) == len(labels),
        "a non-empty list of distinct strings")
    need("folds", isinstance(folds, list) and bool(folds) and all(
        _is_int(x) and x >= 0 for x in folds) and len(set(folds)) == len(folds),
        "a non-empty list of distinct fold numbers")
    need("speaker_normalization", isinstance(config.get("speaker_normalization"), bool),
         "true or false")
    for key in ("model", "normalizer", "functionals_normalizer"):
        mapping(key)
    features = mapping("features")
    if "sample_rate" in features and not (_is_int(features["sample_rate"])
                                          and features["sample_rate"] > 0):
        raise InputFileError(path, "features.sample_rate: expected a positive integer")
    if features.get("config_hash") is not None and not isinstance(features["config_hash"], str):
        raise InputFileError(path, "features.config_hash: expected a string")
    if features.get("feature_set") not in (None, "ssl", *FEATURE_SETS):
        raise InputFileError(path, "features.feature_set: expected one of "
                             f"{[*FEATURE_SETS, 'ssl']}")
    if (features.get("feature_set") == "ssl") != ("ssl" in features):
        raise InputFileError(path, "features.feature_set: ssl and features.ssl go together")
    if "ssl" in features:
        _check_ssl_record(features["ssl"], path)
    window = mapping("inference_window")
    try:
        check_window(window.get("length_s", 10.0), window.get("hop_s"))
    except ValueError as err:
        raise InputFileError(path, f"inference_window: {err}") from None
    if "functionals" in config:
        functionals = mapping("functionals")
        if functionals.get("feature_set") not in FEATURE_SETS or not (
                _is_int(functionals.get("size")) and functionals["size"] > 0):
            raise InputFileError(path, f"functionals: expected feature_set (one of "
                                 f"{list(FEATURE_SETS)}) and size (a positive integer)")
    if ("functionals" in config) != ("functionals_normalizer" in config):
        raise InputFileError(path, "functionals and functionals_normalizer go together")


def _check_ssl_record(ssl: Any, path: str | PathLike) -> None:
    """An SSL front end's record is a source, a revision and a layer choice: plain values."""
    layer = ssl.get("layer") if isinstance(ssl, Mapping) else None
    if not (isinstance(ssl, Mapping) and isinstance(ssl.get("source"), str)
            and isinstance(ssl.get("revision"), (str, type(None)))
            and (layer == "weighted" or (_is_int(layer) and layer >= 0))
            and ssl.get("freeze", True) is True):
        raise InputFileError(path, "features.ssl: expected source (a hub id or folder), "
                             "revision and layer (a number or weighted) of a frozen SSL model")


def check_finite_tensors(tensors: Mapping[str, "torch.Tensor"], path: str | PathLike) -> None:
    """Refuse weights holding NaN or infinite values, naming the tensors.

    Example
    -------
    >>> import torch
    >>> check_finite_tensors({"w": torch.tensor([1.0, float("nan")])}, "model.safetensors")
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: model.safetensors: NaN or infinite values in ['w']
    """
    bad = [name for name, tensor in tensors.items()
           if tensor.is_floating_point() and not bool(tensor.isfinite().all())]
    if bad:
        raise InputFileError(path, f"NaN or infinite values in {quoted(sorted(bad))}")


def _relative_lengths(wav_lens: Any, batch: int) -> "torch.Tensor":
    import torch

    if wav_lens is None:
        return torch.ones(batch)
    lens = torch.as_tensor(wav_lens).detach().to("cpu", torch.float64).flatten()
    if lens.numel() != batch:
        raise ValueError(f"wav_lens holds {lens.numel()} lengths for {batch} utterances")
    bad = (~((lens > 0) & (lens <= 1))).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"wav_lens[{bad[0]}] = {float(lens[bad[0]]):g}: relative lengths "
                         "must be in (0, 1] (the longest utterance is 1)")
    return lens


def _backend_available(kind: str) -> bool:
    import torch

    for home in (torch, torch.backends):  # torch.xpu.is_available, torch.backends.mps...
        is_available = getattr(getattr(home, kind, None), "is_available", None)
        if is_available is not None:
            return bool(is_available())
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
