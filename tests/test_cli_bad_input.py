"""Every bad input a user can give the `vocablab` command line, each refused for its own reason.

The cases run in-process through the CLI's entry point, ``vocablab.cli.main(argv)``, with the output
captured: each must end with status 2 and a message naming the reason it was refused (hand-labelled
from the code that should refuse it, so a refusal for another reason fails), never a traceback, and
before any heavy work (a case still running after CASE_TIMEOUT_S seconds fails). A few cases also
run as a real process (the installed entry point's exit status and stderr). Hub ids run offline.
Cases that load a preset are in the real tier; every other case builds its files in code (tiny
tokenizers and a tiny Llama) and is in the fast tier.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from vocablab.cli import main
from vocablab.options import MAX_ALIGN_BYTES, MAX_TEXT_CHARS

from .conftest import tiny_byte_level_bpe, tiny_sentencepiece_bpe

CASE_TIMEOUT_S = 240
SMOLLM = "smollm2-135m"  # the second model of two-model cases is tiny: they test options, not models
real = pytest.mark.real
needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
USER_ERROR = "vocablab: error: "
NO_GPU = "the CUDA device was asked for, but no CUDA GPU is available"
BAD_SAMPLING = "the temperature must be a positive number and top-p in (0, 1]"
BAD_DISTILL_NUMBER = (
    "the temperature and learning rate must be positive numbers and the ULD weight a number not below 0"
)
NOT_UTF8_FILE = "'utf-8' codec can't decode byte"


def save_tiny_model(folder: Path, rows: int | None = None) -> Path:
    """A one-layer Llama with a tiny byte-level tokenizer built in code (``rows``: fewer embedding rows)."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = tiny_byte_level_bpe()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>").save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=rows or tokenizer.get_vocab_size(),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


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
        """A one-layer Llama with a tiny tokenizer, quick to load."""
        folder = self.root / "small-model"
        return str(folder if folder.is_dir() else save_tiny_model(folder))

    def broken_model(self, name: str, content: bytes) -> str:
        """The small model with its file ``name`` replaced by ``content`` (damaged weights, say)."""
        folder = Path(self.small_model())
        (folder / name).write_bytes(content)
        return str(folder)

    def mismatched_model(self) -> str:
        """A model whose embedding has fewer rows (100) than its tokenizer has ids (320)."""
        return str(save_tiny_model(self.root / "mismatched", rows=100))

    def pickle_only_model(self) -> str:
        """A causal LM's tokenizer and config.json, with weights only as pytorch_model.bin."""
        folder = Path(self.tokenizer("pickle-only"))
        (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
        (folder / "pytorch_model.bin").write_bytes(b"\x80\x04 a pickle that must never be loaded")
        return str(folder)


Case = Callable[[Files], list[str]]


def case(build: Case, case_id: str, reason: str, *, argparse: bool = False, marks=()) -> pytest.param:
    """One bad command line and the reason it must be refused for (a fragment of the message);
    ``argparse``: refused by the argument parser (a usage line, then ``vocablab ...: error: ...``)."""
    return pytest.param(build, reason, argparse, id=case_id, marks=marks)


def align(f: Files, *extra: str) -> list[str]:
    """``vocablab align`` between SmolLM2 and the tiny model, then ``extra``."""
    return ["align", SMOLLM, f.small_model(), *extra]


def distill(f: Files, *extra: str, text: str | None = None) -> list[str]:
    """``vocablab distill`` from SmolLM2 to the tiny model on a short text, then ``extra``."""
    return ["distill", "--teacher", SMOLLM, "--student", f.small_model(), "--text", text or f.text(), *extra]


def compare(model: str | Callable[[Files], str]) -> Case:
    """``vocablab compare MODEL TINY --text x``."""
    return lambda f: ["compare", model(f) if callable(model) else model, f.tokenizer(), "--text", "x"]


NOT_A_SPEC = "is not a preset, an existing local path or a hub id like 'org/name'"
OFFLINE_HUB = "the Hugging Face hub cannot be reached (no network?) and the model is not in the local hub cache"
TOO_LONG = f"the text has {MAX_TEXT_CHARS + 1:,} characters; the limit is {MAX_TEXT_CHARS:,}"
EMPTY_TEXT = "the text is empty or only whitespace"
TOKENIZER_ONLY = "'mistral' is a tokenizer-only preset; this needs model weights"

CASES = [
    # model specs: presets, hub ids, local paths and files
    case(compare("nobody/no-such-model"), "hub-id-not-found", f"nobody/no-such-model: {OFFLINE_HUB}"),
    case(compare("no-such-preset"), "neither-preset-nor-hub-id", f"'no-such-preset' {NOT_A_SPEC}"),
    case(compare("./no/such/folder"), "missing-local-path", f"'./no/such/folder' {NOT_A_SPEC}"),
    case(compare(""), "empty-model-spec", "no model given: type a preset name, a local path or a hub id"),
    case(compare(lambda f: f.text(name="model.txt")), "file-not-gguf", "model.txt: not a .gguf file"),
    case(compare(lambda f: f.raw(b"GGUF garbage " * 64, "model.gguf")), "garbage-gguf", "not a readable GGUF file"),
    case(compare(lambda f: f.raw(b"", "empty.gguf")), "empty-gguf", "empty.gguf: not a readable GGUF file"),
    case(
        compare(lambda f: str(f.folder("no-tokenizer", {"README.md": "nothing here"}))),
        "folder-without-tokenizer",
        "no-tokenizer: this folder has no tokenizer files",
    ),
    case(
        compare(lambda f: str(f.folder("bad-tokenizer", {"tokenizer.json": "{not json"}))),
        "folder-with-broken-tokenizer-json",
        "bad-tokenizer: the tokenizer could not be loaded",
    ),
    case(
        lambda f: ["eval", f.non_causal_model(), "--text", f.text()],
        "eval-non-causal-architecture",
        "architecture BertForMaskedLM is not a causal language model",
    ),
    case(
        lambda f: ["eval", f.tokenizer(), "--text", f.text()],
        "eval-folder-without-config",
        "no config.json, so this is not a loadable model",
    ),
    case(
        lambda f: ["eval", f.pickle_only_model(), "--text", f.text()],
        "eval-pickle-only-weights",
        "pickle-only: no .safetensors weights",
    ),
    case(
        lambda f: ["eval", f.broken_model("model.safetensors", b"\x07" * 4096), "--text", f.text()],
        "eval-junk-weights",
        "small-model: cannot load as a causal LM",
    ),
    case(
        lambda f: ["eval", f.broken_model("config.json", b"{bad"), "--text", f.text()],
        "eval-config-not-json",
        "config.json is not valid JSON",
    ),
    case(
        lambda f: (
            ["transplant", "--base", f.broken_model("model.safetensors", b"\x07" * 4096), "--donor", f.tokenizer()]
            + ["--method", "mean", "--out", str(f.root / "out")]
        ),
        "transplant-junk-weights",
        "small-model/model.safetensors is not a readable safetensors file",
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", f.text(), "--overwrite"],
        "transplant-overwrite-a-file",
        "text.txt is a file, not a folder; --overwrite replaces only model folders",
    ),
    case(
        lambda f: ["generate", "nobody/no-such-model", "--prompt", "hi"],
        "generate-hub-id-not-found",
        f"nobody/no-such-model: {OFFLINE_HUB}",
    ),
    # the text of compare
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", ""], "compare-empty-text", EMPTY_TEXT),
    case(lambda f: ["compare", *f.two_tokenizers(), "--text", " \n"], "compare-blank-text", EMPTY_TEXT),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--text", "x" * (MAX_TEXT_CHARS + 1)],
        "compare-text-too-long",
        TOO_LONG,
    ),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--file", f.text("x" * (MAX_TEXT_CHARS + 1))],
        "compare-file-too-long",
        TOO_LONG,
    ),
    case(lambda f: ["compare", *f.two_tokenizers(), "--file", f.text("")], "compare-empty-file", EMPTY_TEXT),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--file", str(f.root / "missing.txt")],
        "compare-missing-file",
        "missing.txt: [Errno 2] No such file or directory",
    ),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--file", str(f.root)],
        "compare-file-is-a-folder",
        "[Errno 21] Is a directory",
    ),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--file", f.raw("café\n".encode("latin-1"), "latin1.txt")],
        "compare-non-utf8-file",
        NOT_UTF8_FILE,
    ),
    # malformed command lines
    case(lambda f: [], "no-command", "the following arguments are required: command", argparse=True),
    case(lambda f: ["frobnicate"], "unknown-command", "invalid choice: 'frobnicate'", argparse=True),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--text", "x", "--frobnicate"],
        "unknown-option",
        "unrecognized arguments: --frobnicate",
        argparse=True,
    ),
    case(
        lambda f: ["compare", *f.two_tokenizers()],
        "compare-without-text",
        "one of the arguments --text --file is required",
        argparse=True,
    ),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--file"],
        "compare-file-without-path",
        "argument --file: expected one argument",
        argparse=True,
    ),
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--text", "x", "--file", f.text()],
        "text-and-file",
        "argument --file: not allowed with argument --text",
        argparse=True,
    ),
    case(
        lambda f: ["compare", "onlyone", "--text", "x"],
        "compare-one-model",
        "compare takes at least 2 models, not 1",
        argparse=True,
    ),
    case(
        lambda f: ["numbers", "a", "b", "c"],
        "numbers-three-models",
        "numbers takes exactly 2 models, not 3",
        argparse=True,
    ),
    case(
        lambda f: ["align", "a", "b", "c", "--text", "x"],
        "align-three-models",
        "align takes exactly 2 models, not 3",
        argparse=True,
    ),
    case(
        lambda f: ["ensemble", "a", "--prompt", "x"],
        "ensemble-one-model",
        "ensemble takes at least 2 models, not 1",
        argparse=True,
    ),
    case(
        lambda f: ["generate", "a"],
        "generate-without-prompt",
        "the following arguments are required: --prompt",
        argparse=True,
    ),
    case(
        lambda f: ["generate", "a", "--prompt", "x", "--k", "ten"],
        "generate-k-not-a-number",
        "argument --k: invalid int value: 'ten'",
        argparse=True,
    ),
    case(
        lambda f: ["generate", "a", "--prompt", "x", "--device", "tpu"],
        "unknown-device",
        "argument --device: invalid choice: 'tpu'",
        argparse=True,
    ),
    case(
        lambda f: ["eval", "a", "b", "--text", f.text(), "--weights", "a,b"],
        "weights-not-numbers",
        "weights must be numbers separated by commas, not 'a,b'",
        argparse=True,
    ),
    case(
        lambda f: ["transplant", "--base", "a", "--donor", "b"],
        "transplant-without-out",
        "the following arguments are required: --out",
        argparse=True,
    ),
    case(
        lambda f: ["presets", "--fetch", "x", "--fetch-all"],
        "presets-fetch-and-fetch-all",
        "argument --fetch-all: not allowed with argument --fetch",
        argparse=True,
    ),
    case(
        lambda f: ["presets", "--fetch", "no-such-preset"], "presets-fetch-unknown", "unknown preset 'no-such-preset'"
    ),
    # transplant: the output folder and the numbers are checked before any model is read
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", "/proc/x"],
        "transplant-unwritable-out",
        "cannot write the output folder /proc/x",
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", str(f.root / "out"), "--k", "0"],
        "transplant-k-0",
        "k must be a whole number of at least 1",
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", "mistral", "--out", str(f.root)],
        "transplant-out-exists",
        "exists; choose another output folder, or overwrite it (--overwrite)",
    ),
    case(
        lambda f: ["transplant", "--base", SMOLLM, "--donor", SMOLLM, "--out", str(f.root / "out")],
        "transplant-base-is-donor",
        "base and donor are the same model: there is nothing to transplant",
        marks=real,
    ),
    case(
        lambda f: ["transplant", "--base", "mistral", "--donor", SMOLLM, "--out", str(f.root / "out")],
        "transplant-tokenizer-only-base",
        TOKENIZER_ONLY,
    ),
    # generate: the decoding numbers are checked before the model loads
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--k", "0"],
        "generate-k-0",
        "K (next tokens kept per cover entry) must be at least 1",
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--k", "-3"],
        "generate-k-negative",
        "K (next tokens kept per cover entry) must be at least 1",
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--max-new-bytes", "0"],
        "generate-max-new-bytes-0",
        "the byte budget (new bytes to generate) must be at least 1",
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--temperature", "0"],
        "generate-temperature-0",
        BAD_SAMPLING,
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--top-p", "0"], "generate-top-p-0", BAD_SAMPLING
    ),
    # options that would be ignored are refused, before any model loads
    case(
        lambda f: ["eval", SMOLLM, "--text", f.text(), "--weights", "1"],
        "weights-for-one-model",
        "--space and --weights score an ensemble: give two or more models",
    ),
    case(  # a different donor: were --k not refused, this transplant would run and succeed
        lambda f: f"transplant --base {SMOLLM} --donor gemma3-270m --method mean --k 8 --out {f.root}/o".split(),
        "k-for-a-method-without-anchors",
        "--k sets the anchors of the omp and knn methods; the mean method uses none",
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--temperature", "0.7"],
        "temperature-without-sample",
        "--temperature: only with --sample",
    ),
    case(
        lambda f: ["ensemble", SMOLLM, SMOLLM, "--prompt", "hi", "--seed", "3"],
        "seed-without-sample",
        "--seed: only with --sample",
    ),
    # sub-vocabularies are read against the model's tokenizer
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--subvocab", "nonsense"],
        "subvocab-unknown",
        "unknown sub-vocabulary 'nonsense'",
        marks=real,
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--subvocab", "maxlen:0"],
        "subvocab-maxlen-0",
        "maxlen:N needs a whole number N of at least 1",
        marks=real,
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--subvocab", f"file:{f.root / 'missing.txt'}"],
        "subvocab-missing-file",
        "cannot read the sub-vocabulary file",
        marks=real,
    ),
    case(
        lambda f: ["generate", "mistral", "--prompt", "hi"],
        "generate-tokenizer-only-preset",
        TOKENIZER_ONLY,
        marks=real,
    ),
    # ensemble: the weights are checked before the models load
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "x", "--weights", "1,2,3"],
        "ensemble-wrong-number-of-weights",
        "3 weights for 2 models; give one weight per model",
    ),
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "x", "--weights", "0,0"],
        "ensemble-zero-weights",
        "weights must be non-negative numbers with a positive sum",
    ),
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "x", "--weights=-1,2"],
        "ensemble-negative-weight",
        "weights must be non-negative numbers with a positive sum",
    ),
    # align: the text and the numbers are checked before the models load
    case(lambda f: align(f, "--text", ""), "align-empty-text", "the text is empty: type some text to align"),
    case(
        lambda f: align(f, "--file", f.text("x" * (MAX_ALIGN_BYTES + 1))),
        "align-text-too-long",
        f"the text has {MAX_ALIGN_BYTES + 1:,} bytes; align takes up to {MAX_ALIGN_BYTES:,}",
    ),
    case(
        lambda f: align(f, "--text", "hello", "--top-k", "10000000"), "align-top-k-huge", "top-k must be between 1 and"
    ),
    case(lambda f: align(f, "--text", "hello", "--top-k", "0"), "align-top-k-0", "top-k must be between 1 and"),
    case(
        lambda f: align(f, "--text", "hello world", "--position", "9999"),
        "align-position-out-of-range",
        "position 9999 is not among the",
        marks=real,
    ),
    case(
        lambda f: align(f, "--text", "hello", "--reg", "0"),
        "align-reg-0",
        "the Sinkhorn regularization must be a positive number",
    ),
    case(
        lambda f: align(f, "--text", "hello", "--temperature", "0"),
        "align-temperature-0",
        "the temperature must be a positive number",
    ),
    case(
        lambda f: align(f, "--text", "hello", "--cost", "embedding", "--transplant", str(f.root / "no")),
        "align-missing-transplant",
        "no is not a transplant output",
        marks=real,
    ),
    case(
        lambda f: ["align", SMOLLM, "mistral", "--text", "hello"],
        "align-tokenizer-only-preset",
        TOKENIZER_ONLY,
        marks=real,
    ),
    # distill: the numbers, the output folder and the text are checked before the models load
    case(lambda f: distill(f, "--steps", "0"), "distill-steps-0", "steps must be at least 1"),
    case(lambda f: distill(f, "--steps", "1", "--lr", "0"), "distill-lr-0", BAD_DISTILL_NUMBER),
    case(
        lambda f: distill(f, "--steps", "1", "--out", str(f.root)),
        "distill-out-exists",
        "exists; choose another output folder, or overwrite it (--overwrite)",
    ),
    # NaN and infinity pass a "<= 0" check; each must be refused as any other bad number
    case(lambda f: distill(f, "--steps", "1", "--lr", "nan"), "distill-lr-nan", BAD_DISTILL_NUMBER),
    case(lambda f: distill(f, "--steps", "1", "--uld-weight", "nan"), "distill-uld-weight-nan", BAD_DISTILL_NUMBER),
    case(lambda f: distill(f, "--steps", "1", "--temperature", "inf"), "distill-temperature-inf", BAD_DISTILL_NUMBER),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--temperature", "nan"],
        "generate-temperature-nan",
        BAD_SAMPLING,
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--sample", "--temperature", "inf"],
        "generate-temperature-inf",
        BAD_SAMPLING,
    ),
    case(
        lambda f: align(f, "--text", "hello", "--temperature", "nan"),
        "align-temperature-nan",
        "the temperature must be a positive number",
    ),
    case(
        lambda f: align(f, "--text", "hello", "--reg", "nan"),
        "align-reg-nan",
        "the Sinkhorn regularization must be a positive number",
    ),
    # --text holding bytes that are not UTF-8 (the shell passes them; Python holds them as surrogates)
    case(
        lambda f: ["compare", *f.two_tokenizers(), "--text", "ab\udcffcd"],
        "compare-text-not-utf8",
        "--text is not valid UTF-8 (at character 2)",
    ),
    case(
        lambda f: align(f, "--text", "ab\udcffcd"), "align-text-not-utf8", "--text is not valid UTF-8 (at character 2)"
    ),
    case(
        lambda f: ["before-after", SMOLLM, f.small_model(), "--text", "ab\udcffcd"],
        "before-after-text-not-utf8",
        "--text is not valid UTF-8 (at character 2)",
    ),
    case(
        lambda f: ["before-after", SMOLLM, f.small_model(), "--text", "x" * (MAX_TEXT_CHARS + 1)],
        "before-after-text-too-long",
        TOO_LONG,
    ),
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "x" * (MAX_TEXT_CHARS + 1)],
        "generate-prompt-too-long",
        f"the prompt has {MAX_TEXT_CHARS + 1:,} characters; the limit is {MAX_TEXT_CHARS:,}",
        marks=real,
    ),
    case(
        lambda f: distill(f, "--steps", "1", text=str(f.root / "missing.txt")),
        "distill-missing-text",
        "missing.txt: [Errno 2] No such file or directory",
    ),
    # eval: the text is read before the model loads
    case(
        lambda f: ["eval", SMOLLM, "--text", "/no/such/file"],
        "eval-missing-text-file",
        "cannot read /no/such/file: [Errno 2] No such file or directory",
    ),
    case(lambda f: ["eval", SMOLLM, "--text", f.text(" \n\n")], "eval-blank-text-file", "no text in"),
    case(
        lambda f: ["eval", SMOLLM, "--text", f.raw("caf\xe9\n".encode("latin-1"), "latin1.txt")],
        "eval-non-utf8-text-file",
        NOT_UTF8_FILE,
    ),
    case(
        lambda f: ["eval", SMOLLM, "--text", f.text(), "--limit", "0"],
        "eval-limit-0",
        "the document limit must be at least 1",
    ),
    case(lambda f: ["eval", "mistral", "--text", f.text()], "eval-tokenizer-only-preset", TOKENIZER_ONLY),
    case(
        lambda f: ["generate", f.mismatched_model(), "--prompt", "hi"],
        "generate-vocab-size-mismatch",
        "its tokenizer has ids up to 319 but the model's embedding has 100 rows",
    ),
    case(
        lambda f: ["eval", SMOLLM, f.small_model(), "--text", f.text(), "--subvocab", "bytes"],
        "eval-subvocab-with-ensemble",
        "--subvocab scores one model; an ensemble of several uses --space mcv|bytes",
    ),
    case(
        lambda f: ["eval", SMOLLM, f.small_model(), "--text", f.text(), "--weights", "1,2,3"],
        "eval-wrong-number-of-weights",
        "3 weights for 2 models; give one weight per model",
        marks=real,
    ),
    # --device cuda without a GPU
    case(
        lambda f: ["generate", SMOLLM, "--prompt", "hi", "--device", "cuda"],
        "generate-cuda-without-gpu",
        NO_GPU,
        marks=(real, needs_no_gpu),
    ),
    case(
        lambda f: ["ensemble", SMOLLM, f.small_model(), "--prompt", "hi", "--device", "cuda"],
        "ensemble-cuda-without-gpu",
        NO_GPU,
        marks=(real, needs_no_gpu),
    ),
    case(
        lambda f: ["eval", SMOLLM, "--text", f.text(), "--device", "cuda"],
        "eval-cuda-without-gpu",
        NO_GPU,
        marks=(real, needs_no_gpu),
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
        NO_GPU,
        marks=needs_no_gpu,
    ),
    case(
        lambda f: distill(f, "--steps", "1", "--device", "cuda"),
        "distill-cuda-without-gpu",
        NO_GPU,
        marks=needs_no_gpu,
    ),
]


class TookTooLong(BaseException):
    """Raised in a case still running after CASE_TIMEOUT_S (a BaseException: no handler turns it into a message)."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def stop(signum, frame):
        raise TookTooLong(f"still running after {seconds} s: bad input must be refused before heavy work")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture()
def offline(monkeypatch):
    """No hub access: HF_HUB_OFFLINE for this process (the hub client reads it once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def run_main(args: list[str]) -> int:
    """``main(args)``'s status; argparse's refusals leave through SystemExit."""
    try:
        with time_limit(CASE_TIMEOUT_S):
            return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("build, reason, by_argparse", CASES)
def test_bad_input_is_refused_for_its_reason(build: Case, reason: str, by_argparse: bool, tmp_path, capsys, offline):
    args = build(Files(tmp_path))
    capsys.readouterr()  # what building the case printed
    status = run_main(args)
    out, err = capsys.readouterr()
    output = f"exit status {status}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"
    assert "Traceback" not in out + err, output
    assert status == 2, output
    message = err.strip().splitlines()[-1]  # the message is the last line, after any warning
    if by_argparse:
        assert err.startswith("usage: vocablab"), output
        assert message.startswith("vocablab") and ": error: " in message, output
    else:
        assert message.startswith(USER_ERROR), output
    assert reason in message, output


# A few cases as a user runs them: a new process, its exit status and its stderr (an argument error, a
# refusal before any model library loads, a library's error on junk weights, a preset refused).
PROCESS_CASES = [
    pytest.param(lambda f: [], "the following arguments are required: command", id="no-command"),
    pytest.param(
        lambda f: ["presets", "--fetch", "no-such-preset"], "unknown preset 'no-such-preset'", id="unknown-preset"
    ),
    pytest.param(
        lambda f: ["eval", f.broken_model("model.safetensors", b"\x07" * 4096), "--text", f.text()],
        "small-model: cannot load as a causal LM",
        id="eval-junk-weights",
    ),
    pytest.param(
        lambda f: ["generate", "mistral", "--prompt", "hi"],
        TOKENIZER_ONLY,
        id="generate-tokenizer-only-preset",
        marks=real,
    ),
]


@pytest.mark.parametrize("build, reason", PROCESS_CASES)
def test_a_process_exits_with_status_2_and_one_message(build: Case, reason: str, tmp_path):
    args = build(Files(tmp_path))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "vocablab", *args], capture_output=True, text=True, env=env, timeout=CASE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"still running after {CASE_TIMEOUT_S} s: bad input must be refused before heavy work ({exc})")
    output = f"exit status {run.returncode}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n{run.stderr[-3000:]}"
    assert "Traceback" not in run.stdout + run.stderr, output
    assert run.returncode == 2, output
    assert reason in run.stderr.strip().splitlines()[-1], output
