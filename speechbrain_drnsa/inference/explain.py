"""Why the model decided: a file's waveform, LLDs and the last self-attention over time.

Li et al. (ICASSP 2019) show the attention of DRN-MHSA over an utterance;
:func:`explain_file` returns the same for any file: the waveform, the 17 LLDs,
and the weights of the encoder's last self-attention layer (the last block of
the last group), averaged over heads (and kept per head on request), with the
predicted label and probabilities. An ensemble's weights are averaged over its
folds; each row still sums to 1 over the frames. A file longer than the
model's window is classified window by window, as
:meth:`~speechbrain_drnsa.inference.recognizer.EmotionRecognizer.classify_windows`
does, each window with its own attention and label. :func:`plot_explanation`
draws it all on one time axis.

The weights come from the attention layers' explicit mode
(:func:`~speechbrain_drnsa.nnet.attention.explicit_attention`), switched on
only while explaining, so classification keeps torch's fused kernel.
"""

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from speechbrain_drnsa.features.audio import read_audio
from speechbrain_drnsa.inference.inputs import check_window
from speechbrain_drnsa.inference.recognizer import EmotionRecognizer
from speechbrain_drnsa.inference.windows import read_windows
from speechbrain_drnsa.nnet.attention import explicit_attention

__all__ = ["Explanation", "WindowExplanation", "explain_file", "plot_explanation"]


@dataclass
class WindowExplanation:
    """One window: its bounds (seconds), label, probabilities and last-layer attention.

    ``attention`` is ``(frames, frames)`` (queries by keys, mean over heads and
    folds), ``head_attention`` ``(heads, frames, frames)`` or None; frame ``i``
    starts at ``start_s + i * frame_s``.
    """

    start_s: float
    end_s: float
    label: str
    probabilities: list[float]
    attention: np.ndarray
    head_attention: np.ndarray | None
    frame_s: float


@dataclass
class Explanation:
    """What :func:`explain_file` finds in a file; arrays are numpy.

    ``waveform`` ``(samples,)`` mono at ``sample_rate``; ``llds`` ``(frames,
    17)`` every ``lld_hop_s``; ``label`` and ``probabilities`` (in ``labels``
    order) are the file's (mean over windows); ``windows`` in file order.
    """

    path: str
    sample_rate: int
    waveform: np.ndarray
    llds: np.ndarray
    feature_names: tuple[str, ...]
    lld_hop_s: float
    labels: list[str]
    label: str
    probabilities: list[float]
    windows: list[WindowExplanation]


def explain_file(
    recognizer: EmotionRecognizer,
    path: str | PathLike,
    heads: bool = False,
    speaker: str | None = None,
    window_s: float | None = None,
) -> Explanation:
    """Classify a file and keep what the figure of the paper shows.

    Arguments
    ---------
    recognizer : EmotionRecognizer
        A torch-backend recognizer (the ONNX graph returns logits only).
    path : str or PathLike
        The audio file.
    heads : bool
        Also keep each head's weights.
    speaker : str, optional
        An enrolled speaker (per-speaker models).
    window_s : float, optional
        Window for long files (hop: half); default the model folder's.

    Returns
    -------
    Explanation
        Waveform, LLDs, label, probabilities and per-window attention.

    Usage (a runnable version is ``tests/test_inference_explain.py``)::

        explanation = explain_file(EmotionRecognizer.from_hparams("model"), "a.wav")
        explanation.windows[0].attention.shape      # (frames, frames), rows sum to 1
    """
    if not recognizer.models:
        raise ValueError("explain needs the torch backend (backend='torch')")
    window_s, hop_s = (  # as the classify command: a window given hops by half of it
        check_window(window_s) if window_s is not None else (recognizer.window_s, recognizer.hop_s)
    )
    recognizer._check_speaker(speaker)
    extractor = recognizer.extractor
    segments = [
        (s.start_s, s.end_s, extractor.extract_array(s.signal, s.sample_rate),
         recognizer._functionals_of([s.signal], s.sample_rate))
        for s in read_windows(path, window_s, hop_s)
    ]
    statistics = recognizer._file_statistics([f for _, _, f, _ in segments], speaker)
    frame_s = recognizer.total_stride * extractor.hop / extractor.sample_rate
    windows = [
        _explain_window(recognizer, (start, end), feats, vectors, speaker, statistics, heads,
                        frame_s)
        for start, end, feats, vectors in segments
    ]
    probabilities = np.mean([w.probabilities for w in windows], axis=0)
    signal, rate = read_audio(path)
    llds = segments[0][2] if len(segments) == 1 else extractor.extract_array(signal.numpy(), rate)
    return Explanation(
        str(path), rate, signal.numpy(), llds, extractor.feature_names,
        extractor.hop / extractor.sample_rate, recognizer.labels,
        recognizer.labels[int(probabilities.argmax())], probabilities.tolist(), windows,
    )


def _explain_window(
    recognizer: EmotionRecognizer,
    span_s: tuple[float, float],
    feats: np.ndarray,
    functionals: list[torch.Tensor] | None,
    speaker: str | None,
    statistics: object,
    heads: bool,
    frame_s: float,
) -> WindowExplanation:
    """One window through every fold, in explicit attention mode."""
    padded, lengths = recognizer._on_device(*recognizer._standardized([feats], speaker, statistics))
    inputs = recognizer._fold_inputs(padded, lengths, functionals, speaker)
    probs, weights = [], []
    with torch.no_grad():
        for model, model_inputs in zip(recognizer.models, inputs):
            with explicit_attention(model) as layers:
                if not layers:
                    raise ValueError("this model has no self-attention to explain")
                logits = model(*model_inputs)
                weights.append(layers[-1].last_weights[0].float().cpu())
            probs.append(logits.float().softmax(dim=-1)[0].cpu())
    per_head = torch.stack(weights).mean(dim=0).numpy()  # mean over folds
    probabilities = torch.stack(probs).mean(dim=0)
    return WindowExplanation(
        *span_s, recognizer.labels[int(probabilities.argmax())],
        probabilities.tolist(), per_head.mean(axis=0), per_head if heads else None, frame_s,
    )


def plot_explanation(explanation: Explanation, out: str | PathLike) -> Path:
    """Draw an explanation and write it as an image (PNG, PDF, SVG: from the suffix).

    Arguments
    ---------
    explanation : Explanation
        From :func:`explain_file` (heads drawn when it holds them).
    out : str or PathLike
        The image file.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from speechbrain_drnsa.inference.explain_plot import draw

    return draw(explanation, out)
