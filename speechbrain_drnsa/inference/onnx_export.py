"""A model folder's fold ensemble as one ONNX graph, checked against torch once written.

``model.onnx`` takes a padded batch of LLDs, ``feats (batch, time, 17)``
float32 (50 or 130 with ``frame_features``), as the folds' normalisers
receive them (per-speaker standardised when the model was trained so, raw
otherwise), and ``lengths (batch,)`` relative lengths; it returns
``logits (batch, folds, classes)``. Batch and time are dynamic.

One graph for the whole ensemble, not one per fold: the folds read the same
input, one ONNX Runtime call serves them all, and the folder gains one file.
Each fold's normaliser is inside the graph, so its statistics cannot be paired
with another fold's network; the per-speaker stage stays outside, since its
statistics belong to the user's speakers, not to the model.

The graph is traced (``torch.onnx.export``, TorchScript exporter) with a padded
batch, so every data-dependent shortcut of the lobes ("no padding here: skip
the mask") takes its masked branch, which is exact for unpadded input too;
attention runs explicitly (:func:`~speechbrain_drnsa.nnet.attention.explicit_attention`)
and LSTM pooling reads the last valid frame instead of packing
(:meth:`~speechbrain_drnsa.lobes.pooling.LSTMPooling.forward_masked`).
"""

import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.folder import ONNX_NAME, ModelFolder
from speechbrain_drnsa.io import write_bytes_atomic
from speechbrain_drnsa.lobes import EmotionClassifier, LSTMPooling
from speechbrain_drnsa.nnet.attention import explicit_attention

if TYPE_CHECKING:  # onnxruntime is an optional extra
    from speechbrain_drnsa.inference.onnx_backend import OnnxEnsemble

__all__ = ["ONNX_NAME", "OPSET", "EnsembleGraph", "export_onnx"]

#: ONNX opset the graph is written with.
OPSET = 17
#: Largest difference of logits between ONNX Runtime and torch that export accepts.
TOLERANCE = 1e-4
# Traced with padding at every stride (the masked branches); checked on other shapes.
_TRACE_LENGTHS = (1.0, 0.62, 0.27)
_TRACE_FRAMES = 203
_CHECK_LENGTHS = (0.41, 1.0, 0.83, 0.05)
_CHECK_FRAMES = 157


class EnsembleGraph(nn.Module):
    """Every fold's normaliser and classifier, logits stacked: what ``model.onnx`` computes.

    Arguments
    ---------
    models : list of EmotionClassifier
        One per fold, with forward-only :class:`~speechbrain_drnsa.lobes.LSTMPooling`.
    normalizers : list of nn.Module
        Each fold's :class:`~speechbrain_drnsa.features.normalize.FeatureNormalizer`.

    Example
    -------
    >>> from speechbrain_drnsa.features.normalize import FeatureNormalizer
    >>> from speechbrain_drnsa.lobes import DRNEncoder, DNNClassifier
    >>> model = EmotionClassifier(
    ...     DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1]),
    ...     LSTMPooling(input_size=16, hidden_size=8), DNNClassifier(8, [8], 4)).eval()
    >>> norm = FeatureNormalizer().fit([torch.randn(50, 17)])
    >>> graph = EnsembleGraph([model, model], [norm, norm])
    >>> graph(torch.randn(3, 40, 17), torch.tensor([1.0, 0.5, 0.2])).shape
    torch.Size([3, 2, 4])
    """

    def __init__(self, models: list[nn.Module], normalizers: list[nn.Module]):
        super().__init__()
        for model in models:
            pooling = getattr(model, "pooling", None)
            if not isinstance(model, EmotionClassifier) or not isinstance(pooling, LSTMPooling):
                raise ValueError(
                    f"ONNX export needs EmotionClassifier models with LSTMPooling; "
                    f"got {type(model).__name__}"
                )
            if pooling.directions != 1:
                raise ValueError("ONNX export needs forward-only LSTM pooling (bidirectional)")
        self.models = nn.ModuleList(models)
        # A plain list, not submodules: the tracer cannot hold a normaliser's extra state (a
        # dict of speakers); its statistics enter the graph as constants.
        self.normalizers = list(normalizers)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits of every fold.

        Arguments
        ---------
        feats : torch.Tensor
            ``(batch, time, 17)`` LLDs as the normalisers receive them.
        lengths : torch.Tensor
            ``(batch,)`` relative lengths in (0, 1].

        Returns
        -------
        torch.Tensor
            ``(batch, folds, classes)`` logits.
        """
        logits = []
        for model, normalizer in zip(self.models, self.normalizers):
            frames, frame_lengths = model.encoder(normalizer(feats, lengths), lengths)
            logits.append(model.classifier(model.pooling.forward_masked(frames, frame_lengths)))
        return torch.stack(logits, dim=1)


def export_onnx(folder: ModelFolder, out: str | Path | None = None) -> Path:
    """Write a model folder's ensemble as ``model.onnx`` and check it against torch.

    Arguments
    ---------
    folder : ModelFolder
        A loaded model folder (:func:`~speechbrain_drnsa.inference.folder.load_model_folder`).
    out : str or Path, optional
        Where to write; default ``folder.path / "model.onnx"``.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ImportError
        Without ``onnxruntime`` (``pip install 'speechbrain-drnsa[onnx]'``).
    InputFileError
        If ONNX Runtime's logits differ from torch's by more than 1e-4 on a
        padded batch of other lengths than the traced one.
    """
    from speechbrain_drnsa.inference.onnx_backend import OnnxEnsemble  # needs onnxruntime

    out = Path(out) if out is not None else folder.path / ONNX_NAME
    graph = EnsembleGraph(folder.models, folder.normalizers).eval()
    size = folder.models[0].encoder.input_size
    trace_feats, trace_lengths = _example_batch(_TRACE_LENGTHS, _TRACE_FRAMES, size, seed=0)
    stream = io.BytesIO()
    with explicit_attention(graph), torch.no_grad(), warnings.catch_warnings():
        # the lobes' "no padding: skip the mask" branches warn while traced (masked branch kept)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # the LSTM's zero initial state is not fixed to the traced batch size: the tests run
        # other batch sizes
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        torch.onnx.export(
            graph,
            (trace_feats, trace_lengths),
            stream,
            input_names=["feats", "lengths"],
            output_names=["logits"],
            dynamic_axes={"feats": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                          "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    metadata = {
        "labels": json.dumps(folder.labels),
        "folds": json.dumps(list(folder.config["folds"])),
        "total_stride": str(folder.models[0].encoder.total_stride),
    }
    write_bytes_atomic(_with_metadata(stream.getvalue(), metadata), out)
    session = OnnxEnsemble(out, folder.labels, folder.config["folds"])
    largest = _largest_difference(graph, session, size)
    if largest > TOLERANCE:
        out.unlink()
        raise InputFileError(
            out, f"ONNX Runtime's logits differ from torch's by {largest:.2e} (> {TOLERANCE})"
        )
    return out


def _example_batch(
    lengths: tuple[float, ...], frames: int, size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(len(lengths), frames, size, generator=generator), torch.tensor(lengths)


def _with_metadata(model_bytes: bytes, metadata: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load_from_string(model_bytes)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "speechbrain_drnsa"
    return model.SerializeToString()


def _largest_difference(graph: EnsembleGraph, session: "OnnxEnsemble", size: int) -> float:
    """Largest logit difference between torch and ONNX Runtime on a batch unlike the traced one."""
    feats, lengths = _example_batch(_CHECK_LENGTHS, _CHECK_FRAMES, size, seed=1)
    with torch.no_grad():
        expected = graph(feats, lengths).numpy()
    return float(abs(session.logits(feats.numpy(), lengths.numpy()) - expected).max())
