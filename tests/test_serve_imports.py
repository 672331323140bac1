"""The web server is a room of its own: inference never imports it, and the other commands
never import the web stack."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_inference_never_imports_the_server():
    for path in sorted((REPO / "speechbrain_drnsa" / "inference").rglob("*.py")):
        assert "speechbrain_drnsa.serve" not in path.read_text(encoding="utf-8"), path


def test_the_command_line_imports_the_web_stack_only_for_serve():
    check = (
        "import sys; from speechbrain_drnsa.cli import build_parser; "
        "import speechbrain_drnsa.inference; "
        "args = build_parser().parse_args(['serve', '--model', 'm', '--host', '0.0.0.0']); "
        "assert (args.host, args.port, args.max_mb) == ('0.0.0.0', 7860, 64.0), args; "
        "assert build_parser().parse_args(['serve', '--model', 'm']).host == '127.0.0.1'; "
        "loaded = [m for m in ('fastapi', 'uvicorn', 'starlette', 'speechbrain_drnsa.serve') "
        "if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_serve_refuses_a_folder_that_is_no_model_in_one_line(tmp_path, capsys):
    from speechbrain_drnsa.cli import main

    assert main(["serve", "--model", str(tmp_path), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tmp_path}") and "Traceback" not in error
