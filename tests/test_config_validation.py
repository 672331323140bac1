"""Bad configuration: refused before any work starts, naming the key and what is allowed."""

import pytest


@pytest.mark.parametrize("override, message", [
    ("--max_epoch=3", "unknown override 'max_epoch'; did you mean 'max_epochs'?"),
    ("--model_overrides={chanels: [4, 4, 8, 8, 8]}",
     "unknown key in model_overrides 'chanels'; did you mean 'channels'? valid keys: "),
    ("--perturbations=[{sped: 0.9}]",
     "unknown perturbation key 'sped'; did you mean 'speed'? valid keys: speed, gain_db, snr_db"),
    ("--perturbations=[{speed: 9}]", "perturbation {'speed': 9}"),
    ("--protocol=speaker11", "unknown fold protocol 'speaker11'; expected one of"),
    ("--batch_size=0", "batch_size must be a positive integer, got 0"),
    ("--batch_size=abc", "batch_size must be a positive integer, got 'abc'"),
    ("--max_epochs=-1", "max_epochs must be a positive integer, got -1"),
    ("--model_overrides={lstm_hidden: 0}", "model_overrides lstm_hidden: 0 must be positive"),
    ("--model_overrides={channels: [4, -4, 8, 8, 8]}", "must be positive"),
], ids=["top-level", "model-overrides", "perturbation-key", "perturbation-value", "protocol",
        "zero-batch", "text-batch", "negative-epochs", "zero-width", "negative-width"])
def test_bad_setting_refused_before_any_work(train_tiny, tmp_path, caplog, override, message):
    output_root = tmp_path / "results"
    assert train_tiny(output_root, override) == 2
    assert message in caplog.text
    assert not output_root.exists()  # nothing prepared, extracted or trained


def test_model_whose_outputs_do_not_match_the_labels(train_tiny, tmp_path, caplog):
    model = tmp_path / "fixed4.yaml"
    model.write_text("n_classes: 4\nmodel: !new:torch.nn.Linear [17, 4]\n")
    output_root = tmp_path / "results"
    assert train_tiny(output_root, f"--model_file={model}", "--model_overrides={}",
                      "--labels=[neu, sad, ang]") == 2
    assert "fixed4.yaml: n_classes: the model has 4 outputs but labels has 3 (neu, sad, ang)" \
        in caplog.text
    assert not output_root.exists()


def test_fold_out_of_range(train_tiny, tmp_path, caplog):
    assert train_tiny(tmp_path, "--fold=99") == 2
    assert "99" in caplog.text and "fold" in caplog.text
