"""Early fusion: the LSTM-pooled utterance vector joined with the utterance's functionals.

On small corpora the classic baseline (openSMILE functionals into a linear
SVM) beats a network that learns from the LLD frames alone. This classifier
gives the network the same utterance-level statistics: an embedding of the
utterance's functionals (eGeMAPSv02 or ComParE_2016,
:class:`~speechbrain_drnsa.features.functionals.OpenSmileFunctionals`, standardised
like the LLDs) is concatenated with the pooled DRN-MHSA vector before the dense
classifier, and everything is trained end to end.
"""

import torch
from torch import nn

__all__ = ["FunctionalsFusionClassifier"]


class FunctionalsFusionClassifier(nn.Module):
    """Encoder and pooling over LLD frames, joined with embedded utterance functionals.

    Arguments
    ---------
    encoder : nn.Module
        Maps ``(feats, lengths)`` to ``(frames, lengths)``, e.g. ``DRNEncoder``.
    pooling : nn.Module
        Maps ``(frames, lengths)`` to ``(batch, pooled)``, e.g. ``LSTMPooling``.
    functionals_embedding : nn.Module
        Maps ``(batch, functionals)`` to ``(batch, embedded)``, e.g. a
        ``DNNClassifier`` used as a projection.
    classifier : nn.Module
        Maps ``(batch, pooled + embedded)`` to logits, e.g. ``DNNClassifier``.

    Example
    -------
    >>> from speechbrain_drnsa.lobes import DRNEncoder, LSTMPooling, DNNClassifier
    >>> model = FunctionalsFusionClassifier(
    ...     DRNEncoder(channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1]),
    ...     LSTMPooling(input_size=16, hidden_size=8),
    ...     DNNClassifier(input_size=88, lin_neurons=[], out_neurons=6),
    ...     DNNClassifier(input_size=8 + 6, lin_neurons=[8], out_neurons=4),
    ... )
    >>> model(torch.randn(2, 50, 17), torch.tensor([1.0, 0.4]), torch.randn(2, 88)).shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        encoder: nn.Module,
        pooling: nn.Module,
        functionals_embedding: nn.Module,
        classifier: nn.Module,
    ):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.functionals_embedding = functionals_embedding
        self.classifier = classifier

    def forward(
        self,
        feats: torch.Tensor,
        lengths: torch.Tensor | None = None,
        functionals: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Classify a padded batch of utterances with their functionals.

        Arguments
        ---------
        feats : torch.Tensor
            LLD frames ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.
        functionals : torch.Tensor
            Standardised functionals ``(batch, functionals)``.

        Returns
        -------
        torch.Tensor
            Logits ``(batch, classes)``.
        """
        if functionals is None:
            raise ValueError("FunctionalsFusionClassifier needs the utterances' functionals")
        frames, lengths = self.encoder(feats, lengths)
        pooled = self.pooling(frames, lengths)
        joined = torch.cat([pooled, self.functionals_embedding(functionals)], dim=-1)
        return self.classifier(joined)
