"""The command line's layout: one module per command, help that quotes the defaults it uses, and a
command's printed lines checked against the tokenizers library itself. Fast: tiny tokenizers built
in code, no presets."""

from __future__ import annotations

import argparse
import json
import pkgutil
import re
import subprocess
import sys

import pytest

import vocablab.cli
from vocablab.cli import COMMANDS, build_parser, main

from .conftest import tiny_byte_level_bpe, tiny_sentencepiece_bpe

SHARED_MODULES = {"common", "generation", "__main__"}  # the package's modules that are not commands


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_module_of_the_package_is_a_registered_command():
    modules = {m.name for m in pkgutil.iter_modules(vocablab.cli.__path__)} - SHARED_MODULES
    assert modules == {command.__name__.rsplit(".", 1)[1] for command in COMMANDS}
    assert list(subparsers(build_parser())) == [command.NAME for command in COMMANDS]
    for command in COMMANDS:
        assert callable(command.add_arguments) and callable(command.run) and command.HELP


def test_help_quotes_the_default_each_option_has():
    """Every "(default X)" in an option's help names the value the option really defaults to."""
    checked = 0
    for name, parser in subparsers(build_parser()).items():
        for action in parser._actions:
            if action.default in (None, argparse.SUPPRESS) or not action.help or "(default" not in action.help:
                continue
            shown = action.help % {"default": action.default}
            quoted = re.search(r"\(default ([^,;:)\s]+)", shown).group(1)
            if isinstance(action.default, (int, float)) and not isinstance(action.default, bool):
                assert float(quoted) == action.default, (name, action.dest, shown)
            else:
                assert quoted == action.default, (name, action.dest, shown)
            checked += 1
    assert checked >= 15  # --k, --max-new-bytes, --gamma, --reg, --lr, --device, ... across the commands


@pytest.fixture(scope="module")
def tiny_tokenizers(tmp_path_factory):
    folders = []
    for name, tokenizer in (("bytelevel", tiny_byte_level_bpe()), ("sp", tiny_sentencepiece_bpe())):
        folder = tmp_path_factory.mktemp(name)
        tokenizer.save(str(folder / "tokenizer.json"))
        folders.append((str(folder), tokenizer))
    return folders


def test_compare_prints_each_tokenizers_count_and_json_with_the_same(tiny_tokenizers, capsys):
    text = "the cat sat"
    argv = ["compare", *(folder for folder, _ in tiny_tokenizers), "--text", text]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for (folder, tokenizer), entry in zip(tiny_tokenizers, data["tokenizers"], strict=True):
        expected = len(tokenizer.encode(text, add_special_tokens=False).ids)  # the tokenizers library's own count
        assert entry["n_tokens"] == expected
        assert any(line.startswith(f"== {folder}: {expected} tokens, ") for line in printed), printed
    assert any(line.startswith("== overlap ") and "shared by string" in line for line in printed)


def test_main_returns_2_and_prints_the_reason_on_stderr(tiny_tokenizers, capsys):
    folder = tiny_tokenizers[0][0]
    assert main(["compare", folder, folder, "--file", "/nonexistent/text.txt"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("vocablab: error: cannot read /nonexistent/text.txt")


def test_the_package_runs_as_a_module():
    for module in ("vocablab", "vocablab.cli"):
        run = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and run.stdout.startswith("vocablab "), run.stderr
