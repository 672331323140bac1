"""The README.md model card of an exported model folder, with the hub's metadata block.

The card says what a user must know before trusting a prediction: the corpus
and protocol, how many of the protocol's folds the folder holds, the test
scores of exactly these weights (mean ± std over the folds), what the model
expects (16 kHz speech, per-speaker statistics or not), its limits and the
corpus licence. Every fact comes from the run
(:func:`~speechbrain_drnsa.inference.run_facts.run_facts`); one the run does
not hold is left out, never defaulted. The front matter follows the hub's
model-card conventions: ``library_name``, ``license``, ``language``,
``pipeline_tag``, ``tags``, ``datasets``, ``metrics`` and a ``model-index``
whose results (task ``audio-classification``, the corpus, UA/WA/F1) the hub
reads as evaluation results.
"""

import io
from collections.abc import Mapping, Sequence
from typing import Any

import ruamel.yaml

__all__ = ["corpora_section", "model_card"]

# the card's scores: the run's name, the hub's metric id, its arguments, and the card's wording
_METRICS = (
    ("UA", "recall", {"average": "macro"}, "UA (unweighted accuracy, macro recall)"),
    ("WA", "accuracy", None, "WA (weighted accuracy)"),
    ("F1", "f1", {"average": "macro"}, "F1 (macro)"),
)


def model_card(config: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """Write the model card text.

    Arguments
    ---------
    config : mapping
        The folder's ``hyperparams.yaml`` content.
    facts : mapping
        What the run says (:func:`~speechbrain_drnsa.inference.run_facts.run_facts`):
        ``corpus`` (its ``name``, ``id``, ``language``, ``synthetic``,
        ``terms``, ``hub_dataset`` when known), ``protocol``, ``folds_total``,
        ``scores`` (or None, with ``scores_note`` saying why), ``license``,
        ``model_name`` and ``running``.
        For a training on several corpora or with a label map, also
        ``corpora``: ``record`` (the run's ``corpora.json``), ``in_corpus`` and
        ``cross_corpus`` (UA per corpus) and ``cross_protocol``; see
        :func:`corpora_section`.

    Returns
    -------
    str
        Markdown with a yaml front matter block.

    Example
    -------
    >>> config = {"labels": ["neu", "ang"], "folds": [0, 1], "speaker_normalization": False,
    ...           "features": {"sample_rate": 16000}, "inference_window": {"length_s": 10.0}}
    >>> scores = {"folds": [{"fold": 0}, {"fold": 1}], "mean": {"UA": 0.6, "WA": 0.62, "F1": 0.59},
    ...           "std": {"UA": 0.01, "WA": 0.02, "F1": 0.03}}
    >>> facts = {"corpus": {"id": "iemocap", "name": "IEMOCAP", "language": "en"},
    ...          "protocol": "speaker10", "folds_total": 10, "scores": scores,
    ...          "license": "other", "model_name": "drn_mhsa"}
    >>> card = model_card(config, facts)
    >>> card.splitlines()[1], "| UA | 60.0 ± 1.0 |" in card, "2 of the protocol's 10" in card
    ('library_name: speechbrain-drnsa', True, True)
    """
    corpus = facts["corpus"]
    scores = facts.get("scores")
    front: dict[str, Any] = {"library_name": "speechbrain-drnsa"}
    if facts.get("license"):
        front["license"] = facts["license"]
    if corpus.get("language"):
        front["language"] = [corpus["language"]]
    front["pipeline_tag"] = "audio-classification"
    front["tags"] = ["audio-classification", "speech-emotion-recognition", "drn-mhsa",
                     "speechbrain", *(["synthetic-data"] if corpus.get("synthetic") else [])]
    if corpus.get("hub_dataset"):
        front["datasets"] = [corpus["hub_dataset"]]
    if scores is not None:
        front["metrics"] = [metric for _, metric, _, _ in _METRICS]
    if scores is not None and corpus.get("id") and facts.get("model_name"):
        front["model-index"] = [_model_index(facts["model_name"], corpus, scores)]
    stream = io.StringIO()
    dumper = ruamel.yaml.YAML(typ="safe", pure=True)
    dumper.sort_base_mapping_type_on_output = False  # library_name first, as the hub shows it
    dumper.default_flow_style = False  # block style, as the hub writes its cards
    dumper.dump(front, stream)
    name = corpus.get("name", "corpus not recorded")
    labels = list(config["labels"])
    lines = [
        "---", stream.getvalue().rstrip(), "---", "",
        f"# DRN-MHSA speech emotion recognition, trained on {name}", "",
        "Dilated residual network with multi-head self-attention (Li et al., ICASSP 2019) "
        f"over {_frames_text(config['features'])}, trained with "
        f"speechbrain-drnsa. Classes: {', '.join(labels)}.", "",
        "## Training and evaluation", "",
        *_corpus_lines(corpus, facts.get("protocol")),
        _folds_line(list(config["folds"]), facts.get("folds_total"), facts.get("running")), "",
        *_score_table(scores, facts.get("scores_note")), "",
        *(corpora_section(facts["corpora"]) if facts.get("corpora") else []),
        "## Use", "",
        "```python",
        "from speechbrain_drnsa.inference import EmotionRecognizer",
        'recognizer = EmotionRecognizer.from_hparams(source="THIS_FOLDER_OR_HUB_ID")',
        'out_prob, score, index, text_lab = recognizer.classify_file("speech.wav")',
        "```", "",
        "or `speechbrain-drnsa classify speech.wav --model THIS_FOLDER_OR_HUB_ID`. Loading "
        "runs no code from the folder: weights come from `model.safetensors`, the "
        "architecture from plain data in `hyperparams.yaml`."
        + _ssl_weights_text(config["features"]), "",
        "## Expected input", "",
        f"- Mono speech; any rate is resampled to {config['features']['sample_rate']} Hz.",
        f"- Files longer than {config['inference_window']['length_s']:g} s are classified "
        "in overlapping windows, and the windows' probabilities averaged.",
        "- Speaker normalisation: " + (
            "**per speaker**. The model was trained on LLDs standardised with each "
            "speaker's own statistics: enrol the speaker (`recognizer.enrol(speaker, files)`) "
            "or each file is standardised with its own statistics."
            if config["speaker_normalization"]
            else "none; the training folds' statistics are built in."
        ), "",
        "## Intended use and limits", "",
        "- Research on acted or elicited emotional speech; not for decisions about "
        "people (hiring, health, policing), and not a lie or mood detector.",
        "- Trained on synthetic audio, not on speech: its labels for real recordings mean "
        "nothing. It shows the pipeline working end to end, no more."
        if corpus.get("synthetic") else
        "- Trained on one corpus of a few speakers and one recording setting: expect "
        "lower scores on other languages, microphones, spontaneous speech, noise and "
        "children's voices.",
        f"- {len(labels)} broad categories cannot describe mixed or subtle emotions.", "",
        "## Licence", "",
        f"The code is Apache-2.0. The weights were learnt from {name}"
        + (f": {corpus['terms']}." if corpus.get("terms") else
           ", whose licence may restrict use.")
        + " Check that your use is allowed by the corpus licence before using or sharing "
        "this model.",
    ]
    return "\n".join(lines) + "\n"


def _model_index(
    model_name: str, corpus: Mapping[str, Any], scores: Mapping[str, Any]
) -> dict[str, Any]:
    """The hub's ``model-index`` entry: task, corpus and the folds' mean scores."""
    folds = [row["fold"] for row in scores["folds"]]
    over = f"mean over {len(folds)} test folds" if len(folds) > 1 else f"test fold {folds[0]}"
    metrics = []
    for score, metric, args, wording in _METRICS:
        entry = {"type": metric, "value": round(float(scores["mean"][score]), 4),
                 "name": f"{wording}, {over}"}
        metrics.append(entry | ({"args": args} if args else {}))
    return {
        "name": model_name,
        "results": [{
            "task": {"type": "audio-classification", "name": "Speech emotion recognition"},
            "dataset": {"type": corpus["id"], "name": corpus.get("name", corpus["id"])},
            "metrics": metrics,
        }],
    }


def _corpus_lines(corpus: Mapping[str, Any], protocol: str | None) -> Sequence[str]:
    protocol_text = f"; protocol: {protocol} (speaker-independent folds)" if protocol else ""
    if not corpus:
        return [f"- Corpus: not recorded by the run{protocol_text}."]
    lines = [f"- Corpus: {corpus['name']}{protocol_text}."]
    if corpus.get("synthetic"):
        lines.append(
            "- **The corpus is synthetic**: speech-like babble generated by the package "
            "(`make-demo-corpus`), whose classes differ only by prosody rules; the scores "
            "below say nothing about real emotional speech."
        )
    return lines


def _folds_line(folds: list[int], total: int | None, running: str | None) -> str:
    numbers = ", ".join(map(str, folds))
    line = f"- Folds in this folder: {len(folds)}" + (
        f" of the protocol's {total}" if total else "") + f" ({numbers})"
    if running:
        line += (f", exported while the training (process {running}) was still running: "
                 "the other folds had not finished")
    if len(folds) > 1:
        return line + ("; they are used as an ensemble (mean of their probabilities), each "
                       "model having been tested on speakers it never saw.")
    return line + "."


def _score_table(scores: Mapping[str, Any] | None, note: str | None) -> Sequence[str]:
    if scores is None:
        return [f"Scores: not available ({note or 'not recorded by the run'})."]
    n_folds = len(scores["folds"])
    if n_folds == 1:
        rows = [f"| {name} | {100 * scores['mean'][name]:.1f} |" for name in ("UA", "WA", "F1")]
        heading = f"Test scores of fold {scores['folds'][0]['fold']} (%"
    else:
        rows = [
            f"| {name} | {100 * scores['mean'][name]:.1f} ± {100 * scores['std'][name]:.1f} |"
            for name in ("UA", "WA", "F1")
        ]
        heading = f"Test scores over {n_folds} folds (%, mean ± std"
    return [
        f"{heading}; UA: unweighted accuracy, the mean per-class recall; WA: weighted "
        "accuracy; F1: macro F1), of the weights in this folder:", "",
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


def _frames_text(features: Mapping[str, Any]) -> str:
    """What the encoder reads, in words."""
    ssl = features.get("ssl")
    if not ssl:
        return "openSMILE low-level descriptors per 10 ms frame"
    layer = ("a learned weighted sum of its layers" if ssl["layer"] == "weighted"
             else f"its layer {ssl['layer']}")
    return f"the hidden states of the frozen self-supervised model `{ssl['source']}` ({layer})"


def _ssl_weights_text(features: Mapping[str, Any]) -> str:
    """Where the SSL front end's weights come from, for a model that has one."""
    ssl = features.get("ssl")
    if not ssl:
        return ""
    return (
        f" The self-supervised front end is not in this folder: its weights are loaded from "
        f"their own source, `{ssl['source']}` (revision `{ssl['revision']}`), with the "
        "`ssl` extra (`pip install 'speechbrain-drnsa[ssl]'`), from the Hugging Face hub or "
        "its local cache; their licence is that model's."
    )
