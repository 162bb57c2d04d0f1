"""Lossless vocabulary reduction against brute-force enumeration on a tiny model."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch
from tokenizers import Tokenizer, models

from vocablab.reduce import lvr
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.subvocab import EOS, Symbol, build_subvocabulary
from vocablab.vocab import ALL_BYTES, Vocabulary

PIECES = ["a", "b", "c", "ab", "bc", "abc", "ca"]
MAX_TOKENS = 4  # the tiny model must end after this many tokens, so its law is finite


def tiny_vocab() -> Vocabulary:
    vocab = {"<eos>": 0, **{p: i + 1 for i, p in enumerate(PIECES)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    tokenizer.add_special_tokens(["<eos>"])
    return Vocabulary.from_backend(tokenizer, "tiny", roles={"eos": 0})


class TinyModel:
    """Next-token log-probs that depend on the whole prefix (a seeded function of it)."""

    def __init__(self, size: int, eos: int, seed: int = 0) -> None:
        self.size, self.eos, self.seed = size, eos, seed

    def start(self, prompt_ids):
        return tuple(prompt_ids)

    def logprobs(self, state):
        if len(state) >= MAX_TOKENS:
            out = torch.full((self.size,), -math.inf, dtype=torch.float64)
            out[self.eos] = 0.0
            return out
        gen = torch.Generator().manual_seed(hash((self.seed, state)) % (2**31))
        return torch.log_softmax(torch.randn(self.size, generator=gen, dtype=torch.float64) * 2, dim=0)

    def extend(self, requests):
        return [(*state, token) for state, token in requests]


def enumerate_law(model: TinyModel):
    """Every complete token sequence (ending in EOS) with its probability."""
    law = {}
    frontier = [((), 0.0)]
    while frontier:
        prefix, logp = frontier.pop()
        logprobs = model.logprobs(prefix)
        for token in range(model.size):
            lp = logprobs[token].item()
            if lp == -math.inf:
                continue
            if token == model.eos:
                law[prefix] = logp + lp
            else:
                frontier.append(((*prefix, token), logp + lp))
    return law


@pytest.fixture(scope="module")
def setup():
    vocab = tiny_vocab()
    # S lacks "bc", "abc", "ca": those tokens nest into two pieces ("abc" = "ab" + "c")
    sub = build_subvocabulary(vocab, ALL_BYTES | {b"ab"}, "tiny-S")
    model = TinyModel(len(vocab), eos=0)
    return vocab, sub, model


def reduced_logprob(model, sub, symbols, k=None):
    reduced = ReducedModel(model, sub, [], k=k)
    total = 0.0
    for symbol in symbols:
        assert torch.logsumexp(reduced.distribution(), 0).item() == pytest.approx(0.0, abs=1e-12)
        total += reduced.advance(symbol)
    return total


def test_nested_tokenization_needs_several_pieces(setup):
    vocab, sub, _ = setup
    abc = vocab.backend.token_to_id("abc")
    assert [sub.symbols[s].data for s in sub.nested[abc]] == [b"ab", b"c"]


def test_reduced_law_is_the_push_forward_and_texts_keep_their_probability(setup):
    vocab, sub, model = setup
    law = enumerate_law(model)
    assert math.fsum(math.exp(lp) for lp in law.values()) == pytest.approx(1.0, abs=1e-12)
    push_forward = defaultdict(float)
    text_law = defaultdict(float)
    for tokens, logp in law.items():
        symbols = tuple(s for t in tokens for s in sub.nested[t])
        push_forward[(*symbols, sub.eos_symbol)] += math.exp(logp)
        text_law[b"".join(vocab.pieces[t] for t in tokens)] += math.exp(logp)
    reduced_text_law = defaultdict(float)
    for symbols, probability in push_forward.items():
        p_reduced = math.exp(reduced_logprob(model, sub, symbols))
        assert p_reduced == pytest.approx(probability, rel=1e-9, abs=1e-15)
        reduced_text_law[sub.text(list(symbols))] += p_reduced
    assert math.fsum(reduced_text_law.values()) == pytest.approx(1.0, abs=1e-9)
    for text, probability in text_law.items():
        assert reduced_text_law[text] == pytest.approx(probability, rel=1e-9, abs=1e-15)


def test_k1_reduced_greedy_is_the_models_greedy(setup):
    vocab, sub, model = setup
    state, greedy = (), []
    while True:
        token = int(model.logprobs(state).argmax())
        if token == model.eos:
            break
        greedy.append(token)
        state = (*state, token)
    reduced = ReducedModel(model, sub, [], k=1)
    symbols = []
    while not reduced.ended:
        symbol = int(reduced.distribution().argmax())
        reduced.advance(symbol)
        symbols.append(symbol)
    assert sub.text(symbols[:-1]) == b"".join(vocab.pieces[t] for t in greedy)


def test_every_prefix_distribution_sums_to_one_for_any_k(setup):
    _, sub, model = setup
    for k in (None, 1, 3):
        reduced = ReducedModel(model, sub, [], k=k)
        for _ in range(6):
            dist = reduced.distribution()
            assert torch.logsumexp(dist, 0).item() == pytest.approx(0.0, abs=1e-12)
            reduced.advance(int(dist.argmax()))
            if reduced.ended:
                break


def prefix_law(model, sub):
    """Brute force: the reduced law's probability of every symbol prefix (push-forward, summed)."""
    prefixes = defaultdict(float)
    for tokens, logp in enumerate_law(model).items():
        symbols = (*[s for t in tokens for s in sub.nested[t]], sub.eos_symbol)
        for n in range(len(symbols) + 1):
            prefixes[symbols[:n]] += math.exp(logp)
    return prefixes


def test_ensemble_is_the_weighted_mixture_of_brute_force_reduced_laws():
    from vocablab.reduce.ensemble import Ensemble, shared_space

    vocab_a = tiny_vocab()
    pieces_b = ["a", "b", "c", "bc", "cab", "aa"]
    table = {"<eos>": 0, **{p: i + 1 for i, p in enumerate(pieces_b)}}
    tokenizer = Tokenizer(models.WordLevel(table, unk_token="<eos>"))
    tokenizer.add_special_tokens(["<eos>"])
    vocab_b = Vocabulary.from_backend(tokenizer, "tiny-b", roles={"eos": 0})
    model_a, model_b = TinyModel(len(vocab_a), eos=0, seed=1), TinyModel(len(vocab_b), eos=0, seed=2)
    for space in ("mcv", "bytes"):
        shared = shared_space([vocab_a, vocab_b], space)
        laws = [prefix_law(m, sub) for m, sub in zip([model_a, model_b], shared.subs, strict=True)]
        weights = [0.3, 0.7]
        ensemble = Ensemble(
            [
                ReducedModel(m, sub, [], k=None, keep_closing=True)
                for m, sub in zip([model_a, model_b], shared.subs, strict=True)
            ],
            ["a", "b"],
            shared,
            weights,
        )
        emitted: list[int] = []
        while not ensemble.ended:
            expected = torch.zeros(len(shared.symbols), dtype=torch.float64)
            possible = torch.ones(len(shared.symbols), dtype=torch.bool)
            for m, law in enumerate(laws):
                own = tuple(shared.to_member(m, emitted))
                conditional = torch.tensor(
                    [
                        law.get((*own, int(shared.member_index[m][v])), 0.0) / law[own]
                        for v in range(len(shared.symbols))
                    ],
                    dtype=torch.float64,
                )
                assert conditional.sum().item() == pytest.approx(1.0, abs=1e-12)  # every symbol is shared here
                expected += weights[m] * conditional
                possible &= conditional > 0
            got = ensemble.distribution().exp()
            assert torch.allclose(got, expected, rtol=1e-9, atol=1e-15)
            # the tiny models must end after 4 tokens: follow a symbol both can still emit
            symbol = int(torch.where(possible, got, -1.0).argmax())
            ensemble.advance(symbol)
            emitted.append(symbol)
        assert emitted[-1] == shared.symbols.index(Symbol(None, EOS)) and len(emitted) > 2


def continuation_law(reduced: ReducedModel, sub) -> dict[bytes, float]:
    """Brute force over the reduced model: every symbol path to EOS, summed by the bytes it spells."""
    import copy

    law: dict[bytes, float] = defaultdict(float)
    stack = [(reduced, [], 0.0)]
    while stack:
        model, symbols, logp = stack.pop()
        dist = model.distribution()
        for symbol in (dist > -math.inf).nonzero().flatten().tolist():
            if symbol == sub.eos_symbol:
                law[sub.text(symbols)] += math.exp(logp + dist[symbol].item())
                continue
            child = copy.deepcopy(model)
            child.advance(symbol)
            stack.append((child, [*symbols, symbol], logp + dist[symbol].item()))
    return law


class TableModel:
    """A model given by a table of next-token probabilities per prefix (absent: EOS only)."""

    def __init__(self, size: int, eos: int, table: dict[tuple[int, ...], dict[int, float]]) -> None:
        self.size, self.eos, self.table = size, eos, table

    def start(self, prompt_ids):
        return tuple(prompt_ids)

    def logprobs(self, state):
        out = torch.full((self.size,), -math.inf, dtype=torch.float64)
        for token, p in self.table.get(state, {self.eos: 1.0}).items():
            out[token] = math.log(p)
        return out

    def extend(self, requests):
        return [(*state, token) for state, token in requests]


def test_conditioning_on_the_prompt_text_covers_every_tokenization_of_its_end():
    # tokens "a", "b", "ab": P("ab") = 0.9, P("a") = 0.1, p("b" | "a") = 0.01; the prompt is "a"
    table = {"<eos>": 0, "a": 1, "b": 2, "ab": 3}
    tokenizer = Tokenizer(models.WordLevel(table, unk_token="<eos>"))
    tokenizer.add_special_tokens(["<eos>"])
    vocab = Vocabulary.from_backend(tokenizer, "ab", roles={"eos": 0})
    sub = build_subvocabulary(vocab, ALL_BYTES, "bytes")
    model = TableModel(len(vocab), 0, {(): {3: 0.9, 1: 0.1}, (1,): {2: 0.01, 0: 0.99}})
    b = sub.index[Symbol(b"b")]

    one_tokenization = ReducedModel(model, sub, [1], k=None)  # the prompt as its canonical token "a"
    assert math.exp(one_tokenization.distribution()[b].item()) == pytest.approx(0.01, abs=1e-12)
    healed = ReducedModel(model, sub, [], k=None)
    healed.condition(b"a")
    # (0.9 + 0.1 * 0.01) / (0.9 + 0.1): "ab" is in the cover, with "a" followed by "b"
    assert math.exp(healed.distribution()[b].item()) == pytest.approx(0.901, abs=1e-12)


@pytest.mark.parametrize("space", ["bytes", "tiny-S"])
@pytest.mark.parametrize("tail", [b"a", b"ab", b"abc", b"ca"])
def test_every_text_keeps_its_probability_given_the_prompt_text(setup, space, tail):
    vocab, tiny_s, model = setup
    sub = build_subvocabulary(vocab, ALL_BYTES, "bytes") if space == "bytes" else tiny_s
    # brute force: P(text | text starts with tail) from the model's law over token sequences
    texts: dict[bytes, float] = defaultdict(float)
    for tokens, logp in enumerate_law(model).items():
        text = b"".join(vocab.pieces[t] for t in tokens)
        if text.startswith(tail):
            texts[text[len(tail) :]] += math.exp(logp)
    total = math.fsum(texts.values())
    reduced = ReducedModel(model, sub, [], k=None)
    reduced.condition(tail)
    got = continuation_law(reduced, sub)
    assert set(got) == set(texts)
    for continuation, probability in texts.items():
        assert got[continuation] == pytest.approx(probability / total, rel=1e-9, abs=1e-15)


class PaddedModel(TinyModel):
    """The tiny model with a head padded past its tokenizer (Qwen2.5 has 151,665 ids and 152,064
    rows): the extra rows stand for no token and get no probability."""

    def logprobs(self, state):
        real = super().logprobs(state)
        return torch.cat([real, torch.full((5,), -math.inf, dtype=torch.float64)])


def test_a_head_padded_past_the_tokenizer_reduces_like_the_unpadded_model(setup):
    vocab, sub, model = setup
    padded = PaddedModel(len(vocab), eos=0)
    for k in (None, 2):
        plain, wide = ReducedModel(model, sub, [], k=k), ReducedModel(padded, sub, [], k=k)
        for _ in range(5):
            assert torch.equal(plain.distribution(), wide.distribution())
            symbol = int(plain.distribution().argmax())
            plain.advance(symbol)
            wide.advance(symbol)
            if plain.ended:
                break


def test_heavy_pruning_still_emits_every_text_of_the_law(setup):
    """Scoring prunes closing entries; the heaviest one pruned is held in reserve, so a text of
    positive probability never meets a cover that cannot emit its next symbol."""
    vocab, sub, capped = setup

    class Uncapped(TinyModel):  # every token possible after any prefix, as with a real model
        def logprobs(self, state):
            gen = torch.Generator().manual_seed(hash((self.seed, state)) % (2**31))
            return torch.log_softmax(torch.randn(self.size, generator=gen, dtype=torch.float64) * 2, dim=0)

    model = Uncapped(len(vocab), eos=0)
    for tokens in enumerate_law(capped):
        reduced = ReducedModel(model, sub, [], k=None, beam=1, min_weight=0.9)
        for symbol in [s for t in tokens for s in sub.nested[t]]:
            assert reduced.advance(symbol) > -math.inf


def test_every_declared_end_stops_the_reduced_model():
    """Gemma-IT ends a turn with "<end_of_turn>", not its EOS; after it, this model would go on."""
    from vocablab.options import Decoding
    from vocablab.reduce.steps import run_steps

    table = {"<eos>": 0, "<end_of_turn>": 1, "a": 2}
    tokenizer = Tokenizer(models.WordLevel(table, unk_token="<eos>"))
    tokenizer.add_special_tokens(["<eos>", "<end_of_turn>"])
    vocab = Vocabulary.from_backend(tokenizer, "turns", roles={"eos": 0})
    assert vocab.stop_ids == {0, 1}

    class Chatty(TableModel):
        def logprobs(self, state):
            out = torch.full((self.size,), -math.inf, dtype=torch.float64)
            out[1 if state and state[-1] == 2 else 2] = 0.0  # "a", then the end of the turn, then "a" again
            return out

    sub = build_subvocabulary(vocab, ALL_BYTES, "bytes")
    reduced = ReducedModel(Chatty(len(vocab), 0, {}), sub, [], k=None)
    emitted, _, _ = run_steps(reduced, sub.symbols, Decoding(max_new_bytes=20))
    assert reduced.ended and sub.text(emitted) == b"a" and emitted[-1] == sub.eos_symbol


@pytest.mark.real  # preset tokenizers or models
def test_end_ids_declared_in_generation_config(tmp_path):
    import json

    from vocablab.sources import load_vocabulary

    from .conftest import tiny_llama

    folder = tiny_llama("gpt2", tmp_path / "model", tied=True)
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [50256, 198]}))
    assert {50256, 198} <= load_vocabulary(str(folder)).stop_ids


def test_an_exact_cover_past_the_state_limit_is_refused(setup, monkeypatch):
    from vocablab.errors import VocabLabError
    from vocablab.reduce import lvr

    vocab, sub, model = setup
    monkeypatch.setattr(lvr, "MAX_STATES", 2)
    reduced = ReducedModel(model, sub, [], k=None)
    with pytest.raises(VocabLabError, match="past the limit of 2"):
        for symbol in [s for t in [1, 2, 3, 1] for s in sub.nested[t]]:
            reduced.advance(symbol)


def test_running_ahead_changes_no_probability_and_saves_passes(setup, monkeypatch):
    """With each batch of forward passes, the heaviest open entry runs ahead (lvr.LOOKAHEAD): exact,
    every distribution must still be the brute-force one; pruned, some batches are no longer needed."""
    vocab, _, _ = setup
    sub = build_subvocabulary(vocab, ALL_BYTES, "bytes")  # "abc" is open for three symbols

    class Counting(TinyModel):
        batches = 0

        def extend(self, requests):
            self.batches += 1
            return super().extend(requests)

    def run(lookahead: int, seed: int, check: bool, **pruning) -> int:
        monkeypatch.setattr(lvr, "LOOKAHEAD", lookahead)
        model = Counting(len(vocab), eos=0, seed=seed)
        law, reduced, prefix = prefix_law(model, sub), ReducedModel(model, sub, [], **pruning), ()
        while not reduced.ended:
            dist = reduced.distribution().exp()
            for symbol in range(len(sub.symbols) if check else 0):
                expected = law.get((*prefix, symbol), 0.0) / law[prefix]
                assert dist[symbol].item() == pytest.approx(expected, rel=1e-9, abs=1e-12)
            prefix = (*prefix, int(dist.argmax()))
            reduced.advance(prefix[-1])
        return model.batches

    saved = 0
    for seed in range(10):
        run(1, seed, check=True)
        with_ahead, without = (run(n, seed, check=False, k=3, beam=2, min_weight=1e-3) for n in (1, 0))
        assert with_ahead <= without
        saved += without - with_ahead
    assert saved > 0


@pytest.mark.real  # preset tokenizers or models
def test_a_generation_that_reaches_the_models_context_keeps_what_it_made(tmp_path):
    from vocablab.options import Decoding
    from vocablab.reduce.generate import generate_reduced

    from .conftest import tiny_llama

    folder = tiny_llama("gpt2", tmp_path / "model", tied=True)  # its context is 64 tokens
    result = generate_reduced(str(folder), "the cat", subvocab="bytes", decoding=Decoding(k=4, max_new_bytes=500))
    assert result.ended_by == "context limit"
    assert 0 < len(result.data) < 500 and result.steps == len(result.data)  # kept, one byte a step
