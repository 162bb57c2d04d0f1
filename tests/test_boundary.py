"""The prompt's end (``ReducedModel.condition``) against brute force on SmolLM2-135M.

The oracle is the definition, in float64, sharing no code with ``vocablab.reduce``: the law of the
bytes after a prompt is the model's law over token paths after the fixed head tokens, restricted to
the paths whose bytes begin with the tail. Every such path is enumerated: the paths whose bytes are
a prefix of the tail (each needs the model's next-token distribution: the model runs in float64,
one token per path after its parent's cache, the paths of one length batched with no padding) and,
after each, the tokens that run past the tail's end.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict

import pytest
import torch
from transformers import DynamicCache

from vocablab.options import Decoding
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.prompt import split_prompt
from vocablab.reduce.subvocab import EOS, Symbol, build_subvocabulary, bytes_only
from vocablab.sources import load_causal_lm, load_vocabulary
from vocablab.vocab import ALL_BYTES, Vocabulary

from .test_lvr import TableModel

CUT = b"\xc3".decode("utf-8", "surrogateescape")  # the first byte of "é", as a command line passes it
PROMPTS = {
    "accents": "naïve caf",
    "japanese": "日本の首都は",
    "cut character": "Un caf" + CUT,
    "chinese": "今天天气很好，我们去",
    "emoji": "I love pizza 🍕",
    "indentation": "def fib(n):\n    ",
    "spaces": "Hello,  ",
}
END, SPECIAL = 256, 257  # keys of the laws beside the 256 bytes: an end token, any other special token
BATCH = 64


class BruteForce:
    """Next-byte laws after ``head`` given that the text begins with some bytes, by enumeration."""

    def __init__(self, model, vocab, head: list[int]) -> None:
        self.model, self.size, self.pieces = model, len(vocab.pieces), vocab.pieces
        self.by_bytes: dict[bytes, list[int]] = defaultdict(list)
        for token, piece in enumerate(self.pieces):
            if piece:
                self.by_bytes[piece].append(token)
        self.longest = max(map(len, self.by_bytes))
        stop = vocab.stop_ids
        keys = [END if p is None and t in stop else SPECIAL if not p else p[0] for t, p in enumerate(self.pieces)]
        self.first_key = torch.tensor(keys)
        self.crossing: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}
        with torch.no_grad():
            out = model(input_ids=torch.tensor([head]), use_cache=True)
        self.caches = {(): [(layer.keys, layer.values) for layer in out.past_key_values.layers]}
        self.next_logprobs = {(): torch.log_softmax(out.logits[0, -1, : self.size].double(), dim=-1)}
        self.weight: dict[tuple[int, ...], float] = {(): 0.0}  # log P(path | head)

    def prefix_paths(self, data: bytes) -> list[tuple[int, ...]]:
        """Every token path whose bytes are a prefix of ``data`` (the empty path and ``data`` included)."""
        paths, frontier = [], [((), 0)]
        while frontier:
            path, offset = frontier.pop()
            paths.append(path)
            for size in range(1, min(self.longest, len(data) - offset) + 1):
                for token in self.by_bytes.get(data[offset : offset + size], ()):
                    frontier.append(((*path, token), offset + size))
        return paths

    @torch.no_grad()
    def run(self, paths: list[tuple[int, ...]]) -> None:
        """Next-token log-probs after head + path for each path not run yet, shortest first: the
        paths of one length run as one batch (same length, so no padding), each after its parent's
        cache. A path's weight is read off its parent's distribution."""
        levels: dict[int, list[tuple[int, ...]]] = defaultdict(list)
        for path in paths:
            if path not in self.next_logprobs:
                levels[len(path)].append(path)
        for length in sorted(levels):
            for start in range(0, len(levels[length]), BATCH):
                self.run_batch(levels[length][start : start + BATCH])
        for path in sorted(paths, key=len):
            if path:
                self.weight[path] = self.weight[path[:-1]] + self.next_logprobs[path[:-1]][path[-1]].item()

    @torch.no_grad()
    def run_batch(self, chunk: list[tuple[int, ...]]) -> None:
        """One token more for paths of one length, after their parents' caches, batched."""
        cache = DynamicCache(config=self.model.config)
        for n, layer in enumerate(cache.layers):
            layer.update(*(torch.cat(kv) for kv in zip(*(self.caches[p[:-1]][n] for p in chunk), strict=True)))
        out = self.model(input_ids=torch.tensor([[p[-1]] for p in chunk]), past_key_values=cache, use_cache=True)
        logprobs = torch.log_softmax(out.logits[:, -1, : self.size].double(), dim=-1)
        for row, path in enumerate(chunk):
            self.caches[path] = [(x.keys[row : row + 1], x.values[row : row + 1]) for x in out.past_key_values.layers]
            self.next_logprobs[path] = logprobs[row]

    def next_law(self, data: bytes) -> dict[int, float]:
        """P(next byte, or end, | the text after the head begins with ``data``)."""
        paths = self.prefix_paths(data)
        self.run(paths)
        law = torch.zeros(258, dtype=torch.float64)
        for path in paths:
            offset = sum(len(self.pieces[t]) for t in path)
            probs = (self.next_logprobs[path] + self.weight[path]).exp()
            if offset == len(data):  # every next token: its first byte comes next
                law.scatter_add_(0, self.first_key, probs)
            else:  # the tokens that run past the end: the byte of theirs at the end
                ids, after = self.tokens_past(data[offset:])
                law.scatter_add_(0, after, probs[ids])
        law /= law.sum()
        return {key: p for key, p in enumerate(law.tolist()) if p > 0}

    def tokens_past(self, rest: bytes) -> tuple[torch.Tensor, torch.Tensor]:
        """The tokens whose bytes begin with ``rest`` and run past it, and their byte after it."""
        if rest not in self.crossing:
            ids = [t for t, p in enumerate(self.pieces) if p and len(p) > len(rest) and p.startswith(rest)]
            after = [self.pieces[t][len(rest)] for t in ids]
            self.crossing[rest] = torch.tensor(ids, dtype=torch.long), torch.tensor(after, dtype=torch.long)
        return self.crossing[rest]


def reduced_law(reduced: ReducedModel) -> dict[int, float]:
    law: dict[int, float] = defaultdict(float)
    for symbol, p in zip(reduced.sub.symbols, reduced.distribution().exp().tolist(), strict=True):
        law[symbol.data[0] if symbol.data else END if symbol.special == EOS else SPECIAL] += p
    return law


def total_variation(p: dict[int, float], q: dict[int, float]) -> float:
    return 0.5 * math.fsum(abs(p.get(key, 0.0) - q.get(key, 0.0)) for key in set(p) | set(q))


@pytest.fixture(scope="module")
def smol():
    model = load_causal_lm("smollm2-135m", device="cpu")
    return model, copy.deepcopy(model).double(), load_vocabulary("smollm2-135m")


@pytest.fixture(scope="module")
def brute_force_laws(smol):
    """Per prompt, computed once: the head and tail, the first next-byte law, the byte that is
    likeliest there, and the law of the byte after it."""
    _, model64, vocab = smol
    done = {}

    def laws(name: str):
        if name not in done:
            split = split_prompt(vocab, PROMPTS[name])
            oracle = BruteForce(model64, vocab, split.ids)
            first = oracle.next_law(split.tail)
            chosen = max((key for key in first if key < END), key=first.get)
            done[name] = split, first, chosen, oracle.next_law(split.tail + bytes([chosen]))
        return done[name]

    return laws


def reduced_laws(model, vocab, split, chosen: int, **pruning) -> tuple[dict, dict, ReducedModel]:
    sub = bytes_only(vocab)
    reduced = ReducedModel(HFTokenModel(model), sub, split.ids, **pruning)
    reduced.condition(split.tail)
    first = reduced_law(reduced)
    reduced.advance(sub.segment(bytes([chosen]))[0])
    return first, reduced_law(reduced), reduced


@pytest.mark.slow
@pytest.mark.parametrize("name", PROMPTS)
def test_exact_mode_is_the_law_of_every_token_path_after_the_head(smol, brute_force_laws, name):
    model, _, vocab = smol
    split, first, chosen, second = brute_force_laws(name)
    assert split.tail  # the prompt's end is conditioned on as text
    got_first, got_second, reduced = reduced_laws(model, vocab, split, chosen, k=None)
    # float32 forward passes against float64 ones: 2e-6 to 3e-6 measured
    assert total_variation(got_first, first) < 1e-5
    assert total_variation(got_second, second) < 1e-5
    assert reduced.log_kept == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", PROMPTS)
def test_the_default_pruning_stays_near_the_law(smol, brute_force_laws, name):
    """generate_reduced's defaults: K = 300, the cover's beam, and the prompt's end's own pruning
    (the 4 heaviest paths at each offset; the paths closed at the tail's end keep every next token).
    The first byte depends only on the prompt's end; the second also on K = 300 at the entries that
    close with the first byte, K-LVR's own approximation (docs/benchmarks.md, "The prompt's end")."""
    model, _, vocab = smol
    split, first, chosen, second = brute_force_laws(name)
    pruning = Decoding().pruning()
    got_first, got_second, _ = reduced_laws(model, vocab, split, chosen, **pruning)
    assert total_variation(got_first, first) < 1e-2
    assert total_variation(got_second, second) < 0.1  # 0.07 measured after an emoji


@pytest.mark.slow
@pytest.mark.parametrize("name", PROMPTS)
def test_the_bound_shown_to_the_user_holds(smol, brute_force_laws, name):
    """``ReducedModel.tv_bound`` (``Generation.tv_bound``, in the CLI line and the app's note) is at
    least the total variation between the default's next-byte law and the brute-force one, at the
    first byte and at the second, where K = 300 leaves mass out."""
    model, _, vocab = smol
    split, first, chosen, second = brute_force_laws(name)
    sub = bytes_only(vocab)
    pruning = Decoding().pruning()
    reduced = ReducedModel(HFTokenModel(model), sub, split.ids, **pruning)
    reduced.condition(split.tail)
    got_first, bound_first = reduced_law(reduced), reduced.tv_bound
    reduced.advance(sub.segment(bytes([chosen]))[0])
    got_second, bound_second = reduced_law(reduced), reduced.tv_bound
    assert total_variation(got_first, first) <= bound_first + 1e-5  # float32 passes against float64 ones
    assert total_variation(got_second, second) <= bound_second + 1e-5
    assert reduced.max_tv_bound == max(bound_first, bound_second) < 1


def ab_model():
    """Tokens "a", "b", "ab", "c"; the prompt ends in "ab": P("ab") = 0.005 is under 1e-2 of
    P("a") = 0.9, yet given "ab" it is the likelier path, since p("b" | "a") = 0.001."""
    from tokenizers import Tokenizer, models

    table = {"<eos>": 0, "a": 1, "b": 2, "ab": 3, "c": 4}
    tokenizer = Tokenizer(models.WordLevel(table, unk_token="<eos>"))
    tokenizer.add_special_tokens(["<eos>"])
    vocab = Vocabulary.from_backend(tokenizer, "abc", roles={"eos": 0})
    laws = {(): {1: 0.9, 3: 0.005, 4: 0.095}, (1,): {2: 0.001, 4: 0.5, 0: 0.499}, (1, 2): {4: 0.7, 0: 0.3}}
    laws[(3,)] = {4: 0.2, 0: 0.8}
    sub = build_subvocabulary(vocab, ALL_BYTES, "bytes")
    return TableModel(len(vocab), 0, laws), sub, sub.index[Symbol(b"c")]


def test_a_path_is_not_pruned_at_the_prompt_end_before_the_rest_of_the_tail_weighs_it():
    model, sub, c = ab_model()
    exact = (0.005 * 0.2 + 0.0009 * 0.7) / (0.005 + 0.0009)  # both tokenizations of "ab", by hand
    reduced = ReducedModel(model, sub, [], k=None, heal_beam=4, heal_min_weight=1e-2)
    reduced.condition(b"ab")
    assert math.exp(reduced.distribution()[c].item()) == pytest.approx(exact, abs=1e-12)
    assert reduced.log_kept == 0.0


def test_what_pruning_drops_at_the_prompt_end_is_counted():
    model, sub, c = ab_model()
    reduced = ReducedModel(model, sub, [], k=None, heal_beam=4, heal_min_weight=0.5)
    reduced.condition(b"ab")  # "a" then "b" (0.0009) is under half of "ab" (0.005): dropped
    assert math.exp(reduced.distribution()[c].item()) == pytest.approx(0.2, abs=1e-12)
    assert reduced.log_kept == pytest.approx(math.log(0.005 / (0.005 + 0.0009)), abs=1e-12)
    # the bound: the dropped path's mass over all the mass that spells "ab", by hand; the true distance
    # (exact P(c) = 0.2763 against 0.2) is under it
    assert reduced.tv_bound == pytest.approx(0.0009 / (0.005 + 0.0009), abs=1e-12)
    exact_c = (0.005 * 0.2 + 0.0009 * 0.7) / 0.0059
    assert abs(exact_c - 0.2) <= reduced.tv_bound


def test_the_top_k_left_out_counts_in_the_bound():
    """K = 1 after the prompt: the closed entry "a" keeps only "c" (0.5) of its next tokens; "b" (0.001)
    and the end (0.499) are left out, so the bound is 0.5 of the mass it weighs, by hand."""
    model, sub, _ = ab_model()
    reduced = ReducedModel(model, sub, [], k=1, heal_k=1)
    reduced.condition(b"a")  # the paths: "a" closed (0.9), "ab" open (0.005)
    got = {s.data or b"<eos>": p for s, p in zip(sub.symbols, reduced.distribution().exp().tolist(), strict=True)}
    assert reduced.tv_bound == pytest.approx(0.45 / (0.005 + 0.45 + 0.45), abs=1e-12)
    assert reduced.log_kept == 0.0  # K's cut is no pruning of the cover: only the bound says it
    # the exact law by hand: "ab" open gives b; "a" closed gives b, c or the end
    exact = {b"b": (0.005 + 0.0009) / 0.905, b"c": 0.45 / 0.905, b"<eos>": 0.4491 / 0.905}
    distance = 0.5 * sum(abs(exact.get(key, 0) - got.get(key, 0)) for key in set(exact) | set(got))
    assert 0.49 < distance <= reduced.tv_bound


def test_the_user_is_told_what_pruning_dropped():
    """The CLI and the app print ``pruned_note`` beside the output: one bit of pruned mass is half the
    cover; nothing pruned says nothing."""
    from vocablab.reduce.generate import Generation

    def made(bits: float) -> Generation:
        return Generation("m", "bytes", "", [], [], [], 0, 0, 0.0, "budget", [], pruned_bits=bits)

    assert made(0.0).pruned_note is None
    bounded = Generation("m", "bytes", "", [], [], [], 0, 0, 0.0, "budget", [], pruned_bits=0.0, tv_bound=0.034)
    assert "within 0.034 of exact mode's" in bounded.pruned_note
    vacuous = Generation("m", "bytes", "", [], [], [], 0, 0, 0.0, "budget", [], pruned_bits=0.0, tv_bound=1.0)
    assert "no useful bound" in vacuous.pruned_note
    assert "50.00% of the cover's mass" in made(1.0).pruned_note
    assert "0.07% of the cover's mass" in made(-math.log2(1 - 7e-4)).pruned_note
