"""Atomic writes (text, JSON, arrays) and JSON loads that name the bad file."""

import pytest

from speechbrain_drnsa.io import load_json, write_json_atomic
from speechbrain_drnsa.errors import InputFileError


def test_round_trip_creates_the_folder(tmp_path):
    path = write_json_atomic({"utt": {"duration": 1.5}}, tmp_path / "new" / "m.json")
    assert load_json(path) == {"utt": {"duration": 1.5}}


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_json_atomic({"old": 1}, tmp_path / "m.json")
    with pytest.raises(TypeError):
        write_json_atomic({"new": object()}, path)
    assert load_json(path) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize(
    "content, problem",
    [(None, "file not found"), (b'{"a": ', "malformed JSON at line 1"), (b"\xff\xfe", "UTF-8")],
)
def test_load_errors_name_the_file(tmp_path, content, problem):
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError, match=problem) as info:
        load_json(path)
    assert info.value.path == str(path)


def test_load_a_folder(tmp_path):
    with pytest.raises(InputFileError, match="is a folder"):
        load_json(tmp_path)


def test_temporaries_of_dead_writers_go_at_once_live_ones_stay(tmp_path):
    import os
    import subprocess
    import sys

    from speechbrain_drnsa.io import remove_stale_temporaries

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = tmp_path / f".a.npy.{finished.stdout.strip()}.0badcafe.tmp"
    live = tmp_path / f".b.npy.{os.getpid()}.0badcafe.tmp"
    foreign = tmp_path / ".c.tmp"  # not a name this package writes: only the age rule
    for path in (dead, live, foreign):
        path.write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path, older_than_s=600) == [dead]
    assert live.exists() and foreign.exists()
