"""``speechbrain-drnsa serve`` end to end: the command in a process, its page in headless Chromium.

Chromium and its driver come from the system's packages (Debian: ``apt-get
install chromium chromium-driver``; .ci/run installs them); browser builds
cannot be downloaded here, so a missing browser fails the test, saying so. The microphone is
Chromium's fake capture device, playing an EmoDB file.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serve_helpers import free_port, post_file, wait_until_up

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"
pytestmark = pytest.mark.skipif(not EMODB.is_dir(), reason=f"real EmoDB not present at {EMODB}")
REPO = Path(__file__).resolve().parents[1]
SPEECH = EMODB / "08b01Fe.wav"


@pytest.fixture(scope="module")
def cli_server(tiny_model_folder):
    """``speechbrain-drnsa serve --model ... --port P`` in a process of its own; yields its URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen(
        [sys.executable, "-m", "speechbrain_drnsa.cli", "serve", "--model",
         str(tiny_model_folder), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def headless_chromium(*arguments: str):
    """A headless Chromium under selenium, from the system's chromium and chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser = next(filter(None, map(shutil.which, ["chromium", "chromium-browser"])), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium chromium-driver "
                    "(Debian's packages; .ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", *arguments):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


@pytest.fixture(scope="module")
def chromium():
    session = headless_chromium("--window-size=1200,2400")
    yield session
    session.quit()


def test_the_command_binds_this_machine_only(cli_server):
    port = int(cli_server.rsplit(":", 1)[1])
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # 127.0.0.2 is this machine too, but not the address bound: 0.0.0.0 would accept it
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", port), timeout=5).close()


def test_the_page_shows_the_file_s_label_timeline_and_explanation(
    cli_server, chromium, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    status, answer = post_file(cli_server, SPEECH.read_bytes(), SPEECH.name)
    assert status == 200, answer
    chromium.get(cli_server)
    WebDriverWait(chromium, 60).until(lambda b: "model " in b.find_element(By.ID, "model").text)
    chromium.find_element(By.ID, "file").send_keys(str(SPEECH))
    state = "return document.body.dataset.state"
    WebDriverWait(chromium, 300).until(lambda b: b.execute_script(state) in ("done", "error"))
    assert chromium.find_element(By.ID, "error").text == ""
    assert chromium.find_element(By.ID, "label").text == answer["label"]
    rows = chromium.find_elements(By.CSS_SELECTOR, "#probabilities tr")
    shown = [row.text.split() for row in rows]
    assert [[label, f"{p:.3f}"] for label, p in answer["probabilities"].items()] == shown
    for image in ("timeline", "explain"):
        width = chromium.execute_script(
            f"return document.getElementById('{image}').naturalWidth")
        assert width > 0, f"the {image} figure did not render"
    screenshot = tmp_path / "serve_page.png"
    assert chromium.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_shows_the_server_s_error_for_a_corrupt_file(cli_server, chromium, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + bytes(200))
    chromium.get(cli_server)
    chromium.find_element(By.ID, "file").send_keys(str(broken))
    state = "return document.body.dataset.state"
    WebDriverWait(chromium, 120).until(lambda b: b.execute_script(state) == "error")
    assert chromium.find_element(By.ID, "error").text.startswith("broken.wav: ")
    assert not chromium.find_element(By.ID, "result").is_displayed()


def test_a_recording_from_the_microphone_is_classified(cli_server):
    """Chromium's fake microphone plays an EmoDB sentence; the page records, encodes, sends."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    session = headless_chromium("--use-fake-ui-for-media-stream",
                                "--use-fake-device-for-media-stream",
                                f"--use-file-for-fake-audio-capture={SPEECH}")
    try:
        session.get(cli_server)
        WebDriverWait(session, 60).until(lambda b: "model " in b.find_element(By.ID, "model").text)
        session.find_element(By.ID, "record").click()
        state = "return document.body.dataset.state"
        WebDriverWait(session, 30).until(lambda b: b.execute_script(state) == "recording")
        time.sleep(3)
        session.find_element(By.ID, "record").click()
        WebDriverWait(session, 300).until(lambda b: b.execute_script(state) in ("done", "error"))
        assert session.find_element(By.ID, "error").text == ""
        answer = json.loads(session.execute_script(
            "return document.getElementById('json').textContent"))
    finally:
        session.quit()
    assert answer["file"] == "recording.wav" and 2.5 < answer["duration_s"] < 10
    assert answer["label"] in answer["probabilities"]
    assert answer["timeline"]["segments"], "no speech in the recording: the audio was lost"
