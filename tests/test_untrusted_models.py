"""Untrusted weights: absurd or mismatched tensors refused, pickles given to --init_from not run."""

import json
import pickle
import struct

import pytest
import safetensors.torch
import torch

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.folder import load_model_folder
from test_inference_safety import SPEC, _Marker, folder  # noqa: F401 - the fixture


def _safetensors_bytes(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_header_announcing_absurd_shapes_is_refused_before_allocating(folder):  # noqa: F811
    # 2**40 float32 values (4 TiB) announced, 16 bytes present
    announced = {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 4 * 2**40]}
    header = {"fold_0.model.dnn.0.w.weight": announced}
    (folder / "model.safetensors").write_bytes(_safetensors_bytes(header, bytes(16)))
    with pytest.raises(InputFileError, match="model.safetensors: not a readable safetensors"):
        load_model_folder(folder)


def test_absurd_header_length_is_refused(folder):  # noqa: F811
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(InputFileError, match="model.safetensors: not a readable safetensors"):
        load_model_folder(folder)


def test_mismatched_tensors_are_refused_naming_them(folder):  # noqa: F811
    tensors = safetensors.torch.load_file(folder / "model.safetensors")
    name = next(n for n in tensors if n.endswith("weight") and n.startswith("fold_0.model"))
    tensors[name] = torch.zeros(3, 3)
    safetensors.torch.save_file(tensors, folder / "model.safetensors")
    with pytest.raises(InputFileError, match=f"misshapen tensors.*{name}"):
        load_model_folder(folder)


def test_malicious_checkpoint_given_to_init_from_runs_nothing(train_tiny, tmp_path, caplog):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": _Marker(marker)}))
    assert train_tiny(tmp_path / "results", "--fold=0", f"--init_from={evil}") == 2
    assert not marker.exists()
    assert "evil.ckpt" in caplog.text and "Traceback" not in caplog.text
