"""The two MCV rules (docs/methods.md §5): shared strings, and merge-closed.

Oracles: hand-labelled BPE tokenizers; a brute force over every subset of the shared strings that
checks closure with the tokenizers library's own BPE (restricted by rebuilding it with fewer
merges), sharing no code with vocablab.bpe; on real presets, the library's restricted BPE again and
a naive greedy nesting.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import pytest
from tokenizers import Tokenizer, models

from vocablab.errors import VocabLabError
from vocablab.options import MCV_RULE, MCV_RULES
from vocablab.reduce.ensemble import shared_space
from vocablab.reduce.subvocab import parse_subvocab
from vocablab.sources import load_vocabulary
from vocablab.vocab import ALL_BYTES, Vocabulary, compare_vocabularies, maximal_common_vocabulary, merge_table

LETTERS = [*"abcd"]
# A builds "abc" from "ab", B only from "bc", which A lacks; A builds "abcd" from "abc" (a cascade:
# it survives the first pass and falls in the second); B builds "abcd" from "ab" + "cd".
MERGES_A = [("a", "b"), ("ab", "c"), ("abc", "d"), ("c", "d")]
MERGES_B = [("b", "c"), ("a", "bc"), ("c", "d"), ("a", "b"), ("ab", "cd")]


def bpe(merges: list[tuple[str, str]], letters: list[str] = LETTERS) -> Tokenizer:
    pieces = letters + [a + b for a, b in merges]
    return Tokenizer(models.BPE(vocab={p: i for i, p in enumerate(dict.fromkeys(pieces))}, merges=merges))


def vocabulary(tokenizer: Tokenizer, name: str) -> Vocabulary:
    return Vocabulary.from_backend(tokenizer, name)


def model_of(tokenizer: Tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def library_restricted(tokenizer: Tokenizer, strings: set[str], byte_fallback: bool = False) -> models.BPE:
    """The tokenizers library's BPE with only the tokens in ``strings`` and the merges among them."""
    vocab, merges = model_of(tokenizer)
    kept = {s: i for s, i in vocab.items() if s in strings}
    kept_merges = [(a, b) for a, b in merges if a in kept and b in kept and a + b in kept]
    return models.BPE(vocab=kept, merges=kept_merges, byte_fallback=byte_fallback)


def closed_by_library(tokenizers_: list[Tokenizer], subset: set[str]) -> bool:
    """From the definition: each model's BPE, restricted to the subset, keeps each member whole."""
    for tok in tokenizers_:
        restricted = library_restricted(tok, subset)
        if any([t.value for t in restricted.tokenize(s)] != [s] for s in subset if len(s) > 1):
            return False
    return True


def as_strings(mcv: frozenset[bytes]) -> set[str]:
    return {p.decode() for p in mcv - ALL_BYTES}


def test_hand_labelled_rules():
    a, b = vocabulary(bpe(MERGES_A), "A"), vocabulary(bpe(MERGES_B), "B")
    assert as_strings(maximal_common_vocabulary([a, b], "shared")) == {"ab", "abc", "abcd", "cd"}
    closed = maximal_common_vocabulary([a, b], "merge-closed")
    assert as_strings(closed) == {"ab", "cd"}
    assert ALL_BYTES <= closed
    # B restricted to the shared strings cannot build "abc": it merges "ab", then has no (ab, c)
    assert merge_table(b).restricted(b"abc", maximal_common_vocabulary([a, b])) == [b"ab", b"c"]
    # A restricted to {ab, cd}: "abcd" becomes ab + cd (its path went through the dropped "abc")
    assert merge_table(a).restricted(b"abcd", closed) == [b"ab", b"cd"]


def test_rules_agree_when_merge_paths_are_shared():
    """Two models with the same merges: every shared string is rebuilt, so the rules agree."""
    a, b = vocabulary(bpe(MERGES_A), "A"), vocabulary(bpe(MERGES_A[:2]), "A-prefix")
    assert maximal_common_vocabulary([a, b], "merge-closed") == maximal_common_vocabulary([a, b], "shared")


def random_merges(rng: random.Random, letters: str, n: int) -> list[tuple[str, str]]:
    tokens, merges = list(letters), []
    while len(merges) < n:
        left, right = rng.choice(tokens), rng.choice(tokens)
        if len(left + right) <= 4 and left + right not in tokens:
            merges.append((left, right))
            tokens.append(left + right)
    return merges


def random_pair(rng: random.Random, letters: str = "abc", n: int = 9) -> tuple[list, list]:
    """Two BPE merge lists over ``letters``: A's are random; B has a few random strings of its own,
    then builds most of A's strings too, each from a random split into strings it already has, in a
    shuffled priority order."""
    merges_a, merges_b = random_merges(rng, letters, n), random_merges(rng, letters, 3)
    have = set(letters) | {left + right for left, right in merges_b}
    for left, right in merges_a:
        string = left + right
        splits = [(string[:i], string[i:]) for i in range(1, len(string)) if {string[:i], string[i:]} <= have]
        if string not in have and splits and rng.random() < 0.8:
            merges_b.append(rng.choice(splits))
            have.add(string)
    rng.shuffle(merges_b)
    return merges_a, merges_b


@pytest.mark.parametrize("seed", range(24))
def test_merge_closed_against_brute_force(seed):
    """On random small BPE pairs: the rule's set is closed (library BPE), holds every single byte,
    and no closed subset of the shared strings strictly contains it; when one closed subset contains
    all others, it is that one."""
    toks = [bpe(merges, list("abc")) for merges in random_pair(random.Random(seed))]
    vocabs = [vocabulary(t, f"m{i}") for i, t in enumerate(toks)]
    shared = sorted(as_strings(maximal_common_vocabulary(vocabs, "shared")))
    assert len(shared) <= 10
    closed = [
        set(subset) | set("abc")
        for n in range(len(shared) + 1)
        for subset in itertools.combinations(shared, n)
        if closed_by_library(toks, set(subset) | set("abc"))
    ]
    got = as_strings(maximal_common_vocabulary(vocabs, "merge-closed")) | set("abc")
    assert got in closed
    assert not any(got < other for other in closed)
    largest = max(closed, key=len)
    if all(other <= largest for other in closed):
        assert got == largest


def test_unknown_rule_is_refused():
    a, b = vocabulary(bpe(MERGES_A), "A"), vocabulary(bpe(MERGES_B), "B")
    with pytest.raises(VocabLabError, match="unknown MCV rule 'paper'"):
        maximal_common_vocabulary([a, b], "paper")
    with pytest.raises(VocabLabError, match="unknown MCV rule"):
        shared_space([a, b], "mcv", "paper")


def test_a_tokenizer_without_merges_is_refused_by_the_merge_rule():
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("ab", -2.0)], unk_id=0))
    a, u = vocabulary(bpe(MERGES_A), "A"), vocabulary(unigram, "uni")
    assert as_strings(maximal_common_vocabulary([a, u], "shared")) == {"ab"}
    with pytest.raises(VocabLabError, match="uni: .*needs BPE merges.*Unigram"):
        maximal_common_vocabulary([a, u], "merge-closed")


def test_cli_compare_takes_the_rule(tmp_path):
    folders = []
    for name, merges in (("A", MERGES_A), ("B", MERGES_B)):
        folder = tmp_path / name
        folder.mkdir()
        bpe(merges).save(str(folder / "tokenizer.json"))
        folders.append(str(folder))
    for rule, size in (("shared", 256 + 4), ("merge-closed", 256 + 2)):
        out = subprocess.run(
            [sys.executable, "-m", "vocablab", "compare", *folders, "--text", "abcd", "--mcv-rule", rule],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"MCV {size:,} ({rule} rule)" in out
    bad = subprocess.run(
        [sys.executable, "-m", "vocablab", "compare", *folders, "--text", "abcd", "--mcv-rule", "paper"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "invalid choice: 'paper'" in bad.stderr


def naive_greedy(piece: bytes, allowed: set[bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(piece):
        j = max(j for j in range(i + 1, len(piece) + 1) if piece[i:j] in allowed)
        out.append(piece[i:j])
        i = j
    return out


def string_of(vocab: Vocabulary, piece: bytes) -> str:
    """The model's own spelling of a byte string (not the byte-fallback one when there are two)."""
    ids = vocab.ids_by_bytes()[piece]
    return next((vocab.strings[i] for i in ids if not vocab.strings[i].startswith("<0x")), vocab.strings[ids[0]])


@pytest.mark.slow
def test_both_rules_give_valid_subvocabularies_on_real_presets():
    """SmolLM2 (byte-level BPE) and Mistral (SentencePiece BPE, byte fallback): under each rule,
    every token nests into the MCV (it holds every byte the tokens use) and every MCV string is
    produced by each model's nesting (greedy longest match keeps it whole: it is a token of each);
    under the merge-closed rule, the tokenizers library's BPE restricted to the set rebuilds each
    string (one in seven, to stay quick)."""
    vocabs = [load_vocabulary("smollm2-135m"), load_vocabulary("mistral")]
    sets = {rule: maximal_common_vocabulary(vocabs, rule) for rule in MCV_RULES}
    assert sets["merge-closed"] < sets["shared"]
    for rule, mcv in sets.items():
        allowed = set(mcv)
        for vocab in vocabs:
            assert {piece[i : i + 1] for piece in vocab.byte_set for i in range(len(piece))} <= allowed
            assert all(naive_greedy(s, allowed) == [s] and s in vocab.byte_set for s in mcv - ALL_BYTES)
        sub = parse_subvocab("mcv:mistral", vocabs[0], mcv_rule=rule)
        assert {s.data for s in sub.symbols if s.data is not None} == mcv & vocabs[0].byte_set, rule
        assert compare_vocabularies(vocabs, rule).mcv_size == len(mcv)
    closed = sets["merge-closed"] - ALL_BYTES
    for vocab in vocabs:
        # the restricted model: the set's strings, and the single bytes (Mistral: its characters of one
        # byte and its byte-fallback tokens; a character of several bytes only if the set holds it)
        strings = {string_of(vocab, p) for p in closed}
        strings |= {vocab.strings[i] for i in vocab.text_ids if len(vocab.pieces[i]) == 1}
        restricted = library_restricted(vocab.backend, strings, byte_fallback="ByteLevel" not in vocab.decoder_kinds)
        for piece in sorted(closed)[::7]:
            text = string_of(vocab, piece)
            assert [t.value for t in restricted.tokenize(text)] == [text], (vocab.name, piece)


def test_ensemble_space_under_each_rule():
    a, b = vocabulary(bpe(MERGES_A), "A"), vocabulary(bpe(MERGES_B), "B")
    expected = {"shared": {"ab", "abc", "abcd", "cd"}, "merge-closed": {"ab", "cd"}}
    for rule in MCV_RULES:
        space = shared_space([a, b], "mcv", rule)
        assert {s.data.decode() for s in space.symbols if s.data and len(s.data) > 1} == expected[rule]
        assert space.name == ("mcv" if rule == MCV_RULE else f"mcv ({rule})")
        sub = parse_subvocab("mcv:B", a, load_other=lambda _: b, mcv_rule=rule)
        assert {s.data.decode() for s in sub.symbols if s.data and len(s.data) > 1} == expected[rule]
    assert shared_space([a, b], "bytes", "merge-closed").name == "bytes"


def test_tokenizer_view_takes_the_rule(tmp_path):
    from vocablab.ui.tokenizers_tab import tokenize_side_by_side

    folders = []
    for name, merges in (("A", MERGES_A), ("B", MERGES_B)):
        (tmp_path / name).mkdir()
        bpe(merges).save(str(tmp_path / name / "tokenizer.json"))
        folders.append(str(tmp_path / name))
    for rule, size in (("shared", "260"), ("merge-closed", "258")):
        out = tokenize_side_by_side("abcd", False, *folders, None, None, rule, None, progress=lambda *a, **k: None)
        assert out[2]["MCV"].tolist() == [size]


def test_cli_parses_the_rule_where_the_mcv_is_used():
    from vocablab.cli import build_parser

    parser = build_parser()
    for argv in (
        ["generate", "m", "--prompt", "x", "--subvocab", "mcv:o"],
        ["ensemble", "m", "o", "--prompt", "x"],
        ["eval", "m", "o", "--text", "lee_background"],
        ["compare", "m", "o", "--text", "x"],
    ):
        assert parser.parse_args(argv).mcv_rule == MCV_RULE
        assert parser.parse_args([*argv, "--mcv-rule", "merge-closed"]).mcv_rule == "merge-closed"


@pytest.mark.slow
def test_cli_generate_over_the_merge_closed_mcv():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vocablab",
            "generate",
            "smollm2-135m",
            "--prompt",
            "The capital of France is",
            "--subvocab",
            "mcv:mistral",
            "--mcv-rule",
            "merge-closed",
            "--max-new-bytes",
            "3",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "over mcv:mistral (merge-closed):" in out.stderr
