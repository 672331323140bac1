"""DRNMHSAEmbedding: ECAPA-TDNN's interface over the DRN-MHSA encoder and its LSTM pooling."""

import pytest
import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

from speechbrain_drnsa.lobes import DNNClassifier, DRNEncoder, DRNMHSAEmbedding, LSTMPooling

TINY = {"channels": [8, 8, 16, 16, 16], "blocks": [1, 1, 1, 1, 1], "lstm_hidden": 12}
# the packaged drn_mhsa.yaml: encoder 8,933,760 + pooling 788,480 parameters on 17 LLDs
PAPER_ENCODER_AND_POOLING = 8_933_760 + 788_480


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_defaults_are_the_papers_encoder_and_pooling() -> None:
    lobe = DRNMHSAEmbedding()
    assert _count(lobe) == PAPER_ENCODER_AND_POOLING
    assert lobe.embedding_size == 256
    assert [block.conv1.out_channels for block in lobe.encoder.blocks] == [
        64, 128, 256, 384, 384, 512, 512
    ]
    assert lobe.encoder.blocks[-1].attention.attention.num_heads == 4


def test_every_width_is_configurable() -> None:
    lobe = DRNMHSAEmbedding(
        input_size=80, channels=[4, 8, 8, 12, 24], blocks=[2, 1, 1, 1, 3], kernel_size=5,
        attention_heads=2, lstm_hidden=6,
    )
    assert lobe.encoder.blocks[0].conv1.in_channels == 80
    assert lobe.encoder.blocks[0].conv1.kernel_size == (5,)
    assert [block.conv1.out_channels for block in lobe.encoder.blocks] == [
        4, 4, 8, 8, 12, 24, 24, 24
    ]
    assert lobe.encoder.blocks[0].attention.attention.num_heads == 2
    assert lobe.pooling.lstm.input_size == 24
    assert lobe.embedding_size == 6


def test_same_output_shape_as_ecapa_tdnn_for_fbank_input() -> None:
    feats, lens = torch.randn(3, 90, 80), torch.tensor([1.0, 0.7, 0.3])
    ecapa = ECAPA_TDNN(80, channels=[16, 16, 16, 16, 48], attention_channels=8, lin_neurons=12)
    ours = DRNMHSAEmbedding(input_size=80, **TINY)
    assert ours(feats, lens).shape == ecapa(feats, lens).shape == (3, 1, 12)
    assert ours(feats).shape == (3, 1, 12)  # lengths are optional, as ECAPA's


def test_pooling_gets_the_encoders_own_lengths() -> None:
    # 50 of 100 frames: the encoder keeps ceil(50 / 4) = 13 of 25 frames (relative 0.52),
    # where the input's relative length 0.5 would pool at frame 12.
    torch.manual_seed(0)
    lobe = DRNMHSAEmbedding(**TINY).eval()
    x = torch.randn(2, 100, 17)
    lengths = torch.tensor([1.0, 0.5])
    with torch.no_grad():
        batched = lobe(x, lengths)
        alone = lobe(x[1:, :50])
        frames, frame_lengths = lobe.encoder(x, lengths)
        expected = lobe.pooling(frames, frame_lengths)
    assert frame_lengths[1].item() == pytest.approx(13 / 25)
    torch.testing.assert_close(batched[1], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.squeeze(1), expected)


def test_weights_have_emotion_classifiers_names() -> None:
    # an EmotionClassifier's encoder and pooling weights load into the lobe as they are
    lobe = DRNMHSAEmbedding(**TINY)
    encoder = DRNEncoder(channels=TINY["channels"], blocks=TINY["blocks"])
    pooling = LSTMPooling(16, 12)
    own = {f"encoder.{k}" for k in encoder.state_dict()} | {
        f"pooling.{k}" for k in pooling.state_dict()
    }
    assert set(lobe.state_dict()) == own


@pytest.mark.parametrize("head", ["cosine", "dense"])
def test_trains_with_speechbrains_heads_and_losses(head: str) -> None:
    torch.manual_seed(0)
    lobe = DRNMHSAEmbedding(input_size=80, **TINY)
    if head == "cosine":
        classifier = Classifier(input_size=12, out_neurons=4)
        loss_fn = LogSoftmaxWrapper(AdditiveAngularMargin(margin=0.2, scale=30))
    else:
        classifier = DNNClassifier(input_size=12, lin_neurons=[8], out_neurons=4)
        loss_fn = LogSoftmaxWrapper(torch.nn.Identity())
    feats, lens = torch.randn(4, 60, 80), torch.tensor([1.0, 0.8, 0.5, 0.3])
    targets = torch.tensor([[0], [1], [2], [3]])
    outputs = classifier(lobe(feats, lens))
    assert outputs.shape == (4, 1, 4)
    if head == "cosine":
        assert outputs.abs().max() <= 1.0 + 1e-6  # cosine scores, as ECAPA's Classifier
    loss = loss_fn(outputs, targets, lens)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in lobe.parameters())
