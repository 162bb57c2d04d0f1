"""The byte view, overlap counts and the maximal common vocabulary."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import pre_tokenizers

from vocablab.errors import VocabLabError
from vocablab.sources import load_vocabulary
from vocablab.vocab import (
    ALL_BYTES,
    Vocabulary,
    compare_vocabularies,
    display_token,
    gpt2_unicode_to_byte,
    maximal_common_vocabulary,
    token_membership,
)

from .conftest import tiny_byte_level_bpe

TRICKY = [
    "🙂",
    "👩‍👩‍👧",
    "日本語",
    "한국어",
    "e\u0301",
    "ﬁ",
    "  ",
    "\t",
    "\n\n",
    "   \n ",
    "12345",
    "3.14",
    "-7",
    "1,000",
    "ß",
    "İ",
    "\u200b",
    "Ω",
    "…",
    "'s",
    "<",
    "Ġ",
    "▁",
]
texts = st.lists(
    st.one_of(
        st.sampled_from(TRICKY),
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    ),
    max_size=12,
).map("".join)


def test_gpt2_alphabet_is_the_byte_level_alphabet():
    table = gpt2_unicode_to_byte()
    assert sorted(table.values()) == list(range(256))
    assert set(table) == set(pre_tokenizers.ByteLevel.alphabet())
    assert table["Ġ"] == ord(" ") and table["Ċ"] == ord("\n") and table["A"] == ord("A")


def test_byte_level_pieces(byte_level_vocab):
    v = byte_level_vocab
    eos = v.roles["eos"]
    assert v.pieces[eos] is None and eos in v.special_ids
    ids = v.encode("é")  # two bytes, each its own token unless merged
    assert v.text_bytes(ids) == "é".encode()
    assert not v.dummy_prefix


def test_sentencepiece_pieces(sentencepiece_vocab):
    v = sentencepiece_vocab
    assert v.dummy_prefix
    assert v.pieces[v.backend.token_to_id("<0x41>")] == b"A"
    assert v.pieces[v.backend.token_to_id("▁the")] == b" the"
    assert v.pieces[1] is None and v.pieces[2] is None
    ids = v.encode("the cat 🙂")  # 🙂 is not in the vocabulary: four byte-fallback pieces
    assert v.text_bytes(ids) == "the cat 🙂".encode()
    assert [v.pieces[i] for i in ids][-4:] == [bytes([b]) for b in "🙂".encode()]


@pytest.mark.parametrize("which", ["byte_level_vocab", "sentencepiece_vocab"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_tiny_tokens_concatenate_to_the_text(request, which, text):
    v = request.getfixturevalue(which)
    ids = v.encode(text)
    assert v.text_bytes(ids).decode("utf-8", errors="replace") == v.decode(ids)
    if v.decode(ids) == text:
        assert v.text_bytes(ids) == text.encode("utf-8")


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_real_tokens_concatenate_to_the_text(preset_vocab, text):
    """docs/methods.md §1 on every real preset tokenizer: the byte view agrees with the
    tokenizer's own decoder, and with the text itself whenever the tokenizer round-trips it."""
    v = preset_vocab
    ids = v.encode(text)
    decoded = v.decode(ids)
    # the decoder turns invalid UTF-8 into U+FFFD (a vocabulary may lack some byte tokens)
    assert v.text_bytes(ids).decode("utf-8", errors="replace") == decoded
    if decoded == text:
        assert v.text_bytes(ids) == text.encode("utf-8")
        spans = v.byte_spans(ids)
        assert all(a <= b for a, b in spans) and (not spans or spans[-1][1] == len(text.encode()))


@pytest.mark.slow
def test_real_round_trip_rate_is_high(preset_vocab):
    """Most ordinary text round-trips, so the property above is not vacuous."""
    samples = ["Hello world", "naïve café", "x = 12345.67", "日本語 🙂", "tabs\tand\nlines", "a  b"]
    assert sum(preset_vocab.decode(preset_vocab.encode(s)) == s for s in samples) >= 5


@pytest.mark.slow
def test_dummy_prefix_is_detected_from_behaviour():
    assert load_vocabulary("mistral").dummy_prefix
    for name in ["smollm2-135m", "gemma3-270m", "llama3", "qwen3", "gpt2"]:
        assert not load_vocabulary(name).dummy_prefix


def naive_overlap(a, b):
    """Reference: loop over every id of both vocabularies."""
    a_strings = {a.strings[i] for i in range(len(a)) if a.pieces[i] is not None}
    b_strings = {b.strings[i] for i in range(len(b)) if b.pieces[i] is not None}
    a_bytes = {a.pieces[i] for i in range(len(a)) if a.pieces[i] is not None}
    b_bytes = {b.pieces[i] for i in range(len(b)) if b.pieces[i] is not None}
    return len(a_strings & b_strings), len(a_bytes & b_bytes), len(a_bytes - b_bytes)


def test_overlap_counts_match_a_naive_loop(byte_level_vocab, sentencepiece_vocab):
    result = compare_vocabularies([byte_level_vocab, sentencepiece_vocab])
    pair = result.pairs[0]
    by_string, by_bytes, only_a = naive_overlap(byte_level_vocab, sentencepiece_vocab)
    assert (pair.shared_by_string, pair.shared_by_bytes, pair.only_a_by_bytes) == (by_string, by_bytes, only_a)
    # "▁the" and "Ġthe" differ as strings but are the same bytes
    assert pair.shared_by_bytes > pair.shared_by_string
    assert pair.special_roles["eos"] == ("<|endoftext|>", "</s>")


def naive_greedy(piece: bytes, allowed: set[bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(piece):
        j = max(j for j in range(i + 1, len(piece) + 1) if piece[i:j] in allowed)
        out.append(piece[i:j])
        i = j
    return out


def check_mcv(a, b, mcv):
    shared = a.byte_set & b.byte_set
    assert ALL_BYTES <= mcv <= ALL_BYTES | shared
    for v in (a, b):
        produced = {p for piece in v.byte_set for p in naive_greedy(piece, mcv)}
        assert mcv - ALL_BYTES <= produced  # every multi-byte MCV token can be produced


def test_mcv_of_tiny_vocabularies(byte_level_vocab, sentencepiece_vocab):
    mcv = maximal_common_vocabulary([byte_level_vocab, sentencepiece_vocab])
    check_mcv(byte_level_vocab, sentencepiece_vocab, mcv)
    assert b" the" in mcv


@pytest.mark.slow
def test_mcv_of_real_presets():
    a, b = load_vocabulary("smollm2-135m"), load_vocabulary("gemma3-270m")
    result = compare_vocabularies([a, b])
    mcv = maximal_common_vocabulary([a, b])
    check_mcv(a, b, mcv)
    assert result.pairs[0].mcv_size == len(mcv)
    # bytes matching finds far more shared tokens than raw strings ("Ġthe" vs "▁the")
    assert result.pairs[0].shared_by_bytes > 2 * result.pairs[0].shared_by_string


def test_token_membership_search(byte_level_vocab, sentencepiece_vocab):
    rows = token_membership(byte_level_vocab, sentencepiece_vocab, "the", "shared")
    assert rows and all("the" in r["token"] for r in rows)
    with pytest.raises(VocabLabError):
        token_membership(byte_level_vocab, sentencepiece_vocab, "", "nonsense")


def test_compare_needs_two(byte_level_vocab):
    with pytest.raises(VocabLabError):
        compare_vocabularies([byte_level_vocab])


def test_display_token_makes_whitespace_and_partial_bytes_visible():
    assert display_token(b" a\n") == "·a↵"
    assert display_token(b"\xe6") == "<0xE6>"
    assert display_token(None, "<eos>") == "<eos>"
    assert display_token("\u00a0x".encode()) == "<U+00A0>x"


def test_a_document_starts_with_bos_else_eos_else_is_refused():
    backend = tiny_byte_level_bpe()
    assert Vocabulary.from_backend(backend, "both", {"bos": 3, "eos": 5}).start_id == 3
    assert Vocabulary.from_backend(backend, "eos only", {"bos": None, "eos": 5}).start_id == 5
    with pytest.raises(VocabLabError, match="neither a BOS nor an EOS"):
        Vocabulary.from_backend(backend, "none", {}).start_id  # noqa: B018 - a property that refuses
