"""What a fresh machine installs: the Space's requirements.txt and pyproject.toml declare the same
packages, and the files the app ships beside the code are there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from vocablab.examples import EXAMPLES, example_text
from vocablab.presets import DEFAULT_MODELS, MODEL_PRESETS, TEXT_PRESETS, TOKENIZER_PRESETS

ROOT = Path(__file__).resolve().parents[1]


def requirement_names(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name = re.match(r"[A-Za-z0-9_.\-]+", line).group(0)
            out[name.lower().replace("_", "-")] = line
    return out


def test_requirements_txt_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spaces = (ROOT / "requirements.txt").read_text().splitlines()
    assert requirement_names(spaces) == requirement_names(declared)


def test_example_texts_are_shipped():
    for name in EXAMPLES:
        assert example_text(name).strip(), name
    assert re.search(r"\d{1,3}(,\d{3})+\.\d+", example_text("numbers"))  # thousands separators and decimals
    assert "<|im_start|>" in example_text("chat")
    assert any(ord(ch) > 0x3000 for ch in example_text("multilingual"))  # CJK


def test_preset_manifest_pins_versions_and_hashes():
    for preset in [*MODEL_PRESETS.values(), *TOKENIZER_PRESETS.values(), *TEXT_PRESETS.values()]:
        assert re.fullmatch(r"[0-9a-f]{64}", preset.sha256), preset.name
    for preset in MODEL_PRESETS.values():
        assert all("==" in wheel for wheel in preset.wheels), preset.name
    for preset in TOKENIZER_PRESETS.values():
        assert re.search(r"@\d+\.\d+\.\d+$", preset.npm_package), preset.name
    assert set(DEFAULT_MODELS) <= set(MODEL_PRESETS)


@pytest.mark.slow
def test_a_built_wheel_lists_the_presets(tmp_path):
    """A non-editable install carries the preset manifest and the example texts: build the wheel,
    install it alone in a new virtual environment and list the presets from outside the repository.
    (Listing needs only the standard library, so the wheel is installed without its dependencies.)"""
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # else pip sees this checkout
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(wheels)], check=True)
    (wheel,) = wheels.glob("vocablab-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "-q", "install", "--no-deps", str(wheel)], env=env, check=True)
    listed = subprocess.run(
        [python, "-m", "vocablab", "presets"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout
    for name in [*MODEL_PRESETS, *TOKENIZER_PRESETS]:
        assert name in listed, name
    where = subprocess.run(
        [python, "-c", "import vocablab.examples as e; print(e.__file__); print(e.example_text('numbers'))"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)) and example_text("numbers") in where
