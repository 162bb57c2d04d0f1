"""Side-by-side tokenization and its HTML rendering."""

from __future__ import annotations

import re

import pytest

from vocablab.compare import compare_tokenization
from vocablab.errors import VocabLabError
from vocablab.options import MAX_TEXT_CHARS
from vocablab.sources import load_vocabulary
from vocablab.ui.token_html import display_units, render_comparison


def naive_cuts(vocab, text):
    """Reference: cut positions from the decoded length of each prefix of the token sequence."""
    ids = vocab.encode(text)
    cuts = set()
    for n in range(1, len(ids)):
        prefix = vocab.text_bytes(ids[:n])
        cuts.add(len(prefix))
    return cuts


def test_disagreeing_boundaries_match_a_naive_reference(byte_level_vocab, sentencepiece_vocab):
    text = "the cat sat on the mat 🙂 12345"
    result = compare_tokenization([byte_level_vocab, sentencepiece_vocab], text)
    a, b = naive_cuts(byte_level_vocab, text), naive_cuts(sentencepiece_vocab, text)
    assert set(result.disagreeing_boundaries) == (a | b) - (a & b)
    for tokenized, vocab in zip(result.tokenized, [byte_level_vocab, sentencepiece_vocab], strict=True):
        assert tokenized.n_tokens == len(vocab.encode(text))
        assert sum(t.n_bytes for t in tokenized.tokens) == len(text.encode())
        assert tokenized.bytes_per_token == pytest.approx(len(text.encode()) / tokenized.n_tokens)
        assert tokenized.chars_per_token == pytest.approx(len(text) / tokenized.n_tokens)


def test_json_holds_ids_strings_byte_lengths_and_overlap(byte_level_vocab, sentencepiece_vocab):
    data = compare_tokenization([byte_level_vocab, sentencepiece_vocab], "the cat").to_dict()
    first = data["tokenizers"][0]
    assert first["ids"] == byte_level_vocab.encode("the cat")
    assert first["tokens"] == [byte_level_vocab.strings[i] for i in first["ids"]]
    assert sum(first["byte_lengths"]) == len(b"the cat")
    pair = data["overlap"]["pairs"][0]
    assert {"shared_by_string", "shared_by_bytes", "mcv_size"} <= set(pair)


@pytest.mark.parametrize("text", ["", "   ", "x" * (MAX_TEXT_CHARS + 1)])
def test_empty_or_huge_text_is_refused(byte_level_vocab, text):
    with pytest.raises(VocabLabError):
        compare_tokenization([byte_level_vocab], text)


def test_characters_split_over_byte_tokens_render_whole(sentencepiece_vocab):
    """🙂 is four byte-fallback tokens: shown once, as one unit, with no replacement character."""
    result = compare_tokenization([sentencepiece_vocab], "the 🙂 cat")
    units = display_units(result.tokenized[0].tokens)
    emoji_units = [u for u in units if b"".join(t.piece for t in u) == "🙂".encode()]
    assert len(emoji_units) == 1 and len(emoji_units[0]) == 4
    html = render_comparison(result, show_ids=True)
    assert "🙂" in html and "\ufffd" not in html
    assert "·" in html  # visible spaces


@pytest.mark.slow
def test_real_presets_side_by_side():
    vocabs = [load_vocabulary(n) for n in ("smollm2-135m", "gemma3-270m", "llama3", "mistral")]
    text = "In 2024, 12,345 people paid $3.50 each. 日本語 🙂"
    result = compare_tokenization(vocabs, text)
    assert [t.n_tokens for t in result.tokenized] == [len(v.encode(text)) for v in vocabs]
    html = render_comparison(result)
    assert html.count('class="vl-col"') == 4 and "\ufffd" not in html
    # llama3 groups "2024" as one token; the single-digit tokenizers cut inside it
    start = text.encode().index(b"2024")
    assert start + 1 in result.disagreeing_boundaries


def test_token_tooltips_and_the_boundary_note_read_in_good_english(byte_level_vocab):
    from html import unescape

    from vocablab.ui.tokenizers_tab import boundaries_note

    text = "a cat 🙂"
    html = render_comparison(compare_tokenization([byte_level_vocab, byte_level_vocab], text))
    titles = [unescape(t) for t in re.findall(r'title="([^"]*)"', html)]
    sizes = [int(n) for t in titles for n in re.findall(r"\((\d+) bytes?\)", t)]
    assert sum(sizes) == 2 * len(text.encode())  # every token's bytes, in both columns
    assert "(1 byte)" in " ".join(titles)  # "a" and " " are one byte each
    assert not re.search(r"\(1 bytes\)", " ".join(titles))
    assert boundaries_note(0) == "Every token boundary is shared by all the tokenizers."
    assert boundaries_note(1).startswith("1 token boundary is not shared")
    assert boundaries_note(1234).startswith("1,234 token boundaries are not shared")
