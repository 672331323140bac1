"""Dense classifier: stacked fully connected layers from an utterance vector to class logits.

The output stage of Li et al. (ICASSP 2019): the pooled utterance vector goes
through ReLU dense layers to one logit per emotion class.
"""

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DNNClassifier"]


class DNNClassifier(nn.Module):
    """Stacked ReLU dense layers followed by a linear layer to class logits.

    Arguments
    ---------
    input_size : int
        Size of the input vector.
    lin_neurons : Sequence[int]
        Sizes of the hidden dense layers (empty: a single linear layer).
    out_neurons : int
        Number of classes.
    dropout : float
        Dropout after every hidden layer.

    Example
    -------
    >>> classifier = DNNClassifier(input_size=8, lin_neurons=[16], out_neurons=4)
    >>> classifier(torch.randn(3, 8)).shape
    torch.Size([3, 4])

    Any leading dimensions pass through, so it also takes a ``DRNMHSAEmbedding``'s
    ``(batch, 1, n)`` embeddings, as SpeechBrain's recipes pass them:

    >>> classifier(torch.randn(3, 1, 8)).shape
    torch.Size([3, 1, 4])
    """

    def __init__(
        self,
        input_size: int,
        lin_neurons: Sequence[int] = (512,),
        out_neurons: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        for size in lin_neurons:
            layers += [nn.Linear(input_size, size), nn.ReLU(), nn.Dropout(dropout)]
            input_size = size
        layers.append(nn.Linear(input_size, out_neurons))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map utterance vectors to logits.

        Arguments
        ---------
        x : torch.Tensor
            ``(batch, input_size)``, or ``(..., input_size)`` (e.g. ``(batch, 1, input_size)``).

        Returns
        -------
        torch.Tensor
            Logits ``(batch, out_neurons)`` (``(..., out_neurons)``).
        """
        return self.layers(x)
