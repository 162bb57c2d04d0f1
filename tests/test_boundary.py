"""The prompt's end (``ReducedModel.condition``) against brute force on SmolLM2-135M.

The oracle is the definition, in float64, sharing no code with ``vocablab.reduce``: the law of the
bytes after a prompt is the model's law over token paths after the fixed head tokens, restricted to
the paths whose bytes begin with the tail. Every such path is enumerated: the paths whose bytes are
a prefix of the tail (each needs the model's next-token distribution, one forward pass of the whole
sequence, without a cache) and, after each, the tokens that run past the tail's end.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict

import pytest
import torch

from vocablab.reduce.generate import HFTokenModel, heal_pruning, split_prompt
from vocablab.reduce.lvr import COVER_BEAM, COVER_MIN_WEIGHT, ReducedModel
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
        self.model, self.head = model, head
        self.pieces = vocab.pieces
        self.by_bytes: dict[bytes, list[int]] = defaultdict(list)
        for token, piece in enumerate(self.pieces):
            if piece:
                self.by_bytes[piece].append(token)
        self.longest = max(map(len, self.by_bytes))
        first = [END if p is None and t in vocab.stop_ids else SPECIAL if not p else p[0] for t, p in enumerate(self.pieces)]
        self.first_key = torch.tensor(first)
        self.next_logprobs: dict[tuple[int, ...], torch.Tensor] = {}
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
        """Next-token log-probs after head + path, for each path not run yet (shortest first, so a
        path's weight can be read off its parent's distribution)."""
        todo = sorted((p for p in paths if p not in self.next_logprobs), key=len)
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            rows = [self.head + list(p) for p in chunk]
            width = max(map(len, rows))
            ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
            logits = self.model(input_ids=ids, attention_mask=mask).logits
            last = logits[torch.arange(len(rows)), mask.sum(1) - 1, : len(self.pieces)]
            for path, row in zip(chunk, torch.log_softmax(last.double(), dim=-1), strict=True):
                self.next_logprobs[path] = row
        for path in sorted(paths, key=len):
            if path:
                self.weight[path] = self.weight[path[:-1]] + self.next_logprobs[path[:-1]][path[-1]].item()

    def next_law(self, data: bytes) -> dict[int, float]:
        """P(next byte, or end, | the text after the head begins with ``data``)."""
        paths = self.prefix_paths(data)
        self.run(paths)
        law: dict[int, float] = defaultdict(float)
        for path in paths:
            offset = sum(len(self.pieces[t]) for t in path)
            probs = (self.next_logprobs[path] + self.weight[path]).exp()
            if offset == len(data):  # every next token: its first byte comes next
                for key, mass in zip(range(258), torch.zeros(258, dtype=torch.float64).scatter_add_(0, self.first_key, probs).tolist(), strict=True):
                    law[key] += mass
                continue
            rest = data[offset:]
            for token, piece in enumerate(self.pieces):
                if piece and len(piece) > len(rest) and piece.startswith(rest):
                    law[piece[len(rest)]] += probs[token].item()
        total = math.fsum(law.values())
        return {key: mass / total for key, mass in law.items() if mass > 0}


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
    """Per prompt: the head and tail, the first next-byte law, the byte that is likeliest there,
    and the law of the byte after it."""
    _, model64, vocab = smol
    out = {}
    for name, prompt in PROMPTS.items():
        split = split_prompt(vocab, prompt)
        oracle = BruteForce(model64, vocab, split.ids)
        first = oracle.next_law(split.tail)
        chosen = max((key for key in first if key < END), key=first.get)
        out[name] = split, first, chosen, oracle.next_law(split.tail + bytes([chosen]))
    return out


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
    split, first, chosen, second = brute_force_laws[name]
    assert split.tail  # the prompt's end is conditioned on as text
    got_first, got_second, reduced = reduced_laws(model, vocab, split, chosen, k=None)
    # float32 forward passes with a KV cache against float64 ones without
    assert total_variation(got_first, first) < 2e-6
    assert total_variation(got_second, second) < 2e-6
    assert reduced.log_kept == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", PROMPTS)
def test_the_default_pruning_stays_near_the_law_and_counts_what_it_drops(smol, brute_force_laws, name):
    """generate_reduced's defaults: K = 300, the cover's beam, and the prompt's end's own pruning."""
    model, _, vocab = smol
    split, first, chosen, second = brute_force_laws[name]
    pruning = dict(k=300, beam=COVER_BEAM, min_weight=COVER_MIN_WEIGHT, **heal_pruning(300))
    got_first, got_second, reduced = reduced_laws(model, vocab, split, chosen, **pruning)
    assert total_variation(got_first, first) < 1e-2
    assert total_variation(got_second, second) < 1e-2


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
