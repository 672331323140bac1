"""Behaviour of the lobes: the DRN encoder and its ablations, attention, pooling, classifier."""

import math

import pytest
import torch

from speechbrain_drnsa.lobes import DNNClassifier, DRNEncoder, EmotionClassifier, LSTMPooling
from speechbrain_drnsa.nnet.attention import MultiHeadSelfAttention

SMALL = {"channels": [8, 8, 16, 16, 16], "blocks": [1, 1, 1, 2, 2]}
# The paper's Table 2 rows: (residual, dilation, attention_heads).
VARIANTS = {
    "cnn": (False, False, 0),
    "cnn_res": (True, False, 0),
    "drn": (True, True, 0),
    "drn_sha": (True, True, 1),
    "drn_mhsa": (True, True, 4),
}


def _small_model(variant: str, seed: int = 0) -> EmotionClassifier:
    residual, dilation, heads = VARIANTS[variant]
    torch.manual_seed(seed)
    encoder = DRNEncoder(residual=residual, dilation=dilation, attention_heads=heads, **SMALL)
    return EmotionClassifier(
        encoder, LSTMPooling(16, 8), DNNClassifier(8, lin_neurons=[8], out_neurons=4)
    )


def _padded_batch(frame_counts: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    longest = max(frame_counts)
    x = torch.randn(len(frame_counts), longest, 17)
    for i, n in enumerate(frame_counts):
        x[i, n:] = 1e3  # garbage padding: it must not matter
    return x, torch.tensor(frame_counts, dtype=torch.float) / longest


def _randomise_norm_statistics(model: torch.nn.Module) -> None:
    # Fresh running statistics are 0/1, which would hide a norm applied to padding.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)


@pytest.mark.parametrize(
    "dilation, stride", [(False, 16), (True, 4)], ids=["cnn_T/16", "drn_T/4"]
)
def test_output_length_follows_the_documented_formula(dilation: bool, stride: int) -> None:
    encoder = DRNEncoder(dilation=dilation, attention_heads=0, **SMALL).eval()
    assert encoder.total_stride == stride
    for frames in (1, 3, 16, 17, 20, 63, 100, 257):
        y, lengths = encoder(torch.randn(1, frames, 17))
        assert y.shape == (1, math.ceil(frames / stride), 16)
        assert encoder.output_length(frames) == y.shape[1]
        assert lengths.tolist() == [1.0]
    # Relative lengths of a shorter item follow the same formula on its own frames.
    _, lengths = encoder(*_padded_batch([100, 37]))
    assert lengths[1].item() == pytest.approx(math.ceil(37 / stride) / math.ceil(100 / stride))
    assert encoder.out_channels == 16


def _receptive_field(encoder: DRNEncoder, frames: int = 600) -> int:
    """Input frames that move one middle output frame, measured by gradients."""
    x = torch.randn(1, frames, 17, requires_grad=True)
    y, _ = encoder(x)
    y[0, y.shape[1] // 2].sum().backward()
    touched = torch.nonzero(x.grad[0].abs().sum(dim=-1)).flatten()
    return int(touched.max() - touched.min() + 1)


def test_drn_receptive_field_is_at_least_the_cnns() -> None:
    torch.manual_seed(0)
    cnn = DRNEncoder(residual=False, dilation=False, attention_heads=0, **SMALL).eval()
    drn = DRNEncoder(residual=True, dilation=True, attention_heads=0, **SMALL).eval()
    cnn_field, drn_field = _receptive_field(cnn), _receptive_field(drn)
    # 7 blocks of two 3-tap convolutions: the CNN sees well beyond one 160 ms frame.
    assert cnn_field > 100
    assert drn_field >= cnn_field
    # Self-attention lets one output frame see the whole utterance.
    mhsa = DRNEncoder(**SMALL).eval()
    assert _receptive_field(mhsa) == 600


def test_attention_weights_sum_to_one_on_valid_frames_and_are_zero_on_padding() -> None:
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(input_size=16, nhead=4)
    x = torch.randn(3, 10, 16)
    lengths = torch.tensor([1.0, 0.7, 0.1])
    out, weights = attention(x, lengths, need_weights=True, average_attn_weights=False)
    assert weights.shape == (3, 4, 10, 10)
    for i, valid in enumerate([10, 7, 1]):
        torch.testing.assert_close(weights[i].sum(dim=-1), torch.ones(4, 10))
        assert (weights[i, ..., valid:] == 0).all()
        assert (weights[i, ..., :valid] > 0).all()
        assert (out[i, valid:] == 0).all()
    _, averaged = attention(x, lengths, need_weights=True)
    torch.testing.assert_close(averaged, weights.mean(dim=1))
    assert attention(x, lengths)[1] is None


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_folding_batch_norms_keeps_the_outputs_of_padded_batches(variant: str) -> None:
    torch.manual_seed(0)
    residual, dilation, heads = VARIANTS[variant]
    encoder = DRNEncoder(**SMALL, residual=residual, dilation=dilation, attention_heads=heads)
    with pytest.raises(RuntimeError, match="eval mode"):
        encoder.fold_batch_norms()
    for norm in (m for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm1d)):
        norm.running_mean.normal_()  # statistics unlike the initial ones
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 2.0)
        norm.bias.data.normal_()
    x, lengths = torch.randn(3, 70, 17), torch.tensor([1.0, 0.6, 0.2])
    with torch.no_grad():
        before = encoder.eval()(x, lengths)
        after = encoder.fold_batch_norms()(x, lengths)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in encoder.modules())


def test_attention_in_training_and_eval_mode_computes_the_same() -> None:
    """Training runs nn.MultiheadAttention itself, eval F.scaled_dot_product_attention."""
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(input_size=16, nhead=4)
    x, lengths = torch.randn(3, 10, 16), torch.tensor([1.0, 0.7, 0.1])
    for batch, batch_lengths in ((x, lengths), (x[:1], None)):  # padded, and one utterance
        trained = attention.train()(batch, batch_lengths)[0]
        with torch.no_grad():
            inferred = attention.eval()(batch, batch_lengths)[0]
        torch.testing.assert_close(trained.detach(), inferred, atol=1e-6, rtol=1e-5)
    assert trained.requires_grad


def test_attention_rejects_heads_that_do_not_divide_the_channels() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(input_size=10, nhead=4)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_utterance_alone_equals_utterance_in_a_padded_batch(variant: str) -> None:
    model = _small_model(variant).eval()
    _randomise_norm_statistics(model)
    frame_counts = [123, 1, 5, 20, 64, 97]
    x, lengths = _padded_batch(frame_counts)
    with torch.no_grad():
        frames, out_lengths = model.encoder(x, lengths)
        logits = model(x, lengths)
        for i, n in enumerate(frame_counts):
            alone, _ = model.encoder(x[i : i + 1, :n])
            valid = alone.shape[1]
            assert valid == model.encoder.output_length(n)
            assert round(out_lengths[i].item() * frames.shape[1]) == valid
            torch.testing.assert_close(frames[i, :valid], alone[0], atol=1e-5, rtol=0)
            assert (frames[i, valid:] == 0).all()
            torch.testing.assert_close(logits[i], model(x[i : i + 1, :n])[0], atol=1e-5, rtol=0)


def test_default_model_alone_equals_padded_batch() -> None:
    torch.manual_seed(0)
    encoder = DRNEncoder()
    model = EmotionClassifier(encoder, LSTMPooling(512, 256), DNNClassifier(256)).eval()
    _randomise_norm_statistics(model)
    frame_counts = [90, 20, 53]
    x, lengths = _padded_batch(frame_counts)
    with torch.no_grad():
        logits = model(x, lengths)
        for i, n in enumerate(frame_counts):
            torch.testing.assert_close(logits[i], model(x[i : i + 1, :n])[0], atol=1e-5, rtol=0)


def test_training_mode_ignores_padding_content_and_amount() -> None:
    # Batch-norm statistics must come from valid frames only.
    model = _small_model("drn_mhsa").train()
    x, lengths = _padded_batch([40, 23])
    longer = torch.cat([x, torch.randn(2, 30, 17) * 50], dim=1)
    frames, _ = model.encoder(x, lengths)
    frames_longer, _ = model.encoder(longer, lengths * 40 / 70)
    torch.testing.assert_close(frames_longer[:, : frames.shape[1]], frames, atol=1e-5, rtol=0)


def test_default_encoder_is_the_proposed_model() -> None:
    encoder = DRNEncoder()
    assert (encoder.input_size, encoder.out_channels, encoder.total_stride) == (17, 512, 4)
    assert all(block.attention is not None for block in encoder.blocks)
    heads = {block.attention.attention.num_heads for block in encoder.blocks}
    assert heads == {4}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_parameter_gets_a_gradient(variant: str) -> None:
    model = _small_model(variant).train()
    x, lengths = _padded_batch([50, 31, 7])
    model(x, lengths).logsumexp(dim=-1).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        if parameter.dim() > 1:
            assert parameter.grad.abs().sum() > 0, name


def test_forward_and_backward_under_bf16_autocast() -> None:
    model = _small_model("drn_mhsa").train()
    x, lengths = _padded_batch([60, 35])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x, lengths)
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.tensor([0, 3]))
    loss.backward()
    assert logits.dtype == torch.bfloat16  # autocast did run the layers in bf16
    assert logits.shape == (2, 4) and torch.isfinite(logits.float()).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("frames", [20, 1])
def test_utterance_shorter_than_the_total_stride_is_classified(frames: int) -> None:
    # 0.2 s is 20 frames of 10 ms: above the DRN's stride, below the CNN's.
    for variant in ("cnn", "drn_mhsa"):
        model = _small_model(variant).eval()
        encoded, _ = model.encoder(torch.randn(1, frames, 17))
        assert encoded.shape[1] >= 1
        logits = model(torch.randn(1, frames, 17))
        assert logits.shape == (1, 4) and torch.isfinite(logits).all()


def test_pooling_returns_the_state_at_the_last_valid_frame() -> None:
    for bidirectional in (False, True):
        torch.manual_seed(0)
        pooling = LSTMPooling(6, 5, num_layers=2, bidirectional=bidirectional).eval()
        x = torch.randn(3, 12, 6)
        frame_counts = [12, 4, 9]
        pooled = pooling(x, torch.tensor(frame_counts) / 12)
        assert pooled.shape == (3, 5 * (2 if bidirectional else 1))
        for i, n in enumerate(frame_counts):
            alone = pooling(x[i : i + 1, :n])[0]
            torch.testing.assert_close(pooled[i], alone, atol=1e-6, rtol=0)
        # Not the state at the padded end.
        assert not torch.allclose(pooled[1], pooling(x[1:2])[0])


def test_classifier_stacks_dense_layers_to_logits() -> None:
    classifier = DNNClassifier(input_size=6, lin_neurons=[10, 7], out_neurons=3)
    linears = [m for m in classifier.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 10), (10, 7), (7, 3)]
    assert classifier(torch.randn(2, 6)).shape == (2, 3)


@pytest.mark.parametrize(
    "x, lengths, message",
    [
        (torch.randn(2, 30, 13), None, r"expected LLDs of shape \(batch >= 1, time >= 1, 17\); "
         r"got shape \(2, 30, 13\)"),
        (torch.randn(30, 17), None, r"got shape \(30, 17\)"),
        (torch.randn(0, 30, 17), None, r"got shape \(0, 30, 17\)"),
        (torch.randn(2, 0, 17), None, r"got shape \(2, 0, 17\)"),
        (torch.randn(2, 30, 17), torch.tensor([1.0, 0.0]), r"must lie in \(0, 1\]; got .*0 to 1"),
        (torch.randn(2, 30, 17), torch.tensor([1.2, 0.5]), r"\(0, 1\]; got .*0.5 to 1.2"),
        (torch.randn(2, 30, 17), torch.tensor([-1.0, 1.0]), r"must lie in \(0, 1\]"),
        (torch.randn(2, 30, 17), torch.tensor([1.0, float("nan")]), r"must lie in \(0, 1\]"),
        (torch.randn(2, 30, 17), torch.tensor([1.0]), r"shape \(2,\), one per utterance; "
         r"got shape \(1,\)"),
    ],
    ids=["feature-dim", "no-batch-axis", "empty-batch", "no-frames", "zero-length",
         "above-one", "negative", "nan", "length-count"],
)
def test_bad_input_raises_a_value_error_saying_what_was_expected(
    x: torch.Tensor, lengths: torch.Tensor | None, message: str
) -> None:
    model = _small_model("drn_mhsa")
    with pytest.raises(ValueError, match=message):
        model(x, lengths)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": [8, 8, 8, 8]}, "5 groups"),
        ({"blocks": [1, 1, 0, 1, 1]}, "at least one block"),
        ({"kernel_size": 4}, "odd"),
        ({"channels": [8, 8, 8, 8, 10], "attention_heads": 4}, "divide"),
    ],
)
def test_bad_encoder_settings_raise_a_value_error(kwargs: dict, message: str) -> None:
    settings = {**SMALL, **kwargs}
    with pytest.raises(ValueError, match=message):
        DRNEncoder(**settings)


def test_pooling_rejects_frames_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match=r"shape .*16\); got shape \(2, 5, 12\)"):
        LSTMPooling(16, 8)(torch.randn(2, 5, 12))


def test_batch_norms_can_be_converted_to_sync_batch_norm() -> None:
    # Lightning's sync_batchnorm=True swaps every BatchNorm for a SyncBatchNorm.
    model = _small_model("drn_mhsa").eval()
    _randomise_norm_statistics(model)
    x, lengths = _padded_batch([40, 25])
    with torch.no_grad():
        expected = model(x, lengths)
        synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
        torch.testing.assert_close(synced(x, lengths), expected)
