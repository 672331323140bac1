"""Time and feature masking of the LLDs, SpecAugment-style (Park et al., Interspeech 2019).

Built from SpeechBrain's ``SpectrogramDrop``, which works on ``(batch, time,
channels)``: spans of frames and bands of LLDs are set to 0, the mean of the
normalised features. :class:`~speechbrain_drnsa.training.module.SERModule`
applies it to training batches only, after the feature normaliser.
"""

from speechbrain.augment.freq_domain import SpectrogramDrop
from torch import nn

__all__ = ["lld_masking"]


def lld_masking(
    time_masks: int = 0,
    time_mask_frames: int = 20,
    feature_masks: int = 0,
    feature_mask_width: int = 3,
) -> nn.Module | None:
    """Build the masking of normalised LLD batches, or None when it masks nothing.

    Arguments
    ---------
    time_masks : int
        Spans of frames masked in every utterance (0: none).
    time_mask_frames : int
        Spans last 1 to ``time_mask_frames - 1`` frames (10 ms each).
    feature_masks : int
        Bands of consecutive LLDs masked in every utterance (0: none).
    feature_mask_width : int
        Bands span 1 to ``feature_mask_width - 1`` of the LLDs.

    Returns
    -------
    torch.nn.Module or None
        Maps ``(batch, time, features)`` to the same shape; None when both
        counts are 0, so that no random numbers are drawn and training is
        exactly as without it.

    Example
    -------
    >>> import torch
    >>> lld_masking() is None
    True
    >>> mask = lld_masking(time_masks=2, feature_masks=1)
    >>> feats = torch.ones(4, 100, 17)
    >>> masked = mask(feats)
    >>> masked.shape, bool((masked == 0).any()), bool((masked == 1).any())
    (torch.Size([4, 100, 17]), True, True)
    """
    for name, value, least in [("time_masks", time_masks, 0), ("feature_masks", feature_masks, 0),
                               ("time_mask_frames", time_mask_frames, 2),
                               ("feature_mask_width", feature_mask_width, 2)]:
        if value < least:
            raise ValueError(f"{name} must be at least {least}, got {value}")
    steps = [
        SpectrogramDrop(
            drop_length_low=1, drop_length_high=width, drop_count_low=count,
            drop_count_high=count, dim=dim,
        )
        for count, width, dim in [(time_masks, time_mask_frames, 1),
                                  (feature_masks, feature_mask_width, 2)]
        if count > 0
    ]
    return nn.Sequential(*steps) if steps else None
