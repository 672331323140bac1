"""README.md's yaml blocks for SpeechBrain's stock recipes load and run as README.md prints them."""

import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.lobes.features import Fbank

from readme_yaml import readme_recipe_yaml
from test_embedding_from_folder import _model_folder
from speechbrain_drnsa.inference.folder import load_model_folder
from speechbrain_drnsa.lobes import DRNMHSAEmbedding

# What the blocks refer to in the stock recipes' yaml: IEMOCAP emotion (out_n_neurons 4),
# VoxCeleb speaker ID (7205); CommonLanguage's own classifier, which reads <emb_dim>.
IEMOCAP = "n_mels: 80\nout_n_neurons: 4\n"
VOXCELEB = "n_mels: 80\nout_n_neurons: 7205\n"
COMMONLANGUAGE = """n_mels: 80
n_languages: 45
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: !ref <emb_dim>
    out_neurons: !ref <n_languages>
"""


def _fbank_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    wavs = 0.1 * torch.randn(2, 16000)
    wavs[1, 9600:] = 0
    return Fbank(n_mels=80)(wavs), torch.tensor([1.0, 0.6])


def _paper_widths(embedding_model: DRNMHSAEmbedding) -> list[int]:
    return [block.conv1.out_channels for block in embedding_model.encoder.blocks]


def test_readme_has_every_block():
    assert set(readme_recipe_yaml()) == {"iemocap-voxceleb", "commonlanguage", "from-model-folder"}


def test_iemocap_and_voxceleb_block_replaces_ecapa_and_its_classifier():
    block = readme_recipe_yaml()["iemocap-voxceleb"]
    hparams = load_hyperpyyaml(IEMOCAP + block)
    embedding_model, classifier = hparams["embedding_model"], hparams["classifier"]
    assert isinstance(embedding_model, DRNMHSAEmbedding)
    assert embedding_model.encoder.input_size == 80
    assert _paper_widths(embedding_model) == [64, 128, 256, 384, 384, 512, 512]
    feats, lens = _fbank_batch()
    scores = classifier(embedding_model.eval()(feats, lens))
    assert scores.shape == (2, 1, 4)
    assert scores.abs().max() <= 1.0 + 1e-6  # cosine scores, for the AAM loss
    assert load_hyperpyyaml(VOXCELEB + block)["classifier"].weight.shape == (7205, 256)


def test_commonlanguage_block_sets_the_embedding_and_an_empty_pretrainer(tmp_path):
    block = readme_recipe_yaml()["commonlanguage"]
    hparams = load_hyperpyyaml(COMMONLANGUAGE + f"save_folder: {tmp_path}\n" + block)
    embedding_model = hparams["embedding_model"]
    assert isinstance(embedding_model, DRNMHSAEmbedding)
    before = {k: v.clone() for k, v in embedding_model.state_dict().items()}
    # what CommonLanguage's train.py does with the pretrainer: it must load nothing
    hparams["pretrainer"].collect_files()
    hparams["pretrainer"].load_collected()
    assert all(torch.equal(before[k], v) for k, v in embedding_model.state_dict().items())
    feats, lens = _fbank_batch()
    # CommonLanguage's train.py passes no lengths
    assert hparams["classifier"](embedding_model.eval()(feats)).shape == (2, 1, 45)


def test_model_folder_block_loads_the_named_fold(tmp_path):
    folder = _model_folder(tmp_path / "model", folds=[1, 2])
    block = readme_recipe_yaml()["from-model-folder"].replace("path/to/model_folder", str(folder))
    embedding_model = load_hyperpyyaml(block)["embedding_model"]
    fold_1 = load_model_folder(folder).models[0]
    assert torch.equal(embedding_model.pooling.lstm.weight_hh_l0, fold_1.pooling.lstm.weight_hh_l0)
