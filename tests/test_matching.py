"""Token matching for the transplant, against pairs labelled by hand from the real preset tokenizers.

Each case names the donor token and the base token it must copy by their strings, as they stand in
the two tokenizer.json files; the expected id is looked up by that string, never by match_tokens.
"""

from __future__ import annotations

import pytest

from vocablab.sources import load_vocabulary
from vocablab.surgery.matching import match_tokens

pytestmark = pytest.mark.slow

# (donor token string in SmolLM2, base token string in Gemma 3), by bytes
GEMMA_BASE_SMOLLM2_DONOR = [
    ("Ċ", "\n"),  # a newline; Gemma's own "Ċ" is the character U+010A
    ("Ġ", "▁"),  # a space; Gemma's "Ġ" is U+0120
    ("ĉ", "\t"),  # a tab; Gemma also has the byte-fallback piece "<0x09>" with these bytes
    ("é", "<0xE9>"),  # the single byte 0xE9 (half of nothing); Gemma's "é" is the two bytes C3 A9
    ("Ã©", "é"),  # the two bytes C3 A9 in the GPT-2 byte alphabet
    ("Ġthe", "▁the"),
    ("A", "A"),  # not Gemma's byte-fallback "<0x41>": the Gemma tokenizer produces "A" for "A"
    ("ĠĠĠĠ", "▁▁▁▁"),  # whitespace runs
    ("ĉĉ", "\t\t"),
    ("ĊĊ", "\n\n"),
    ("æľ¬", "本"),  # a CJK character, three bytes
    ("ä¸Ń", "中"),
]
# special tokens, by role: SmolLM2's <|im_end|> is its eos and its pad, and must be Gemma's eos
GEMMA_BASE_SMOLLM2_SPECIALS = [("<|im_end|>", "<eos>"), ("<|im_start|>", "<bos>"), ("<|endoftext|>", "<unk>")]
# the other direction: Gemma donor, SmolLM2 base
SMOLLM2_BASE_GEMMA_DONOR = [
    ("A", "A"),
    ("\n", "Ċ"),
    ("<0xE9>", "é"),  # a byte-fallback piece with no other Gemma token of its bytes: the byte 0xE9
    ("▁the", "Ġthe"),
    ("本", "æľ¬"),
    ("<eos>", "<|im_end|>"),
    ("<end_of_turn>", "<|im_end|>"),  # end of turn to end of turn
]
# Gemma aliases: byte-fallback pieces with the bytes of a token Gemma's tokenizer produces instead
# ("A" is encoded as "A", never as "<0x41>"); they are new, so only "A" takes SmolLM2's row of "A"
GEMMA_DONOR_ALIASES = ["<0x41>", "<0x0A>", "<0x09>", "<0x2C>", "<0x30>"]
# mergekit's string rule: word-start markers alike, otherwise raw strings (so "Ċ" meets "Ċ")
GEMMA_BASE_SMOLLM2_DONOR_STRING = [("Ċ", "Ċ"), ("Ġthe", "▁the"), ("ĉ", "ĉ"), ("<|im_end|>", "<eos>")]


@pytest.fixture(scope="module")
def smollm2():
    return load_vocabulary("smollm2-135m")


@pytest.fixture(scope="module")
def gemma():
    return load_vocabulary("gemma3-270m")


def matched_string(base, donor, mode: str, donor_token: str) -> str | None:
    match = match_tokens(base, donor, mode)
    base_id = match.base_id[donor.id_of_string[donor_token]]
    return base.strings[base_id] if base_id >= 0 else None


@pytest.mark.parametrize(("donor_token", "base_token"), GEMMA_BASE_SMOLLM2_DONOR + GEMMA_BASE_SMOLLM2_SPECIALS)
def test_bytes_mode_gemma_base(gemma, smollm2, donor_token, base_token):
    assert matched_string(gemma, smollm2, "bytes", donor_token) == base_token


@pytest.mark.parametrize(("donor_token", "base_token"), SMOLLM2_BASE_GEMMA_DONOR)
def test_bytes_mode_smollm2_base(gemma, smollm2, donor_token, base_token):
    assert matched_string(smollm2, gemma, "bytes", donor_token) == base_token


@pytest.mark.parametrize("alias", GEMMA_DONOR_ALIASES)
def test_bytes_mode_donor_aliases_are_new(gemma, smollm2, alias):
    assert matched_string(smollm2, gemma, "bytes", alias) is None


@pytest.mark.parametrize(("donor_token", "base_token"), GEMMA_BASE_SMOLLM2_DONOR_STRING)
def test_string_mode_follows_the_reference_tool(gemma, smollm2, donor_token, base_token):
    assert matched_string(gemma, smollm2, "string", donor_token) == base_token


def test_bytes_mode_shares_only_equal_bytes(gemma, smollm2):
    """Every shared text token has the same bytes on both sides (checked on the byte view itself)."""
    match = match_tokens(gemma, smollm2, "bytes")
    for donor_id, base_id in enumerate(match.base_id):
        if base_id >= 0 and donor_id not in smollm2.special_ids:
            assert smollm2.pieces[donor_id] == gemma.pieces[base_id], smollm2.strings[donor_id]
    # and a donor token is new only when no base token has its bytes
    base_bytes = set(gemma.ids_by_bytes())
    for donor_id in match.new_donor_ids:
        if donor_id not in smollm2.special_ids:
            assert smollm2.pieces[donor_id] not in base_bytes


def test_a_donor_token_with_base_bytes_is_new_only_as_an_alias(gemma, smollm2):
    """Gemma donor, SmolLM2 base: a new text token whose bytes SmolLM2 has must be an alias, i.e.
    Gemma's own tokenizer encodes its bytes as one other token, which is the one matched."""
    match = match_tokens(smollm2, gemma, "bytes")
    base_bytes = set(smollm2.ids_by_bytes())
    aliases = 0
    for donor_id in match.new_donor_ids:
        piece = gemma.pieces[donor_id]
        if donor_id in gemma.special_ids or piece not in base_bytes:
            continue
        (produced,) = gemma.encode(piece.decode("utf-8"))
        assert produced != donor_id and gemma.pieces[produced] == piece, gemma.strings[donor_id]
        assert match.base_id[produced] >= 0
        aliases += 1
    assert aliases >= 95  # at least the printable ASCII characters have byte-fallback aliases
