"""Generation over a sub-vocabulary with a transformers model (ALGORITHMS.md section 4).

result = generate_reduced("smollm2-135m", "The capital of France is", subvocab="bytes", k=1)
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass

import torch

from vocablab.errors import VocabLabError
from vocablab.evaluate import start_token
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.subvocab import SubVocabulary, parse_subvocab
from vocablab.sources import load_causal_lm, load_vocabulary
from vocablab.vocab import Vocabulary


@dataclass
class _State:
    cache: object
    logprobs: torch.Tensor
    length: int


class HFTokenModel:
    """A transformers causal LM behind the :class:`~vocablab.reduce.lvr.TokenModel` protocol; each
    state keeps its own KV cache, and a new token reuses its parent's (copied when still needed)."""

    def __init__(self, model) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.context = getattr(model.config, "max_position_embeddings", None) or 1 << 30

    @torch.no_grad()
    def _forward(self, ids: list[int], cache) -> _State:
        out = self.model(input_ids=torch.tensor([ids], device=self.device), past_key_values=cache, use_cache=True)
        logprobs = torch.log_softmax(out.logits[0, -1].float(), dim=-1).double().cpu()
        return _State(out.past_key_values, logprobs, (0 if cache is None else cache.get_seq_length()) + len(ids))

    def start(self, prompt_ids: list[int]) -> _State:
        if len(prompt_ids) >= self.context:
            raise VocabLabError(f"the prompt has {len(prompt_ids)} tokens; the model's context is {self.context}")
        return self._forward(prompt_ids, None)

    def logprobs(self, state: _State) -> torch.Tensor:
        return state.logprobs

    def extend(self, requests: list[tuple[_State, int]], in_place: list[bool] | None = None) -> list[_State]:
        in_place = in_place or [False] * len(requests)
        out = []
        for (state, token), reuse in zip(requests, in_place, strict=True):
            if state.length + 1 >= self.context:
                raise VocabLabError(f"the text reached the model's context of {self.context} tokens")
            out.append(self._forward([token], state.cache if reuse else copy.deepcopy(state.cache)))
        return out


@dataclass
class Generation:
    model: str
    subvocab: str
    text: str
    symbols: list[int]  # the emitted symbols, as indices into the sub-vocabulary
    pieces: list[str]  # the same, readable
    piece_bytes: list[int]
    steps: int
    forward_passes: int
    seconds: float
    ended_by: str  # "eos" or "budget"

    @property
    def bytes_per_step(self) -> float:
        return sum(self.piece_bytes) / max(self.steps, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "bytes_per_step": round(self.bytes_per_step, 4)}


def prompt_ids(vocab: Vocabulary, prompt: str, chat: bool = False) -> list[int]:
    """The prompt as the model's own tokens: its start token, then the text (or its chat template)."""
    if chat:
        if not vocab.chat_template:
            raise VocabLabError(f"{vocab.name} has no chat template")
        from jinja2 import Template

        text = Template(vocab.chat_template).render(messages=[{"role": "user", "content": prompt}],
                                                    add_generation_prompt=True)  # fmt: skip
        return vocab.encode(text)
    return [start_token(vocab), *vocab.encode(prompt)]


def pick(log_probs: torch.Tensor, *, greedy: bool, temperature: float, top_p: float, generator) -> int:
    """Greedy, or sampling with temperature and nucleus (top-p) truncation."""
    if greedy:
        return int(log_probs.argmax())
    if temperature <= 0 or not 0 < top_p <= 1:
        raise VocabLabError("temperature must be > 0 and top-p in (0, 1]")
    probs = torch.softmax(log_probs / temperature, dim=0)
    order = probs.argsort(descending=True)
    keep = probs[order].cumsum(0) - probs[order] < top_p
    truncated = torch.zeros_like(probs)
    truncated[order[keep]] = probs[order[keep]]
    return int(torch.multinomial(truncated, 1, generator=generator))


def decode_pieces(sub: SubVocabulary, symbols: list[int]) -> list[str]:
    return [str(sub.symbols[s]) for s in symbols]


def generate_reduced(
    model_spec: str,
    prompt: str,
    *,
    subvocab: str | SubVocabulary = "bytes",
    k: int | None = 300,
    beam: int | None = 64,
    min_weight: float = 1e-6,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    max_new_bytes: int = 200,
    chat: bool = False,
    model=None,
    device: str = "auto",
) -> Generation:
    """Generate from ``model_spec`` reduced to ``subvocab``.

    K-LVR keeps the ``k`` likeliest next tokens of each closed cover entry and, in the cover, the
    ``beam`` heaviest entries within ``min_weight`` of the heaviest; ``k=None`` is the exact
    reduction (no pruning at all: the cover can grow exponentially on real models).
    """
    vocab = load_vocabulary(model_spec)
    sub = subvocab if isinstance(subvocab, SubVocabulary) else parse_subvocab(subvocab, vocab)
    if vocab.roles.get("eos") is None:
        raise VocabLabError(f"{vocab.name} has no EOS token that could end a generation; set a byte budget")
    lm = HFTokenModel(model or load_causal_lm(model_spec, device=device))
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    if k is None:
        beam, min_weight = None, 0.0
    reduced = ReducedModel(lm, sub, prompt_ids(vocab, prompt, chat), k=k, beam=beam, min_weight=min_weight)
    symbols: list[int] = []
    produced = 0
    while not reduced.ended and produced < max_new_bytes:
        symbol = pick(reduced.distribution(), greedy=greedy, temperature=temperature, top_p=top_p, generator=generator)
        reduced.advance(symbol)
        symbols.append(symbol)
        produced += len(sub.symbols[symbol].data or b"")
    text_symbols = [s for s in symbols if sub.symbols[s].data is not None]
    return Generation(
        model=vocab.name, subvocab=sub.name, text=sub.text(text_symbols).decode("utf-8", errors="replace"),
        symbols=symbols, pieces=decode_pieces(sub, symbols),
        piece_bytes=[len(sub.symbols[s].data or b"") for s in symbols],
        steps=len(symbols), forward_passes=reduced.forward_passes, seconds=round(time.perf_counter() - started, 3),
        ended_by="eos" if reduced.ended else "budget",
    )  # fmt: skip


@dataclass
class ReducedScore:
    model: str
    subvocab: str
    k: int | None
    reduced_bits_per_byte: float
    canonical_bits_per_byte: float
    n_bytes: int
    steps: int

    def to_dict(self) -> dict:
        return asdict(self)


def reduced_bits_per_byte(
    model_spec: str,
    documents: list[str],
    *,
    subvocab: str | SubVocabulary = "bytes",
    k: int | None = 1000,
    beam: int | None = 64,
    min_weight: float = 0.0,
    model=None,
    device: str = "auto",
) -> ReducedScore:
    """Bits per byte of each document under the reduced model, along the nested segmentation of the
    model's own tokenization (for ``bytes``, the only one), next to the canonical bits per byte.

    K-LVR with a large K (1000 by default); the entries about to close are pruned
    (to the ``beam`` heaviest entries: a relative ``min_weight`` can drop the text's own path
    while a wrong continuation is still heavier); ``beam=None, min_weight=0`` is the exact reduction."""
    from vocablab.evaluate import bits_per_byte

    vocab = load_vocabulary(model_spec)
    sub = subvocab if isinstance(subvocab, SubVocabulary) else parse_subvocab(subvocab, vocab)
    model = model or load_causal_lm(model_spec, device=device)
    lm = HFTokenModel(model)
    nats, steps = 0.0, 0
    for text in documents:
        symbols = [s for t in vocab.encode(text) for s in sub.nested[t]]
        reduced = ReducedModel(lm, sub, [start_token(vocab)], k=k, beam=beam, min_weight=min_weight)
        for symbol in symbols:
            log_p = reduced.distribution()[symbol].item()
            if log_p == -math.inf:
                raise VocabLabError("the pruned cover lost the text (probability 0); use a larger k or beam")
            nats -= reduced.advance(symbol)
        steps += len(symbols)
    n_bytes = sum(len(t.encode("utf-8")) for t in documents)
    canonical = bits_per_byte(model_spec, documents, model=model).bits_per_byte
    return ReducedScore(vocab.name, sub.name, k, nats / math.log(2) / n_bytes, canonical, n_bytes, steps)
