"""Masked multi-head self-attention over padded ``(batch, time, channels)`` sequences.

The self-attention of Vaswani et al. (NeurIPS 2017), as used by Li et al.
(ICASSP 2019) inside the residual blocks of their dilated residual network:
every frame attends to the valid frames of its own utterance. Padded keys are
masked, so a padded frame gets zero weight, and outputs on padded frames are
zeroed, so an utterance gives the same result alone and inside a padded batch.
The layer is torch's ``nn.MultiheadAttention`` (its parameters, its checkpoint
keys, and its computation while training). In eval mode the products are
``F.scaled_dot_product_attention`` instead of the module's inference fast path,
which is slower on CPU for these shapes (long sequences, 16 to 128 channels per
head). Asking for the weights, setting ``explicit_weights`` (or
:func:`explicit_attention` over a whole model) runs the same attention as
explicit matrix products instead, keeping each head's weights in
``last_weights``: it is what explanations draw and what traces into an ONNX
graph with dynamic batch and time (the fused kernel does not).
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from speechbrain_drnsa.nnet.lengths import check_relative_lengths, frame_mask

__all__ = ["MultiHeadSelfAttention", "explicit_attention"]


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
        #: Compute with explicit matrix products and keep ``last_weights`` (slower).
        self.explicit_weights = False
        #: ``(batch, nhead, time, time)`` weights of the last explicit forward, else None.
        self.last_weights: torch.Tensor | None = None

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
        valid = None
        if lengths is not None:
            valid = frame_mask(check_relative_lengths(lengths, x.shape[0]), x.shape[1])
            # Without padding there is no mask to apply and nothing to zero.
            valid = None if bool(valid.all()) else valid
        if self.explicit_weights or need_weights:
            output, per_head = self._explicit(x, valid)
            if self.explicit_weights:
                self.last_weights = per_head.detach()
            weights = per_head.mean(dim=1) if average_attn_weights else per_head
        elif self.training:
            # torch's own module, as every run so far was trained with: same numbers
            padding_mask = None if valid is None else ~valid
            output, weights = self.attention(x, x, x, key_padding_mask=padding_mask,
                                             need_weights=False)
        else:
            output, weights = self._fused(x, valid), None
        if valid is not None:
            output = output * valid.unsqueeze(-1).to(output.dtype)
        return output, weights if need_weights else None

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values ``(batch, nhead, time, head_dim)`` of ``x``."""
        mha = self.attention
        projected = nn.functional.linear(x, mha.in_proj_weight, mha.in_proj_bias)
        # Only unflatten and transpose: no batch or time constant in a traced graph.
        return tuple(t.unflatten(-1, (mha.num_heads, -1)).transpose(1, 2)
                     for t in projected.chunk(3, dim=-1))

    def _fused(self, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """The eval-mode output by ``F.scaled_dot_product_attention``; invalid keys masked."""
        query, key, value = self._heads(x)
        mask = None if valid is None else valid[:, None, None, :]
        context = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        return self.attention.out_proj(context.transpose(1, 2).flatten(2))

    def _explicit(
        self, x: torch.Tensor, valid: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``nn.MultiheadAttention``'s computation, written out: output and per-head weights."""
        mha = self.attention
        query, key, value = self._heads(x)
        scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
        if valid is not None:
            scores = scores.masked_fill(~valid[:, None, None, :], float("-inf"))
        weights = nn.functional.dropout(scores.softmax(dim=-1), mha.dropout, self.training)
        context = (weights @ value).transpose(1, 2).flatten(2)
        return mha.out_proj(context), weights


@contextmanager
def explicit_attention(module: nn.Module) -> Iterator[list[MultiHeadSelfAttention]]:
    """Run every :class:`MultiHeadSelfAttention` of ``module`` explicitly for a while.

    Arguments
    ---------
    module : nn.Module
        A model holding attention layers.

    Yields
    ------
    list of MultiHeadSelfAttention
        Its attention layers in module order; each keeps ``last_weights``
        after a forward. The setting and weights are restored on exit.

    Example
    -------
    >>> model = nn.Sequential(MultiHeadSelfAttention(8, nhead=2))
    >>> with explicit_attention(model) as layers:
    ...     _ = model(torch.randn(1, 5, 8))
    ...     layers[0].last_weights.shape
    torch.Size([1, 2, 5, 5])
    >>> layers[0].explicit_weights, layers[0].last_weights
    (False, None)
    """
    layers = [m for m in module.modules() if isinstance(m, MultiHeadSelfAttention)]
    before = [layer.explicit_weights for layer in layers]
    try:
        for layer in layers:
            layer.explicit_weights = True
        yield layers
    finally:
        for layer, setting in zip(layers, before):
            layer.explicit_weights, layer.last_weights = setting, None
