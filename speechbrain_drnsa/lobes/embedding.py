"""DRN-MHSA as an utterance embedding with ECAPA-TDNN's interface: a drop-in ``embedding_model``.

SpeechBrain's stock classification recipes (IEMOCAP emotion, VoxCeleb
speaker, CommonLanguage language identification) call
``embeddings = self.modules.embedding_model(feats, lens)`` and then
``self.modules.classifier(embeddings)``, and their losses, error metrics and
prediction writers expect ``(batch, 1, n)`` tensors, as
``speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN`` gives. :class:`DRNMHSAEmbedding`
is the encoder of Li et al. (ICASSP 2019) followed by its LSTM pooling behind
that interface: features and relative lengths in, one ``(1, embedding_size)``
vector per utterance out. The pooling receives the encoder's own output
lengths, so every utterance is pooled at its own last valid encoder frame.

The classifier to go with it is SpeechBrain's own cosine
``speechbrain.lobes.models.ECAPA_TDNN.Classifier`` (``input_size`` =
``embedding_size``) for the recipes' additive angular margin loss, or
:class:`~speechbrain_drnsa.lobes.DNNClassifier` for a cross-entropy recipe
(both map ``(batch, 1, n)`` to ``(batch, 1, classes)``).
"""

from collections.abc import Sequence

import torch
from torch import nn

from speechbrain_drnsa.lobes.drn import DRNEncoder
from speechbrain_drnsa.lobes.pooling import LSTMPooling

__all__ = ["DRNMHSAEmbedding"]


class DRNMHSAEmbedding(nn.Module):
    """DRN-MHSA encoder and LSTM pooling: ``(batch, time, input_size)`` to ``(batch, 1, emb)``.

    The defaults are the paper's proposed model (S4): channels
    ``[64, 128, 256, 384, 512]``, blocks ``[1, 1, 1, 2, 2]``, dilated groups
    4-5, 4-head self-attention in every block, LSTM pooling of 256 units. Every
    argument but ``lstm_hidden`` is :class:`~speechbrain_drnsa.lobes.DRNEncoder`'s.

    Arguments
    ---------
    input_size : int
        Features per frame: 17 for the paper's LLDs, ``n_mels`` for SpeechBrain's Fbank.
    channels : Sequence[int]
        Output channels of each of the encoder's 5 groups.
    blocks : Sequence[int]
        Blocks in each of the 5 groups.
    kernel_size : int
        Odd kernel size of every convolution.
    residual : bool
        Shortcuts around each block.
    dilation : bool
        Dilated groups 4 and 5 instead of strided ones (output frames every 4 input frames).
    attention_heads : int
        Self-attention heads in every block (0: none); must divide every entry of ``channels``.
    dropout : float
        Dropout inside the blocks and on attention weights.
    lstm_hidden : int
        Units of the pooling LSTM: the embedding size.

    Example
    -------
    >>> embedding_model = DRNMHSAEmbedding(
    ...     input_size=80, channels=[8, 8, 16, 16, 16], blocks=[1, 1, 1, 1, 1], lstm_hidden=12
    ... )
    >>> embedding_model(torch.randn(2, 100, 80), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 1, 12])
    >>> embedding_model.embedding_size
    12

    SpeechBrain's cosine classifier takes the embeddings as they are:

    >>> from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    >>> classifier = Classifier(input_size=12, out_neurons=4)
    >>> classifier(embedding_model(torch.randn(2, 100, 80))).shape
    torch.Size([2, 1, 4])
    """

    def __init__(
        self,
        input_size: int = 17,
        channels: Sequence[int] = (64, 128, 256, 384, 512),
        blocks: Sequence[int] = (1, 1, 1, 2, 2),
        kernel_size: int = 3,
        residual: bool = True,
        dilation: bool = True,
        attention_heads: int = 4,
        dropout: float = 0.0,
        lstm_hidden: int = 256,
    ):
        super().__init__()
        # the submodules' names match EmotionClassifier's, so its weights load as they are
        self.encoder = DRNEncoder(
            input_size=input_size,
            channels=channels,
            blocks=blocks,
            kernel_size=kernel_size,
            residual=residual,
            dilation=dilation,
            attention_heads=attention_heads,
            dropout=dropout,
        )
        self.pooling = LSTMPooling(input_size=self.encoder.out_channels, hidden_size=lstm_hidden)
        self.embedding_size = self.pooling.output_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Embed a padded batch of utterances.

        Arguments
        ---------
        x : torch.Tensor
            Features ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.

        Returns
        -------
        torch.Tensor
            ``(batch, 1, embedding_size)``: the pooling LSTM's state at each
            utterance's last valid encoder frame.
        """
        frames, frame_lengths = self.encoder(x, lengths)
        return self.pooling(frames, frame_lengths).unsqueeze(1)
