"""The bad-input matrix: audio cases, entry points and the behaviour each cell must show.

``tests/test_robustness.py`` is parametrised from the audio and CSV tables and
reads every row of the others (each names the test that checks it, which must
exist and assert the row's phrase), and ``python tests/robustness_cases.py``
writes ``docs/robustness.md`` from them, so the document cannot drift from
what the tests check.
"""

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

__all__ = [
    "AUDIO_CASES",
    "AudioCase",
    "CLASSIFYING",
    "CONFIG_CASES",
    "CSV_CASES",
    "ENTRY_POINTS",
    "EntryPoint",
    "FAULTS",
    "UNTRUSTED_MODELS",
    "expected",
    "markdown",
]

RATE = 16000
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _tone(seconds: float, rate: int = RATE, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return np.repeat(tone[:, None], channels, axis=1) if channels > 1 else tone


def _sound(seconds: float = 1.0, rate: int = RATE, channels: int = 1, **kwargs):
    def write(path: Path) -> Path:
        soundfile.write(path, _tone(seconds, rate, channels), rate, **kwargs)
        return path
    return write


def _samples(values: Callable[[np.ndarray], np.ndarray], subtype: str = "PCM_16"):
    def write(path: Path) -> Path:
        soundfile.write(path, values(_tone(1.0)), RATE, subtype=subtype)
        return path
    return write


def _bytes(data: bytes):
    def write(path: Path) -> Path:
        path.write_bytes(data)
        return path
    return write


def _truncated(path: Path) -> Path:
    soundfile.write(path, _tone(1.0), RATE)
    path.write_bytes(path.read_bytes()[: 44 + RATE])  # half the samples the header promises
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _unreadable(path: Path) -> Path:
    _sound()(path)
    path.chmod(0)
    return path


def _one_hour(path: Path) -> Path:
    # 8 kHz mono 16-bit silence with a tone at the end: ~58 MB, written in blocks
    with soundfile.SoundFile(path, "w", 8000, 1, subtype="PCM_16") as stream:
        block = np.zeros(8000 * 60, np.int16)
        for _ in range(59):
            stream.write(block)
        stream.write((_tone(60.0, 8000) * 32767).astype(np.int16))
    return path


@dataclass(frozen=True)
class AudioCase:
    """One input file: how to write it and what every entry point must do with it.

    ``error`` is ``None`` where a correct result is expected, else a phrase
    of the one-line error naming the file. ``in_samples`` marks problems
    that only reading the samples reveals (data preparation reads headers,
    so it accepts them and extraction reports them). ``heavy`` cases run
    only through the entry points that do not read every sample. ``original``
    writes the 16 kHz mono file of the same sound: the classifying entry
    points must give its probabilities within ``tolerance``.
    """

    name: str
    description: str
    write: Callable[[Path], Path]
    error: str | None = None
    in_samples: bool = False
    heavy: bool = False
    suffix: str = ".wav"
    folder: str = "audio"
    original: Callable[[Path], Path] | None = None
    tolerance: float = 0.0


AUDIO_CASES = [
    AudioCase("empty", "0-byte file", _bytes(b""), "empty file (0 bytes)"),
    AudioCase("header_only", "WAV header, no samples",
              lambda p: (soundfile.write(p, np.zeros(0), RATE), p)[1], "header only"),
    AudioCase("truncated", "data chunk shorter than its header says", _truncated, "truncated"),
    AudioCase("random_bytes", "random bytes named .wav",
              _bytes(np.random.default_rng(0).bytes(4000)), "not a readable audio file"),
    AudioCase("text", "a text file named .wav", _bytes(b"not audio\n" * 50),
              "not a readable audio file"),
    AudioCase("directory", "a folder named x.wav", _folder, "is a folder"),
    AudioCase("unreadable", "permissions 000 (root reads it anyway)", _unreadable,
              None if IS_ROOT else "cannot read it (Permission denied)"),
    AudioCase("spaces_non_ascii", "path with spaces and non-ASCII characters", _sound(),
              folder="my corpus é 音声"),
    AudioCase("flac", "FLAC", _sound(format="FLAC"), suffix=".flac"),
    AudioCase("ogg", "OGG Vorbis", _sound(format="OGG", subtype="VORBIS"), suffix=".ogg"),
    AudioCase("mp3", "MP3 (libsndfile >= 1.1)",
              _sound(format="MP3", subtype="MPEG_LAYER_III"), suffix=".mp3"),
    AudioCase("rate_8k", "8 kHz", _sound(rate=8000)),
    AudioCase("rate_22k", "22.05 kHz", _sound(rate=22050)),
    AudioCase("rate_24k", "24.414 kHz (TESS's rate)", _sound(rate=24414)),
    AudioCase("rate_44k", "44.1 kHz", _sound(rate=44100)),
    AudioCase("rate_48k", "48 kHz", _sound(rate=48000)),
    # identical channels: the mean of the channels is the mono file's samples
    AudioCase("stereo", "2 channels", _sound(channels=2), original=_sound(), tolerance=1e-6),
    AudioCase("six_channels", "6 channels", _sound(channels=6), original=_sound(),
              tolerance=1e-6),
    AudioCase("pcm_8", "8-bit PCM", _sound(subtype="PCM_U8")),
    AudioCase("pcm_16", "16-bit PCM", _sound(subtype="PCM_16")),
    AudioCase("pcm_24", "24-bit PCM", _sound(subtype="PCM_24")),
    AudioCase("float32", "32-bit float", _sound(subtype="FLOAT")),
    AudioCase("float64", "64-bit float", _sound(subtype="DOUBLE")),
    AudioCase("nan", "a NaN sample (float WAV)",
              _samples(lambda x: np.where(np.arange(len(x)) == 100, np.nan, x), "FLOAT"),
              "NaN or infinite", in_samples=True),
    AudioCase("inf", "an infinite sample (float WAV)",
              _samples(lambda x: np.where(np.arange(len(x)) == 100, np.inf, x), "FLOAT"),
              "NaN or infinite", in_samples=True),
    # the tests' tiny model moves by 0.0006 (clipping) and 0.002 (DC offset) here, by 0.03
    # for a 440 Hz tone instead of the 220 Hz one: the tolerance tells the two apart
    AudioCase("clipping", "clipped at full scale", _samples(lambda x: np.clip(8 * x, -1, 1)),
              original=_samples(lambda x: x), tolerance=0.005),
    AudioCase("dc_offset", "DC offset of 0.5", _samples(lambda x: 0.4 * x + 0.5),
              original=_samples(lambda x: 0.4 * x), tolerance=0.005),
    AudioCase("silence", "digital silence", _samples(np.zeros_like)),
    AudioCase("ms_10", "10 ms", _sound(0.010)),
    AudioCase("ms_30", "30 ms", _sound(0.030)),
    AudioCase("one_hour", "one hour (8 kHz, 16-bit, 58 MB)", _one_hour, heavy=True),
]


@dataclass(frozen=True)
class EntryPoint:
    """A way users hand the package an audio file."""

    name: str
    description: str
    reads_samples: bool = True
    batch: bool = False


ENTRY_POINTS = [
    EntryPoint("read_audio", "`features.read_audio`"),
    EntryPoint("extract_file", "`OpenSmileLLD.extract_file`"),
    EntryPoint("extract_cli", "`speechbrain-drnsa extract` (corpus)", batch=True),
    EntryPoint("prepare_iemocap", "`prepare_iemocap`", reads_samples=False),
    EntryPoint("prepare_emodb", "`prepare_emodb`", reads_samples=False),
    EntryPoint("prepare_csv", "`prepare_csv_corpus`", reads_samples=False),
    EntryPoint("classify_cli", "`speechbrain-drnsa classify`", batch=True),
    EntryPoint("recognizer", "`EmotionRecognizer.classify_file`"),
]


def expected(case: AudioCase, entry: EntryPoint) -> str | None:
    """The error phrase a cell must show, or ``None`` for a correct result."""
    if case.in_samples and not entry.reads_samples:
        return None
    return case.error


def runs(case: AudioCase, entry: EntryPoint) -> bool:
    """Whether the matrix runs this cell (heavy files go only where samples are not read)."""
    return not (case.heavy and entry.reads_samples)


#: The entry points whose result is class probabilities, compared with the original's.
CLASSIFYING = ("classify_cli", "recognizer")


# The checks outside the audio matrix: (input, entry point, behaviour, the test that checks
# it as "file::function", a phrase of that test's source naming what it asserts).
# test_robustness.py reads every row: the test must exist and hold the phrase.
CONFIG_CASES = [
    ("misspelt top-level key `--max_epoch=3`", "recipe `train.py`",
     "`unknown override 'max_epoch'; did you mean 'max_epochs'?`",
     "test_config_validation.py::test_bad_setting_refused_before_any_work",
     "unknown override 'max_epoch'; did you mean 'max_epochs'?"),
    ("misspelt key inside `--model_overrides={chanels: ...}`", "recipe `train.py`",
     "`unknown key in model_overrides 'chanels'; did you mean 'channels'?` and the valid keys",
     "test_config_validation.py::test_bad_setting_refused_before_any_work",
     "unknown key in model_overrides 'chanels'; did you mean 'channels'? valid keys: "),
    ("misspelt perturbation `--perturbations=[{sped: 0.9}]`", "recipe `train.py`",
     "closest-key error naming `speed`, `gain_db`, `snr_db`",
     "test_config_validation.py::test_bad_setting_refused_before_any_work",
     "did you mean 'speed'? valid keys: speed, gain_db, snr_db"),
    ("unknown protocol `--protocol=speaker11`", "recipe `train.py`",
     "error naming the protocols allowed",
     "test_config_validation.py::test_bad_setting_refused_before_any_work",
     "unknown fold protocol 'speaker11'; expected one of"),
    ("`--batch_size=0`, `--max_epochs=-1`, `--batch_size=abc`, a zero width in the model",
     "recipe `train.py`", "error naming the key and what it must be",
     "test_config_validation.py::test_bad_setting_refused_before_any_work",
     "model_overrides lstm_hidden: 0 must be positive"),
    ("`--fold=99`", "recipe `train.py`", "error naming the folds of the protocol",
     "test_config_validation.py::test_fold_out_of_range", '"--fold=99"'),
    ("model yaml whose output size does not match the labels", "recipe `train.py`",
     "error naming `n_classes` and the number of labels",
     "test_config_validation.py::test_model_whose_outputs_do_not_match_the_labels",
     "n_classes: the model has 4 outputs but labels has 3"),
]

#: (what is wrong, the CSV's text, the message) for a corpus CSV; its audio is wav/u0.flac.
CSV_CASES = [
    ("empty file", "", "empty"),
    ("header only", "path,speaker,emotion\n", "no utterance rows"),
    ("missing column", "path,emotion\nwav/u0.flac,calm\n", "missing column(s) speaker"),
    ("unknown (empty) speaker", "path,speaker,emotion\nwav/u0.flac,,calm\n",
     "line 2: empty 'speaker'"),
    ("duplicate utterance id", "path,speaker,emotion\nwav/u0.flac,s0,calm\nwav/u0.flac,s1,calm\n",
     "line 3: utterance id 'u0' is also the id of line 2"),
    ("audio file missing", "path,speaker,emotion\nwav/u0.flac,s0,calm\nwav/nope.wav,s1,calm\n",
     "line 3: audio file"),
    ("duration not a number", "path,speaker,emotion,duration\nwav/u0.flac,s0,calm,abc\n",
     "line 2: duration 'abc'"),
]

FAULTS = [
    ("SIGKILL during corpus feature extraction", "`speechbrain-drnsa extract`",
     "rerun extracts the rest; no `.tmp` or truncated `.npy` left",
     "test_faults.py::test_sigkill_during_extraction_then_rerun_completes",
     "not stale.exists()"),
    ("SIGKILL during training", "recipe `train.py`",
     "rerun skips finished folds, resumes the killed one",
     "test_training_resume.py::"
     "test_sigkill_then_rerun_skips_finished_folds_and_matches_an_uninterrupted_run",
     "signal.SIGKILL"),
    ("SIGKILL while a checkpoint is written", "recipe `train.py`",
     "previous `last.ckpt` intact; the stray `.tmp` removed on the next run",
     "test_faults.py::test_checkpoint_write_killed_then_rerun_resumes_and_clears_the_temporary",
     "not stale.exists()"),
    ("SIGKILL during export", "`speechbrain-drnsa export`",
     "rerun writes the complete model folder; no `.tmp` left",
     "test_faults.py::test_sigkill_during_export_then_rerun_completes", "not stale.exists()"),
    ("full disk on a checkpoint write", "recipe `train.py`",
     "previous checkpoint kept, `checkpoint not written (No space left on device)`",
     "test_training_run.py::test_failed_checkpoint_write_keeps_the_previous_one",
     "checkpoint not written (No space left on device)"),
    ("full disk on a feature cache write", "`speechbrain-drnsa extract`",
     "the file listed as failed with `No space left on device`, exit 1, no `.tmp`",
     "test_faults.py::test_full_disk_on_a_cache_write_says_so_and_leaves_no_file",
     '"No space left on device" in reason'),
    ("two runs on one results folder", "recipe `train.py`",
     "the second refuses: `... is used by another run (pid N)`",
     "test_faults.py::test_second_run_on_the_same_results_folder_refuses",
     "is used by another run (pid "),
]

UNTRUSTED_MODELS = [
    ("yaml tags (`!new:`, `!apply:`, `!!python/object`) in config.yaml", "refused, nothing runs",
     "test_inference_safety.py::test_yaml_tags_are_refused_and_never_run",
     "assert not marker.exists()"),
    ("a pickled tensor file", "refused, nothing runs (marker file absent)",
     "test_inference_safety.py::test_pickled_file_is_refused_and_never_unpickled",
     "pickled file .* refused"),
    ("a symlink leading outside the model folder", "refused",
     "test_inference_safety.py::test_symlink_outside_is_refused", "symlink leading outside"),
    ("a safetensors header announcing absurd shapes", "refused before allocating",
     "test_untrusted_models.py::test_header_announcing_absurd_shapes_is_refused_before_allocating",
     "not a readable safetensors"),
    ("tensors whose shapes do not match the config", "refused, naming the tensor",
     "test_untrusted_models.py::test_mismatched_tensors_are_refused_naming_them",
     "misshapen tensors"),
    ("a malicious pickle checkpoint given to `--init_from`",
     "refused by `torch.load(weights_only=True)`, nothing runs (marker file absent)",
     "test_untrusted_models.py::test_malicious_checkpoint_given_to_init_from_runs_nothing",
     "assert not marker.exists()"),
]


def _cell(case: AudioCase, entry: EntryPoint) -> str:
    if not runs(case, entry):
        return "not run (reads every sample)"
    error = expected(case, entry)
    if error is None and case.original is not None and entry.name in CLASSIFYING:
        return f"result, probabilities within {case.tolerance:g} of the 16 kHz mono original's"
    if error is None:
        return "result"
    return f"error: `{error}`" + (", goes on, exit 1" if entry.batch else "")


def markdown() -> str:
    """The text of ``docs/robustness.md``."""
    lines = [
        "# Robustness: bad input, faults and untrusted models",
        "",
        "Written by `python tests/robustness_cases.py` from the tables that parametrise",
        "`tests/test_robustness.py`; do not edit by hand. Every error is one line that",
        "starts with the file's path; the command line prints no traceback, and a batch",
        "(`extract`, `classify`) goes on past a bad file and exits 1 at the end.",
        "Data preparation reads headers only: problems in the samples (NaN, inf) are",
        "reported by extraction. The last three tables name the test that checks each row.",
        "",
        "## Audio input x entry point",
        "",
        "| input | " + " | ".join(e.description for e in ENTRY_POINTS) + " |",
        "|---" * (len(ENTRY_POINTS) + 1) + "|",
    ]
    for case in AUDIO_CASES:
        cells = [_cell(case, entry) for entry in ENTRY_POINTS]
        lines.append(f"| {case.description} | " + " | ".join(cells) + " |")
    lines += ["", "## Corpus CSV (`recipes/CSV`, `prepare_csv_corpus`)", "",
              "| input | behaviour |", "|---|---|"]
    lines += [f"| {what} | error: `<csv>: {message}...`, nothing written |"
              for what, _, message in CSV_CASES]
    for title, rows in (
        ("Bad configuration (before any work starts)", CONFIG_CASES),
        ("Faults", FAULTS),
    ):
        lines += ["", f"## {title}", "", "| input | entry point | behaviour | checked by |",
                  "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | `tests/{test}` |" for a, b, c, test, _ in rows]
    lines += ["", "## Untrusted model folders and checkpoints", "",
              "| input | behaviour | checked by |", "|---|---|---|"]
    lines += [f"| {a} | {b} | `tests/{test}` |" for a, b, test, _ in UNTRUSTED_MODELS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(__file__).resolve().parents[1] / "docs" / "robustness.md"
    sys.path.insert(0, str(target.parents[1]))
    from speechbrain_drnsa.io import write_text_atomic

    write_text_atomic(markdown(), target)
    print(f"wrote {target}")
