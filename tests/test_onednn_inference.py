"""The oneDNN inference path of the DRN encoder gives the plain model's outputs (within 1e-5)."""

import copy

import pytest
import soundfile
import torch

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.inference import EmotionRecognizer
from speechbrain_drnsa.inference.architecture import build_from_spec, spec_from_model_yaml
from speechbrain_drnsa.lobes.onednn import onednn_usable
from speechbrain_drnsa.nnet.attention import explicit_attention

pytestmark = pytest.mark.skipif(not onednn_usable(), reason="needs torch's oneDNN on x86-64")

TOLERANCE = 1e-5


def _paper_model(yaml_name: str, seed: int = 0) -> torch.nn.Module:
    """A packaged architecture (paper widths), batch norms with statistics unlike 0/1, eval."""
    spec = spec_from_model_yaml(hparams_path(yaml_name).read_text(), {"n_classes": 4})
    torch.manual_seed(seed)
    model = build_from_spec(spec, yaml_name)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.8, 1.2)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _folded_and_packed(yaml_name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    plain = _paper_model(yaml_name)
    plain.encoder.fold_batch_norms()
    packed = copy.deepcopy(plain)
    packed.encoder.pack_for_cpu()
    assert packed.encoder.onednn is not None and plain.encoder.onednn is None
    return plain, packed


@pytest.mark.parametrize("yaml_name", ["drn_mhsa.yaml", "drn_sha.yaml", "drn.yaml", "cnn.yaml"])
def test_packed_encoder_matches_the_plain_one(yaml_name: str) -> None:
    plain, packed = _folded_and_packed(yaml_name)
    torch.manual_seed(1)
    with torch.inference_mode():
        # one utterance of 1, 7, 50 frames and 5 s; then a padded batch (garbage in the padding)
        for frames in (1, 7, 50, 500):
            x = torch.randn(1, frames, 17)
            expected, lengths = plain.encoder(x)
            got, got_lengths = packed.encoder(x)
            assert (got - expected).abs().max() <= TOLERANCE
            assert torch.equal(got_lengths, lengths)
            assert (packed(x) - plain(x)).abs().max() <= TOLERANCE
        x = torch.randn(3, 377, 17)
        lengths = torch.tensor([1.0, 0.5, 0.13])
        x[1, 189:], x[2, 49:] = 1e3, -1e3
        expected, expected_lengths = plain.encoder(x, lengths)
        got, got_lengths = packed.encoder(x, lengths)
    assert (got - expected).abs().max() <= TOLERANCE
    assert torch.equal(got_lengths, expected_lengths)
    assert bool((got[2, expected_lengths[2].mul(got.shape[1]).round().long():] == 0).all())


def test_packed_weights_are_used_only_for_fp32_cpu_inference_without_gradients() -> None:
    plain, packed = _folded_and_packed("drn_mhsa.yaml")
    x = torch.randn(1, 60, 17)
    # with gradients the modules run (the packed weights have none)
    y, _ = packed.encoder(x.requires_grad_())
    y.sum().backward()
    assert x.grad is not None and packed.encoder.blocks[0].conv1.weight.grad is not None
    # another dtype runs the modules (in place: the packed fp32 weights stay)
    as_double = copy.deepcopy(packed).double()
    as_double.encoder.onednn = packed.encoder.onednn
    with torch.inference_mode():
        assert as_double.encoder(x.detach().double())[0].dtype == torch.float64
    # explanations read each attention layer's weights: they must still be computed
    with torch.no_grad(), explicit_attention(packed) as layers:
        packed(x.detach())
        assert all(layer.last_weights is not None for layer in layers)
    # copies and pickles carry the plain encoder
    assert copy.deepcopy(packed.encoder).onednn is None
    assert packed.state_dict().keys() == plain.state_dict().keys()


def test_recognizer_packs_fp32_cpu_models_and_gives_the_plain_probabilities(
    tiny_model_folder, demo_corpus
) -> None:
    recognizer = EmotionRecognizer.from_hparams(tiny_model_folder)
    assert all(model.encoder.onednn is not None for model in recognizer.models)
    wavs = sorted(demo_corpus.rglob("*.wav"))[:3]
    signals = [soundfile.read(wav, dtype="float32")[0] for wav in wavs]
    longest = max(len(s) for s in signals)
    batch = torch.zeros(len(signals), longest)
    for row, signal in zip(batch, signals):
        row[: len(signal)] = torch.from_numpy(signal)
    lengths = torch.tensor([len(s) / longest for s in signals])
    assert lengths.min() < 1  # a padded batch

    def outputs() -> list[torch.Tensor]:
        return [*(recognizer.classify_file(wav)[0] for wav in wavs),
                recognizer.classify_batch(batch, lengths)[0]]

    packed = outputs()
    for model in recognizer.models:
        model.encoder.onednn = None  # the plain forward
    for got, expected in zip(packed, outputs(), strict=True):
        assert (got - expected).abs().max() <= TOLERANCE
    bf16 = EmotionRecognizer.from_hparams(tiny_model_folder, run_opts={"precision": "bf16"})
    assert all(model.encoder.onednn is None for model in bf16.models)
