"""Faults: SIGKILL mid-command then the same command again, a full disk, two runs at once."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from speechbrain_drnsa.features.cache import extract_corpus, load_features
from speechbrain_drnsa.inference import export
from speechbrain_drnsa.inference.folder import load_model_folder
from speechbrain_drnsa.training.lock import experiment_lock

ROOT = Path(__file__).resolve().parents[1]


def _killed_when(command: list[str], ready) -> int:
    """Start ``command``, SIGKILL it once ``ready()`` holds (or it ends); its exit status."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def _stale_temporary(folder: Path, name: str) -> Path:
    """What a writer killed inside io.atomic_write leaves: a half-written hidden .tmp."""
    path = folder / f".{name}.99999.0badcafe.tmp"
    path.write_bytes(b"half")
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    return path


def test_sigkill_during_extraction_then_rerun_completes(
    demo_corpus, demo_manifest_folder, tmp_path
):
    manifest, cache = demo_manifest_folder / "iemocap.json", tmp_path / "cache"
    command = [sys.executable, "-m", "speechbrain_drnsa.cli", "extract", str(manifest),
               "--cache", str(cache), "--data-root", str(demo_corpus)]
    _killed_when(command, lambda: len(list(cache.rglob("*.npy"))) >= 5)
    done_before = len(list(cache.rglob("*.npy")))
    stale = _stale_temporary(next(cache.iterdir()), "Ses01F_x.npy")
    report = extract_corpus([manifest], cache, data_root=demo_corpus)
    assert report.ok and report.reused >= done_before >= 5 and report.extracted > 0
    assert not stale.exists() and not list(cache.rglob("*.tmp"))
    assert all(load_features(path).shape[1] == 17 for path in report.paths.values())


def test_full_disk_on_a_cache_write_says_so_and_leaves_no_file(demo_corpus,
                                                               demo_manifest_folder,
                                                               tmp_path, monkeypatch):
    def disk_full(stream, *args, **kwargs):
        stream.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    report = extract_corpus([demo_manifest_folder / "iemocap.json"], tmp_path / "cache",
                            data_root=demo_corpus)
    assert not report.ok and not report.paths
    assert all("No space left on device" in reason for reason in report.failures.values())
    assert not list((tmp_path / "cache").rglob("*.npy"))
    assert not list((tmp_path / "cache").rglob("*.tmp"))


@pytest.fixture(scope="module")
def trained(train_tiny, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    assert train_tiny(root, "--fold=0", "--max_epochs=1") == 0
    return root


def test_sigkill_during_export_then_rerun_completes(trained, tmp_path):
    source, out = trained / "drn_mhsa" / "1234", tmp_path / "model"
    command = [sys.executable, "-m", "speechbrain_drnsa.cli", "export", str(source), str(out)]
    # killed once the folder exists, before the export finished (it takes seconds)
    assert _killed_when(command, out.is_dir) == -signal.SIGKILL, "the export ended before the kill"
    stale = _stale_temporary(out, "model.safetensors")  # as a kill inside a write leaves it
    export(source, out)
    assert load_model_folder(out).labels == ["neu", "hap", "sad", "ang"]
    assert not stale.exists() and not list(out.rglob("*.tmp"))


def test_checkpoint_write_killed_then_rerun_resumes_and_clears_the_temporary(
    train_tiny, trained, tmp_path, caplog
):
    fold = trained / "drn_mhsa" / "1234" / "fold_0"
    # the fold's run was killed while writing a checkpoint, before training ended
    (fold / "metrics.json").unlink()
    (fold / "checkpoints" / "training.json").unlink()
    stale = _stale_temporary(fold / "checkpoints", "last.ckpt")
    assert train_tiny(trained, "--fold=0", "--max_epochs=1") == 0
    assert not stale.exists() and (fold / "metrics.json").is_file()


def test_second_run_on_the_same_results_folder_refuses(train_tiny, tmp_path, caplog):
    with experiment_lock(tmp_path / "drn_mhsa" / "1234"):
        assert train_tiny(tmp_path, "--fold=0", "--max_epochs=1") == 2
    assert "is used by another run (pid " in caplog.text
    assert not (tmp_path / "drn_mhsa" / "1234" / "fold_0").exists()


def test_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
    holder = ("import sys, time; from speechbrain_drnsa.training.lock import experiment_lock\n"
              "with experiment_lock(sys.argv[1]):\n    print('held', flush=True)\n"
              "    time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)], env=env,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    process.send_signal(signal.SIGKILL)
    process.wait()
    with experiment_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())
