"""Several corpora end to end: cross-corpus protocols, network and SVM; the general model.

Three tiny synthetic corpora cut from the demo corpus by speaker, whose speaker ids
overlap and whose label names differ, go through preparation, 1-epoch trainings of
tiny models, the SVM baseline, the comparison table and export.
"""

import csv
import importlib.util
import re
from pathlib import Path

import pytest

from speechbrain_drnsa.data.iemocap import MANIFEST_NAME as IEMOCAP_MANIFEST
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.results.compare import comparison_table

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "CSV"
TINY = [
    "--model_overrides={channels: [4, 4, 8, 8, 8], out_channels: 8, lstm_hidden: 8, "
    "lin_neurons: [8]}",
    "--max_epochs=1",
    "--batch_size=8",
    "--num_threads=1",
    "--enable_progress_bar=false",
    "--seeds=null",
]
LABEL_MAP = "--label_map={anger: angry, ang: angry, hap: happy, neu: neutral, sad: sad}"
SPLIT = {"a": 4, "b": 3, "c": 3}  # speakers of the demo corpus per synthetic corpus
FEARFUL = 2  # rows of corpus b relabelled fear, which the label map drops


@pytest.fixture(scope="module")
def corpora(tiny_training_data, tmp_path_factory) -> dict[str, Path]:
    """Corpora a, b, c: every one has speakers s0, s1, s2; a says "anger", b and c "ang"."""
    manifest = load_json(tiny_training_data["prepared_folder"] / IEMOCAP_MANIFEST)
    speakers = sorted({entry["speaker"] for entry in manifest.values()})
    root = tmp_path_factory.mktemp("corpora")
    paths, start = {}, 0
    for name, count in SPLIT.items():
        renamed = {spk: f"s{k}" for k, spk in enumerate(speakers[start:start + count])}
        start += count
        rows = [["path", "speaker", "emotion"]]
        for entry in manifest.values():
            if entry["speaker"] in renamed:
                audio = entry["wav"].replace("{data_root}", str(tiny_training_data["data_folder"]))
                emotion = "anger" if name == "a" and entry["emo"] == "ang" else entry["emo"]
                rows.append([audio, renamed[entry["speaker"]], emotion])
        if name == "b":
            for row in rows[1:FEARFUL + 1]:
                row[2] = "fear"
        (root / name).mkdir()
        paths[name] = root / name / "manifest.csv"
        with open(paths[name], "w", newline="") as f:
            csv.writer(f).writerows(rows)
    return paths


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"csv_{name}", RECIPE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _csv(corpora: dict[str, Path], *names: str) -> str:
    return "--csv=[" + ", ".join(f"{name}={corpora[name]}" for name in names) + "]"


def _utterances(csv_path: Path) -> int:
    with open(csv_path, newline="") as f:
        return sum(1 for row in csv.DictReader(f) if row["emotion"] != "fear")


def test_the_general_model_trains_in_and_across_corpora_and_exports_one_folder(
    corpora, tiny_training_data, tmp_path
):
    status = _script("general_model").main([
        str(RECIPE / "hparams" / "general.yaml"), _csv(corpora, "a", "b", "c"), LABEL_MAP,
        "--corpus=abc", f"--output_root={tmp_path}", "--functionals=eGeMAPSv02",
        f"--feature_cache={tiny_training_data['feature_cache']}", *TINY,
    ])
    assert status == 0
    results = tmp_path / "abc"
    # in-corpus: speaker groups across the merged corpora, each test corpus scored
    in_corpus = load_json(results / "general" / "1234" / "summary.json")
    assert len(in_corpus["folds"]) == 5 and set(in_corpus["corpora"]) == {"a", "b", "c"}
    # cross-corpus: one fold per corpus, testing every utterance of it and nothing else
    for fold, name in enumerate(SPLIT):
        metrics = load_json(results / "general_loco" / "1234" / f"fold_{fold}" / "metrics.json")
        assert metrics["protocol"] == "leave_one_corpus_out"
        assert list(metrics["corpora"]) == [name]
        assert metrics["n_test"] == metrics["corpora"][name]["n_test"] == _utterances(
            corpora[name])
    card = (results / "general_model" / "README.md").read_text()
    assert "| b | train | 22 | 3 |" in card and "| fear 2 |" in card
    assert "trained on abc" in card  # the corpus the run recorded, not a default
    assert "Label map: anger -> angry, ang -> angry, hap -> happy" in card
    loco = load_json(results / "general_loco" / "1234" / "summary.json")["corpora"]
    for name in SPLIT:
        cross = f"{100 * loco[name]['UA']:.1f}"
        own = f"{100 * in_corpus['corpora'][name]['UA']:.1f}"
        assert f"| {name} | {own} | {cross} |" in card
    recognizer = EmotionRecognizer.from_hparams(results / "general_model")
    assert recognizer.labels == ["angry", "happy", "neutral", "sad"]
    with open(corpora["c"], newline="") as f:
        wav = next(csv.DictReader(f))["path"]
    assert recognizer.classify_file(wav)[0].shape == (1, 4)


def test_cross_corpus_and_leave_one_corpus_out_for_the_network_and_the_svm(
    corpora, tiny_training_data, tmp_path
):
    train = _script("train")
    status = train.main([
        str(RECIPE / "hparams" / "drn_mhsa.yaml"), _csv(corpora, "a", "b"), LABEL_MAP,
        f"--test_csv=c={corpora['c']}", "--protocol=cross_corpus", "--corpus=ab_to_c",
        f"--output_root={tmp_path}", f"--feature_cache={tiny_training_data['feature_cache']}",
        *TINY,
    ])
    assert status == 0
    network = tmp_path / "ab_to_c" / "drn_mhsa" / "1234"
    metrics = load_json(network / "fold_0" / "metrics.json")
    assert list(metrics["corpora"]) == ["c"] and metrics["n_test"] == _utterances(corpora["c"])
    card = (export(network, tmp_path / "model") / "README.md").read_text()
    assert "| c | test |" in card and "protocol cross_corpus" in card

    svm = _script("baseline_svm")
    for protocol, names, extra in [
        ("cross_corpus", ["a", "b"], [f"--test_csv=c={corpora['c']}"]),
        ("leave_one_corpus_out", ["a", "b", "c"], []),
    ]:
        out = tmp_path / f"svm_{protocol}"
        assert svm.main([
            *(f"{name}={corpora[name]}" for name in names), f"--protocol={protocol}", *extra,
            "--label_map", "anger=angry", "ang=angry", "hap=happy", "neu=neutral", "sad=sad",
            f"--output_folder={out}", "--feature_sets", "eGeMAPSv02",
        ]) == 0
        for variant in ("eGeMAPSv02_train", "eGeMAPSv02_speaker"):
            summary = load_json(out / variant / "summary.json")
            tested = ["c"] if protocol == "cross_corpus" else ["a", "b", "c"]
            assert list(summary["corpora"]) == tested and len(summary["folds"]) == len(tested)
            prep = load_json(out / "prep" / "corpus.json")
            for fold, name in enumerate(tested):
                predictions = (out / variant / f"fold_{fold}" / "predictions.csv").read_text()
                ids = [line.split(",")[0] for line in predictions.splitlines()[1:]]
                assert sorted(ids) == sorted(u for u, e in prep.items() if e["corpus"] == name)
    # the SVM against the network trained the same way, per test corpus, paired
    loco = train.main([
        str(RECIPE / "hparams" / "drn_mhsa.yaml"), _csv(corpora, "a", "b", "c"), LABEL_MAP,
        "--protocol=leave_one_corpus_out", "--corpus=abc", f"--output_root={tmp_path}",
        f"--feature_cache={tiny_training_data['feature_cache']}", *TINY,
    ])
    assert loco == 0
    table = comparison_table({
        "SVM": tmp_path / "svm_leave_one_corpus_out" / "eGeMAPSv02_train",
        "network": tmp_path / "abc" / "drn_mhsa" / "1234",
    })
    header, _, svm_row, network_row = table.splitlines()
    assert "UA per test corpus" in header
    for row in (svm_row, network_row):
        assert re.search(r"\| a \d\.\d{3}, b \d\.\d{3}, c \d\.\d{3} \|", row)
    # one pair per test corpus (fold), and the speaker bootstrap over all three corpora
    assert "(p " in network_row and "3 folds)" in network_row
    assert re.search(r"\], <= 0 in [\d.]+, 10 speakers", network_row), network_row
