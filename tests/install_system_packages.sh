#!/usr/bin/env bash
# The system packages the tests need, from Debian: headless Chromium and its driver for
# tests/test_serve_browser.py (browser builds cannot be downloaded at run time). Idempotent.
set -euo pipefail
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
fi
