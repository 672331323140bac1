"""The Table 1 baselines' lobes: padding never matters, sizes match the paper, folders load."""

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_drnsa import hparams_path
from speechbrain_drnsa.inference.architecture import build_from_spec, spec_from_model_yaml
from speechbrain_drnsa.lobes import (
    AttentionPooling,
    ConvEncoder,
    DeltaFeatures,
    DNNClassifier,
    EmotionClassifier,
    MaskedStatisticsPooling,
    RecurrentEncoder,
)

HPARAMS = hparams_path()
# The paper's Table 1 sizes; the yamls are balanced within 5% (4 classes).
PAPER_PARAMETERS = {
    "xia2017": 9.5e6,
    "poria2016": 9.3e6,
    "poria2017": 9.4e6,
    "mirsamadi2017": 9.6e6,
}


def _small_baseline(name: str) -> EmotionClassifier:
    torch.manual_seed(0)
    if name == "xia2017":
        parts = DeltaFeatures(17), MaskedStatisticsPooling(34), DNNClassifier(136, [8], 4)
    elif name == "poria2016":
        parts = ConvEncoder(17, [8, 16]), MaskedStatisticsPooling(16, ["max"]), DNNClassifier(16)
    elif name == "poria2017":
        parts = RecurrentEncoder(17, 8), MaskedStatisticsPooling(16, ["mean"]), DNNClassifier(16)
    else:
        parts = RecurrentEncoder(17, 8), AttentionPooling(16), DNNClassifier(16, [8], 4)
    return EmotionClassifier(*parts)


def _padded_batch(frame_counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    longest = max(frame_counts)
    x = torch.randn(len(frame_counts), longest, 17)
    for i, n in enumerate(frame_counts):
        x[i, n:] = 1e3  # garbage padding: it must not matter
    return x, torch.tensor(frame_counts, dtype=torch.float) / longest


@pytest.mark.parametrize("name", list(PAPER_PARAMETERS))
def test_utterance_alone_equals_utterance_in_a_padded_batch(name: str) -> None:
    model = _small_baseline(name).eval()
    frame_counts = [83, 1, 2, 5, 40, 77]
    x, lengths = _padded_batch(frame_counts)
    with torch.no_grad():
        frames, _ = model.encoder(x, lengths)
        logits = model(x, lengths)
        for i, n in enumerate(frame_counts):
            alone, _ = model.encoder(x[i : i + 1, :n])
            assert alone.shape[1] == model.encoder.output_length(n) == n
            torch.testing.assert_close(frames[i, :n], alone[0], atol=1e-5, rtol=0)
            assert (frames[i, n:] == 0).all()
            torch.testing.assert_close(logits[i], model(x[i : i + 1, :n])[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(PAPER_PARAMETERS))
def test_every_parameter_gets_a_finite_gradient(name: str) -> None:
    model = _small_baseline(name).train()
    x, lengths = _padded_batch([50, 31, 1])
    model(x, lengths).logsumexp(dim=-1).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


def test_deltas_are_htk_regression_with_the_utterances_own_edges() -> None:
    x = torch.tensor([[0.0, 1.0, 4.0, 9.0, 16.0, 100.0]]).unsqueeze(-1)
    y, _ = DeltaFeatures(input_size=1, window=1)(x, torch.tensor([5 / 6]))
    # (x[t+1] - x[t-1]) / 2, the last valid frame (16) repeated, not the padding (100)
    assert y[0, :, 1].tolist() == [0.5, 2.0, 4.0, 6.0, 3.5, 0.0]
    assert y[0, :, 0].tolist() == [0.0, 1.0, 4.0, 9.0, 16.0, 0.0]


def test_statistics_are_taken_over_valid_frames_only() -> None:
    x = torch.tensor([[[1.0, -2.0], [3.0, 2.0], [50.0, 50.0]]])
    pooled = MaskedStatisticsPooling(2)(x, torch.tensor([2 / 3]))
    expected = [[2.0, 0.0, 1.0, 2.0, 1.0, -2.0, 3.0, 2.0]]  # mean, std, min, max
    torch.testing.assert_close(pooled, torch.tensor(expected))
    with pytest.raises(ValueError, match="distinct names among"):
        MaskedStatisticsPooling(2, ["median"])


def test_attention_weights_follow_the_scores_and_skip_padding() -> None:
    pooling = AttentionPooling(2)
    with torch.no_grad():
        pooling.score.weight.copy_(torch.tensor([[1.0, 0.0]]))
    x = torch.tensor([[[0.0, 1.0], [torch.log(torch.tensor(3.0)), 5.0], [9.0, 9.0]]])
    pooled, weights = pooling(x, torch.tensor([2 / 3]), need_weights=True)
    torch.testing.assert_close(weights, torch.tensor([[0.25, 0.75, 0.0]]))
    torch.testing.assert_close(pooled[0, 1], torch.tensor(0.25 * 1 + 0.75 * 5))


def test_recurrent_encoder_reads_backwards_from_each_utterances_end() -> None:
    torch.manual_seed(0)
    encoder = RecurrentEncoder(17, 4, num_layers=1).eval()
    x, lengths = _padded_batch([10, 6])
    frames, _ = encoder(x, lengths)
    # the backward half at frame 0 depends on every valid frame and no padded one
    torch.testing.assert_close(frames[1, :6], encoder(x[1:2, :6])[0][0], atol=1e-6, rtol=0)
    assert encoder.out_channels == 8 and encoder.total_stride == 1


@pytest.mark.parametrize("name", list(PAPER_PARAMETERS))
def test_model_definition_is_balanced_at_the_papers_size(name: str) -> None:
    text = (HPARAMS / f"{name}.yaml").read_text()
    model = load_hyperpyyaml(text)["model"]
    count = sum(p.numel() for p in model.parameters())
    assert count == pytest.approx(PAPER_PARAMETERS[name], rel=0.05)
    assert f"Parameters (4 classes): {count:,} = " in text  # the header says the truth
    logits = model.eval()(*_padded_batch([30, 12]))
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list(PAPER_PARAMETERS))
def test_model_folder_specification_rebuilds_the_same_architecture(name: str) -> None:
    text = (HPARAMS / f"{name}.yaml").read_text()
    trained = load_hyperpyyaml(text, {"n_classes": 3})["model"]
    rebuilt = build_from_spec(spec_from_model_yaml(text, {"n_classes": 3}), f"{name}.yaml")
    assert type(rebuilt.encoder) is type(trained.encoder)
    assert type(rebuilt.pooling) is type(trained.pooling)
    shapes = {key: value.shape for key, value in trained.state_dict().items()}
    assert {key: value.shape for key, value in rebuilt.state_dict().items()} == shapes
