"""Relative lengths of padded batches: checks, frame counts and masks.

SpeechBrain passes a padded batch ``(batch, time, channels)`` together with
``lengths``, each utterance's length relative to the padded time axis, in
(0, 1]. Layers turn them into frame counts only where they need them: masks,
``pack_padded_sequence``, and the lengths after a strided layer.
"""

import torch

__all__ = ["check_relative_lengths", "relative_to_frames", "frame_mask"]


def check_relative_lengths(
    lengths: torch.Tensor | None, batch_size: int, device: torch.device | None = None
) -> torch.Tensor:
    """Check relative lengths against a batch and return them (all ones when None).

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths ``(batch,)`` in (0, 1]; None means every utterance fills the batch.
    batch_size : int
        The number of utterances in the batch they belong to.
    device : torch.device, optional
        Where to put the all-ones lengths made for None.

    Returns
    -------
    torch.Tensor
        The lengths as a float tensor ``(batch,)``.

    Example
    -------
    >>> check_relative_lengths(torch.tensor([1.0, 0.5]), 2)
    tensor([1.0000, 0.5000])
    >>> check_relative_lengths(torch.tensor([1.0, 1.5]), 2)
    Traceback (most recent call last):
    ...
    ValueError: relative lengths must lie in (0, 1]; got values from 1 to 1.5
    """
    if lengths is None:
        return torch.ones(batch_size, device=device)
    if lengths.shape != (batch_size,):
        raise ValueError(
            f"relative lengths must have shape ({batch_size},), one per utterance; "
            f"got shape {tuple(lengths.shape)}"
        )
    lengths = lengths.float()
    low, high = float(lengths.min()), float(lengths.max())
    if not (low > 0.0 and high <= 1.0):
        raise ValueError(
            f"relative lengths must lie in (0, 1]; got values from {low:.4g} to {high:.4g}"
        )
    return lengths


def relative_to_frames(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Turn relative lengths into frame counts, at least one frame each.

    Arguments
    ---------
    lengths : torch.Tensor
        Relative lengths ``(batch,)`` in (0, 1].
    num_frames : int
        The padded length of the time axis.

    Returns
    -------
    torch.Tensor
        Frame counts ``(batch,)`` (int64) in [1, num_frames].

    Example
    -------
    >>> relative_to_frames(torch.tensor([1.0, 0.5, 0.01]), 10)
    tensor([10,  5,  1])
    """
    frames = torch.round(lengths.float() * num_frames).long()
    return frames.clamp(min=1, max=max(num_frames, 1))


def frame_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Boolean mask of the valid frames of a padded batch.

    Arguments
    ---------
    lengths : torch.Tensor
        Relative lengths ``(batch,)`` in (0, 1].
    num_frames : int
        The padded length of the time axis.

    Returns
    -------
    torch.Tensor
        ``(batch, num_frames)`` booleans, True on valid frames.

    Example
    -------
    >>> frame_mask(torch.tensor([1.0, 0.5]), 4)
    tensor([[ True,  True,  True,  True],
            [ True,  True, False, False]])
    """
    frames = relative_to_frames(lengths, num_frames)
    # Broadcasting, not SpeechBrain's length_to_mask, whose expand(len(lengths), ...) would
    # fix the batch size of a traced (ONNX) graph.
    return torch.arange(num_frames, device=lengths.device)[None, :] < frames[:, None]
