"""Loading a model folder runs nothing from it, and bad folders fail with errors naming the file."""

import pickle
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.exporter import config_yaml_text
from speechbrain_drnsa.inference.folder import label_encoder_text, load_model_folder

SPEC = {
    "class": "DNNClassifier",
    "args": {"input_size": 17, "lin_neurons": [4], "out_neurons": 2},
}


class _Marker:
    """Writes the marker file if unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def folder(tmp_path) -> Path:
    """A valid one-fold model folder with a plain classifier on mean LLDs."""
    from speechbrain_drnsa.inference.architecture import build_from_spec

    out = tmp_path / "model"
    out.mkdir()
    model = build_from_spec(SPEC, "spec")
    norm = build_from_spec({"class": "FeatureNormalizer", "args": {}}, "spec")
    tensors = {f"fold_0.model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"fold_0.normalizer.{k}": v for k, v in norm.state_dict().items()
                    if isinstance(v, torch.Tensor)})
    safetensors.torch.save_file(tensors, out / "model.safetensors")
    config = {"labels": ["neu", "ang"], "folds": [0], "model": SPEC,
              "normalizer": {"class": "FeatureNormalizer", "args": {}},
              "features": {"sample_rate": 16000}, "speaker_normalization": False}
    (out / "hyperparams.yaml").write_text(config_yaml_text(config))
    (out / "label_encoder.txt").write_text(label_encoder_text(["neu", "ang"]))
    return out


def test_valid_folder_loads(folder):
    loaded = load_model_folder(folder)
    assert loaded.labels == ["neu", "ang"] and len(loaded.models) == 1


@pytest.mark.parametrize("payload", [
    "model: !apply:builtins.exec [\"open('{marker}', 'w').close()\"]",
    "model: !new:pathlib.Path.touch ['{marker}']",
    "model: !name:os.system\nlabels: [neu, ang]",
    "model:\n  class: DNNClassifier\n  args: {{input_size: !!python/object/apply:os.system "
    "['touch {marker}']}}",
])
def test_yaml_tags_are_refused_and_never_run(folder, tmp_path, payload):
    marker = tmp_path / "marker"
    (folder / "hyperparams.yaml").write_text(payload.format(marker=marker))
    with pytest.raises(InputFileError, match=r"hyperparams.yaml: line \d+: tag .* refused"):
        load_model_folder(folder)
    assert not marker.exists()


def test_pickled_file_is_refused_and_never_unpickled(folder, tmp_path):
    marker = tmp_path / "marker"
    (folder / "extra.ckpt").write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(InputFileError, match="extra.ckpt: pickled file .* refused"):
        load_model_folder(folder)
    assert not marker.exists()


def test_pickle_disguised_as_safetensors_is_not_unpickled(folder, tmp_path):
    marker = tmp_path / "marker"
    (folder / "model.safetensors").write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(InputFileError, match="model.safetensors: not a readable safetensors"):
        load_model_folder(folder)
    assert not marker.exists()


def test_symlink_outside_is_refused(folder, tmp_path):
    outside = tmp_path / "elsewhere.yaml"
    shutil.move(folder / "hyperparams.yaml", outside)
    (folder / "hyperparams.yaml").symlink_to(outside)
    with pytest.raises(InputFileError, match="hyperparams.yaml: symlink leading outside"):
        load_model_folder(folder)


@pytest.mark.parametrize("name", ["model.safetensors", "hyperparams.yaml", "label_encoder.txt"])
def test_missing_file_is_named(folder, name):
    (folder / name).unlink()
    with pytest.raises(InputFileError, match=f"{name}: missing from the model folder"):
        load_model_folder(folder)


def test_unknown_architecture_names_the_key(folder):
    text = (folder / "hyperparams.yaml").read_text().replace("DNNClassifier", "Popen")
    (folder / "hyperparams.yaml").write_text(text)
    with pytest.raises(InputFileError, match="model.class: unknown architecture 'Popen'"):
        load_model_folder(folder)


def test_unknown_argument_names_the_key(folder):
    text = (folder / "hyperparams.yaml").read_text().replace("input_size", "cmd")
    (folder / "hyperparams.yaml").write_text(text)
    with pytest.raises(InputFileError, match="model.args.cmd: DNNClassifier takes no argument"):
        load_model_folder(folder)


def test_weights_that_do_not_fit_name_the_tensors(folder):
    path = folder / "hyperparams.yaml"
    path.write_text(path.read_text().replace("lin_neurons: [4]", "lin_neurons: [6]"))
    expected = r"misshapen tensors \['fold_0.model.layers.0.bias \(4,\) \(config: \(6,\)\)"
    with pytest.raises(InputFileError, match=expected):
        load_model_folder(folder)


def test_labels_must_match_the_output_size(folder):
    for name, text in [("hyperparams.yaml", None), ("label_encoder.txt", None)]:
        path = folder / name
        text = path.read_text()
        path.write_text(text.replace("[neu, ang]", "[neu, ang, sad]") if name.endswith("yaml")
                        else label_encoder_text(["neu", "ang", "sad"]))
    with pytest.raises(InputFileError, match="label_encoder.txt: 3 labels but the model has 2"):
        load_model_folder(folder)
