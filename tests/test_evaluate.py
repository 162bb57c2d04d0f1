"""Bits per byte against a plain reference computed token by token."""

from __future__ import annotations

import math

import pytest
import torch

from vocablab.errors import VocabLabError
from vocablab.evaluate import bits_per_byte, document_bits, greedy_continuation, read_documents
from vocablab.sources import load_vocabulary

from .conftest import tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    folder = tiny_llama("gpt2", tmp_path_factory.mktemp("eval") / "m", tied=True)
    return str(folder), AutoModelForCausalLM.from_pretrained(folder).eval(), load_vocabulary(str(folder))


def naive_bits(model, vocab, text):
    """-log2 p of each token given all tokens before it, one forward pass per token."""
    ids = [vocab.start_id, *vocab.encode(text)]
    total = 0.0
    with torch.no_grad():
        for n in range(1, len(ids)):
            logits = model(torch.tensor([ids[:n]])).logits[0, -1].double()
            total -= torch.log_softmax(logits, dim=-1)[ids[n]].item() / math.log(2)
    return total


@pytest.mark.real  # preset tokenizers or models
def test_document_bits_match_the_naive_reference(tiny):
    _, model, vocab = tiny
    text = "The cat sat on the mat, 12 times."
    bits, tokens = document_bits(model, vocab, text)
    assert tokens == len(vocab.encode(text))
    assert bits == pytest.approx(naive_bits(model, vocab, text), rel=1e-4)


@pytest.mark.real  # preset tokenizers or models
def test_long_documents_are_scored_in_windows_once_per_token(tiny):
    _, model, vocab = tiny
    text = "one two three four five six seven eight nine ten " * 20  # > 64 positions of the tiny model
    bits, tokens = document_bits(model, vocab, text)
    assert tokens == len(vocab.encode(text)) > 64 and math.isfinite(bits) and bits > 0


@pytest.mark.real  # preset tokenizers or models
def test_bits_per_byte_divides_by_utf8_bytes(tiny, tmp_path):
    folder, model, vocab = tiny
    docs = ["naïve café", "日本語"]
    result = bits_per_byte(folder, docs, model=model)
    expected = sum(naive_bits(model, vocab, d) for d in docs) / sum(len(d.encode()) for d in docs)
    assert result.bits_per_byte == pytest.approx(expected, rel=1e-4)
    assert result.n_bytes == len("naïve café".encode()) + len("日本語".encode())


@pytest.mark.real  # preset tokenizers or models
def test_greedy_continuation_and_bad_input(tiny, tmp_path):
    _, model, vocab = tiny
    assert isinstance(greedy_continuation(model, vocab, "Hello", max_new_tokens=3), str)
    with pytest.raises(VocabLabError):
        greedy_continuation(model, vocab, "  ")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(VocabLabError):
        read_documents(empty)


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path):
    """Editors on Windows start UTF-8 files with EF BB BF; scoring it would charge a model for 3 bytes
    nobody wrote (it was scored, and shown as three byte tokens in compare --file)."""
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfHello world\nSecond line\n")
    assert read_documents(path) == ["Hello world", "Second line"]
