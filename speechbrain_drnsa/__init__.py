"""speechbrain-drnsa: the DRN-MHSA speech emotion recognition model of Li et al. (ICASSP 2019).

"Dilated Residual Network with Multi-head Self-attention for Speech Emotion
Recognition", brought to SpeechBrain (lobes, hparams, data pipelines) and
PyTorch Lightning (training on one or many devices, mixed precision).
The model yamls ship with the package: :func:`hparams_path` finds them.
"""

from speechbrain_drnsa.hparams import hparams_path

__all__ = ["hparams_path"]
__version__ = "0.1.0"
