"""Every bad input a user can give the `vocablab` command line, run as a user runs it.

Each case must be refused with exit status 2 and a one-line message (`vocablab: error: ...`, or
argparse's `usage: ... error: ...` for a malformed command line), never a traceback, and before
any heavy work: a case still running after CASE_TIMEOUT_S seconds fails.
Hub ids run with HF_HUB_OFFLINE=1, so nothing goes to the network. Cases that name a preset are
marked slow (they use the cached preset models and tokenizers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from vocablab.options import MAX_ALIGN_BYTES, MAX_TEXT_CHARS
from vocablab.presets import ensure_preset

from .conftest import tiny_byte_level_bpe, tiny_llama, tiny_sentencepiece_bpe

CASE_TIMEOUT_S = 240
SMOLLM = "smollm2-135m"  # the second model of two-model cases is tiny: they test options, not models
slow = pytest.mark.slow
needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@dataclass
class Files:
    """Builds the files and folders of one case in its tmp_path; each method returns a path for the command line."""

    root: Path

    def text(self, content: str = "the cat sat on the mat\nhello world\n", name: str = "text.txt") -> str:
        path = self.root / name
        path.write_text(content, encoding="utf-8")
        return str(path)

    def raw(self, data: bytes, name: str) -> str:
        path = self.root / name
        path.write_bytes(data)
        return str(path)

    def folder(self, name: str, files: dict[str, str | bytes] | None = None) -> Path:
        folder = self.root / name
        folder.mkdir()
        for file_name, content in (files or {}).items():
            if isinstance(content, bytes):
                (folder / file_name).write_bytes(content)
            else:
                (folder / file_name).write_text(content, encoding="utf-8")
        return folder

    def tokenizer(self, name: str = "tiny-bytelevel") -> str:
        """A folder holding a tiny byte-level BPE tokenizer.json (no preset needed)."""
        folder = self.folder(name)
        tiny_byte_level_bpe().save(str(folder / "tokenizer.json"))
        return str(folder)

    def two_tokenizers(self) -> list[str]:
        """Two tiny tokenizer folders of different kinds, for commands that take two."""
        second = self.folder("tiny-sp")
        tiny_sentencepiece_bpe().save(str(second / "tokenizer.json"))
        return [self.tokenizer(), str(second)]

    def non_causal_model(self) -> str:
        """A folder with a tokenizer and a config.json of a masked (not causal) language model."""
        folder = Path(self.tokenizer("bert"))
        config = {"architectures": ["BertForMaskedLM"], "model_type": "bert"}
        (folder / "config.json").write_text(json.dumps(config))
        return str(folder)

    def small_model(self) -> str:
        """A one-layer Llama with the mistral preset's tokenizer, quick to load."""
        folder = self.root / "small-model"
        return str(folder if folder.is_dir() else tiny_llama("mistral", folder, tied=False))

    def broken_model(self, name: str, content: bytes) -> str:
        """The small model with its file ``name`` replaced by ``content`` (damaged weights, say)."""
        folder = Path(self.small_model())
        (folder / name).write_bytes(content)
        return str(folder)

    def mismatched_model(self) -> str:
        """A real-architecture model whose embedding has fewer rows than its tokenizer has ids."""
        return str(tiny_llama("gpt2", self.root / "mismatched", tied=True, rows=1000))

    def pickle_only_model(self) -> str:
        """The smollm2 preset's tokenizer files and config.json, with weights only as pytorch_model.bin."""
        preset = ensure_preset(SMOLLM)
        folder = self.folder("pickle-only", {"pytorch_model.bin": b"\x80\x04 a pickle that must never be loaded"})
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "config.json"):
            if (preset / name).is_file():
                shutil.copy(preset / name, folder / name)
        return str(folder)


Case = Callable[[Files], list[str]]
USER_ERROR, ARGPARSE_ERROR = "vocablab: error:", "usage:"


def case(build: Case, case_id: str, *, argparse: bool = False, marks=()) -> pytest.param:
    """One bad command line; ``argparse``: refused by the argument parser (usage line + `error:`)."""
    return pytest.param(build, ARGPARSE_ERROR if argparse else USER_ERROR, id=case_id, marks=marks)


def align(f: Files, *extra: str) -> list[str]:
    """``vocablab align`` between SmolLM2 and the tiny model, then ``extra``."""
    return ["align", SMOLLM, f.small_model(), *extra]


def distill(f: Files, *extra: str, text: str | None = None) -> list[str]:
    """``vocablab distill`` from SmolLM2 to the tiny model on a short text, then ``extra``."""
    return ["distill", "--teacher", SMOLLM, "--student", f.small_model(), "--text", text or f.text(), *extra]


CASES = [
    # model specs: presets, hub ids, local paths and files
    case(lambda f: ["compare", "nobody/no-such-model", f.tokenizer(), "--text", "x"], "hub-id-not-found"),
    case(lambda f: ["compare", "no-such-preset", f.tokenizer(), "--text", "x"], "neither-preset-nor-hub-id"),
    case(lambda f: ["compare", "./no/such/folder", f.tokenizer(), "--text", "x"], "missing-local-path"),
    case(lambda f: ["compare", "", f.tokenizer(), "--text", "x"], "empty-model-spec"),
    case(lambda f: ["compare", f.text(name="model.txt"), f.tokenizer(), "--text", "x"], "file-not-gguf"),
    case(
        lambda f: ["compare", f.raw(b"GGUF garbage " * 64, "model.gguf"), f.tokenizer(), "--text", "x"], "garbage-gguf"
    ),
    case(lambda f: ["compare", f.raw(b"", "empty.gguf"), f.tokenizer(), "--text", "x"], "empty-gguf"),
    case(
        lambda f: [
            "compare",
            str(f.folder("no-tokenizer", {"README.md": "nothing here"})),
            f.tokenizer(),
            "--text",
            "x",
        ],
        "folder-without-tokenizer",
    ),
    case(
        lambda f: [
            "compare",
            str(f.folder("bad-tokenizer", {"tokenizer.json": "{not json"})),
            f.tokenizer(),
            "--text",
            "x",
        ],
        "folder-with-broken-tokenizer-json",
    ),
    case(lambda f: ["eval", f.non_causal_model(), "--text", f.text()], "eval-non-causal-architecture"),
    case(lambda f: ["eval", f.tokenizer(), "--text", f.text()], "eval-folder-without-config"),
    case(lambda f: ["eval", f.pickle_only_model(), "--text", f.text()], "eval-pickle-only-weights", marks=slow),
    case(
        lambda f: ["eval", f.broken_model("model.safetensors", b"\x07" * 4096), "--text", f.text()], "eval-junk-weights"
    ),
    case(lambda f: ["eval", f.broken_model("config.json", b"{bad"), "--text", f.text()], "eval-config-not-json"),
    case(
        lambda f: (
            ["transplant", "--base", f.broken_model("model.safetensors", b"\x07" * 4096), "--donor", "gpt2"]
            + ["--method", "mean", "--out", str(f.root / "out")]
        ),
        "transplant-junk-weights",
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", f.text(), "--overwrite"],
        "transplant-overwrite-a-file",
    ),
    case(lambda f: ["generate", "nobody/no-such-model", "--prompt", "hi"], "generate-hub-id-not-found"),
    # the text of compare
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", ""], "compare-empty-text"),
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", " \n"], "compare-blank-text"),
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", "x" * (MAX_TEXT_CHARS + 1)], "compare-text-too-long"),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--file", f.text("x" * (MAX_TEXT_CHARS + 1))],
        "compare-file-too-long",
    ),
    case(lambda f: ["compare", *f.two_tokenizers(), "--file", f.text("")], "compare-empty-file"),
    case(lambda f: ["compare", *f.two_tokenizers(), "--file", str(f.root / "missing.txt")], "compare-missing-file"),
    case(lambda f: ["compare", *f.two_tokenizers(), "--file", str(f.root)], "compare-file-is-a-folder"),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--file", f.raw("café\n".encode("latin-1"), "latin1.txt")],
        "compare-non-utf8-file",
    ),
    # malformed command lines
    case(lambda f: [], "no-command", argparse=True),
    case(lambda f: ["frobnicate"], "unknown-command", argparse=True),
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", "x", "--frobnicate"], "unknown-option", argparse=True),
    case(lambda f: ["compare", *f.two_tokenizers()], "compare-without-text", argparse=True),
    case(lambda f: ["compare", *f.two_tokenizers(), "--file"], "compare-file-without-path", argparse=True),
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", "x", "--file", f.text()], "text-and-file", argparse=True),
    case(lambda f: ["compare", "onlyone", "--text", "x"], "compare-one-model", argparse=True),
    case(lambda f: ["numbers", "a", "b", "c"], "numbers-three-models", argparse=True),
    case(lambda f: ["align", "a", "b", "c", "--text", "x"], "align-three-models", argparse=True),
    case(lambda f: ["ensemble", "a", "--prompt", "x"], "ensemble-one-model", argparse=True),
    case(lambda f: ["generate", "a"], "generate-without-prompt", argparse=True),
    case(lambda f: ["generate", "a", "--prompt", "x", "--k", "ten"], "generate-k-not-a-number", argparse=True),
    case(lambda f: ["generate", "a", "--prompt", "x", "--device", "tpu"], "unknown-device", argparse=True),
    case(lambda f: ["eval", "a", "b", "--text", f.text(), "--weights", "a,b"], "weights-not-numbers", argparse=True),
    case(lambda f: ["transplant", "--base", "a", "--donor", "b"], "transplant-without-out", argparse=True),
    case(lambda f: ["presets", "--fetch", "x", "--fetch-all"], "presets-fetch-and-fetch-all", argparse=True),
    case(lambda f: ["presets", "--fetch", "no-such-preset"], "presets-fetch-unknown"),
    # transplant
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", "/proc/x"],
        "transplant-unwritable-out",
        marks=slow,
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", str(f.root / "out"), "--k", "0"],
        "transplant-k-0",
        marks=slow,
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", str(f.root)],
        "transplant-out-exists",
        marks=slow,
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", SMOLLM, "--out", str(f.root / "out")],
        "transplant-base-is-donor",
        marks=slow,
    ),
    case(
        lambda f: ["transplant", "--base", "mistral", "--donor", SMOLLM, "--out", str(f.root / "out")],
        "transplant-tokenizer-only-base",
        marks=slow,
    ),
    # generate
    case(lambda f: ["generate", SMOLLM, "--prompt", "hi", "--k", "0"], "generate-k-0", marks=slow),
    case(lambda f: ["generate", SMOLLM, "--prompt", "hi", "--k", "-3"], "generate-k-negative", marks=slow),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--max-new-bytes", "0"], "generate-max-new-bytes-0", marks=slow
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--temperature", "0"],
        "generate-temperature-0",
        marks=slow,
    ),
    case(lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--top-p", "0"], "generate-top-p-0", marks=slow),
    # options that would be ignored are refused, before any model loads
    case(lambda f: ["eval", SMOLLM, "--text", f.text(), "--weights", "1"], "weights-for-one-model"),
    case(  # a different donor: were --k not refused, this transplant would run and succeed
        lambda f: f"transplant --base {SMOLLM} --donor gemma3-270m --method mean --k 8 --out {f.root}/o".split(),
        "k-for-a-method-without-anchors",
    ),
    case(lambda f: ["generate", SMOLLM, "--prompt", "hi", "--temperature", "0.7"], "temperature-without-sample"),
    case(lambda f: ["ensemble", SMOLLM, SMOLLM, "--prompt", "hi", "--seed", "3"], "seed-without-sample"),
    case(lambda f: ["generate", SMOLLM, "--prompt", "hi", "--subvocab", "nonsense"], "subvocab-unknown", marks=slow),
    case(lambda f: ["generate", SMOLLM, "--prompt", "hi", "--subvocab", "maxlen:0"], "subvocab-maxlen-0", marks=slow),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--subvocab", f"file:{f.root / 'missing.txt'}"],
        "subvocab-missing-file",
        marks=slow,
    ),
    case(lambda f: ["generate", "mistral", "--prompt", "hi"], "generate-tokenizer-only-preset", marks=slow),
    # ensemble
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "x", "--weights", "1,2,3"],
        "ensemble-wrong-number-of-weights",
        marks=slow,
    ),
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "x", "--weights", "0,0"],
        "ensemble-zero-weights",
        marks=slow,
    ),
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "x", "--weights=-1,2"],
        "ensemble-negative-weight",
        marks=slow,
    ),
    # align
    case(lambda f: align(f, "--text", ""), "align-empty-text", marks=slow),
    case(
        lambda f: align(f, "--file", f.text("x" * (MAX_ALIGN_BYTES + 1))),
        "align-text-too-long",
        marks=slow,
    ),
    case(
        lambda f: align(f, "--text", "hello", "--top-k", "10000000"),
        "align-top-k-huge",
        marks=slow,
    ),
    case(lambda f: align(f, "--text", "hello", "--top-k", "0"), "align-top-k-0", marks=slow),
    case(
        lambda f: align(f, "--text", "hello world", "--position", "9999"),
        "align-position-out-of-range",
        marks=slow,
    ),
    case(lambda f: align(f, "--text", "hello", "--reg", "0"), "align-reg-0", marks=slow),
    case(
        lambda f: align(f, "--text", "hello", "--temperature", "0"),
        "align-temperature-0",
        marks=slow,
    ),
    case(
        lambda f: align(f, "--text", "hello", "--cost", "embedding", "--transplant", str(f.root / "no")),
        "align-missing-transplant",
        marks=slow,
    ),
    case(lambda f: ["align", SMOLLM, "mistral", "--text", "hello"], "align-tokenizer-only-preset", marks=slow),
    # distill
    case(
        lambda f: distill(f, "--steps", "0"),
        "distill-steps-0",
        marks=slow,
    ),
    case(
        lambda f: distill(f, "--steps", "1", "--lr", "0"),
        "distill-lr-0",
        marks=slow,
    ),
    case(
        lambda f: distill(f, "--steps", "1", "--out", str(f.root)),
        "distill-out-exists",
        marks=slow,
    ),
    # NaN and infinity pass a "<= 0" check; each must be refused as any other bad number
    case(lambda f: distill(f, "--steps", "1", "--lr", "nan"), "distill-lr-nan", marks=slow),
    case(lambda f: distill(f, "--steps", "1", "--uld-weight", "nan"), "distill-uld-weight-nan", marks=slow),
    case(lambda f: distill(f, "--steps", "1", "--temperature", "inf"), "distill-temperature-inf", marks=slow),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--temperature", "nan"],
        "generate-temperature-nan",
        marks=slow,
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--temperature", "inf"],
        "generate-temperature-inf",
        marks=slow,
    ),
    case(
        lambda f: align(f, "--text", "hello", "--temperature", "nan"),
        "align-temperature-nan",
        marks=slow,
    ),
    case(lambda f: align(f, "--text", "hello", "--reg", "nan"), "align-reg-nan", marks=slow),
    # --text holding bytes that are not UTF-8 (the shell passes them; Python holds them as surrogates)
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", "ab\udcffcd"], "compare-text-not-utf8"),
    case(lambda f: align(f, "--text", "ab\udcffcd"), "align-text-not-utf8", marks=slow),
    case(
        lambda f: ["before-after", SMOLLM, f.small_model(), "--text", "ab\udcffcd"],
        "before-after-text-not-utf8",
        marks=slow,
    ),
    case(
        lambda f: ["before-after", SMOLLM, f.small_model(), "--text", "x" * (MAX_TEXT_CHARS + 1)],
        "before-after-text-too-long",
        marks=slow,
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "x" * (MAX_TEXT_CHARS + 1)], "generate-prompt-too-long", marks=slow
    ),
    case(
        lambda f: distill(f, "--steps", "1", text=str(f.root / "missing.txt")),
        "distill-missing-text",
        marks=slow,
    ),
    # eval
    case(lambda f: ["eval", SMOLLM, "--text", "/no/such/file"], "eval-missing-text-file", marks=slow),
    case(lambda f: ["eval", SMOLLM, "--text", f.text(" \n\n")], "eval-blank-text-file", marks=slow),
    case(
        lambda f: ["eval", SMOLLM, "--text", f.raw("caf\xe9\n".encode("latin-1"), "latin1.txt")],
        "eval-non-utf8-text-file",
        marks=slow,
    ),
    case(lambda f: ["eval", SMOLLM, "--text", f.text(), "--limit", "0"], "eval-limit-0", marks=slow),
    case(lambda f: ["eval", "mistral", "--text", f.text()], "eval-tokenizer-only-preset", marks=slow),
    case(lambda f: ["generate", f.mismatched_model(), "--prompt", "hi"], "generate-vocab-size-mismatch", marks=slow),
    case(
        lambda f: ["eval", SMOLLM, f.small_model(), "--text", f.text(), "--subvocab", "bytes"],
        "eval-subvocab-with-ensemble",
        marks=slow,
    ),
    case(
        lambda f: ["eval", SMOLLM, f.small_model(), "--text", f.text(), "--weights", "1,2,3"],
        "eval-wrong-number-of-weights",
        marks=slow,
    ),
    # --device cuda without a GPU
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--device", "cuda"],
        "generate-cuda-without-gpu",
        marks=(slow, needs_no_gpu),
    ),
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "hi", "--device", "cuda"],
        "ensemble-cuda-without-gpu",
        marks=(slow, needs_no_gpu),
    ),
    case(
        lambda f: ["eval", SMOLLM, "--text", f.text(), "--device", "cuda"],
        "eval-cuda-without-gpu",
        marks=(slow, needs_no_gpu),
    ),
    case(
        lambda f: [
            "transplant",
            "--base",
            SMOLLM,
            "--donor",
            "mistral",
            "--out",
            str(f.root / "out"),
            "--device",
            "cuda",
        ],
        "transplant-cuda-without-gpu",
        marks=(slow, needs_no_gpu),
    ),
    case(
        lambda f: distill(f, "--steps", "1", "--device", "cuda"),
        "distill-cuda-without-gpu",
        marks=(slow, needs_no_gpu),
    ),
]


@pytest.mark.parametrize("build, expected", CASES)
def test_bad_input_is_refused_with_a_message(build: Case, expected: str, tmp_path):
    args = build(Files(tmp_path))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "vocablab", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=CASE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"still running after {CASE_TIMEOUT_S} s: bad input must be refused before heavy work ({exc})")
    output = f"exit status {run.returncode}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n{run.stderr[-3000:]}"
    assert "Traceback" not in run.stdout + run.stderr, output
    assert run.returncode == 2, output
    assert expected in run.stderr, output
    if expected == ARGPARSE_ERROR:
        assert "error:" in run.stderr, output
