"""Shared fixtures: tiny tokenizers built in code, and the real preset tokenizers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from vocablab.presets import MODEL_PRESETS, TOKENIZER_PRESETS
from vocablab.sources import load_vocabulary, resolve
from vocablab.vocab import Vocabulary

CORPUS = [
    "the cat sat on the mat; the dog sat on the log",
    "héllo wörld, naïve café 12345 + 678 = 13023",
    "日本語のテキスト and emoji 🙂🙃 and tabs\tand\nnewlines   runs",
] * 20

PRESETS = [*MODEL_PRESETS, *TOKENIZER_PRESETS]


def tiny_byte_level_bpe(vocab_size: int = 320) -> Tokenizer:
    """A GPT-2-style byte-level BPE trained on a few lines."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


def tiny_sentencepiece_bpe() -> Tokenizer:
    """A Llama-2-style tokenizer by hand: "▁" for spaces, a dummy prefix, byte fallback."""
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    chars = ["▁", *"abcdehilmnorstw"]
    merges = [("▁", "t"), ("h", "e"), ("▁t", "he"), ("a", "t"), ("▁", "c"), ("▁c", "at")]
    pieces += chars + [a + b for a, b in merges]
    vocab = {p: i for i, p in enumerate(pieces)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tokenizer.add_special_tokens([AddedToken("<s>", special=True), AddedToken("</s>", special=True)])
    return tokenizer


@pytest.fixture(scope="session")
def byte_level_vocab() -> Vocabulary:
    tok = tiny_byte_level_bpe()
    return Vocabulary.from_backend(tok, "tiny-bytelevel", roles={"eos": tok.token_to_id("<|endoftext|>")})


@pytest.fixture(scope="session")
def sentencepiece_vocab() -> Vocabulary:
    tok = tiny_sentencepiece_bpe()
    return Vocabulary.from_backend(tok, "tiny-sp", roles={"bos": 1, "eos": 2, "unk": 0})


@pytest.fixture(scope="session")
def family_folders(tmp_path_factory):
    """The tiny family models (tests/families.py), built once for the session's test files that use them."""
    from .families import FamilyFolders

    return FamilyFolders(tmp_path_factory.mktemp("families"))


@pytest.fixture(scope="session", params=PRESETS)
def preset_vocab(request) -> Vocabulary:
    """Every real preset tokenizer (fetched into the cache on first use)."""
    return load_vocabulary(request.param)


def tiny_llama(tokenizer_preset: str, folder: Path, *, tied: bool, rows: int | None = None, seed: int = 0) -> Path:
    """A 1-layer Llama whose tokenizer is a real preset's, saved as safetensors."""
    from transformers import LlamaConfig, LlamaForCausalLM

    source = resolve(tokenizer_preset)
    folder.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source.path / name, folder / name)
    vocab = load_vocabulary(tokenizer_preset)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=rows or len(vocab),
        hidden_size=24,
        intermediate_size=48,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=tied,
        max_position_embeddings=64,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # rows with very different norms, as in real embeddings
        model.model.embed_tokens.weight.mul_(torch.rand(config.vocab_size, 1) * 3 + 0.1)
    model.save_pretrained(folder)
    return folder


# The tiers (docs/development.md): a test marked `e2e` or `real` is in that tier, every other test is
# fast. The older markers stay as aliases: `browser` means e2e, `slow` and `families` mean real.
E2E_ALIASES = ("e2e", "browser")
REAL_ALIASES = ("real", "slow", "families")
FAST_TIER_CACHE = "/proc/a-fast-tier-test-used-the-preset-cache--mark-it-real"  # unwritable: fails


def tier(item: pytest.Item) -> str:
    """The tier of a collected test: "e2e", "real" or "fast"."""
    if any(item.get_closest_marker(name) for name in E2E_ALIASES):
        return "e2e"
    if type(item).__name__ == "DoctestItem" or any(item.get_closest_marker(name) for name in REAL_ALIASES):
        return "real"  # doctests: the docstring examples load the presets
    return "fast"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so that `-m real` finds the tests marked slow
def pytest_collection_modifyitems(items) -> None:
    """Every test gets its tier's marker and the older alias: `-m "not slow and not browser"` still
    selects exactly the fast tier."""
    for item in items:
        for name in {"e2e": E2E_ALIASES[:2], "real": REAL_ALIASES[:2], "fast": ()}[tier(item)]:
            item.add_marker(name)


class FastTierViolation(AssertionError):
    """A test of the fast tier reached for presets, a browser or the network."""


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise FastTierViolation(f"a fast-tier test {what}: mark it `real` (presets) or `e2e` (browser, app, hub)")

    return refuse


def _loopback_only(connect):
    """A socket.connect that refuses every address but this machine's own."""

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
            raise FastTierViolation(f"a fast-tier test connected to {address}: mark it `real` or `e2e`")
        return connect(sock, address)

    return guarded


_GUARDS: dict[str, pytest.MonkeyPatch] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fast tests (and the fixtures they set up) get no preset cache, no browser and no network, so
    the fast tier cannot quietly come to depend on them; subprocesses inherit an unwritable cache."""
    if tier(item) != "fast":
        return
    import socket

    import playwright.sync_api

    import vocablab.presets

    guard = pytest.MonkeyPatch()
    guard.setattr(vocablab.presets, "cache_dir", _refuse("used the preset cache"))
    guard.setattr(playwright.sync_api, "sync_playwright", _refuse("started a browser"))
    guard.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))
    guard.setenv("VOCABLAB_CACHE", FAST_TIER_CACHE)
    guard.setenv("HF_HUB_OFFLINE", "1")
    _GUARDS[item.nodeid] = guard


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    guard = _GUARDS.pop(item.nodeid, None)
    if guard is not None:
        guard.undo()


@contextmanager
def chromium_page(url: str) -> Iterator:
    """A page of Debian's headless chromium (driven by Playwright) open at ``url``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        yield page
        browser.close()
