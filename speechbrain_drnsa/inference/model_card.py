"""The README.md model card of an exported model folder, with the hub's metadata block.

The card says what a user must know before trusting a prediction: the corpus
and protocol, the scores over the folds (mean ± std from the run's
``summary.json``), what the model expects (16 kHz speech, per-speaker
statistics or not), its limits and the corpus licence caveat.
"""

import io
from collections.abc import Mapping, Sequence
from typing import Any

import ruamel.yaml

__all__ = ["model_card"]

_CORPUS_IDS = {"IEMOCAP": "iemocap", "EmoDB": "emodb"}


def model_card(
    config: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    corpus: str,
    protocol: str,
    license: str = "other",
) -> str:
    """Write the model card text.

    Arguments
    ---------
    config : mapping
        The folder's ``hyperparams.yaml`` content.
    summary : mapping, optional
        The experiment's ``summary.json`` (None: scores unknown, e.g. a single
        checkpoint exported on its own).
    corpus : str
        The training corpus, e.g. ``"IEMOCAP"``.
    protocol : str
        The fold protocol, e.g. ``"speaker10"``.
    license : str
        Hub licence identifier of the weights.

    Returns
    -------
    str
        Markdown with a yaml front matter block.

    Example
    -------
    >>> config = {"labels": ["neu", "ang"], "folds": [0, 1], "speaker_normalization": False,
    ...           "features": {"sample_rate": 16000}, "inference_window": {"length_s": 10.0}}
    >>> summary = {"mean": {"UA": 0.6, "WA": 0.62, "F1": 0.59},
    ...            "std": {"UA": 0.01, "WA": 0.02, "F1": 0.03}}
    >>> card = model_card(config, summary, "IEMOCAP", "speaker10")
    >>> card.splitlines()[1], "| UA | 60.0 ± 1.0 |" in card
    ('library_name: speechbrain-drnsa', True)
    """
    front = {
        "library_name": "speechbrain-drnsa",
        "license": license,
        "pipeline_tag": "audio-classification",
        "tags": ["audio-classification", "speech-emotion-recognition", "drn-mhsa", "speechbrain"],
        "datasets": [_CORPUS_IDS.get(corpus, corpus.lower())],
        "metrics": ["unweighted_accuracy", "accuracy", "f1"],
    }
    stream = io.StringIO()
    dumper = ruamel.yaml.YAML(typ="safe", pure=True)
    dumper.sort_base_mapping_type_on_output = False  # library_name first, as the hub shows it
    dumper.dump(front, stream)
    folds = list(config["folds"])
    per_speaker = config["speaker_normalization"]
    lines = [
        "---", stream.getvalue().rstrip(), "---", "",
        f"# DRN-MHSA speech emotion recognition ({corpus})", "",
        "Dilated residual network with multi-head self-attention (Li et al., ICASSP 2019) "
        "over 17 openSMILE low-level descriptors per 10 ms frame, trained with "
        "speechbrain-drnsa. "
        f"Classes: {', '.join(config['labels'])}.", "",
        "## Training and evaluation", "",
        f"- Corpus: {corpus}; protocol: {protocol} (speaker-independent folds).",
        f"- Folds in this folder: {len(folds)} ({', '.join(map(str, folds))})"
        + ("; they are used as an ensemble (mean of their probabilities), each model "
           "having been tested on speakers it never saw." if len(folds) > 1 else "."),
        "",
        *_score_table(summary), "",
        "## Use", "",
        "```python",
        "from speechbrain_drnsa.inference import EmotionRecognizer",
        'recognizer = EmotionRecognizer.from_hparams(source="THIS_FOLDER_OR_HUB_ID")',
        'out_prob, score, index, text_lab = recognizer.classify_file("speech.wav")',
        "```", "",
        "or `speechbrain-drnsa classify speech.wav --model THIS_FOLDER_OR_HUB_ID`. Loading "
        "runs no code from the folder: weights come from `model.safetensors`, the "
        "architecture from plain data in `hyperparams.yaml`.", "",
        "## Expected input", "",
        f"- Mono speech; any rate is resampled to {config['features']['sample_rate']} Hz.",
        f"- Files longer than {config['inference_window']['length_s']:g} s are classified "
        "in overlapping windows, and the windows' probabilities averaged.",
        "- Speaker normalisation: " + (
            "**per speaker**. The model was trained on LLDs standardised with each "
            "speaker's own statistics: enrol the speaker (`recognizer.enrol(speaker, files)`) "
            "or each file is standardised with its own statistics."
            if per_speaker else "none; the training folds' statistics are built in."
        ), "",
        "## Intended use and limits", "",
        "- Research on acted or elicited emotional speech; not for decisions about "
        "people (hiring, health, policing), and not a lie or mood detector.",
        "- Trained on one corpus of a few speakers in one language and recording "
        "setting: expect lower scores on other languages, microphones, spontaneous "
        "speech, noise and children's voices.",
        "- Four broad categories cannot describe mixed or subtle emotions.", "",
        "## Licence", "",
        f"The code is Apache-2.0. The weights were learnt from {corpus}, whose licence "
        "may restrict use (IEMOCAP: research only, under its release agreement; EmoDB: "
        "see its terms); check that your use is allowed by the corpus licence before "
        "using or sharing this model.",
    ]
    return "\n".join(lines) + "\n"


def _score_table(summary: Mapping[str, Any] | None) -> Sequence[str]:
    if summary is None:
        return ["Scores: not available (exported from a single checkpoint)."]
    rows = [
        f"| {name} | {100 * summary['mean'][name]:.1f} ± {100 * summary['std'][name]:.1f} |"
        for name in ("UA", "WA", "F1")
    ]
    n_folds = len(summary.get("folds", [])) or "all"
    return [
        f"Test scores over {n_folds} folds (%, mean ± std; UA: unweighted accuracy, the "
        "mean per-class recall; WA: weighted accuracy; F1: macro F1):", "",
        "| score | value |", "|---|---|", *rows,
    ]
