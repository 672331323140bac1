"""The bad-input matrix: every audio case of robustness_cases through every entry point.

Each cell gives a correct result or a one-line error starting with the file's
path and naming the problem; the command line prints no traceback, and a
batch goes on past the bad file and exits 1.
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from robustness_cases import (
    AUDIO_CASES, CLASSIFYING, CONFIG_CASES, CSV_CASES, ENTRY_POINTS, FAULTS, RATE,
    UNTRUSTED_MODELS, AudioCase, EntryPoint, expected, markdown, runs,
)
from speechbrain_drnsa.cli import main
from speechbrain_drnsa.data.csv_corpus import prepare_csv_corpus
from speechbrain_drnsa.data.demo import make_demo_corpus
from speechbrain_drnsa.data.emodb import prepare_emodb
from speechbrain_drnsa.data.iemocap import prepare_iemocap
from speechbrain_drnsa.errors import InputFileError
from speechbrain_drnsa.features import OpenSmileLLD, read_audio
from speechbrain_drnsa.features.functionals import OpenSmileFunctionals
from speechbrain_drnsa.inference import EmotionRecognizer, export
from speechbrain_drnsa.io import load_json

DOC = Path(__file__).resolve().parents[1] / "docs" / "robustness.md"
EMODB_NAMES = ["03a01Fa", "03a02Wb", "08a01Lc", "08b01Ta", "09b02Ea", "10a04Aa"]


@pytest.fixture(scope="session")
def one_hour_file(tmp_path_factory) -> Path:
    """The one heavy input, written once per session."""
    case = next(case for case in AUDIO_CASES if case.heavy)
    return case.write(tmp_path_factory.mktemp("one_hour") / "long.wav")


@pytest.fixture(scope="session")
def good_wav(tmp_path_factory) -> Path:
    case = next(case for case in AUDIO_CASES if case.name == "pcm_16")
    return case.write(tmp_path_factory.mktemp("good") / "good.wav")


@pytest.fixture(scope="session")
def small_iemocap(tmp_path_factory) -> tuple[Path, str]:
    """A small corpus in IEMOCAP's layout and the relative path of one kept turn's wav."""
    corpus = make_demo_corpus(
        tmp_path_factory.mktemp("iemocap") / "corpus", utterances_per_class=1,
        dropped_per_speaker=0,
    )
    manifest = load_json(prepare_iemocap(corpus, tmp_path_factory.mktemp("iemocap_prep")))
    wav = next(iter(manifest.values()))["wav"]
    return corpus, wav.replace("{data_root}/", "")


@pytest.fixture(scope="module")
def model_folder(train_tiny, tmp_path_factory) -> Path:
    """A tiny model trained long enough (8 epochs) that other sounds move its probabilities."""
    root = tmp_path_factory.mktemp("robust_run")
    assert train_tiny(root, "--fold=0", "--max_epochs=8") == 0
    return export(root / "drn_mhsa" / "1234", root / "model")


def _place(case: AudioCase, target: Path, one_hour: Path) -> Path:
    """Write the case's file at ``target`` (its folder created)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if case.heavy:
        target.symlink_to(one_hour)  # the 58 MB file is written once per session
        return target
    return case.write(target)


def _error_of(call: Callable[[], object]) -> str | None:
    try:
        call()
    except InputFileError as err:
        return str(err)
    return None


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out + err


def _cell(entry: EntryPoint, case: AudioCase, root: Path, fixtures: dict, capsys) -> str | None:
    """Run one cell; return the error text naming the file (``None``: a result)."""
    bad = root / case.folder / f"x{case.suffix}"
    if entry.name == "read_audio":
        path = _place(case, bad, fixtures["one_hour"])
        return _error_of(lambda: read_audio(path))
    if entry.name == "extract_file":
        path = _place(case, bad, fixtures["one_hour"])
        return _error_of(lambda: OpenSmileLLD().extract_file(path))
    if entry.name == "prepare_iemocap":
        corpus, relative = fixtures["iemocap"]
        copy = shutil.copytree(corpus, root / case.folder / "IEMOCAP")
        (copy / relative).unlink()
        _place(case, copy / relative, fixtures["one_hour"])
        return _error_of(lambda: prepare_iemocap(copy, root / "prep"))
    if entry.name == "prepare_emodb":
        folder = root / case.folder / "emodb"
        for name in EMODB_NAMES[1:]:
            shutil.copy(fixtures["good"], _parent(folder / "wav" / f"{name}.wav"))
        _place(case, folder / "wav" / f"{EMODB_NAMES[0]}.wav", fixtures["one_hour"])
        return _error_of(lambda: prepare_emodb(folder, root / "prep"))
    if entry.name == "prepare_csv":
        path = _place(case, bad, fixtures["one_hour"])
        rows = ["path,speaker,emotion", f"{path.name},s1,neu"]
        for i, speaker in enumerate(["s1", "s2", "s3"]):
            shutil.copy(fixtures["good"], path.parent / f"good{i}.wav")
            rows.append(f"good{i}.wav,{speaker},{'sad' if i else 'neu'}")
        csv_path = path.parent / "corpus.csv"
        csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        return _error_of(lambda: prepare_csv_corpus(csv_path, root / "prep"))
    path = _place(case, bad, fixtures["one_hour"])
    if entry.name == "recognizer":
        recognizer = EmotionRecognizer.from_hparams(fixtures["model"]())
        return _error_of(lambda: recognizer.classify_file(path))
    if entry.name == "extract_cli":
        manifest = root / "manifest.json"
        manifest.write_text(json.dumps({"good": {"wav": str(fixtures["good"])},
                                        "bad": {"wav": str(path)}}))
        argv = ["extract", str(manifest), "--cache", str(root / "cache")]
    else:
        argv = ["classify", str(fixtures["good"]), str(path), "--model", str(fixtures["model"]())]
    status, output = _run_cli(argv, capsys)
    if status == 0:
        return None
    assert status == 1, output  # a bad file is a failure of the batch, not of the command
    failures = _failure_lines(output)
    assert not any("good.wav" in line for line in failures)  # went on past the bad file
    return next((line for line in failures if line.startswith(str(path))), output)


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _failure_lines(output: str) -> list[str]:
    """The indented lines the batch commands list their failures with."""
    return [line.strip() for line in output.splitlines() if line.startswith("  ")]


# the one-hour file goes only through the entry points that read headers, not every sample
CELLS = [
    pytest.param(case, entry, id=f"{case.name}-{entry.name}")
    for case in AUDIO_CASES for entry in ENTRY_POINTS if runs(case, entry)
]


@pytest.mark.parametrize("case, entry", CELLS)
def test_bad_input_matrix(case, entry, tmp_path, request, capsys, good_wav, small_iemocap):
    fixtures = {
        "good": good_wav,
        "iemocap": small_iemocap,
        "one_hour": request.getfixturevalue("one_hour_file") if case.heavy else None,
        "model": lambda: request.getfixturevalue("model_folder"),
    }
    error = _cell(entry, case, tmp_path, fixtures, capsys)
    want = expected(case, entry)
    if want is None:
        assert error is None, error
    else:
        assert error is not None, f"{case.name} accepted by {entry.name}"
        assert want in error and "\n" not in error.strip()
        assert error.startswith(str(tmp_path)) and (
            f"x{case.suffix}" in error or ".wav:" in error
        ), error


CHECKED_ROWS = [
    pytest.param(row[-2], row[-1], id=row[0][:40])
    for row in [*CONFIG_CASES, *FAULTS, *UNTRUSTED_MODELS]
]


@pytest.mark.parametrize("test, phrase", CHECKED_ROWS)
def test_every_documented_row_names_a_test_that_asserts_it(test, phrase):
    """The rows outside the parametrised matrix: their test exists and checks their phrase."""
    import ast

    file, name = test.split("::")
    source = (Path(__file__).parent / file).read_text(encoding="utf-8")
    functions = {node.name: ast.get_source_segment(source, node)
                 for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.FunctionDef)}
    assert name.startswith("test_") and name in functions, f"{test} does not exist"
    # a parametrised test's phrase may sit in its decorator's table
    decorated = source[: source.index(f"def {name}(")]
    assert phrase in functions[name] or phrase in decorated[-2000:], (test, phrase)


RATE_CASES = [case for case in AUDIO_CASES if case.name.startswith("rate_")]
MFCC, OTHER_LLDS = slice(0, 12), slice(12, 17)


@pytest.mark.parametrize("case", RATE_CASES, ids=[case.name for case in RATE_CASES])
def test_rate_cells_give_the_values_of_the_16_khz_file(case, tmp_path, good_wav, model_folder):
    """The rate cells' tone (220 Hz, amplitude-modulated) written at 16 kHz is ``good_wav``.

    Energy, voicing, HNR, F0 and ZCR are the same; MFCCs move by at most 0.5 on average
    (the 16-bit noise floor spreads over another band; values span about +-20); eGeMAPS
    functionals by 0.5 % of their size at the median; the tiny model's probabilities by at
    most 0.002 (measured: 2.5e-5 at 8 kHz, 1e-5 above).
    """
    path = case.write(tmp_path / "x.wav")
    lld = OpenSmileLLD()
    ours, original = lld.extract_file(path), lld.extract_file(good_wav)
    assert ours.shape == original.shape
    assert (ours[:, OTHER_LLDS] - original[:, OTHER_LLDS]).abs().max() <= 0.01
    assert (ours[:, MFCC] - original[:, MFCC]).abs().mean(dim=0).max() <= 0.5
    egemaps = OpenSmileFunctionals("eGeMAPSv02")
    ours, original = egemaps.extract_file(path)[0], egemaps.extract_file(good_wav)[0]
    relative = ((ours - original).abs() / (original.abs() + 1e-3)).numpy()
    assert np.median(relative) <= 0.005 and np.percentile(relative, 90) <= 0.05
    recognizer = EmotionRecognizer.from_hparams(model_folder)
    change = (recognizer.classify_file(path)[0] - recognizer.classify_file(good_wav)[0]).abs()
    assert float(change.max()) <= 0.002


def test_robustness_doc_is_generated_from_the_tables():
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/robustness.md is stale: run python tests/robustness_cases.py"
    )


@pytest.mark.parametrize("what, text, message", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_bad_corpus_csv_names_the_file_and_the_line(tmp_path, what, text, message):
    (tmp_path / "wav").mkdir()
    soundfile.write(tmp_path / "wav" / "u0.flac", np.zeros(4000), 16000)
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with pytest.raises(InputFileError) as err:
        prepare_csv_corpus(bad, tmp_path / "prep")
    assert str(err.value).startswith(str(bad)) and message in str(err.value)
    assert not (tmp_path / "prep").exists()


def _probabilities(entry: str, path: Path, model: Path, capsys) -> np.ndarray:
    """The file's class probabilities through a classifying entry point."""
    if entry == "recognizer":
        return EmotionRecognizer.from_hparams(model).classify_file(path)[0][0].numpy()
    status, output = _run_cli(["classify", str(path), "--model", str(model), "--json"], capsys)
    assert status == 0, output
    return np.array(list(json.loads(output.strip().splitlines()[-1])["probabilities"].values()))


RESULT_CELLS = [
    pytest.param(case, entry, id=f"{case.name}-{entry}")
    for case in AUDIO_CASES if case.original is not None for entry in CLASSIFYING
]


@pytest.mark.parametrize("case, entry", RESULT_CELLS)
def test_result_cells_give_the_probabilities_of_the_mono_original(
    case, entry, model_folder, tmp_path, capsys
):
    original = case.original(tmp_path / "original.wav")
    assert soundfile.info(original).samplerate == RATE and soundfile.info(original).channels == 1
    expected_probabilities = _probabilities(entry, original, model_folder, capsys)
    got = _probabilities(entry, case.write(tmp_path / f"x{case.suffix}"), model_folder, capsys)
    assert np.abs(got - expected_probabilities).max() <= case.tolerance, (got, case.name)
    # the tolerance tells sounds apart: a 440 Hz tone instead of the original's 220 Hz moves
    # the probabilities by more than it
    t = np.arange(RATE) / RATE
    soundfile.write(tmp_path / "other.wav", 0.3 * np.sin(2 * np.pi * 440 * t), RATE)
    other = _probabilities(entry, tmp_path / "other.wav", model_folder, capsys)
    assert np.abs(other - expected_probabilities).max() > max(case.tolerance, 0.005)
