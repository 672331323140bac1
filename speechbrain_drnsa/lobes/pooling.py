"""LSTM pooling: an utterance summarised by an LSTM's state at its last valid frame.

Li et al. (ICASSP 2019) pool the encoder's frame sequence with an LSTM and keep
its final hidden state. With a padded batch, the final state must be taken at
each utterance's own last frame, not at the padded end: the sequence is packed
(``pack_padded_sequence``) so the LSTM stops where each utterance stops.
:meth:`LSTMPooling.forward_masked` gives the same states without packing, for
graphs that cannot hold a packed sequence (ONNX export).
"""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from speechbrain_drnsa.nnet.lengths import check_relative_lengths, relative_to_frames

__all__ = ["LSTMPooling"]


class LSTMPooling(nn.Module):
    """Run an LSTM over a padded sequence and return its hidden state at the last valid frame.

    Arguments
    ---------
    input_size : int
        Channels of the input frames.
    hidden_size : int
        Hidden units of the LSTM (per direction).
    num_layers : int
        Stacked LSTM layers; the last layer's state is returned.
    bidirectional : bool
        Also run backwards; the two final states are concatenated.
    dropout : float
        Dropout between stacked layers.

    Example
    -------
    >>> pooling = LSTMPooling(input_size=16, hidden_size=8)
    >>> pooling(torch.randn(2, 10, 16), torch.tensor([1.0, 0.3])).shape
    torch.Size([2, 8])
    >>> pooling.output_size
    8
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.directions

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pool a padded batch into one vector per utterance.

        Arguments
        ---------
        x : torch.Tensor
            Frames ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.

        Returns
        -------
        torch.Tensor
            ``(batch, hidden_size * directions)``: the last layer's final state,
            forward (and backward) concatenated.
        """
        if x.dim() != 3 or 0 in x.shape[:2] or x.shape[2] != self.lstm.input_size:
            raise ValueError(
                f"expected frames of shape (batch >= 1, time >= 1, {self.lstm.input_size}); "
                f"got shape {tuple(x.shape)}"
            )
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        frames = relative_to_frames(lengths, x.shape[1]).cpu()
        if bool((frames == x.shape[1]).all()):
            # No padding: the unpacked LSTM gives the same state, on a faster kernel.
            _, (hidden, _) = self.lstm(x)
        else:
            packed = pack_padded_sequence(x, frames, batch_first=True, enforce_sorted=False)
            _, (hidden, _) = self.lstm(packed)
        # hidden: (layers * directions, batch, hidden), restored to batch order.
        last = hidden[-self.directions :]
        return last.transpose(0, 1).reshape(x.shape[0], self.output_size)

    def forward_masked(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` without packing: run over the padding, read each last valid frame.

        A forward LSTM's output at frame ``t`` depends on frames up to ``t``
        only, so its output at an utterance's last valid frame is the state
        packing would stop at. Nothing here depends on the data's values
        through Python, so the computation traces into a graph (ONNX) with
        dynamic batch and time. The backward direction of a bidirectional LSTM
        would start in the padding: refused.

        Arguments
        ---------
        x : torch.Tensor
            Frames ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)`` in (0, 1]; None means no padding.

        Returns
        -------
        torch.Tensor
            ``(batch, hidden_size)``, as :meth:`forward`.

        Example
        -------
        >>> pooling = LSTMPooling(input_size=16, hidden_size=8).eval()
        >>> x, lengths = torch.randn(2, 10, 16), torch.tensor([1.0, 0.3])
        >>> torch.allclose(pooling.forward_masked(x, lengths), pooling(x, lengths), atol=1e-6)
        True
        """
        if self.directions != 1:
            raise ValueError(
                "forward_masked needs a forward-only LSTM: a bidirectional one's backward "
                "pass would start in the padding"
            )
        lengths = check_relative_lengths(lengths, x.shape[0], device=x.device)
        last = relative_to_frames(lengths, x.shape[1]) - 1
        outputs, _ = self.lstm(x)
        index = last.view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
        return outputs.gather(1, index).squeeze(1)
