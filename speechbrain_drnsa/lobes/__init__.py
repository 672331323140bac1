"""Lobes of the DRN-MHSA emotion classifier: encoder, LSTM pooling, dense classifier.

``DRNMHSAEmbedding`` joins the encoder and the pooling behind ECAPA-TDNN's interface,
for SpeechBrain's stock recipes.

Each takes keyword arguments with defaults, so a SpeechBrain yaml can build it
with ``!new:speechbrain_drnsa.lobes.DRNEncoder``.
"""

from speechbrain_drnsa.lobes.classifier import DNNClassifier
from speechbrain_drnsa.lobes.drn import DRNEncoder
from speechbrain_drnsa.lobes.embedding import DRNMHSAEmbedding
from speechbrain_drnsa.lobes.fusion import FunctionalsFusionClassifier
from speechbrain_drnsa.lobes.frame_encoders import ConvEncoder, DeltaFeatures, RecurrentEncoder
from speechbrain_drnsa.lobes.masked_pooling import AttentionPooling, MaskedStatisticsPooling
from speechbrain_drnsa.lobes.model import EmotionClassifier
from speechbrain_drnsa.lobes.pooling import LSTMPooling
from speechbrain_drnsa.lobes.ssl import SSLClassifier, WeightedLayerEncoder

__all__ = [
    "DNNClassifier",
    "DRNEncoder",
    "DRNMHSAEmbedding",
    "EmotionClassifier",
    "FunctionalsFusionClassifier",
    "LSTMPooling",
    # the Table 1 baselines' encoders and poolings
    "AttentionPooling",
    "ConvEncoder",
    "DeltaFeatures",
    "MaskedStatisticsPooling",
    "RecurrentEncoder",
    # self-supervised front ends
    "SSLClassifier",
    "WeightedLayerEncoder",
]
