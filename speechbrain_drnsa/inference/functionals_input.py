"""The second input of a fusion model: utterance functionals, standardised as in training.

A model folder whose config names ``functionals`` (trained with
:class:`~speechbrain_drnsa.lobes.FunctionalsFusionClassifier`) takes each
utterance's openSMILE functionals beside its LLD frames. They are extracted
from the same signal, standardised with the speaker's statistics when the
model was trained per speaker (one vector per utterance has no statistics of
its own, so such a model needs an enrolled speaker), then with each fold's
functionals normaliser.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.features.statistics import FeatureStatistics

__all__ = ["FunctionalsInput"]


class FunctionalsInput:
    """Extract and normalise the functionals a fusion model's folds take.

    Arguments
    ---------
    config : mapping
        The model folder's ``functionals`` entry (``feature_set``, ``size``).
    normalizers : sequence of torch.nn.Module
        Each fold's functionals normaliser.
    per_speaker : bool
        Whether the model was trained on speaker-standardised inputs.

    Example
    -------
    >>> from speechbrain_drnsa.features.normalize import FeatureNormalizer
    >>> norm = FeatureNormalizer(88).fit([torch.randn(4, 88)])
    >>> inputs = FunctionalsInput({"feature_set": "eGeMAPSv02", "size": 88}, [norm], False)
    >>> vector = inputs.extract(torch.randn(8000) * 0.1, 16000)
    >>> [x.shape for x in inputs.batch([vector, vector], speaker=None)]
    [torch.Size([2, 88])]
    """

    def __init__(
        self, config: Mapping[str, Any], normalizers: Sequence[nn.Module], per_speaker: bool
    ):
        self.extractor = OpenSmileFunctionals(config["feature_set"])
        self.size = int(config["size"])
        self.normalizers = list(normalizers)
        self.per_speaker = per_speaker
        self.speakers: dict[str, FeatureStatistics] = {}

    def extract(self, signal: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``(1, size)`` functionals of one signal."""
        return self.extractor.extract(signal, sample_rate)

    def enrol(self, speaker: str, vectors: Iterable[torch.Tensor]) -> None:
        """Keep a speaker's functionals statistics (several utterances' vectors)."""
        self.speakers[speaker] = FeatureStatistics.fit(
            (vector.cpu().numpy() for vector in vectors), self.size)

    def batch(self, vectors: Sequence[torch.Tensor], speaker: str | None) -> list[torch.Tensor]:
        """Each fold's normalised ``(batch, size)`` functionals of the utterances' vectors.

        Raises
        ------
        ValueError
            For a per-speaker model when the speaker is not enrolled.
        """
        x = torch.cat(list(vectors))
        if self.per_speaker:
            if speaker not in self.speakers:
                raise ValueError(
                    "this model standardises utterance functionals per speaker: enrol the "
                    "speaker first (EmotionRecognizer.enrol, or classify --speaker-dir)"
                )
            x = torch.from_numpy(self.speakers[speaker](x.cpu().numpy()))
        device = self.normalizers[0].mean.device
        return [norm(x.unsqueeze(1).to(device))[:, 0] for norm in self.normalizers]
