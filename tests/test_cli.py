"""The `vocablab` command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import tiny_byte_level_bpe, tiny_sentencepiece_bpe


def vocablab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vocablab", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("bytelevel"), tmp_path_factory.mktemp("sp")
    tiny_byte_level_bpe().save(str(a / "tokenizer.json"))
    tiny_sentencepiece_bpe().save(str(b / "tokenizer.json"))
    return str(a), str(b)


def test_compare_json(tiny_dirs):
    run = vocablab("compare", *tiny_dirs, "--text", "the cat 🙂", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [t["name"] for t in data["tokenizers"]] == list(tiny_dirs)
    for t in data["tokenizers"]:
        assert len(t["ids"]) == len(t["tokens"]) == len(t["byte_lengths"])
        assert sum(t["byte_lengths"]) == len("the cat 🙂".encode())
    assert data["overlap"]["pairs"][0]["shared_by_bytes"] > 0


def test_compare_text_output(tiny_dirs):
    run = vocablab("compare", *tiny_dirs, "--text", "the cat")
    assert run.returncode == 0 and "shared by string" in run.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "no-such-preset", "gpt2", "--text", "x"], "not a preset"),
        (["compare", "gpt2", "mistral", "--text", ""], "empty"),
        (["compare", "gpt2", "mistral", "--file", "/nonexistent/file.txt"], "cannot read"),
        (["compare", "some-org/missing-model", "gpt2", "--text", "x"], "hub"),
        # argparse takes "-1,2" for an option; the message says how to write it
        (["ensemble", "gpt2", "mistral", "--prompt", "x", "--weights", "-1,2"], "--weights=VALUE"),
    ],
)
@pytest.mark.real  # preset tokenizers or models
def test_bad_input_exits_non_zero_without_traceback(args, message):
    run = vocablab(*args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_numbers_json():
    run = vocablab("numbers", "llama3", "qwen3", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert "groups" in json.dumps(data) and "single" in json.dumps(data)


@pytest.mark.slow
def test_compare_default_models():
    run = vocablab("compare", "smollm2-135m", "gemma3-270m", "--text", "12,345 cats", "--json")
    assert run.returncode == 0, run.stderr
    pair = json.loads(run.stdout)["overlap"]["pairs"][0]
    assert pair["shared_by_bytes"] > pair["shared_by_string"] > 0


def test_version_is_the_packages():
    declared = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["version"]
    run = vocablab("--version")
    assert (run.returncode, run.stdout.strip()) == (0, f"vocablab {declared}")


@pytest.mark.slow
def test_piped_output_draws_no_progress_bars():
    run = vocablab("generate", "smollm2-135m", "--prompt", "Hi", "--k", "1", "--max-new-bytes", "2")
    assert run.returncode == 0, run.stderr
    assert "%|" not in run.stderr and "\r" not in run.stderr, run.stderr  # transformers' "Loading weights" bar
    assert "ended by budget" in run.stderr


def test_a_reader_that_stops_early_gets_no_traceback():
    """``vocablab presets | head -0``: the pipe is closed before the command writes."""
    run = subprocess.Popen(
        [sys.executable, "-m", "vocablab", "presets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    run.stdout.close()
    stderr = run.stderr.read().decode()
    assert run.wait() == 141 and stderr == ""


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "smollm2-135m", "--no-heal"],
        ["generate", "smollm2-135m", "--chat"],
        ["ensemble", "smollm2-135m", "gemma3-270m", "--no-heal"],
        ["before-after", "gemma3-270m", "smollm2-135m", "--text", "hi"],
    ],
)
@pytest.mark.real  # preset tokenizers or models
def test_a_prompt_cut_inside_a_character_and_not_healed_gets_a_message(command):
    # the shell passes b"caf\xc3" (a cut "é"); healing conditions on its bytes, the other paths cannot
    done = subprocess.run(
        [sys.executable, "-m", "vocablab", *command, "--prompt", b"caf\xc3"], capture_output=True, timeout=600
    )
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, stderr
    # with --chat the position counts in the rendered chat text, where the prompt comes after the template's start
    where = "(at character " if "--chat" in command else "(at character 3)"
    assert f"is not valid UTF-8 {where}" in stderr and "Traceback" not in stderr


def test_align_refuses_a_regularization_its_solver_cannot_converge_at():
    # --reg 0.001 on real models gave plans of NaN and exit status 0 (a new user's report)
    done = vocablab("align", "gemma3-270m", "smollm2-135m", "--text", "The committee approved homes.", "--reg", "0.001")
    assert done.returncode == 2, done.stderr
    assert "the Sinkhorn regularization must be at least 0.005" in done.stderr and "Traceback" not in done.stderr
