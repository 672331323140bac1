"""POST /classify of the web server: answers, parallel requests, corrupt and oversized uploads.

The server runs in a thread (uvicorn, a free port) around the session's tiny
model folder; every request goes over real HTTP. The page in a browser:
tests/test_serve_browser.py.
"""

import base64
import http.client
import io
import json
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile

from serve_helpers import multipart, post_file, running
from speechbrain_drnsa.serve import UploadLimits, create_app, load_recognizer

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"
pytestmark = pytest.mark.skipif(not EMODB.is_dir(), reason=f"real EmoDB not present at {EMODB}")
LIMITS = UploadLimits(max_bytes=2 * 2**20, max_seconds=20.0)
# six speakers, several emotions: different files with different answers
FILES = ["03a01Fa.wav", "08b01Fe.wav", "10a01Wa.wav", "13a05Nb.wav", "14a01Ac.wav", "16b10Td.wav"]


@pytest.fixture(scope="module")
def recognizer(tiny_model_folder):
    return load_recognizer(tiny_model_folder)


@pytest.fixture(scope="module")
def server(recognizer):
    with running(create_app(recognizer, LIMITS)) as url:
        yield url


def wav_bytes(signal: np.ndarray, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, signal.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def test_the_answer_is_the_classify_json_of_the_file(server, recognizer):
    path = EMODB / FILES[0]
    status, answer = post_file(server, path.read_bytes(), path.name)
    assert status == 200, answer
    expected = recognizer.classify_windows(path)
    assert answer["file"] == path.name and answer["label"] == expected.label
    assert list(answer["probabilities"]) == recognizer.labels
    probabilities = list(answer["probabilities"].values())
    assert probabilities == pytest.approx(expected.probabilities, abs=1e-6)
    assert answer["duration_s"] == pytest.approx(soundfile.info(path).duration, abs=1e-3)
    assert answer["timeline"]["source"] == "speech segments"  # the vad extra is part of dev
    assert answer["timeline"]["segments"] and "figures" not in answer


def test_figures_come_as_png_data_urls(server):
    path = EMODB / FILES[1]
    status, answer = post_file(server, path.read_bytes(), path.name, figures=True)
    assert status == 200, answer
    for name in ("timeline", "explain"):
        prefix, data = answer["figures"][name].split(",", 1)
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_parallel_requests_each_get_their_own_file_s_answer(server, recognizer):
    alone = {name: recognizer.classify_windows(EMODB / name).probabilities for name in FILES}
    # the files' answers differ, so an answer given for another file would show
    for i, a in enumerate(FILES):
        for b in FILES[i + 1:]:
            assert np.abs(np.subtract(alone[a], alone[b])).max() > 1e-4, (a, b)
    requests = [(name, figures) for figures in (False, True) for name in FILES]
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(
            lambda request: post_file(server, (EMODB / request[0]).read_bytes(), *request),
            requests,
        ))
    for (name, _), (status, answer) in zip(requests, answers):
        assert status == 200, answer
        assert answer["file"] == name
        assert list(answer["probabilities"].values()) == pytest.approx(alone[name], abs=1e-6)


@pytest.mark.parametrize("content, problem", [
    (np.random.default_rng(0).bytes(5000), "not a readable audio file"),
    ((EMODB / FILES[2]).read_bytes()[:3000] if EMODB.is_dir() else b"", "truncated"),
    (b"", "empty file"),
])
def test_a_corrupt_upload_gets_400_naming_it_and_the_server_keeps_serving(
    server, content, problem
):
    status, answer = post_file(server, content, "broken upload.wav")
    assert status == 400
    assert answer["error"].startswith("broken_upload.wav: ") and problem in answer["error"]
    assert "speechbrain-drnsa-" not in answer["error"]  # not the server's temporary path
    status, _ = post_file(server, (EMODB / FILES[3]).read_bytes(), FILES[3])
    assert status == 200


def test_a_form_without_the_file_field_is_told_how_to_send_it(server):
    status, answer = post_file(server, b"RIFF", "a.wav", field="audio")
    assert status == 400 and "form field 'file'" in answer["error"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    host = urllib.parse.urlsplit(server).netloc
    connection = http.client.HTTPConnection(host, timeout=60)
    connection.putrequest("POST", "/classify")
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Content-Length", str(100 * 2**20))
    connection.endheaders()  # and not one byte of the 100 MB announced
    response = connection.getresponse()
    assert response.status == 413
    assert "100.0 MB refused" in json.loads(response.read())["error"]
    connection.close()


def test_a_chunked_body_over_the_limit_is_refused(server):
    body, content_type = multipart({"file": ("big.wav", b"\0" * (3 * 2**20))})
    host = urllib.parse.urlsplit(server).netloc
    connection = http.client.HTTPConnection(host, timeout=60)
    blocks = (body[i:i + 2**16] for i in range(0, len(body), 2**16))
    connection.request("POST", "/classify", body=blocks, encode_chunked=True,
                       headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"})
    response = connection.getresponse()
    assert response.status == 413
    assert "at most 2.0 MB" in json.loads(response.read())["error"]
    connection.close()


def test_audio_longer_than_the_limit_gets_413_and_the_server_keeps_serving(server):
    long_audio = 0.1 * np.random.default_rng(0).standard_normal(25 * 16000)
    status, answer = post_file(server, wav_bytes(long_audio), "long.wav")
    assert status == 413
    assert answer["error"] == ("long.wav: 25.0 s of audio; this server takes at most 2.0 MB "
                               "and 20 s of audio")
    status, _ = post_file(server, (EMODB / FILES[4]).read_bytes(), FILES[4])
    assert status == 200


def test_a_file_without_speech_has_no_label_and_an_empty_timeline(server):
    noise = 1e-4 * np.random.default_rng(1).standard_normal(3 * 16000)
    status, answer = post_file(server, wav_bytes(noise), "quiet.wav", figures=True)
    assert status == 200, answer
    assert answer["timeline"]["label"] is None and answer["timeline"]["segments"] == []
    assert answer["figures"]["timeline"].startswith("data:image/png;base64,")
    assert answer["figures"]["explain"].startswith("data:image/png;base64,")


def test_the_page_and_the_model_description(server, recognizer):
    with urllib.request.urlopen(f"{server}/") as response:
        page = response.read().decode()
    assert 'id="file"' in page and 'id="timeline"' in page and 'id="explain"' in page
    with urllib.request.urlopen(f"{server}/info") as response:
        info = json.loads(response.read())
    assert info["labels"] == recognizer.labels and info["max_seconds"] == 20.0
    assert info["per_speaker"] == recognizer.speaker_normalization
