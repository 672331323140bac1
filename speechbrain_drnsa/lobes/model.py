"""The emotion classifier: encoder, pooling and dense classifier in one ``nn.Module``.

A plain module, so that a Lightning module and a SpeechBrain ``Brain`` can both
hold it: LLD frames and relative lengths in, class logits out.
"""

import torch
from torch import nn

__all__ = ["EmotionClassifier"]


class EmotionClassifier(nn.Module):
    """Chain a sequence encoder, a pooling layer and a classifier.

    Arguments
    ---------
    encoder : nn.Module
        Maps ``(feats, lengths)`` to ``(frames, lengths)``, e.g. ``DRNEncoder``.
    pooling : nn.Module
        Maps ``(frames, lengths)`` to ``(batch, size)``, e.g. ``LSTMPooling``.
    classifier : nn.Module
        Maps ``(batch, size)`` to logits, e.g. ``DNNClassifier``.

    Example
    -------
    >>> from speechbrain_drnsa.lobes import DRNEncoder, LSTMPooling, DNNClassifier
    >>> model = EmotionClassifier(
    ...     DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1]),
    ...     LSTMPooling(input_size=16, hidden_size=8),
    ...     DNNClassifier(input_size=8, lin_neurons=[8], out_neurons=4),
    ... )
    >>> model(torch.randn(2, 50, 17), torch.tensor([1.0, 0.4])).shape
    torch.Size([2, 4])
    """

    def __init__(self, encoder: nn.Module, pooling: nn.Module, classifier: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.classifier = classifier

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Classify a padded batch of utterances.

        Arguments
        ---------
        feats : torch.Tensor
            LLD frames ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.

        Returns
        -------
        torch.Tensor
            Logits ``(batch, classes)``.
        """
        frames, lengths = self.encoder(feats, lengths)
        return self.classifier(self.pooling(frames, lengths))
