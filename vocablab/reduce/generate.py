"""Generation over a sub-vocabulary with transformers models (docs/methods.md §4 and §5).

result = generate_reduced("smollm2-135m", "The capital of France is", subvocab="bytes", k=1)
result = generate_ensemble(["smollm2-135m", "gemma3-270m"], "The capital of France is", space="mcv")
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field

import torch
from transformers import DynamicCache

from vocablab.errors import VocabLabError
from vocablab.evaluate import start_token
from vocablab.options import MAX_PROMPT_CHARS, MCV_RULE, Decoding, McvRule, check_length
from vocablab.progress import bar, check_stop
from vocablab.reduce.ensemble import Ensemble, normalized_weights, shared_space
from vocablab.reduce.lvr import (
    COVER_BEAM,
    COVER_MIN_WEIGHT,
    HEAL_BEAM,
    HEAL_K,
    HEAL_MIN_WEIGHT,
    MAX_STATES,
    CoverLimit,
    ReducedModel,
    check_pruning,
)
from vocablab.reduce.subvocab import SubVocabulary, Symbol, check_reducible, parse_subvocab
from vocablab.sources import causal_lm, causal_lms, load_vocabulary
from vocablab.vocab import Vocabulary

CHAT_TEMPLATE_SECONDS = 5  # a chat template renders in milliseconds; a longer one is stopped
BATCH = 32  # forward passes of newly closed cover entries run in batches of this size
MAX_TAIL_BYTES = 64  # the longest prompt end conditioned on as text (split_prompt)
_TIME_LIMIT: ContextVar[float | None] = ContextVar("vocablab_generation_time_limit", default=None)


def fork(cache):
    """A copy of a KV cache that shares its tensors. transformers' dynamic cache layers replace
    their tensors when updated (``torch.cat``), never write into them, so extending the copy leaves
    the original as it was (tests/test_reduce_real.py checks this), without copying a deep copy's
    every tensor."""
    out = copy.copy(cache)
    out.layers = [copy.copy(layer) for layer in cache.layers]
    return out


@dataclass
class _State:
    cache: object
    logprobs: torch.Tensor
    length: int


def left_padded_cache(states: list[_State], longest: int, config) -> DynamicCache:
    """The KV caches of ``states`` as one batch, each left-padded to ``longest`` positions."""
    merged = DynamicCache(config=config)
    for layer, merged_layer in enumerate(merged.layers):
        keys, values = [], []
        for state in states:
            cached = state.cache.layers[layer]
            pad = (0, 0, longest - cached.keys.shape[-2], 0)
            keys.append(torch.nn.functional.pad(cached.keys, pad))
            values.append(torch.nn.functional.pad(cached.values, pad))
        merged_layer.update(torch.cat(keys), torch.cat(values))
    return merged


class ContextLimit(VocabLabError):
    """A text reached its model's context (``max_position_embeddings``)."""


class HFTokenModel:
    """A transformers causal LM behind the :class:`~vocablab.reduce.lvr.TokenModel` protocol. Each
    state keeps its own KV cache. One request reuses its parent's cache (copied when still needed);
    several run as one batched forward pass over their caches, left-padded to the longest."""

    def __init__(self, model) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        config = model.config.get_text_config(decoder=True)
        self.context = getattr(config, "max_position_embeddings", None) or 1 << 30
        # caches longer than a sliding window are cropped per row, so they are not merged
        self.merge_limit = getattr(config, "sliding_window", None) or self.context

    @torch.no_grad()
    def _forward(self, ids: list[int], cache) -> _State:
        past = 0 if cache is None else cache.get_seq_length()  # read before the forward pass extends the cache
        out = self.model(input_ids=torch.tensor([ids], device=self.device), past_key_values=cache, use_cache=True)
        logprobs = torch.log_softmax(out.logits[0, -1].float(), dim=-1).double().cpu()
        return _State(out.past_key_values, logprobs, past + len(ids))

    @torch.no_grad()
    def _forward_batch(self, requests: list[tuple[_State, int]]) -> list[_State]:
        lengths = [state.length for state, _ in requests]
        longest = max(lengths)
        merged = left_padded_cache([state for state, _ in requests], longest, self.model.config)
        mask = torch.zeros(len(requests), longest + 1, dtype=torch.long, device=self.device)
        for row, n in enumerate(lengths):
            mask[row, longest - n :] = 1
        out = self.model(
            input_ids=torch.tensor([[token] for _, token in requests], device=self.device),
            past_key_values=merged,
            attention_mask=mask,
            use_cache=True,
            position_ids=torch.tensor(lengths, device=self.device).unsqueeze(1),
        )
        logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1).double().cpu()
        states = []
        for row, n in enumerate(lengths):
            cache = DynamicCache(config=self.model.config)
            for layer, merged_layer in zip(cache.layers, out.past_key_values.layers, strict=True):
                start = longest - n
                layer.update(merged_layer.keys[row : row + 1, :, start:], merged_layer.values[row : row + 1, :, start:])
            states.append(_State(cache, logprobs[row], n + 1))
        return states

    def start(self, prompt_ids: list[int]) -> _State:
        if len(prompt_ids) >= self.context:
            raise VocabLabError(
                f"the prompt has {len(prompt_ids)} tokens; the model's context is {self.context}: shorten the prompt"
            )
        return self._forward(prompt_ids, None)

    def logprobs(self, state: _State) -> torch.Tensor:
        return state.logprobs

    def extend(self, requests: list[tuple[_State, int]]) -> list[_State]:
        if any(state.length + 1 >= self.context for state, _ in requests):
            raise ContextLimit(f"the text reached the model's context of {self.context} tokens")
        if len(requests) > 1 and max(state.length for state, _ in requests) + 1 < self.merge_limit:
            return [
                state
                for start in range(0, len(requests), BATCH)
                for state in self._forward_batch(requests[start : start + BATCH])
            ]
        return [self._forward([token], fork(state.cache)) for state, token in requests]


@dataclass
class Generation:
    model: str  # for an ensemble, its members joined by " + "
    subvocab: str
    text: str
    symbols: list[int]  # the emitted symbols, as indices into the symbol table
    pieces: list[str]  # the same, readable
    piece_bytes: list[int]
    steps: int
    forward_passes: int
    seconds: float
    # "eos", "budget", "time limit", "state limit" (exact mode: the cover passed MAX_STATES) or
    # "context limit" (a member's text reached its model's context)
    ended_by: str
    inspector: list[dict]  # per step: the chosen piece and the top candidates of each distribution
    weights: list[float] | None = None
    data: bytes = field(default=b"", repr=False)  # the generated bytes (text may end in a cut character)
    prompt_tail: list[str] | None = None  # per model: the end of the prompt the cover was started back from
    # model name -> the prompt as its tokenizer made of it (what the model conditioned on), for each model
    # whose normalizer changed the prompt's bytes (Qwen's NFC composes "e" + U+0301 into "é"); None if none did
    prompt_normalized: dict[str, str] | None = None
    pruned_bits: float = 0.0  # cover mass the pruning dropped along the way, in bits (summed over members)
    batches: int = 0  # calls to the model(s): forward passes run together count once
    # one model: a bound on the total variation between each next-symbol law it used and exact mode's, the
    # largest over the steps (ReducedModel.tv_bound); None for an ensemble, whose product it does not bound
    tv_bound: float | None = None

    @property
    def bytes_per_step(self) -> float:
        return sum(self.piece_bytes) / max(self.steps, 1)

    @property
    def pruned_note(self) -> str | None:
        """What pruning cost, for the user to see beside the output (None when it dropped nothing)."""
        said = []
        if self.pruned_bits > 0:
            said.append(f"pruning dropped {-math.expm1(-self.pruned_bits * math.log(2)):.2%} of the cover's mass")
        if self.tv_bound and self.tv_bound > 0.999:  # mass dropped before a long prompt end can outweigh all kept
            said.append("the distance from exact mode has no useful bound here")
        elif self.tv_bound:
            said.append(f"each next-symbol law was within {self.tv_bound:.2g} of exact mode's (total variation bound)")
        return f"{'; '.join(said)} (exact mode drops none)" if said else None

    def pieces_bytes(self) -> list[bytes]:
        ends = list(itertools.accumulate(self.piece_bytes))
        return [self.data[end - size : end] for end, size in zip(ends, self.piece_bytes, strict=True)]

    def to_dict(self) -> dict:
        out = {**asdict(self), "bytes_per_step": round(self.bytes_per_step, 4)}
        del out["data"]
        if self.prompt_normalized is None:  # the field appears only when a normalizer changed the prompt
            del out["prompt_normalized"]
        return out


@dataclass(frozen=True)
class PromptSplit:
    """A prompt as the model's tokens up to its last boundary that no later text can move, and the
    bytes after it, which the cover is conditioned on (:meth:`ReducedModel.condition`)."""

    ids: list[int]
    tail: bytes
    boundary: int  # characters of the prompt before the tail (of ``normalized`` when it is set)
    normalized: str | None = None  # the prompt as the tokenizer makes of it, when that changes its bytes

    @property
    def tail_text(self) -> str:
        return self.tail.decode("utf-8", errors="replace")


def split_prompt(vocab: Vocabulary, prompt: str) -> PromptSplit:
    """Back the prompt off to a boundary later text cannot move, when the model's tokens of the text
    before it are the first tokens of the whole prompt; else to the start of the prompt:
    - with a pre-tokenizer and a normalizer that leaves the prompt as it is, if any (byte-level
      BPE; Qwen's NFC), the start of its last pre-tokenizer piece (later text can only extend that
      piece or start new ones);
    - with a normalizer that only writes spaces as "▁" (SentencePiece: Gemma, Mistral), the last
      point between two bytes that no token holds together (``Vocabulary.byte_pairs``: in Gemma, a
      letter and the space after it), which no tokenization can cross.
    Other prompts, and those that are not valid Unicode (a cut UTF-8 character), are backed off to
    the start. A dummy-prefix tokenizer's leading space is part of the tail then. The prompt is first
    taken as the tokenizer makes of it (:func:`as_tokenized`): the model conditions on that text.

    >>> from vocablab.sources import load_vocabulary
    >>> split = split_prompt(load_vocabulary("smollm2-135m"), "The capital of France is ")
    >>> split.boundary, split.tail
    (24, b' ')
    >>> split_prompt(load_vocabulary("gemma3-270m"), "The capital of France is").tail
    b' is'
    """
    typed, prompt = prompt, as_tokenized(vocab, prompt)
    backend, boundary = vocab.backend, 0
    try:
        data = prompt.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8 (surrogateescape)
        data = None
    normalizer = backend.normalizer
    if (
        data
        and backend.pre_tokenizer is not None
        and (normalizer is None or normalizer.normalize_str(prompt) == prompt)
    ):
        pieces = backend.pre_tokenizer.pre_tokenize_str(prompt)
        boundary = pieces[-1][1][0] if pieces else 0
    elif data and _marks_spaces(normalizer):
        boundary = _uncrossed(vocab, prompt)
    if boundary:
        head = vocab.encode(prompt[:boundary])
        if vocab.encode(prompt)[: len(head)] != head:
            boundary = 0
    if data and len(data) - len(prompt[:boundary].encode("utf-8")) > MAX_TAIL_BYTES:
        boundary = _short_tail(vocab, prompt)
    tail = prompt[boundary:].encode("utf-8", errors="surrogateescape")
    if boundary == 0 and vocab.dummy_prefix and tail:
        tail = b" " + tail
    normalized = None if prompt == typed else prompt
    return PromptSplit([start_token(vocab), *vocab.encode(prompt[:boundary])], tail, boundary, normalized)


def as_tokenized(vocab: Vocabulary, prompt: str) -> str:
    """What the model's tokenizer makes of ``prompt``: the text its tokens spell. A normalizer may
    have rewritten it (Qwen's NFC composes "e" and a combining accent into "é"; a lower-casing one
    lowers it); the model conditions on that text, not on the typed one. A cut UTF-8 character at
    the end (not valid Unicode, kept as surrogates) is kept as it is after the text before it."""
    cut = next((i for i, char in enumerate(prompt) if "\ud800" <= char <= "\udfff"), len(prompt))
    if not cut:
        return prompt
    spelled = vocab.text_bytes(vocab.encode(prompt[:cut])).decode("utf-8", errors="surrogateescape")
    return spelled + prompt[cut:]


def _short_tail(vocab: Vocabulary, prompt: str) -> int:
    """A boundary for a tail longer than :data:`MAX_TAIL_BYTES` (one pre-tokenizer piece of a long
    run of text without a split: Chinese, a long number): the first start of one of the prompt's own
    tokens within that many bytes of its end whose tokens before it are the prompt's first tokens; the
    end of the prompt (nothing healed) if there is none. Conditioning on all of a long tail would take
    a forward pass per byte, and every tokenization of it is rarely what continues it."""
    ids = vocab.encode(prompt)
    data = prompt.encode("utf-8")
    chars, offset = {0: 0}, 0  # byte offset -> character offset
    for n, char in enumerate(prompt, 1):
        offset += len(char.encode("utf-8"))
        chars[offset] = n
    for start, _ in vocab.byte_spans(ids):
        if start >= len(data) - MAX_TAIL_BYTES and start in chars:
            head = vocab.encode(prompt[: chars[start]])
            if ids[: len(head)] == head:
                return chars[start]
    return len(prompt)


def _marks_spaces(normalizer) -> bool:
    """Whether ``normalizer`` only replaces spaces by "▁" and may put one in front, so that tokens
    still spell the text's own bytes."""
    if normalizer is None:
        return False
    state = json.loads(normalizer.__getstate__())
    steps = state["normalizers"] if state["type"] == "Sequence" else [state]
    return all(
        (step["type"] == "Replace" and step["pattern"] == {"String": " "} and step["content"] == "▁")
        or (step["type"] == "Prepend" and step["prepend"] == "▁")
        for step in steps
    )


def _uncrossed(vocab: Vocabulary, prompt: str) -> int:
    """The last character offset of ``prompt`` (0 if none) between two bytes no token holds together."""
    for i in range(len(prompt) - 1, 0, -1):
        if (prompt[i - 1].encode()[-1:] + prompt[i].encode()[:1]) not in vocab.byte_pairs:
            return i
    return 0


@contextmanager
def deadline_in(filename: str, seconds: float) -> Iterator[None]:
    """Raise TimeoutError in code compiled from ``filename`` (jinja2 compiles templates from
    "<template>") once it has run ``seconds``: the sandbox bounds what a template may reach, not how
    long it loops. Only this thread is traced, and only that code line by line."""
    deadline = time.monotonic() + seconds

    def on_line(frame, event, arg):
        if time.monotonic() > deadline:
            raise TimeoutError
        return on_line

    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: on_line if frame.f_code.co_filename == filename else None)
    try:
        yield
    finally:
        sys.settrace(previous)


def prompt_ids(vocab: Vocabulary, prompt: str, chat: bool = False) -> list[int]:
    """The prompt as the model's own tokens: its start token, then the text (or its chat template)."""
    if chat:
        if not vocab.chat_template or vocab.chat_renderer is None:
            raise VocabLabError(f"{vocab.name} has no chat template; generate without chat")
        try:  # the tokenizer's own renderer: a sandbox, and bos_token and the other variables it expects
            with deadline_in("<template>", CHAT_TEMPLATE_SECONDS):
                text = vocab.chat_renderer.apply_chat_template(
                    [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
                )
        except TimeoutError as exc:
            raise VocabLabError(
                f"{vocab.name}: its chat template ran for more than {CHAT_TEMPLATE_SECONDS} s and was stopped"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - jinja2's SecurityError and TemplateError, or the template's own
            reason = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise VocabLabError(
                f"{vocab.name}: its chat template could not be rendered ({type(exc).__name__}: {reason})"
            ) from exc
        return vocab.encode(text)
    return [start_token(vocab), *vocab.encode(prompt)]


def pick(log_probs: torch.Tensor, *, greedy: bool, temperature: float, top_p: float, generator) -> int:
    """Greedy, or sampling with temperature and nucleus (top-p) truncation (values checked by :class:`Decoding`)."""
    if greedy:
        return int(log_probs.argmax())
    probs = torch.softmax(log_probs / temperature, dim=0)
    order = probs.argsort(descending=True)
    keep = probs[order].cumsum(0) - probs[order] < top_p
    truncated = torch.zeros_like(probs)
    truncated[order[keep]] = probs[order[keep]]
    return int(torch.multinomial(truncated, 1, generator=generator))


def top_candidates(log_probs: torch.Tensor, symbols: list[Symbol], n: int = 5) -> list[tuple[str, float]]:
    values, ids = log_probs.topk(min(n, len(log_probs)))
    return [(str(symbols[i]), round(math.exp(v), 5)) for v, i in zip(values.tolist(), ids.tolist(), strict=True)]


STATE_LIMIT_NOTE = (
    f"exact mode stopped where its cover passed {MAX_STATES:,} model states (it keeps every tokenization of "
    "the text, and they multiply)"
)


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Within it, each reduced or ensembled generation stops after ``seconds`` (the web app's guard:
    exact mode can grow without bound); what was generated is kept, and ends "by time limit"."""
    token = _TIME_LIMIT.set(seconds)
    try:
        yield
    finally:
        _TIME_LIMIT.reset(token)


def decode(
    stepper: ReducedModel | Ensemble, symbols: list[Symbol], decoding: Decoding
) -> tuple[list[int], list[dict], str]:
    """Pick symbols until EOS, the byte budget, the time limit, the cover's state limit (exact mode) or
    a model's context; returns them, a per-step inspector record, and what ended it ("eos", "budget",
    "time limit", "state limit" or "context limit"). What was made before a limit is kept."""
    generator = torch.Generator().manual_seed(decoding.seed)
    emitted, inspector, produced = [], [], 0
    limit, started = _TIME_LIMIT.get(), time.monotonic()
    while not stepper.ended and produced < decoding.max_new_bytes:
        if limit is not None and time.monotonic() - started > limit:
            return emitted, inspector, "time limit"
        check_stop()
        views = stepper.views()
        symbol = pick(
            stepper.distribution(),
            greedy=decoding.greedy,
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            generator=generator,
        )
        try:
            stepper.advance(symbol)
        except CoverLimit:
            return emitted, inspector, "state limit"
        except ContextLimit:
            return emitted, inspector, "context limit"
        inspector.append(
            {"chosen": str(symbols[symbol]), "top": {name: top_candidates(d, symbols) for name, d in views.items()}}
        )
        emitted.append(symbol)
        produced += len(symbols[symbol].data or b"")
    return emitted, inspector, "eos" if stepper.ended else "budget"


def _split(vocab: Vocabulary, prompt: str, chat: bool, heal: bool) -> PromptSplit:
    """The prompt healed (:func:`split_prompt`), or as its canonical tokens with nothing to condition on."""
    check_length(prompt, what="prompt")
    if heal and not chat:
        return split_prompt(vocab, prompt)
    normalized = as_tokenized(vocab, prompt)
    ids = prompt_ids(vocab, prompt, chat)
    return PromptSplit(ids, b"", len(prompt), None if normalized == prompt else normalized)


def _normalized(names: list[str], splits: list[PromptSplit]) -> dict[str, str] | None:
    """:attr:`Generation.prompt_normalized`: each model whose tokenizer changed the prompt, and what it made of it."""
    changed = {
        name: split.normalized for name, split in zip(names, splits, strict=True) if split.normalized is not None
    }
    return changed or None


def _result(label, sub_name, symbols, emitted, inspector, covers, started, ended, weights, splits, names) -> Generation:
    """What a reduced or ensembled generation made; ``covers``: the reduced models that made it, named ``names``."""
    text = b"".join(symbols[s].data or b"" for s in emitted)
    return Generation(
        model=label,
        subvocab=sub_name,
        text=text.decode("utf-8", errors="replace"),
        symbols=emitted,
        pieces=[str(symbols[s]) for s in emitted],
        piece_bytes=[len(symbols[s].data or b"") for s in emitted],
        steps=len(emitted),
        forward_passes=sum(c.forward_passes for c in covers),
        seconds=round(time.perf_counter() - started, 3),
        ended_by=ended,
        inspector=inspector,
        weights=weights,
        data=text,
        prompt_tail=[split.tail_text for split in splits] if any(split.tail for split in splits) else None,
        prompt_normalized=_normalized(names, splits),
        pruned_bits=-sum(c.log_kept for c in covers) / math.log(2),
        batches=sum(c.batches for c in covers),
        tv_bound=covers[0].max_tv_bound if len(covers) == 1 else None,
    )


def heal_pruning(k: int | None) -> dict:
    """How the paths ending inside the prompt's tail are pruned: not at all in exact mode."""
    if k is None:
        return {"heal_beam": None, "heal_min_weight": 0.0, "heal_k": None}
    return {"heal_beam": HEAL_BEAM, "heal_min_weight": HEAL_MIN_WEIGHT, "heal_k": HEAL_K}


def _needs_eos(vocab: Vocabulary) -> None:
    if vocab.roles.get("eos") is None:
        raise VocabLabError(
            f"{vocab.name} has no EOS token, so a generation can only end at the byte budget and an ensemble cannot "
            "agree on an end; pick a model whose tokenizer declares one"
        )


def generate_reduced(
    model_spec: str,
    prompt: str,
    *,
    subvocab: str | SubVocabulary = "bytes",
    mcv_rule: McvRule = MCV_RULE,
    k: int | None = 300,
    beam: int | None = COVER_BEAM,
    min_weight: float = COVER_MIN_WEIGHT,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    max_new_bytes: int = 200,
    chat: bool = False,
    heal: bool = True,
    model=None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> Generation:
    """Generate from ``model_spec`` reduced to ``subvocab``.

    K-LVR keeps the ``k`` likeliest next tokens of each closed cover entry and, in the cover, the
    ``beam`` heaviest entries within ``min_weight`` of the heaviest; ``k=None`` is the exact
    reduction (no pruning at all: the cover can grow exponentially on real models). ``heal``
    conditions on the prompt's text: its end, after the last boundary later text cannot move, is
    covered by every tokenization that could continue (:func:`split_prompt`).

    >>> result = generate_reduced("smollm2-135m", "The capital of France is", subvocab="bytes", k=1, max_new_bytes=7)
    >>> result.text, result.steps  # one byte per step
    (' Paris.', 7)
    """
    decoding = Decoding(k, greedy, temperature, top_p, seed, max_new_bytes, chat, heal)  # refuses bad values first
    check_pruning(beam, min_weight)
    load = functools.partial(load_vocabulary, trust_remote_code=trust_remote_code)
    vocab = load(model_spec)
    check_reducible(vocab)
    sub = subvocab if isinstance(subvocab, SubVocabulary) else parse_subvocab(subvocab, vocab, load, mcv_rule)
    _needs_eos(vocab)
    lm = HFTokenModel(causal_lm(model_spec, model, device=device, trust_remote_code=trust_remote_code))
    started = time.perf_counter()
    if k is None:
        beam, min_weight = None, 0.0
    split = _split(vocab, prompt, chat, heal)
    reduced = ReducedModel(lm, sub, split.ids, k=k, beam=beam, min_weight=min_weight, **heal_pruning(k))
    reduced.condition(split.tail)
    emitted, inspector, ended = decode(reduced, sub.symbols, decoding)
    return _result(
        vocab.name, sub.name, sub.symbols, emitted, inspector, [reduced], started, ended, None, [split], [vocab.name]
    )


def generate_ensemble(
    model_specs: list[str],
    prompt: str,
    *,
    space: str = "mcv",
    mcv_rule: McvRule = MCV_RULE,
    weights: list[float] | None = None,
    k: int | None = 300,
    beam: int | None = COVER_BEAM,
    min_weight: float = COVER_MIN_WEIGHT,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    max_new_bytes: int = 200,
    chat: bool = False,
    heal: bool = True,
    models: list | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> Generation:
    """Generate from the ensemble of ``model_specs`` over their MCV (``space="mcv"``) or bytes: each
    model is reduced to the shared space, sees the prompt its own way, and the next symbol is
    picked from the weighted mixture of their reduced distributions.

    >>> result = generate_ensemble(["smollm2-135m", "gemma3-270m"], "The capital of France is", max_new_bytes=7)
    >>> result.text, result.subvocab
    (' Paris.', 'mcv')
    """
    if isinstance(model_specs, str) or len(model_specs) < 2:
        raise VocabLabError("an ensemble needs a list of at least two model ids")
    decoding = Decoding(k, greedy, temperature, top_p, seed, max_new_bytes, chat, heal)  # refuses bad values first
    check_pruning(beam, min_weight)
    normalized_weights(weights, len(model_specs))
    vocabs = [load_vocabulary(spec, trust_remote_code=trust_remote_code) for spec in model_specs]
    for vocab in vocabs:
        check_reducible(vocab)
        _needs_eos(vocab)
    shared = shared_space(vocabs, space, mcv_rule)
    models = causal_lms(model_specs, models, device=device, trust_remote_code=trust_remote_code)
    started = time.perf_counter()
    if k is None:
        beam, min_weight = None, 0.0
    splits = [_split(v, prompt, chat, heal) for v in vocabs]
    members = [
        ReducedModel(
            HFTokenModel(m), sub, split.ids, k=k, beam=beam, min_weight=min_weight, keep_closing=True, **heal_pruning(k)
        )
        for m, split, sub in zip(models, splits, shared.subs, strict=True)
    ]
    for member, split in zip(members, splits, strict=True):
        member.condition(split.tail)
    ensemble = Ensemble(members, [v.name for v in vocabs], shared, weights)
    emitted, inspector, ended = decode(ensemble, shared.symbols, decoding)
    return _result(
        " + ".join(v.name for v in vocabs),
        shared.name,
        shared.symbols,
        emitted,
        inspector,
        members,
        started,
        ended,
        ensemble.weights,
        splits,
        [v.name for v in vocabs],
    )


@torch.no_grad()
def generate_plain(
    model_spec: str,
    prompt: str,
    *,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    max_new_bytes: int = 200,
    chat: bool = False,
    heal: bool = True,
    model=None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> Generation:
    """The model as is, over its own tokens (``model.generate``), cut at the byte budget; for
    side-by-side comparison with the reduced model and the ensembles. With ``heal``, the end of the
    prompt is conditioned on as text: the model reduced to its own tokens (every token is then its
    own nested piece), K = 300, the cover started at :func:`split_prompt`'s boundary."""
    Decoding(None, greedy, temperature, top_p, seed, max_new_bytes, chat, heal)  # refuses bad values before any work
    vocab = load_vocabulary(model_spec, trust_remote_code=trust_remote_code)
    model = causal_lm(model_spec, model, device=device, trust_remote_code=trust_remote_code)
    if heal and not chat:
        longest = max(len(piece) for piece in vocab.pieces if piece)
        result = generate_reduced(
            model_spec,
            prompt,
            subvocab=f"maxlen:{longest}",
            greedy=greedy,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            max_new_bytes=max_new_bytes,
            model=model,
            trust_remote_code=trust_remote_code,
        )
        result.subvocab = "its own tokens, prompt healed"
        return result
    check_length(prompt, what="prompt")
    device_ = next(model.parameters()).device
    ids = torch.tensor([prompt_ids(vocab, prompt, chat)], device=device_)
    eos, stops = vocab.roles.get("eos"), vocab.stop_ids
    if not greedy:
        torch.manual_seed(seed)
    started = time.perf_counter()
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_bytes,
        do_sample=not greedy,
        temperature=temperature if not greedy else None,
        top_p=top_p if not greedy else None,
        top_k=None,
        eos_token_id=sorted(stops) or None,
        pad_token_id=vocab.roles.get("pad", eos),
        output_scores=True,
        return_dict_in_generate=True,
    )
    tokens, produced, inspector = [], 0, []

    for token, scores in zip(out.sequences[0, ids.shape[1] :].tolist(), out.scores, strict=False):
        values, top = torch.log_softmax(scores[0].float(), -1).topk(5)
        candidates = [
            (vocab.label(t), round(math.exp(v), 5)) for v, t in zip(values.tolist(), top.tolist(), strict=True)
        ]
        inspector.append({"chosen": vocab.label(token), "top": {vocab.name: candidates}})
        tokens.append(token)
        if token in stops:
            break
        produced += len(vocab.pieces[token] or b"")
        if produced >= max_new_bytes:
            break
    pieces = [vocab.pieces[t] or b"" for t in tokens]
    data = b"".join(pieces)
    return Generation(
        model=vocab.name,
        subvocab="its own tokens",
        text=data.decode("utf-8", errors="replace"),
        symbols=tokens,
        pieces=[vocab.label(t) for t in tokens],
        piece_bytes=[len(p) for p in pieces],
        steps=len(tokens),
        forward_passes=len(tokens),
        batches=len(tokens),
        seconds=round(time.perf_counter() - started, 3),
        ended_by="eos" if tokens and tokens[-1] in stops else "budget",
        inspector=inspector,
        data=data,
        prompt_normalized=_normalized([vocab.name], [_split(vocab, prompt, chat=False, heal=False)]),
    )


SIDE_BY_SIDE = ("A as is", "A reduced", "B as is", "B reduced", "MCV ensemble", "byte ensemble")


def generate_side_by_side(
    a: str,
    b: str,
    prompt: str,
    *,
    subvocab: str = "mcv",
    decoding: Decoding | None = None,
    weight_a: float = 0.5,
    models: tuple | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> dict[str, Generation]:
    """Six generations from one prompt, keyed by :data:`SIDE_BY_SIDE`: each model as is and reduced
    to ``subvocab`` (``bytes``, ``maxlen:N``, or ``mcv`` for the MCV with the other model), and
    their ensembles over the MCV and over bytes, with weights ``weight_a`` and ``1 - weight_a``."""
    if a == b:
        raise VocabLabError("pick two different models, A and B")
    if not prompt:
        raise VocabLabError("type a prompt")
    check_length(prompt, MAX_PROMPT_CHARS, "prompt")
    if not 0 <= weight_a <= 1:
        raise VocabLabError("the weight of model A must be between 0 and 1")
    decoding = decoding or Decoding()
    remote = {"trust_remote_code": trust_remote_code}
    load = functools.partial(load_vocabulary, **remote)
    # each model's sub-vocabulary, built (and a bad one refused) before anything runs
    subs = [
        parse_subvocab(f"mcv:{other}" if subvocab == "mcv" else subvocab, load(spec), load)
        for spec, other in ((a, b), (b, a))
    ]
    models = causal_lms([a, b], models, device=device, **remote)
    results: dict[str, Generation] = {}
    runs = bar(len(SIDE_BY_SIDE), "generations", unit="output")
    for label, spec, model, sub in zip("AB", (a, b), models, subs, strict=True):
        results[f"{label} as is"] = generate_plain(spec, prompt, model=model, **decoding.plain(), **remote)
        runs.update()
        results[f"{label} reduced"] = generate_reduced(
            spec, prompt, subvocab=sub, model=model, **decoding.reduced(), **remote
        )
        runs.update()
    for space, title in (("mcv", "MCV ensemble"), ("bytes", "byte ensemble")):
        results[title] = generate_ensemble(
            [a, b],
            prompt,
            space=space,
            weights=[weight_a, 1 - weight_a],
            models=list(models),
            **decoding.reduced(),
            **remote,
        )
        runs.update()
    runs.close()
    return results
