"""The exported folder tells the truth: its corpus, folds, scores and weights are the run's."""

import functools
import shutil
from pathlib import Path

import pytest
import ruamel.yaml
import safetensors.torch
import torch
from huggingface_hub import ModelCard

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.data.iemocap import prepare_iemocap
from speechbrain_drnsa.data.provenance import corpus_provenance
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.inference import export
from speechbrain_drnsa.io import load_json
from speechbrain_drnsa.training.checkpoint import load_checkpoint
from speechbrain_drnsa.training.hparams import build_model
from speechbrain_drnsa.training.lock import experiment_lock
from speechbrain_drnsa.training.module import CHECKPOINT_KEY
from speechbrain_drnsa.training.pretrained import load_pretrained_weights, resolve_checkpoint

DEMO = "demo corpus (synthetic)"


@pytest.fixture(scope="module")
def experiment(train_tiny, tmp_path_factory) -> Path:
    """Folds 0 and 1 of 5 (session5) on the tiny demo corpus, each testing its 2 best averaged."""
    root = tmp_path_factory.mktemp("runs")
    for fold in (0, 1):
        assert train_tiny(root, f"--fold={fold}", "--average_top_k=2") == 0
    return root / "drn_mhsa" / "1234"


def _front(card: str) -> dict:
    return ruamel.yaml.YAML(typ="safe").load(card.split("---")[1])


def test_demo_corpus_model_says_demo_corpus(experiment, tmp_path):
    block = load_checkpoint(experiment / "fold_0" / "checkpoints" / "last.ckpt")[CHECKPOINT_KEY]
    assert block["corpus"]["name"] == DEMO and block["corpus"]["synthetic"] is True
    card = (export(experiment, tmp_path / "m") / "README.md").read_text()
    assert "IEMOCAP" not in card and "iemocap" not in card
    assert f"trained on {DEMO}" in card and "The corpus is synthetic" in card
    front = _front(card)
    assert "datasets" not in front and "language" not in front  # no hub dataset, no language
    assert "synthetic-data" in front["tags"]


def test_front_matter_reads_back_as_hub_evaluation_results(experiment, tmp_path):
    card = ModelCard.load(export(experiment, tmp_path / "m") / "README.md")
    data = card.data
    assert data.library_name == "speechbrain-drnsa" and data.pipeline_tag == "audio-classification"
    assert data.license == "apache-2.0"  # the demo corpus is the package's own
    results = {result.metric_type: result for result in data.eval_results}
    assert set(results) == {"recall", "accuracy", "f1"}
    ua = [load_json(experiment / f"fold_{k}" / "metrics.json")["UA"] for k in (0, 1)]
    assert results["recall"].metric_value == pytest.approx(sum(ua) / 2, abs=1e-4)
    assert results["recall"].metric_args == {"average": "macro"}
    assert "UA" in results["recall"].metric_name
    for result in results.values():
        assert result.task_type == "audio-classification"
        assert (result.dataset_type, result.dataset_name) == ("speechbrain-drnsa-demo", DEMO)
    assert data.model_name == "drn_mhsa"


def test_a_named_real_corpus_brings_its_facts(experiment, tmp_path):
    card = ModelCard.load(export(experiment, tmp_path / "m", corpus="EmoDB") / "README.md")
    assert card.data.language == ["de"] and card.data.datasets == ["emodb"]
    assert card.data.license is None  # EmoDB ships no licence: none is invented
    assert card.data.eval_results[0].dataset_name == "EmoDB"


def test_card_says_how_many_of_the_protocols_folds_it_holds(experiment, tmp_path):
    card = (export(experiment, tmp_path / "m") / "README.md").read_text()
    assert "Folds in this folder: 2 of the protocol's 5 (0, 1)" in card


def test_one_fold_export_reports_that_folds_scores(experiment, tmp_path):
    metrics = load_json(experiment / "fold_1" / "metrics.json")
    for source in (experiment / "fold_1", resolve_checkpoint(experiment / "fold_1")):
        card = (export(source, tmp_path / source.name) / "README.md").read_text()
        assert "not available" not in card
        assert "Test scores of fold 1" in card and f"| UA | {100 * metrics['UA']:.1f} |" in card
        assert ModelCard(card).data.eval_results[0].metric_value == round(metrics["UA"], 4)


def test_a_checkpoint_the_fold_did_not_test_has_no_scores(experiment, tmp_path):
    best = sorted((experiment / "fold_1" / "checkpoints").glob("best-epoch=*.ckpt"))[0]
    card = (export(best, tmp_path / "m") / "README.md").read_text()
    assert "not the checkpoint fold 1 was tested with (average-top2.ckpt)" in card
    assert "model-index" not in card


def test_exported_and_init_from_weights_are_the_tested_average(experiment, tmp_path):
    fold = experiment / "fold_0"
    tested = load_checkpoint(fold / "checkpoints" / "average-top2.ckpt")["state_dict"]
    best = load_checkpoint(load_json(fold / "checkpoints" / "training.json")["best_model_path"])
    name = "model.classifier.layers.3.weight"
    assert not torch.equal(tested[name], best["state_dict"][name])  # the average is another
    weights = safetensors.torch.load_file(export(fold, tmp_path / "m") / "model.safetensors")
    for key, value in weights.items():
        assert torch.equal(value, tested[key.removeprefix("fold_0.")]), key
    block = load_checkpoint(fold / "checkpoints" / "last.ckpt")[CHECKPOINT_KEY]
    model_file = tmp_path / "model.yaml"
    model_file.write_text(block["model_config"]["yaml"])
    model, _ = build_model(model_file, block["model_config"]["overrides"])
    load_pretrained_weights(model, fold, block["labels"])
    assert torch.equal(model.state_dict()[name.removeprefix("model.")], tested[name])


def test_a_removed_average_is_written_again_as_the_test_wrote_it(experiment, tmp_path):
    folder = tmp_path / "fold_0"
    shutil.copytree(experiment / "fold_0", folder)
    averaged = folder / "checkpoints" / "average-top2.ckpt"
    tested = load_checkpoint(averaged)["state_dict"]
    averaged.unlink()
    assert resolve_checkpoint(folder) == averaged
    again = load_checkpoint(averaged)["state_dict"]
    assert all(torch.equal(again[k], v) for k, v in tested.items() if torch.is_tensor(v))


def test_export_refuses_a_running_training_unless_partial(experiment, tmp_path, capsys):
    with experiment_lock(experiment):
        with pytest.raises(InputFileError, match=r"still running .*2 fold\(s\) have finished"):
            export(experiment, tmp_path / "m")
        assert not (tmp_path / "m").exists()
        assert main(["export", str(experiment), str(tmp_path / "c")]) == 2
        assert "--partial" in capsys.readouterr().err
        assert main(["export", str(experiment), str(tmp_path / "c"), "--partial"]) == 0
        card = (tmp_path / "c" / "README.md").read_text()
    assert "2 of the protocol's 5 (0, 1), exported while the training" in card
    assert "still running" not in (export(experiment, tmp_path / "m") / "README.md").read_text()


def test_reexport_without_onnx_leaves_no_stale_graph(experiment, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"an earlier export's graph")
    export(experiment / "fold_0", out)
    assert not (out / "model.onnx").exists()


def test_provenance_from_demo_mode_real_layout_and_saved_hparams(demo_corpus, tmp_path):
    from iemocap_prepare import prepare_data

    demo_mode = {"prepare": functools.partial(prepare_data, data_folder="data/demo"),
                 "data_folder": "data/demo", "demo_corpus": True}
    assert corpus_provenance(demo_mode)["name"] == DEMO  # before the corpus is generated
    real = tmp_path / "IEMOCAP_full_release"
    (real / "Session1").mkdir(parents=True)
    assert corpus_provenance({"prepare": prepare_iemocap, "data_folder": real})["name"] == "IEMOCAP"
    saved = ruamel.yaml.YAML(typ="rt").load(
        f"prepare: !name:iemocap_prepare.prepare_data\n  data_folder: {demo_corpus}\n"
        f"data_folder: {demo_corpus}\ndemo_corpus: false\n"
    )
    assert corpus_provenance(saved)["name"] == DEMO
    csv = ruamel.yaml.YAML(typ="rt").load(
        "prepare: !name:speechbrain_drnsa.data.csv_corpus.prepare_csv_corpus\n"
        "  csv_path: savee.csv\ncorpus: savee\n"
    )
    assert corpus_provenance(csv) == {"id": "savee", "name": "savee"}  # no language claimed
