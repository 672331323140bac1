"""A model folder's ``model.onnx`` run by ONNX Runtime, read as data like the rest of the folder.

:class:`OnnxEnsemble` loads the graph written by
:func:`~speechbrain_drnsa.inference.onnx_export.export_onnx` from its bytes and
runs it on numpy arrays: no torch module is built, and neither torch nor the
``onnx`` package is imported. An ONNX file may point to external tensor files
by path (``external_data``); ONNX Runtime would read whatever file such a path
names, even for a session made from bytes (it looks in the working folder), so
a graph that refers to any is refused before ONNX Runtime reads it, and the
session is made from the file's bytes. The check reads the protobuf wire
format along the paths of ``onnx.proto`` that lead to tensors
(:func:`has_external_data`): importing ``onnx`` to walk the parsed graph costs
more than half a second, most of a cold ``classify``'s start. Labels and folds
written into the graph's metadata at export must match the folder's
``hyperparams.yaml``.
"""

import json
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from speechbrain_drnsa.errors import InputFileError

__all__ = ["OnnxEnsemble", "has_external_data"]

_INPUTS = ["feats", "lengths"]
_OUTPUTS = ["logits"]
# onnx.proto's field numbers on every path from a ModelProto to a TensorProto
_TENSOR_PATHS = {
    "ModelProto": {7: "GraphProto", 20: "TrainingInfoProto", 25: "FunctionProto"},
    "GraphProto": {1: "NodeProto", 5: "TensorProto", 15: "SparseTensorProto"},
    "NodeProto": {5: "AttributeProto"},
    "AttributeProto": {5: "TensorProto", 6: "GraphProto", 10: "TensorProto", 11: "GraphProto",
                       22: "SparseTensorProto", 23: "SparseTensorProto"},
    "SparseTensorProto": {1: "TensorProto", 2: "TensorProto"},
    "FunctionProto": {7: "NodeProto", 11: "AttributeProto"},
    "TrainingInfoProto": {1: "GraphProto", 2: "GraphProto"},
}
# TensorProto.external_data, TensorProto.data_location and its value EXTERNAL
_EXTERNAL_DATA, _DATA_LOCATION, _EXTERNAL = 13, 14, 1
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


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
        Without ``onnxruntime`` (``pip install 'speechbrain-drnsa[onnx]'``).
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
            import onnxruntime
        except ImportError as err:
            raise ImportError(
                f"the ONNX backend needs onnxruntime: pip install 'speechbrain-drnsa[onnx]' "
                f"({err})"
            ) from None
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(self.path, "missing: export the model with --onnx")
        model_bytes = self.path.read_bytes()
        try:
            external = has_external_data(model_bytes)
        except (ValueError, RecursionError) as err:
            raise InputFileError(self.path, f"not a readable ONNX graph ({err})") from None
        if external:
            raise InputFileError(
                self.path, "refers to external tensor data (files by path), refused"
            )
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                model_bytes, options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # noqa: BLE001 - ONNX Runtime raises several kinds
            raise InputFileError(self.path, f"not a readable ONNX graph ({err})") from None
        metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._check(metadata, list(labels), list(folds))
        self.labels = list(labels)
        #: Input LLD frames per output frame of the encoder (4 for the DRN).
        self.total_stride = int(metadata["total_stride"])

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

    def _check(self, metadata: dict[str, str], labels: list[str], folds: list[int]) -> None:
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
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


def has_external_data(model: bytes) -> bool:
    """Whether any tensor of a serialised ONNX model refers to external data.

    Reads the protobuf wire format along ``onnx.proto``'s paths to tensors
    (graphs, subgraphs of attributes, sparse tensors, functions, training
    graphs) and looks for ``TensorProto.external_data`` or ``data_location =
    EXTERNAL``, without parsing the rest. Malformed bytes raise.

    Arguments
    ---------
    model : bytes
        A ``ModelProto``, as in a ``.onnx`` file.

    Returns
    -------
    bool
        True when ONNX Runtime would read tensor data from a file by path.

    Raises
    ------
    ValueError
        For bytes that are not a protobuf message.

    Example
    -------
    >>> tensor = bytes([0x08, 0x01, 0x70, 0x01])  # dims: [1], data_location: EXTERNAL
    >>> graph = bytes([0x2A, len(tensor)]) + tensor  # initializer
    >>> has_external_data(bytes([0x3A, len(graph)]) + graph)  # ModelProto.graph
    True
    >>> has_external_data(bytes([0x3A, 2, 0x2A, 0]))  # an initializer without it
    False
    """
    return _refers_to_external(memoryview(model), "ModelProto")


def _refers_to_external(message: memoryview, kind: str) -> bool:
    for number, wire, value in _fields(message):
        if kind == "TensorProto":
            # an enum is read as int32: any varint whose low 32 bits say EXTERNAL
            if number == _EXTERNAL_DATA or (number == _DATA_LOCATION and wire == _VARINT
                                            and value & 0xFFFFFFFF == _EXTERNAL):
                return True
        elif wire == _LENGTH_DELIMITED and number in _TENSOR_PATHS[kind]:
            if _refers_to_external(value, _TENSOR_PATHS[kind][number]):
                return True
    return False


def _fields(message: memoryview) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of each field of a protobuf message."""
    position = 0
    while position < len(message):
        key, position = _varint(message, position)
        number, wire = key >> 3, key & 7
        value = None
        if wire == _VARINT:
            value, position = _varint(message, position)
        elif wire == _FIXED64:
            position += 8
        elif wire == _FIXED32:
            position += 4
        elif wire == _LENGTH_DELIMITED:
            size, position = _varint(message, position)
            value, position = message[position : position + size], position + size
        else:
            raise ValueError(f"protobuf wire type {wire} (groups) at byte {position}")
        if number == 0 or position > len(message):
            raise ValueError(f"not a protobuf message (field {number}, byte {position})")
        yield number, wire, value


def _varint(message: memoryview, position: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(message):
            raise ValueError("protobuf message cut short")
        byte = message[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise ValueError("protobuf varint longer than 10 bytes")
