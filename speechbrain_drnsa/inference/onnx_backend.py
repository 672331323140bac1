"""A model folder's ``model.onnx`` run by ONNX Runtime, read as data like the rest of the folder.

:class:`OnnxEnsemble` loads the graph written by
:func:`~speechbrain_drnsa.inference.onnx_export.export_onnx` from its bytes and
runs it on numpy arrays: no torch module is built. An ONNX file may point to
external tensor files by path (``external_data``); ONNX Runtime would read
whatever file such a path names, so a graph that refers to any is refused, and
the session is made from the file's bytes, with no folder to resolve paths in.
Labels and folds written into the graph's metadata at export must match the
folder's ``hyperparams.yaml``.
"""

import json
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError

__all__ = ["OnnxEnsemble"]

_INPUTS = ["feats", "lengths"]
_OUTPUTS = ["logits"]


class OnnxEnsemble:
    """Run ``model.onnx``: padded LLDs and relative lengths in, logits or probabilities out.

    Arguments
    ---------
    path : str or PathLike
        The ``model.onnx`` of a model folder.
    labels : sequence of str
        The folder's labels (checked against the graph's).
    folds : sequence of int
        The folder's folds (checked against the graph's).
    num_threads : int, optional
        ONNX Runtime's intra-op threads (default: its own choice, all cores).

    Raises
    ------
    ImportError
        Without ``onnx`` and ``onnxruntime`` (``pip install 'speechbrain-drnsa[onnx]'``).
    InputFileError
        For a missing or unreadable graph, external tensor data, other inputs
        or outputs than ``model.onnx``'s, or labels and folds that differ.

    Usage (a runnable version is ``tests/test_inference_onnx.py``)::

        ensemble = OnnxEnsemble("model/model.onnx", ["neu", "hap", "ang", "sad"], [0])
        probs = ensemble.probabilities(feats, lengths)   # (batch, classes)
    """

    def __init__(
        self,
        path: str | PathLike,
        labels: Sequence[str],
        folds: Sequence[int],
        num_threads: int | None = None,
    ):
        try:
            import onnx
            import onnxruntime
        except ImportError as err:
            raise ImportError(
                f"the ONNX backend needs onnx and onnxruntime: pip install "
                f"'speechbrain-drnsa[onnx]' ({err})"
            ) from None
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(self.path, "missing: export the model with --onnx")
        model_bytes = self.path.read_bytes()
        try:
            model = onnx.load_from_string(model_bytes)
        except Exception as err:  # noqa: BLE001 - protobuf raises several kinds
            raise InputFileError(self.path, f"not a readable ONNX graph ({err})") from None
        if any(_is_external(t) for t in _tensors(model.graph)):
            raise InputFileError(
                self.path, "refers to external tensor data (files by path), refused"
            )
        metadata = {prop.key: prop.value for prop in model.metadata_props}
        self._check(model, metadata, list(labels), list(folds))
        self.labels = list(labels)
        #: Input LLD frames per output frame of the encoder (4 for the DRN).
        self.total_stride = int(metadata["total_stride"])
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            model_bytes, options, providers=["CPUExecutionProvider"]
        )

    def logits(self, feats: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Every fold's logits.

        Arguments
        ---------
        feats : numpy.ndarray
            ``(batch, time, 17)`` float32, padded.
        lengths : numpy.ndarray
            ``(batch,)`` relative lengths in (0, 1].

        Returns
        -------
        numpy.ndarray
            ``(batch, folds, classes)`` float32.
        """
        inputs = {
            "feats": np.ascontiguousarray(feats, dtype=np.float32),
            "lengths": np.ascontiguousarray(lengths, dtype=np.float32),
        }
        return self.session.run(None, inputs)[0]

    def probabilities(self, feats: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The ensemble's class probabilities: the mean of the folds' softmax.

        Arguments
        ---------
        feats, lengths : numpy.ndarray
            As in :meth:`logits`.

        Returns
        -------
        numpy.ndarray
            ``(batch, classes)``.
        """
        logits = self.logits(feats, lengths)
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (exp / exp.sum(axis=-1, keepdims=True)).mean(axis=1)

    def _check(
        self, model: Any, metadata: dict[str, str], labels: list[str], folds: list[int]
    ) -> None:
        inputs = [i.name for i in model.graph.input]
        outputs = [o.name for o in model.graph.output]
        if inputs != _INPUTS or outputs != _OUTPUTS:
            raise InputFileError(
                self.path, f"inputs {inputs} and outputs {outputs}; expected {_INPUTS} and "
                f"{_OUTPUTS}"
            )
        try:
            graph_labels = json.loads(metadata["labels"])
            graph_folds = json.loads(metadata["folds"])
            int(metadata["total_stride"])
        except (KeyError, ValueError) as err:
            raise InputFileError(
                self.path, f"metadata written at export is missing or damaged ({err})"
            ) from None
        if graph_labels != labels or graph_folds != folds:
            raise InputFileError(
                self.path, f"graph of labels {graph_labels}, folds {graph_folds}; the folder's "
                f"hyperparams.yaml says {labels}, {folds}"
            )


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph, its nodes' attributes and subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def _is_external(tensor: Any) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0
