"""A trained Table 1 baseline exports to a model folder that loads and classifies as trained."""

import importlib.util
from pathlib import Path

import pytest
import torch

from speechbrain_drnsa.features.normalize import FeatureNormalizer
from speechbrain_drnsa.features.opensmile import OpenSmileLLD
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.training.checkpoint import load_checkpoint
from speechbrain_drnsa.training.hparams import build_model
from speechbrain_drnsa.training.module import CHECKPOINT_KEY, SERModule
from speechbrain_drnsa.training.pretrained import resolve_checkpoint

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "IEMOCAP"
TINY_WIDTHS = {
    "xia2017": "{lin_neurons: [8]}",
    "poria2016": "{channels: [4, 8], out_channels: 8, lin_neurons: [8]}",
    "poria2017": "{lstm_hidden: 4, lin_neurons: [8]}",
    "mirsamadi2017": "{lstm_hidden: 4, lin_neurons: [8]}",
}


@pytest.mark.parametrize("system", list(TINY_WIDTHS))
def test_baseline_exports_and_loads_with_the_training_modules_probabilities(
    system, tiny_training_data, tmp_path
):
    spec = importlib.util.spec_from_file_location("iemocap_train", RECIPE / "train.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = [f"--{key}={value}" for key, value in tiny_training_data.items()]
    assert script.main([
        str(RECIPE / "hparams" / f"{system}.yaml"), *args, "--protocol=session5", "--fold=0",
        "--max_epochs=1", "--batch_size=8", "--num_threads=1", "--enable_progress_bar=false",
        f"--model_overrides={TINY_WIDTHS[system]}", f"--output_root={tmp_path}",
    ]) == 0
    checkpoint_path = resolve_checkpoint(tmp_path / system / "1234" / "fold_0")
    block = load_checkpoint(checkpoint_path)[CHECKPOINT_KEY]
    model_file = tmp_path / "model.yaml"
    model_file.write_text(block["model_config"]["yaml"])
    model, _ = build_model(model_file, block["model_config"]["overrides"])
    module = SERModule(model, FeatureNormalizer(), block["labels"])
    module.load_state_dict(load_checkpoint(checkpoint_path)["state_dict"], strict=False)
    module.eval()

    recognizer = EmotionRecognizer.from_hparams(export(checkpoint_path, tmp_path / "folder"))
    assert type(recognizer.models[0].pooling) is type(model.pooling)
    wav = sorted(tiny_training_data["data_folder"].rglob("*.wav"))[0]
    feats = OpenSmileLLD().extract_file(wav)
    with torch.no_grad():
        expected = module(feats[None], torch.ones(1)).softmax(-1)[0]
    out_prob, *_ = recognizer.classify_file(wav)
    assert torch.allclose(out_prob[0], expected, atol=1e-5)
