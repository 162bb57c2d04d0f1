"""Smoke test of an installed vocablab, meant to run from a clean virtual environment.

Starts `app.py` as a real server, calls the tokenizer view through `gradio_client` on the two
default models, and runs the installed `vocablab` console script. Also checks that the cheap
CLI paths (help, presets, argument errors) import none of the heavy libraries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vocablab.presets import DEFAULT_MODELS

from .app_server import serve_app, visitor

pytestmark = pytest.mark.e2e  # runs the app

CONSOLE_SCRIPT = Path(sys.executable).parent / "vocablab"
START_TIMEOUT_S = 180
HEAVY_MODULES = ("torch", "transformers", "gradio", "ot")
TEXT = "The café's 2024 revenue grew 12.5% to $1,234,567.89"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The URL of `python app.py` running on a free port; the server is stopped afterwards."""
    env = {"HF_HUB_OFFLINE": "1", "VOCABLAB_WORKDIR": str(tmp_path_factory.mktemp("workspace"))}
    with serve_app(env=env, log=tmp_path_factory.mktemp("app") / "app.log", timeout=START_TIMEOUT_S) as url:
        yield url


def tokenizer_endpoint(client) -> str:
    """The API name of the tokenizer view's handler, tokenize_side_by_side(text, show_ids, a, b, c, d)."""
    names = list(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    matching = sorted((n for n in names if n.startswith("/tokenize_side_by_side")), key=len)
    assert matching, f"no tokenize_side_by_side endpoint among {names}"
    return matching[0]


def test_app_serves_the_tokenizer_view(app_url, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # the client reads it even with analytics_enabled=False
    client = visitor(app_url)
    first, second = DEFAULT_MODELS
    tokens_html, summary, *_ = client.predict(
        TEXT, False, first, second, None, None, api_name=tokenizer_endpoint(client)
    )
    assert first in tokens_html and second in tokens_html
    assert len(summary["data"]) == 2, summary
    assert {row[0] for row in summary["data"]} == {first, second}


def run_console_script(*args: str) -> subprocess.CompletedProcess:
    assert CONSOLE_SCRIPT.is_file(), f"no console script {CONSOLE_SCRIPT}: is vocablab installed?"
    return subprocess.run([str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_console_script_help():
    run = run_console_script("--help")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: vocablab")
    for command in ("compare", "transplant", "generate", "align", "presets"):
        assert command in run.stdout


def test_console_script_presets():
    run = run_console_script("presets")
    assert run.returncode == 0, run.stderr
    for name in DEFAULT_MODELS:
        assert name in run.stdout


LIGHT_COMMANDS = {  # argv and the exit status it must give
    "help": (["--help"], 0),
    "presets": (["presets"], 0),
    "argument-error": (["compare", "onlyone", "--text", "x"], 2),
}
PROBE = """
import json, sys
from vocablab.cli import main
sys.argv = ["vocablab", *{argv!r}]
try:
    status = main()
except SystemExit as exc:
    status = exc.code
print(json.dumps({{"status": status or 0, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


@pytest.mark.parametrize("argv, status", LIGHT_COMMANDS.values(), ids=LIGHT_COMMANDS.keys())
def test_light_commands_import_no_heavy_library(argv, status):
    program = PROBE.format(argv=argv, heavy=HEAVY_MODULES)
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["status"] == status, run.stderr
    assert result["heavy"] == [], f"vocablab {' '.join(argv)} imported {result['heavy']}"
