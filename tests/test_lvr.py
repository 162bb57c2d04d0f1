"""Lossless vocabulary reduction against brute-force enumeration on a tiny model."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch
from tokenizers import Tokenizer, models

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

    def extend(self, requests, in_place):
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
