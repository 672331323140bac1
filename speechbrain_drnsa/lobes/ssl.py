"""Lobes for self-supervised front ends: a learned sum of layers, and a fine-tuned SSL model.

:class:`WeightedLayerEncoder` reads frames holding every hidden layer of a
frozen SSL model side by side (as the feature cache keeps them,
:class:`~speechbrain_drnsa.features.ssl.SSLFeatures`), sums the layers with
learned weights (softmax of zero-initialised weights, as SUPERB and
SpeechBrain's ``WeightedSSLModel``) and hands the sum to its encoder. With
one layer per frame it adds nothing and holds no weights.

:class:`SSLClassifier` puts an SSL model that is fine-tuned (``ssl_freeze:
false``) before a classifier: waveform in, logits out.
"""

import torch
from torch import nn

__all__ = ["SSLClassifier", "WeightedLayerEncoder"]


class WeightedLayerEncoder(nn.Module):
    """Sum ``num_layers`` stacked layers with learned weights, then encode.

    Arguments
    ---------
    encoder : nn.Module
        Maps ``(feats (batch, time, size), lengths)`` to ``(frames, lengths)``,
        e.g. ``DRNEncoder`` with ``input_size`` the SSL model's hidden size.
    num_layers : int
        Layers side by side in each input frame (1: the input goes to the
        encoder as it is).

    Example
    -------
    >>> from speechbrain_drnsa.lobes import DRNEncoder
    >>> drn = DRNEncoder(input_size=8, channels=[4, 4, 4, 4, 4], blocks=[1, 1, 1, 1, 1])
    >>> encoder = WeightedLayerEncoder(drn, num_layers=3)
    >>> frames, lengths = encoder(torch.randn(2, 40, 3 * 8), torch.tensor([1.0, 0.5]))
    >>> frames.shape, encoder.total_stride, encoder.layer_weights.tolist()
    (torch.Size([2, 10, 4]), 4, [0.0, 0.0, 0.0])
    """

    def __init__(self, encoder: nn.Module, num_layers: int = 1):
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        self.encoder = encoder
        self.num_layers = num_layers
        if num_layers > 1:
            self.layer_weights = nn.Parameter(torch.zeros(num_layers))

    @property
    def total_stride(self) -> int:
        """Input frames per output frame, the encoder's."""
        return self.encoder.total_stride

    def output_length(self, num_frames: int) -> int:
        """Output frames for ``num_frames`` input frames, the encoder's."""
        return self.encoder.output_length(num_frames)

    def forward(
        self, feats: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum the layers of ``(batch, time, num_layers * size)`` frames and encode them."""
        if self.num_layers > 1:
            batch, time, _ = feats.shape
            layers = feats.reshape(batch, time, self.num_layers, -1)
            weights = self.layer_weights.softmax(dim=0).to(layers.dtype)
            feats = torch.einsum("btls,l->bts", layers, weights)
        return self.encoder(feats, lengths)


class SSLClassifier(nn.Module):
    """An SSL model, fine-tuned, before a classifier of its hidden states.

    Arguments
    ---------
    ssl : nn.Module
        SpeechBrain's wrapper of the model: ``(wav (batch, samples), wav_lens)``
        to every layer's states ``(layers, batch, frames, hidden)`` (with
        ``layer``) or to one ``(batch, frames, hidden)`` (``WeightedSSLModel``).
    classifier : nn.Module
        Maps ``(frames (batch, frames, hidden), lengths)`` to logits, e.g.
        ``EmotionClassifier``.
    layer : int, optional
        The layer the classifier reads; None when ``ssl`` returns one.

    Example
    -------
    >>> class Layers(nn.Module):  # stands in for SpeechBrain's WavLM wrapper
    ...     def forward(self, wav, wav_lens=None):
    ...         return wav.unfold(1, 320, 320).unsqueeze(0).repeat(3, 1, 1, 1)
    >>> class Mean(nn.Module):
    ...     def forward(self, frames, lengths):
    ...         return frames.mean(dim=(1, 2)).unsqueeze(1)
    >>> SSLClassifier(Layers(), Mean(), layer=2)(torch.randn(2, 3200, 1)).shape
    torch.Size([2, 1])
    """

    def __init__(self, ssl: nn.Module, classifier: nn.Module, layer: int | None = None):
        super().__init__()
        self.ssl = ssl
        self.classifier = classifier
        self.layer = layer

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Classify ``(batch, samples, 1)`` waveforms with relative lengths ``(batch,)``."""
        states = self.ssl(wav[..., 0], lengths)
        if self.layer is not None:
            states = states[self.layer]
        return self.classifier(states, lengths)
