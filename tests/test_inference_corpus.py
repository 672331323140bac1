"""classify --csv: a corpus with speakers, in parallel, in shards, resumed, with bad rows."""

import csv
import io
import os
from pathlib import Path

import pytest
import torch

from speechbrain_drnsa.cli import main
from speechbrain_drnsa.inference import EmotionRecognizer
from speechbrain_drnsa.inference.corpus import classify_corpus, read_manifest

SPEAKERS = ("Ses01F", "Ses01M", "Ses02F")


@pytest.fixture(scope="module")
def per_speaker_folder(tiny_model_folder, tmp_path_factory, per_speaker_copy) -> Path:
    return per_speaker_copy(tiny_model_folder, tmp_path_factory.mktemp("per_speaker") / "model")


def _speaker_files(demo_corpus: Path) -> dict[str, list[Path]]:
    """Four files of each of three speakers (IEMOCAP: session and the utterance's gender)."""
    files = {}
    for speaker in SPEAKERS:
        session, gender = speaker[:5], speaker[5]
        wavs = sorted(p for p in demo_corpus.rglob(f"{session}*_{gender}*.wav"))
        files[speaker] = wavs[:4]
    return files


def _write_manifest(folder: Path, rows: list[tuple[str, str]], note: str) -> Path:
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "speaker", "emo"])
        writer.writerows([path, speaker, note] for path, speaker in rows)
    return manifest


def _interleaved_manifest(
    folder: Path, demo_corpus: Path, bad: bool = True, note: str = "x"
) -> Path:
    """12 rows of 3 speakers, interleaved, paths relative to the CSV; then 3 bad rows."""
    files = _speaker_files(demo_corpus)
    rows = [(os.path.relpath(files[s][i], folder), s) for i in range(4) for s in SPEAKERS]
    if bad:
        (folder / "notes.wav").write_text("not audio")
        rows += [("", "Ses01F"), ("missing.wav", "Ses01M"), ("notes.wav", "Ses02F")]
    return _write_manifest(folder, rows, note)


def _count_extractions(model: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at every LLD extraction of the model's extractor."""
    calls: list[int] = []
    extractor = type(EmotionRecognizer.from_hparams(model).extractor)
    extract = extractor.extract_array  # what the recognizer calls
    monkeypatch.setattr(extractor, "extract_array",
                        lambda self, *args: calls.append(1) or extract(self, *args))
    return calls


def _read(table: Path) -> list[dict[str, str]]:
    with open(table, newline="") as stream:
        return list(csv.DictReader(stream))


def test_jobs_and_shards_give_the_table_of_one_run(
    per_speaker_folder, demo_corpus, tmp_path, capsys
):
    manifest = _interleaved_manifest(tmp_path, demo_corpus)
    model = ["--model", str(per_speaker_folder)]
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(["classify", "--csv", str(manifest), "--out", str(one), *model]) == 1
    assert main(["classify", "--csv", str(manifest), "--out", str(two), "--jobs", "2", *model]) == 1
    assert two.read_text() == one.read_text()  # same rows, same order, same numbers
    for k in (1, 2):
        shard = ["--shard", f"{k}/2", "--out", str(tmp_path / f"shard{k}.csv")]
        assert main(["classify", "--csv", str(manifest), *shard, *model]) == 1
    merged, whole = tmp_path / "merged.csv", tmp_path / "whole.csv"
    assert main(["merge", str(merged), str(tmp_path / "shard1.csv"),
                 str(tmp_path / "shard2.csv")]) == 0
    assert main(["merge", str(whole), str(one)]) == 0
    assert merged.read_text() == whole.read_text()
    assert main(["merge", str(merged), str(tmp_path / "shard3.csv")]) == 2  # a shard not run
    table = _read(whole)
    assert [int(r["row"]) for r in table] == list(range(12))  # manifest order, bad rows out
    assert list(table[0]) == ["row", "path", "speaker", "emo", "label", "confidence",
                              "prob_neu", "prob_hap", "prob_sad", "prob_ang"]
    # a per-speaker table's labels are those of enrolling each speaker and classifying alone
    recognizer = EmotionRecognizer.from_hparams(per_speaker_folder)
    files = _speaker_files(demo_corpus)
    for speaker in SPEAKERS:
        recognizer.enrol(speaker, files[speaker])
    for row in table:
        alone = recognizer.classify_windows(tmp_path / row["path"], row["speaker"])
        probs = [float(row[f"prob_{label}"]) for label in recognizer.labels]
        assert row["label"] == alone.label
        assert torch.allclose(torch.tensor(probs), torch.tensor(alone.probabilities), atol=1e-5)
    errors = _read(tmp_path / "one.errors.csv")
    assert [(e["row"], e["path"]) for e in errors] == [
        ("12", ""), ("13", "missing.wav"), ("14", "notes.wav")
    ]
    assert "empty path" in errors[0]["reason"] and "notes.wav" in errors[2]["reason"]
    assert "3 failed" in capsys.readouterr().err


def test_a_speakers_files_are_read_once_to_enrol_and_classify(
    per_speaker_folder, demo_corpus, tmp_path, monkeypatch
):
    manifest = _interleaved_manifest(tmp_path, demo_corpus, bad=False)
    calls = _count_extractions(per_speaker_folder, monkeypatch)
    report = classify_corpus(per_speaker_folder, manifest, tmp_path / "table.jsonl")
    assert report.ok and report.classified == 12
    assert len(calls) == 12  # one extraction per file (each shorter than a window)
    table = tmp_path / "table.jsonl"
    complete = table.read_text()
    assert len(complete.splitlines()) == 12 and '"prob_ang"' in complete
    table.write_text(complete[:-20])  # the last speaker's last row cut short
    calls.clear()
    report = classify_corpus(per_speaker_folder, manifest, table)
    assert (report.resumed, report.classified) == (11, 1) and table.read_text() == complete
    assert len(calls) == 4  # the speaker's four files, to enrol them again


def test_an_interrupted_run_resumes_without_classifying_a_row_twice(
    tiny_model_folder, demo_corpus, tmp_path, monkeypatch
):
    # a cell with a comma, quotes and a line break: records are not lines
    manifest = _interleaved_manifest(tmp_path, demo_corpus, bad=False, note='said "no",\nloud')
    table = tmp_path / "table.csv"
    assert classify_corpus(tiny_model_folder, manifest, table).classified == 12
    complete = table.read_text()
    records = list(csv.reader(io.StringIO(complete)))
    assert len(records) == 13 and records[1][3] == 'said "no",\nloud'
    sixth = complete.index("\n5,") + 1  # header and rows 0-4 stay whole
    # row 5 cut short right after the line break inside its quoted cell: the text ends a line
    table.write_text(complete[: complete.index("\nloud", sixth) + 1])
    calls = _count_extractions(tiny_model_folder, monkeypatch)
    report = classify_corpus(tiny_model_folder, manifest, table)
    assert (report.resumed, report.classified, len(calls)) == (5, 7, 7)
    assert table.read_text() == complete


def test_bad_manifests_are_one_line_errors(tiny_model_folder, tmp_path, capsys):
    no_path = tmp_path / "m.csv"
    no_path.write_text("file,speaker\na.wav,F1\n")
    with pytest.raises(ValueError, match="has no 'path' column"):
        read_manifest(no_path)
    status = main(["classify", "--csv", str(no_path), "--out", str(tmp_path / "t.csv"),
                   "--model", str(tiny_model_folder)])
    err = capsys.readouterr().err
    assert status == 2 and f"{no_path}: has no 'path' column" in err and "Traceback" not in err
    assert main(["classify", "--csv", str(no_path), "--model", str(tiny_model_folder)]) == 2
