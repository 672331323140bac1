#!/usr/bin/env bash
# docs/figures/serve_page.png: the page of `speechbrain-drnsa serve` in headless Chromium,
# after uploading four EmoDB sentences of speaker 08 (a test speaker of fold 0: the model never
# heard that voice), one per class (the first anger, happiness, neutral and sadness file, in
# that order), with 1 s of faint noise before, between and after them.
# The model is the recommended small-corpus system of recipes/EmoDB (hparams/small_corpus.yaml:
# CPU-sized DRN-MHSA with ComParE_2016 functionals, 4 classes), inductive
# (--speaker_normalization=false, so that no speaker needs enrolling), one seed, fold 0 of
# speaker_kfold5 only, at most 30 epochs (patience 10).
#
#   bash docs/figures/make_serve_screenshot.sh ../shared/data/emodb [WORK_DIR]
#
# Run from the top of the repository with the serve and vad extras, selenium, and Debian's
# chromium and chromium-driver installed; WORK_DIR (default /tmp/serve_screenshot) holds the
# run, the model folder, the recording and the JSON answer of POST /classify for it.
set -euo pipefail
emodb=$(realpath "${1:?usage: bash docs/figures/make_serve_screenshot.sh EMODB_FOLDER [WORK_DIR]}")
work=$(realpath -m "${2:-/tmp/serve_screenshot}")
figure=$(pwd)/docs/figures/serve_page.png
port=7861
if [ ! -d "$work/model" ]; then
    (
        cd recipes/EmoDB
        python train.py hparams/small_corpus.yaml --data_folder="$emodb" --output_root="$work" \
            --experiment=serve_demo --seeds=null --fold=0 --speaker_normalization=false \
            --max_epochs=30 --early_stopping_patience=10
    )
    speechbrain-drnsa export "$work/serve_demo/1234" "$work/model" --corpus EmoDB
fi
python - "$emodb" "$work/speaker08_four.wav" <<'PY'
import sys
from pathlib import Path

import numpy as np
import soundfile

emodb, out = Path(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
parts = []
for code in "WFNT":  # Wut, Freude, Neutral, Trauer: anger, happiness, neutral, sadness
    speech, rate = soundfile.read(sorted((emodb / "wav").glob(f"08???{code}?.wav"))[0])
    parts += [1e-3 * rng.standard_normal(rate).astype(np.float32), speech]
parts.append(1e-3 * rng.standard_normal(rate).astype(np.float32))
soundfile.write(out, np.concatenate(parts), rate)
PY
speechbrain-drnsa serve --model "$work/model" --port "$port" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill "$server"' EXIT
python - "http://127.0.0.1:$port" "$work/speaker08_four.wav" "$figure" "$work/answer.json" <<'PY'
import json
import shutil
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, recording, figure, answer_file = sys.argv[1:]
for _ in range(240):  # the model loads in a few seconds
    try:
        urllib.request.urlopen(f"{url}/info", timeout=5)
        break
    except OSError:
        time.sleep(0.5)
answer = subprocess.run(["curl", "-s", "-F", f"file=@{recording}", f"{url}/classify"],
                        check=True, capture_output=True, text=True).stdout
with open(answer_file, "w") as out:
    out.write(answer)
options = webdriver.ChromeOptions()
options.binary_location = shutil.which("chromium")
for argument in ("--headless=new", "--no-sandbox", "--window-size=1100,1000"):
    options.add_argument(argument)
browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
try:
    browser.get(url)
    WebDriverWait(browser, 60).until(lambda b: "model " in b.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "file").send_keys(recording)
    WebDriverWait(browser, 300).until(
        lambda b: b.execute_script("return document.body.dataset.state") == "done")
    assert browser.find_element(By.ID, "label").text == json.loads(answer)["label"]
    # the whole page in one image: the window grows to the page's height plus its own frame
    height = browser.execute_script("return document.documentElement.scrollHeight "
                                    "+ window.outerHeight - window.innerHeight")
    browser.set_window_size(1100, height)
    browser.save_screenshot(figure)
finally:
    browser.quit()
print(f"{figure} written; POST /classify answered: {answer}")
PY
