"""An ensemble member whose pruned cover cannot emit the mixture's pick recovers it, never an error.

Tiny models in code check the member's law after recovery against brute force; tiny random models
of a real architecture carrying the real Llama 3, GPT-2 and DeepSeek-V3 tokenizers, each paired
with SmolLM2, reproduce the byte ensembles that stopped mid-generation (issue 32).
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from tokenizers import Tokenizer, models

from vocablab.reduce.ensemble import Ensemble, shared_space
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.subvocab import EOS, Symbol
from vocablab.vocab import Vocabulary

from .test_lvr import TableModel, TinyModel, prefix_law, tiny_vocab


def word_vocab(name: str, pieces: list[str]) -> Vocabulary:
    table = {"<eos>": 0, **{p: i + 1 for i, p in enumerate(pieces)}}
    tokenizer = Tokenizer(models.WordLevel(table, unk_token="<eos>"))
    tokenizer.add_special_tokens(["<eos>"])
    return Vocabulary.from_backend(tokenizer, name, roles={"eos": 0})


def brute_conditional(law: dict, prefix: tuple[int, ...], size: int) -> torch.Tensor:
    return torch.tensor([law.get((*prefix, v), 0.0) / law[prefix] for v in range(size)], dtype=torch.float64)


A_PIECES = ["a", "b", "c", "x", "abc"]
A_TABLE = {(): {5: 0.95, 1: 0.05}, (1,): {2: 0.6, 4: 0.4}, (1, 2): {4: 0.7, 3: 0.3}}  # "abc", or "a" "b" "x"|"c"
B_TABLE = {(): {1: 1.0}, (1,): {2: 1.0}, (1, 2): {3: 1.0}}  # "a" "b" "x"


def test_a_member_brings_back_what_pruning_set_aside_two_symbols_earlier():
    """Member A prefers the token "abc" (0.95) to "a" (0.05): pruning sets "a" aside at the first
    symbol, and A's cover is then "abc" alone, which cannot emit "x" after "ab". Member B picks "x".
    A brings back "a" and its descendants along "b", which here is every path pruning dropped, so
    A's law after recovery is its exact one (brute force), and its pruned mass stays truthful."""
    vocab_a, vocab_b = word_vocab("A", A_PIECES), word_vocab("B", ["a", "b", "x", "c"])
    model_a, model_b = TableModel(len(vocab_a), 0, A_TABLE), TableModel(len(vocab_b), 0, B_TABLE)
    shared = shared_space([vocab_a, vocab_b], "bytes")
    member_a = ReducedModel(model_a, shared.subs[0], [], k=None, beam=1, min_weight=0.5, keep_closing=True)
    member_b = ReducedModel(model_b, shared.subs[1], [], k=None, keep_closing=True)
    ensemble = Ensemble([member_a, member_b], ["A", "B"], shared, [0.4, 0.6])
    law = prefix_law(model_a, shared.subs[0])
    size = len(shared.subs[0].symbols)
    a, b, x = (shared.symbols.index(Symbol(c)) for c in (b"a", b"b", b"x"))
    log_p, emitted = 0.0, []
    for symbol in (a, b):
        assert int(ensemble.distribution().argmax()) == symbol
        own = int(shared.member_index[0][symbol])
        log_p += member_a.distribution()[own].item()
        ensemble.advance(symbol)
        emitted.append(own)
    x_a = int(shared.member_index[0][x])
    assert member_a.distribution()[x_a].item() == -math.inf  # A's pruned cover cannot emit "x"
    assert int(ensemble.distribution().argmax()) == x  # yet the mixture picks it

    recovered = member_a.ready(x_a).exp()
    assert torch.allclose(recovered, brute_conditional(law, tuple(emitted), size), rtol=1e-12, atol=1e-15)
    log_p += recovered[x_a].log().item()
    ensemble.advance(x)
    emitted.append(x_a)
    assert torch.allclose(member_a.distribution().exp(), brute_conditional(law, tuple(emitted), size), rtol=1e-12)
    # the emitted log-probs overstate the text by exactly what pruning dropped and recovery did not bring back
    assert member_a.log_kept < 0
    assert log_p + member_a.log_kept == pytest.approx(math.log(law[tuple(emitted)]), rel=1e-12)


def test_a_member_with_no_shared_symbol_sits_out_the_mixture_then_recovers():
    """Without "c" in B, A's pruned cover after "ab" gives every shared symbol 0 (its "abc" goes on
    with "c"): the mixture is B's law alone, not NaN, and A recovers B's pick "x"."""
    vocab_a, vocab_b = word_vocab("A", A_PIECES), word_vocab("B", ["a", "b", "x"])
    model_a, model_b = TableModel(len(vocab_a), 0, A_TABLE), TableModel(len(vocab_b), 0, B_TABLE)
    shared = shared_space([vocab_a, vocab_b], "bytes")
    member_a = ReducedModel(model_a, shared.subs[0], [], k=None, beam=1, min_weight=0.5, keep_closing=True)
    ensemble = Ensemble([member_a, ReducedModel(model_b, shared.subs[1], [], k=None)], ["A", "B"], shared)
    a, b, x = (shared.symbols.index(Symbol(c)) for c in (b"a", b"b", b"x"))
    ensemble.advance(a)
    ensemble.advance(b)
    expected = torch.zeros(len(shared.symbols), dtype=torch.float64)
    expected[x] = 1.0
    assert torch.equal(ensemble.distribution().exp(), expected)
    ensemble.advance(x)
    assert [e.tokens for e in member_a.closed] == [(1, 2, 4)] and not member_a.groups  # "a" "b" "x", the only path


def test_scoring_alone_reaches_a_text_whose_path_pruning_dropped_two_symbols_earlier():
    """The same cover scored alone (no keep-closing, as ``score.py`` runs it): the text "abx"."""
    vocab = word_vocab("A", A_PIECES)
    model = TableModel(len(vocab), 0, A_TABLE)
    sub = shared_space([vocab, vocab], "bytes").subs[0]
    reduced = ReducedModel(model, sub, [], k=None, beam=1, min_weight=0.5)
    symbols = [sub.index[Symbol(c)] for c in (b"a", b"b", b"x")]
    log_p = sum(reduced.advance(s) for s in symbols)
    assert log_p + reduced.log_kept == pytest.approx(math.log(prefix_law(model, sub)[tuple(symbols)]), rel=1e-12)


def test_a_member_widens_its_top_k_to_emit_the_pick():
    """K = 1 keeps only "a" (0.5) after the start; the pick "x" is the first piece of "x" (0.15) and
    "xa" (0.05). The member adds those two children: its law is then the model's restricted to the
    top child plus the children recovery added, {a: 0.5, x: 0.2} / 0.7, read off the table."""
    vocab_a, vocab_b = word_vocab("A", ["a", "b", "x", "xa"]), word_vocab("B", ["a", "x"])
    model_a = TableModel(len(vocab_a), 0, {(): {1: 0.5, 2: 0.3, 3: 0.15, 4: 0.05}})
    model_b = TableModel(len(vocab_b), 0, {(): {2: 1.0}})
    shared = shared_space([vocab_a, vocab_b], "bytes")
    member_a = ReducedModel(model_a, shared.subs[0], [], k=1, keep_closing=True)
    ensemble = Ensemble([member_a, ReducedModel(model_b, shared.subs[1], [], k=1)], ["A", "B"], shared)
    sub = shared.subs[0]
    a, x = sub.index[Symbol(b"a")], sub.index[Symbol(b"x")]
    assert member_a.distribution()[x].item() == -math.inf
    expected = torch.zeros(len(sub.symbols), dtype=torch.float64)
    expected[a], expected[x] = 0.5 / 0.7, 0.2 / 0.7
    assert torch.allclose(member_a.ready(x).exp(), expected, rtol=1e-12, atol=0)
    ensemble.advance(shared.symbols.index(Symbol(b"x")))
    assert member_a.log_kept == 0.0  # nothing was pruned: a wider top K is not pruned mass


class Uncapped(TinyModel):
    """Every token possible after any prefix, as with a real model."""

    def logprobs(self, state):
        gen = torch.Generator().manual_seed(hash((self.seed, state)) % (2**31))
        return torch.log_softmax(torch.randn(self.size, generator=gen, dtype=torch.float64) * 2, dim=0)


def path_logprob(model, tokens: tuple[int, ...]) -> float:
    return math.fsum(model.logprobs(tokens[:i])[t].item() for i, t in enumerate(tokens))


def cover_law(member: ReducedModel, model, emitted: list[int]) -> tuple[torch.Tensor, float]:
    """Brute force over the paths the member's cover holds: the next-symbol law and the log of their
    total probability, each path's probability a product of the model's conditionals. Every path
    must spell the emitted symbols, and none may be held twice."""
    sub, masses, seen = member.sub, torch.zeros(len(member.sub.symbols), dtype=torch.float64), set()
    for e in member.closed:
        assert [s for t in e.tokens for s in sub.nested[t]] == emitted and e.tokens not in seen
        seen.add(e.tokens)
        children = model.logprobs(e.tokens).exp()
        for u in range(len(sub.nested)):
            masses[sub.nested[u][0]] += math.exp(path_logprob(model, e.tokens)) * children[u].item()
    for g in member.groups:
        for u in g.ids.tolist():
            tokens, pieces = (*g.tokens, u), [s for t in g.tokens for s in sub.nested[t]] + list(sub.nested[u])
            assert pieces[: len(emitted)] == emitted and len(pieces) > len(emitted) and tokens not in seen
            seen.add(tokens)
            masses[pieces[len(emitted)]] += math.exp(path_logprob(model, tokens))
    total = masses.sum().item()
    return masses / total, math.log(total)


def test_heavily_pruned_members_follow_sampled_picks_with_their_held_paths_law():
    """Two tiny models, pruned to one closing entry within 0.9 of the heaviest, sample 10 bytes
    from their mixture (6 seeds). At every step each member's law (after any recovery) equals the
    brute-force law of the paths its cover holds, and the log-probs it emitted plus ``log_kept``
    equal the log of those paths' total probability: what pruning dropped and recovery did not bring
    back is counted as pruned, nothing else."""
    recoveries = sum(sample_with_recovery(seed) for seed in range(6))
    assert recoveries > 0


def sample_with_recovery(seed: int) -> int:
    vocab_a, vocab_b = tiny_vocab(), word_vocab("B", ["a", "b", "c", "bc", "cab", "aa"])
    lms = [Uncapped(len(vocab_a), eos=0, seed=seed), Uncapped(len(vocab_b), eos=0, seed=seed + 100)]
    shared = shared_space([vocab_a, vocab_b], "bytes")
    members = [
        ReducedModel(lm, sub, [], k=None, beam=1, min_weight=0.9, keep_closing=True)
        for lm, sub in zip(lms, shared.subs, strict=True)
    ]
    ensemble = Ensemble(members, ["A", "B"], shared)
    generator = torch.Generator().manual_seed(seed)
    emitted, log_p, recoveries = [[], []], [0.0, 0.0], 0
    eos = shared.symbols.index(Symbol(None, EOS))
    for _ in range(10):
        dist = ensemble.distribution().exp()
        dist[eos] = 0.0  # go on to 10 bytes
        symbol = int(torch.multinomial(dist, 1, generator=generator))
        for m, member in enumerate(members):
            own = int(shared.member_index[m][symbol])
            recoveries += member.distribution()[own].item() == -math.inf
            recovered = member.ready(own).exp()
            assert torch.allclose(recovered, cover_law(member, lms[m], emitted[m])[0], rtol=1e-9, atol=1e-15)
            log_p[m] += member.distribution()[own].item()
            emitted[m].append(own)
        ensemble.advance(symbol)
        for m, member in enumerate(members):
            _, log_mass = cover_law(member, lms[m], emitted[m])
            assert log_p[m] + member.log_kept == pytest.approx(log_mass, rel=1e-9)
            assert member.log_kept <= 1e-12
    return recoveries


# the byte ensembles with SmolLM2 that stopped mid-run (issue 32), and a random initialization with
# which each one did, greedy and sampled, before recovery
FAMILIES = {"llama3": 0, "gpt2": 2, "deepseek-v3": 1}


@pytest.fixture(scope="module")
def tiny_family_models(tmp_path_factory):
    """Tiny random Llamas (2 layers, hidden size 32, one row per tokenizer id) carrying each real
    preset tokenizer, saved as a user would, and SmolLM2-135M, loaded once."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from vocablab.sources import load_causal_lm, load_vocabulary, resolve

    folders = {}
    for preset, seed in FAMILIES.items():
        folder = tmp_path_factory.mktemp(preset)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(resolve(preset).path / name, folder / name)
        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=len(load_vocabulary(preset)),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=256,
        )
        LlamaForCausalLM(config).save_pretrained(folder)
        folders[preset] = str(folder)
    return folders, load_causal_lm("smollm2-135m")


@pytest.mark.slow
@pytest.mark.parametrize("greedy", [True, False], ids=["greedy", "sampled"])
@pytest.mark.parametrize("preset", list(FAMILIES))
def test_byte_ensembles_of_real_tokenizers_never_stop_mid_run(tiny_family_models, preset, greedy):
    """The issue's command: before recovery, each of these six runs ended with "the pruned cover
    cannot emit ... here" within 12 bytes."""
    from vocablab.options import Decoding
    from vocablab.reduce.generate import generate_ensemble

    folders, smollm2 = tiny_family_models
    result = generate_ensemble(
        [folders[preset], "smollm2-135m"],
        "The capital of France is",
        space="bytes",
        decoding=Decoding(max_new_bytes=12, greedy=greedy),
        models=[None, smollm2],
    )
    assert result.ended_by == "eos" or (result.ended_by == "budget" and len(result.data) >= 12)
    assert result.pruned_bits >= 0
