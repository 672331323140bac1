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

__all__ = ["corpora_section", "model_card"]

_CORPUS_IDS = {"IEMOCAP": "iemocap", "EmoDB": "emodb"}


def model_card(
    config: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    corpus: str,
    protocol: str,
    license: str = "other",
    corpora: Mapping[str, Any] | None = None,
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
    corpora : mapping, optional
        For a training on several corpora or with a label map: ``record`` (the
        run's ``corpora.json``), ``in_corpus`` and ``cross_corpus`` (UA per corpus)
        and ``cross_protocol``; see :func:`corpora_section`.

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
        *(corpora_section(corpora) if corpora else []),
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


def corpora_section(corpora: Mapping[str, Any]) -> list[str]:
    """The card's lines on the corpora: sizes, label map, in- and cross-corpus UA per corpus.

    Arguments
    ---------
    corpora : mapping
        ``record``: ``{"corpora": {name: {"role", "utterances", "speakers",
        "emotions", "dropped"}}, "label_map": {...}}`` (a prepared folder's
        ``corpora.json``) or None; ``in_corpus`` and ``cross_corpus``: UA per
        corpus; ``cross_protocol``: the protocol of the cross-corpus figures.

    Returns
    -------
    list of str
        Markdown lines, a blank line last.

    Example
    -------
    >>> record = {"label_map": {"anger": "angry", "sad": "sad"}, "corpora": {
    ...     "x": {"role": "train", "utterances": 6, "speakers": 2,
    ...           "emotions": {"angry": 3, "sad": 3}, "dropped": {"fear": 2}}}}
    >>> lines = corpora_section({"record": record, "in_corpus": {"x": 0.61},
    ...                          "cross_corpus": {"x": 0.42},
    ...                          "cross_protocol": "leave_one_corpus_out"})
    >>> print("\\n".join(lines[:9]))
    ## Corpora
    <BLANKLINE>
    Label map: anger -> angry, sad -> sad; rows of other emotions were dropped.
    <BLANKLINE>
    | corpus | role | utterances | speakers | emotions | dropped by the label map |
    |---|---|---|---|---|---|
    | x | train | 6 | 2 | angry 3, sad 3 | fear 2 |
    <BLANKLINE>
    UA per corpus (%). In-corpus: the corpus's test speakers, unseen in training ...
    >>> lines[-2]
    '| x | 61.0 | 42.0 |'
    """
    record = corpora.get("record") or {}
    lines = ["## Corpora", ""]
    label_map = record.get("label_map") or {}
    if label_map:
        renames = ", ".join(f"{source} -> {target}" for source, target in label_map.items()
                            if target is not None)
        lines += [f"Label map: {renames}; rows of other emotions were dropped.", ""]
    if record.get("corpora"):
        lines += ["| corpus | role | utterances | speakers | emotions | dropped by the label map |",
                  "|---|---|---|---|---|---|"]
        for name, info in record["corpora"].items():
            emotions = ", ".join(f"{emo} {n}" for emo, n in info["emotions"].items())
            dropped = ", ".join(f"{emo} {n}" for emo, n in info["dropped"].items()) or "none"
            lines.append(f"| {name} | {info['role']} | {info['utterances']} | "
                         f"{info['speakers']} | {emotions} | {dropped} |")
        lines.append("")
    in_corpus, cross = corpora.get("in_corpus") or {}, corpora.get("cross_corpus") or {}
    if in_corpus or cross:
        lines += [
            "UA per corpus (%). In-corpus: the corpus's test speakers, unseen in training "
            "(mean over the folds that test them). Cross-corpus: the whole corpus, none of "
            "its speakers or recordings seen, by models of the same recipe trained on the "
            f"other corpora (protocol {corpora.get('cross_protocol', 'cross-corpus')}).", "",
            "| corpus | in-corpus UA | cross-corpus UA |", "|---|---|---|",
        ]
        for name in sorted(set(in_corpus) | set(cross)):
            cells = [f"{100 * table[name]:.1f}" if name in table else "-"
                     for table in (in_corpus, cross)]
            lines.append(f"| {name} | {' | '.join(cells)} |")
        lines.append("")
    return lines
