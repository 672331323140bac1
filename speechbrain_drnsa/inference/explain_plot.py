"""The explanation figure: waveform, LLDs, attention and window labels on one time axis.

Drawn with matplotlib's object API on an Agg canvas (no display, no global
backend switch) and written atomically.
"""

import io
from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from speechbrain_drnsa.inference.explain import Explanation
from speechbrain_drnsa.io import write_bytes_atomic

__all__ = ["draw"]

_ENVELOPE_POINTS = 4000  # an hour of samples is drawn as a min/max envelope
_MAX_LLD_LABELS = 25  # more row labels than this overlap at the figure's size


def draw(explanation: Explanation, out: str | PathLike) -> Path:
    """Draw ``explanation`` into ``out`` (format from its suffix).

    Arguments
    ---------
    explanation : Explanation
        From :func:`~speechbrain_drnsa.inference.explain.explain_file`.
    out : str or PathLike
        The image file.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    windows = explanation.windows
    heads = windows[0].head_attention is not None and len(windows) == 1
    rows = ["wave", "llds", "attention", *(["heads"] if heads else []),
            *(["windows"] if len(windows) > 1 else [])]
    ratios = {"wave": 1, "llds": 2, "attention": 3, "heads": 2, "windows": 0.6}
    figure = Figure(figsize=(10, 2.2 * sum(ratios[r] for r in rows) / 1.5), layout="constrained")
    grid = figure.add_gridspec(len(rows), 1, height_ratios=[ratios[r] for r in rows])
    axes = {}
    for index, row in enumerate(rows):
        if row != "heads":
            axes[row] = figure.add_subplot(grid[index], sharex=axes.get("wave"))
    duration = explanation.waveform.size / explanation.sample_rate
    _waveform(axes["wave"], explanation, duration)
    _llds(axes["llds"], explanation)
    if len(windows) == 1:
        _attention_map(axes["attention"], windows[0].attention, windows[0])
    else:
        _attention_received(axes["attention"], windows)
    if heads:
        head_grid = grid[rows.index("heads")].subgridspec(1, len(windows[0].head_attention))
        for head, weights in enumerate(windows[0].head_attention):
            axis = figure.add_subplot(head_grid[head])
            _attention_map(axis, weights, windows[0], title=f"head {head + 1}", small=True)
    if len(windows) > 1:
        _window_labels(axes["windows"], windows, explanation.labels)
    axes[rows[-1] if rows[-1] != "heads" else "attention"].set_xlabel("time (s)")
    axes["wave"].set_xlim(0, duration)
    stream = io.BytesIO()
    FigureCanvasAgg(figure).print_figure(stream, format=out.suffix.lstrip(".") or "png", dpi=90)
    return write_bytes_atomic(stream.getvalue(), out)


def _waveform(axis, explanation: Explanation, duration: float) -> None:
    samples = explanation.waveform
    chunks = np.array_split(samples, min(_ENVELOPE_POINTS, samples.size))
    times = np.linspace(0, duration, len(chunks))
    axis.fill_between(times, [c.min() for c in chunks], [c.max() for c in chunks], lw=0.5)
    probabilities = "  ".join(
        f"{label} {p:.2f}" for label, p in zip(explanation.labels, explanation.probabilities)
    )
    axis.set_title(
        f"{Path(explanation.path).name}: {explanation.label}  ({probabilities})", fontsize=10
    )
    axis.set_ylabel("waveform")


def _llds(axis, explanation: Explanation) -> None:
    llds = explanation.llds
    # each descriptor standardised over the file: 17 very different scales on one colour map
    z = (llds - llds.mean(axis=0)) / (llds.std(axis=0) + 1e-8)
    end = llds.shape[0] * explanation.lld_hop_s
    axis.imshow(z.T, aspect="auto", origin="lower", extent=(0, end, -0.5, llds.shape[1] - 0.5),
                cmap="viridis", vmin=-3, vmax=3, interpolation="nearest")
    names = explanation.feature_names
    step = -(-len(names) // _MAX_LLD_LABELS)  # richer frame sets: label every step-th row
    axis.set_yticks(range(0, len(names), step), names[::step], fontsize=6)
    axis.set_ylabel("LLDs (z-scored)")


def _attention_map(axis, weights: np.ndarray, window, title: str = "", small: bool = False):
    start, end = window.start_s, window.start_s + weights.shape[0] * window.frame_s
    axis.imshow(weights, aspect="auto", origin="lower", extent=(start, end, start, end),
                cmap="magma", interpolation="nearest")
    axis.set_ylabel("query (s)" if not small else "")
    axis.set_title(title or "last self-attention layer, mean over heads (key time on x)",
                   fontsize=8 if small else 9)
    if small:
        axis.tick_params(labelsize=6)


def _attention_received(axis, windows) -> None:
    for window in windows:
        received = window.attention.mean(axis=0)  # mean over queries: sums to 1 per window
        times = window.start_s + (np.arange(received.size) + 0.5) * window.frame_s
        axis.plot(times, received, lw=0.8)
    axis.set_ylabel("attention received")
    axis.set_title("last self-attention layer: mean weight each frame receives, per window",
                   fontsize=9)


def _window_labels(axis, windows, labels) -> None:
    colours = [f"C{labels.index(w.label) % 10}" for w in windows]
    for row, (window, colour) in enumerate(zip(windows, colours)):
        level = row % 2  # overlapping windows on alternate rows
        axis.broken_barh([(window.start_s, window.end_s - window.start_s)], (level, 0.9),
                         color=colour, alpha=0.7)
        axis.text((window.start_s + window.end_s) / 2, level + 0.45, window.label,
                  ha="center", va="center", fontsize=7)
    axis.set_yticks([])
    axis.set_ylabel("windows")
