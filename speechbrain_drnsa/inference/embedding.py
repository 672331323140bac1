"""Start a SpeechBrain recipe's ``embedding_model`` from a trained model folder.

A model folder (:func:`~speechbrain_drnsa.inference.export`) holds one
DRN-MHSA classifier per fold; its encoder and LSTM pooling are the
:class:`~speechbrain_drnsa.lobes.DRNMHSAEmbedding` lobe with trained weights.
:func:`load_embedding_model` reads the folder as every loader of the package
does (:func:`~speechbrain_drnsa.inference.folder.load_model_folder`: plain-data
config, safetensors weights, nothing run from the folder) and returns a
trainable lobe with one fold's weights, to fine-tune in any recipe. From a
recipe yaml::

    embedding_model: !apply:speechbrain_drnsa.inference.load_embedding_model
        source: path/to/model_folder
        fold: 1

SpeechBrain's ``Pretrainer`` is not used: it reads pickled ``.ckpt`` files,
which a model folder refuses to hold.

The encoder was trained on the folder's features (``config["features"]``, the
17 openSMILE LLDs by default) standardised by that fold's normaliser
(``load_model_folder(source).normalizers``); feed it the same.
"""

from os import PathLike

from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference.folder import CONFIG_NAME, load_model_folder
from speechbrain_drnsa.lobes import DRNEncoder, DRNMHSAEmbedding, LSTMPooling

__all__ = ["load_embedding_model"]

# LSTMPooling arguments the lobe builds with their defaults
_POOLING_DEFAULTS = {"num_layers": 1, "bidirectional": False}


def load_embedding_model(source: str | PathLike, fold: int | None = None) -> DRNMHSAEmbedding:
    """A ``DRNMHSAEmbedding`` holding one fold's trained encoder and pooling.

    Arguments
    ---------
    source : str or PathLike
        A model folder written by :func:`~speechbrain_drnsa.inference.export`.
    fold : int, optional
        Which fold's weights (``config["folds"]`` lists them); may be left out
        when the folder holds one fold.

    Returns
    -------
    DRNMHSAEmbedding
        In training mode, with the fold's weights; its embedding is the
        model's LSTM-pooled vector (``EmotionRecognizer.encode_batch``).

    Raises
    ------
    InputFileError
        For a folder ``load_model_folder`` refuses, a fold it does not hold
        (or none given when it holds several), or a model without a
        ``DRNEncoder`` and a forward ``LSTMPooling``.

    Example
    -------
    >>> import tempfile
    >>> load_embedding_model(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_drnsa.errors.InputFileError: .../hyperparams.yaml: missing from the model folder
    """
    loaded = load_model_folder(source)
    config_path = loaded.path / CONFIG_NAME
    folds = list(loaded.config["folds"])
    if fold is None and len(folds) == 1:
        fold = folds[0]
    if fold not in folds:
        raise InputFileError(
            config_path, f"pick one of the folds {folds} (fold={fold!r} given)"
        )
    model = loaded.models[folds.index(fold)]
    encoder, pooling = getattr(model, "encoder", None), getattr(model, "pooling", None)
    if not isinstance(encoder, DRNEncoder) or not isinstance(pooling, LSTMPooling):
        raise InputFileError(
            config_path,
            f"its model ({type(model).__name__}) is not a DRNEncoder with LSTMPooling: "
            "no DRNMHSAEmbedding to load",
        )
    model_args = loaded.config["model"].get("args") or {}
    encoder_args = dict(model_args["encoder"].get("args") or {})
    pooling_args = dict(model_args["pooling"].get("args") or {})
    other = {k: v for k, v in pooling_args.items()
             if k in _POOLING_DEFAULTS and v != _POOLING_DEFAULTS[k]}
    if other:
        raise InputFileError(
            config_path, f"its LSTMPooling has {other}; DRNMHSAEmbedding pools with one "
            "forward layer"
        )
    lobe = DRNMHSAEmbedding(**encoder_args, lstm_hidden=pooling.lstm.hidden_size)
    lobe.encoder.load_state_dict(encoder.state_dict())
    lobe.pooling.load_state_dict(pooling.state_dict())
    return lobe
