"""Masked multi-head self-attention over padded ``(batch, time, channels)`` sequences.

The self-attention of Vaswani et al. (NeurIPS 2017), as used by Li et al.
(ICASSP 2019) inside the residual blocks of their dilated residual network:
every frame attends to the valid frames of its own utterance. Padded keys are
masked, so a padded frame gets zero weight, and outputs on padded frames are
zeroed, so an utterance gives the same result alone and inside a padded batch.
The computation is torch's ``nn.MultiheadAttention``.
"""

import torch
from torch import nn

from speechbrain_drnsa.nnet.lengths import check_relative_lengths, frame_mask

__all__ = ["MultiHeadSelfAttention"]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention that ignores the padded frames of a batch.

    Arguments
    ---------
    input_size : int
        Channels of the input and output; must be divisible by ``nhead``.
    nhead : int
        Number of attention heads (1 is single-head attention).
    dropout : float
        Dropout on the attention weights during training.

    Example
    -------
    >>> attention = MultiHeadSelfAttention(input_size=8, nhead=2)
    >>> x = torch.randn(2, 5, 8)
    >>> out, weights = attention(x, torch.tensor([1.0, 0.6]), need_weights=True)
    >>> out.shape, weights.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 5, 5]))
    >>> # Utterance 2 has 3 valid frames: its weights sum to 1 over them, 0 on padding.
    >>> torch.allclose(weights[1].sum(dim=-1), torch.ones(5)), bool((weights[1, :, 3:] == 0).all())
    (True, True)
    """

    def __init__(self, input_size: int, nhead: int = 4, dropout: float = 0.0):
        super().__init__()
        if nhead < 1 or input_size % nhead:
            raise ValueError(
                f"input_size must be divisible by a positive nhead; "
                f"got input_size={input_size}, nhead={nhead}"
            )
        self.attention = nn.MultiheadAttention(
            input_size, nhead, dropout=dropout, batch_first=True
        )

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        need_weights: bool = False,
        average_attn_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from every frame to the valid frames of its utterance.

        Arguments
        ---------
        x : torch.Tensor
            Input ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.
        need_weights : bool
            Also return the attention weights (slower: they are materialised).
        average_attn_weights : bool
            Average the weights over heads, ``(batch, time, time)``, or keep them
            per head, ``(batch, nhead, time, time)``.

        Returns
        -------
        output : torch.Tensor
            ``(batch, time, input_size)``, zero on padded frames.
        weights : torch.Tensor or None
            Attention weights, queries by keys: each row sums to 1 over the valid
            keys and is 0 on padded keys. None unless ``need_weights``.
        """
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        valid = frame_mask(lengths, x.shape[1])
        # Without padding, no mask lets torch pick its fastest kernel.
        padding_mask = None if bool(valid.all()) else ~valid
        output, weights = self.attention(
            x,
            x,
            x,
            key_padding_mask=padding_mask,
            need_weights=need_weights,
            average_attn_weights=average_attn_weights,
        )
        return output * valid.unsqueeze(-1).to(output.dtype), weights
