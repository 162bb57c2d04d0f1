"""Number tokenization (docs/methods.md §2): the digit scheme is read from behaviour, and
two tokenizers' splits of the same numbers are compared against naive references."""

from __future__ import annotations

import json
import math
from itertools import product

import pytest
from tokenizers import Regex, Tokenizer, models, pre_tokenizers

from vocablab.errors import VocabLabError
from vocablab.numbers import (
    compare_numbers,
    detect_digit_scheme,
    find_numbers,
    highlight_numbers,
    number_samples,
    number_splits,
)
from vocablab.options import MAX_TEXT_CHARS
from vocablab.sources import load_vocabulary
from vocablab.vocab import Vocabulary

ALPHABET = [chr(c) for c in range(32, 127)]
WORDS = pre_tokenizers.Split(Regex(r" ?[^\s]+|\s+"), behavior="isolated")


def char_bpe(name: str, digit_rule: pre_tokenizers.PreTokenizer | None, digit_tokens: list[str]) -> Vocabulary:
    """A BPE over printable ASCII characters whose only merges build ``digit_tokens``; every way
    of building a token is a merge, so a pre-token that is a vocabulary token stays whole."""
    vocab = {ch: i for i, ch in enumerate(ALPHABET)}
    merges = []
    for token in sorted(digit_tokens, key=len):
        vocab.setdefault(token, len(vocab))
        merges += [(token[:cut], token[cut:]) for cut in range(1, len(token)) if token[:cut] in vocab]
    merges = [(left, right) for left, right in merges if left in vocab and right in vocab]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([WORDS, digit_rule]) if digit_rule else WORDS
    return Vocabulary.from_backend(tokenizer, name=name)


def all_digit_strings(max_len: int) -> list[str]:
    return ["".join(p) for n in range(1, max_len + 1) for p in product("0123456789", repeat=n)]


@pytest.fixture(scope="module")
def single() -> Vocabulary:
    return char_bpe("single", pre_tokenizers.Digits(individual_digits=True), [])


@pytest.fixture(scope="module")
def groups_left() -> Vocabulary:
    rule = pre_tokenizers.Split(Regex(r"\d{1,3}"), behavior="isolated")
    return char_bpe("groups-left", rule, all_digit_strings(3))


@pytest.fixture(scope="module")
def groups_right() -> Vocabulary:
    rule = pre_tokenizers.Split(Regex(r"\d{1,3}(?=(?:\d{3})*(?!\d))"), behavior="isolated")
    return char_bpe("groups-right", rule, all_digit_strings(3))


@pytest.fixture(scope="module")
def free() -> Vocabulary:
    """GPT-2-like: digit merges learnt from data and no digit rule, so "12345" is "12"+"345"."""
    return char_bpe("free", None, ["12", "34", "345", "20", "24", "2024", "99", "00", "000"])


def splits_text(vocab: Vocabulary, text: str) -> list[bytes]:
    return number_splits(vocab, [text])[0]


# --- the scheme, from behaviour ---------------------------------------------------------------


def test_individual_digits_rule_is_single(single):
    scheme = detect_digit_scheme(single)
    assert (scheme.kind, scheme.max_group) == ("single", 1)
    assert splits_text(single, "12345") == [b"1", b"2", b"3", b"4", b"5"]


def test_three_digit_chunks_from_the_left(groups_left):
    scheme = detect_digit_scheme(groups_left)
    assert (scheme.kind, scheme.max_group) == ("groups-left", 3)
    assert scheme.description == "groups of up to 3 digits, left to right"
    assert splits_text(groups_left, "1234567") == [b"123", b"456", b"7"]


def test_three_digit_chunks_from_the_right(groups_right):
    scheme = detect_digit_scheme(groups_right)
    assert (scheme.kind, scheme.max_group) == ("groups-right", 3)
    assert splits_text(groups_right, "1234567") == [b"1", b"234", b"567"]


def test_digit_merges_without_a_digit_rule_are_free(free):
    assert detect_digit_scheme(free).kind == "free"
    assert splits_text(free, "12345") == [b"12", b"345"]
    assert splits_text(free, " 2024") == [b" ", b"2024"]


def test_dummy_prefix_space_is_not_part_of_the_split():
    """A Metaspace tokenizer encodes "12" as "▁"+"1"+"2"; the split is the user's text only."""
    from tokenizers import decoders

    vocab = {ch: i for i, ch in enumerate(["▁", "a", "▁a", *"0123456789"])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="a"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(prepend_scheme="always"), pre_tokenizers.Digits(individual_digits=True)]
    )
    tokenizer.decoder = decoders.Metaspace()
    metaspace = Vocabulary.from_backend(tokenizer, name="metaspace")
    assert metaspace.dummy_prefix
    assert number_splits(metaspace, ["12"]) == [[b"1", b"2"]]


# --- comparing the sample numbers ---------------------------------------------------------------


def test_samples_cover_every_integer_below_100000_with_and_without_space():
    samples = number_samples()
    integers = {s.text for s in samples if s.category == "integer"}
    assert integers == {str(i) for i in range(100_000)} | {f" {i}" for i in range(100_000)}
    categories = {s.category for s in samples}
    assert {"decimal", "thousands separator", "negative", "date", "price", "percentage"} <= categories
    for sample in samples:
        assert sample.text.startswith(" ") == sample.leading_space


def test_single_vs_groups_left(single, groups_left):
    result = compare_numbers(single, groups_left)
    rates = {(r["category"], r["leading_space"]): r for r in result.category_rates}
    # every integer of two or more digits is split differently; 0..9 are not
    assert rates[("integer", False)]["mismatches"] == 100_000 - 10
    assert rates[("integer", True)]["mismatches"] == 100_000 - 10
    assert len(result.mismatches) <= 2000
    assert result.mismatch_total == sum(r["mismatches"] for r in result.category_rates)
    row = next(r for r in result.mismatches if r["number"] == "10")
    assert (row["split_a"], row["split_b"]) == ("1|0", "10")
    assert result.tokens_per_length_a == [float(n) for n in range(1, 13)]
    assert result.tokens_per_length_b == [float(math.ceil(n / 3)) for n in range(1, 13)]
    assert result.digit_tokens_only_a == []
    assert len(result.digit_tokens_only_b) == 100 + 1000
    assert result.digit_tokens_only_b[:3] == ["00", "01", "02"]
    json.dumps(result.to_dict())


def test_left_and_right_groups_agree_exactly_when_length_is_a_multiple_of_three(groups_left, groups_right):
    result = compare_numbers(groups_left, groups_right, max_rows=None)
    bare_integers = [r for r in result.mismatches if r["category"] == "integer" and not r["leading_space"]]
    differing = {r["number"] for r in bare_integers}
    expected = {str(i) for i in range(100_000) if len(str(i)) in (4, 5)}
    assert differing == expected


def test_a_tokenizer_agrees_with_itself(groups_left):
    result = compare_numbers(groups_left, groups_left)
    assert result.mismatch_total == 0 and result.mismatches == []
    assert result.digit_tokens_only_a == result.digit_tokens_only_b == []


# --- numbers in the user's text -------------------------------------------------------------------


# Hand-labelled: the numbers a reader sees in each text, letters attached or not. A "-" after a letter or a
# digit is a hyphen; a number never starts or stops inside a run of digits.
NUMBERS_IN_TEXT = {
    "1.2B (vs 998M)": ["1.2", "998"],
    "Q3 2024": ["3", "2024"],
    "7B": ["7"],
    "GPT-4o": ["4"],
    "Llama-3.1-8B": ["3.1", "8"],
    "H100 and x86_64": ["100", "86", "64"],
    "COVID-19 in 2020s": ["19", "2020"],
    "$5M, 12% and 3rd": ["$5", "12%", "3"],
    "a -5 b, 5-3": ["-5", "5", "3"],
    "v1.2.3": ["1.2", "3"],
    "on 2024-01-05, 1,234,567.89 units": ["2024-01-05", "1,234,567.89"],
    "no digits here": [],
}


@pytest.mark.parametrize("text", NUMBERS_IN_TEXT)
def test_numbers_are_found_also_when_letters_touch_them(text):
    assert [text[start:end] for start, end in find_numbers(text)] == NUMBERS_IN_TEXT[text]


def test_highlight_flags_only_numbers_split_differently(single, groups_left):
    text = "Pay 12345 now, not 7 or 2024-01-05 or -1,234.5 (x2)."
    spans = highlight_numbers(single, groups_left, text)
    assert [s.text for s in spans] == ["12345", "7", "2024-01-05", "-1,234.5", "2"]  # "2" of "x2" too
    by_text = {s.text: s for s in spans}
    assert by_text["12345"].differs
    assert by_text["12345"].split_a == ["1", "2", "3", "4", "5"]
    assert by_text["12345"].split_b == ["123", "45"]
    assert not by_text["7"].differs
    assert by_text["-1,234.5"].split_b == ["-", "1", ",", "234", ".", "5"]
    for span in spans:
        assert text[span.start : span.end] == span.text
        assert "".join(span.split_a) == "".join(span.split_b) == span.text


def test_highlight_cuts_a_token_that_reaches_outside_the_number(free, single):
    """The free tokenizer's " 2024" token starts at the space; only cuts inside the number count."""
    spans = highlight_numbers(free, single, "in 2024 we")
    assert spans[0].split_a == ["2024"]
    assert spans[0].split_b == ["2", "0", "2", "4"]


def test_highlight_finds_numbers_after_text_the_normalizer_rewrote(groups_left, single):
    """NFKC turns the 3-byte "ﬁ" into "fi", so the tokens' bytes no longer spell the text; the
    cuts must still land on the right bytes."""
    from tokenizers import normalizers

    backend = Tokenizer.from_str(groups_left.backend.to_str())
    backend.normalizer = normalizers.NFKC()
    nfkc = Vocabulary.from_backend(backend, name="nfkc-groups-left")
    spans = highlight_numbers(nfkc, single, "ﬁne ﬁsh: 1234567 and 89")
    assert [(s.text, s.split_a) for s in spans] == [("1234567", ["123", "456", "7"]), ("89", ["89"])]


@pytest.mark.parametrize("text", ["", "   ", "9" * (MAX_TEXT_CHARS + 1)])
def test_highlight_rejects_empty_or_too_long_text(single, text):
    with pytest.raises(VocabLabError):
        highlight_numbers(single, single, text)


# --- real tokenizers --------------------------------------------------------------------------------

EXPECTED_SCHEMES = {
    "smollm2-135m": "single",
    "gemma3-270m": "single",
    "qwen3": "single",
    "gemma3": "single",
    "mistral": "single",
    "llama3": "groups-left",
    "gpt4o": "groups-left",
    "gpt35turbo": "groups-left",
    "deepseek-v3": "groups-left",
    "gpt2": "free",
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(EXPECTED_SCHEMES))
def test_preset_digit_scheme(preset):
    scheme = detect_digit_scheme(load_vocabulary(preset))
    assert scheme.kind == EXPECTED_SCHEMES[preset]
    assert scheme.max_group == {"single": 1, "groups-left": 3}.get(scheme.kind, scheme.max_group)


def naive_split(vocab: Vocabulary, text: str) -> list[bytes]:
    return [vocab.pieces[i] for i in vocab.encode(text)]


@pytest.mark.slow
@pytest.mark.parametrize("pair", [("llama3", "qwen3"), ("llama3", "gpt2"), ("gpt2", "qwen3")])
def test_preset_mismatches_match_a_brute_force_loop(pair):
    a, b = (load_vocabulary(name) for name in pair)
    assert not a.dummy_prefix and not b.dummy_prefix
    result = compare_numbers(a, b, max_rows=None)
    listed = {r["number"] for r in result.mismatches if r["category"] == "integer"}
    sample = [str(i) for i in [*range(1000), *range(1000, 100_000, 37)]]
    sample += [" " + s for s in sample]
    expected = {s for s in sample if naive_split(a, s) != naive_split(b, s)}
    assert listed & set(sample) == expected


@pytest.mark.slow
def test_preset_llama3_vs_qwen3_highlights_12345():
    llama3, qwen3 = load_vocabulary("llama3"), load_vocabulary("qwen3")
    spans = highlight_numbers(llama3, qwen3, "The order of 12345 parts ships on 7 March.")
    by_text = {s.text: s for s in spans}
    assert by_text["12345"].differs
    assert by_text["12345"].split_a == ["123", "45"]
    assert by_text["12345"].split_b == ["1", "2", "3", "4", "5"]
    assert not by_text["7"].differs


@pytest.mark.slow
def test_preset_llama3_vs_mistral_split_the_numbers_attached_to_letters():
    # Llama 3 keeps up to three digits in a token, Mistral one digit per token; letters are never merged
    # with digits by either
    spans = highlight_numbers(load_vocabulary("llama3"), load_vocabulary("mistral"), "Q3 revenue: 1.2B (vs 998M), 7B")
    splits = {s.text: (s.split_a, s.split_b, s.differs) for s in spans}
    assert splits == {
        "3": (["3"], ["3"], False),
        "1.2": (["1", ".", "2"], ["1", ".", "2"], False),
        "998": (["998"], ["9", "9", "8"], True),
        "7": (["7"], ["7"], False),
    }


@pytest.mark.slow
def test_preset_one_digit_tokenizers_agree_on_integers():
    qwen3, gemma3 = load_vocabulary("qwen3"), load_vocabulary("gemma3")
    spans = highlight_numbers(qwen3, gemma3, "Call 12345 or 678 at 9 or 1000000 or 42.")
    assert spans and not any(s.differs for s in spans)
    result = compare_numbers(qwen3, gemma3)
    rates = {(r["category"], r["leading_space"]): r["rate"] for r in result.category_rates}
    assert rates[("integer", False)] == rates[("integer", True)] == 0.0
