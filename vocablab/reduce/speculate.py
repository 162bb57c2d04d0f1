"""Speculative decoding between models with different tokenizers (docs/methods.md §7).

The target and the draft are each reduced (lossless vocabulary reduction) to one shared symbol
space, their maximal common vocabulary or bytes. There they are two distributions over the same
symbols, so standard speculative sampling applies unchanged: the draft proposes ``gamma`` symbols;
the target accepts a proposed x with probability min(1, p_T(x) / p_D(x)) and, at the first
rejection, emits a symbol drawn from the normalized max(0, p_T - p_D) instead; when all are
accepted it adds one symbol of its own. The emitted text then has exactly the target's reduced
law, and greedy decoding gives exactly the target's reduced greedy text.

The target's forward passes along the drafted symbols are run before verification in one batch: from
each of its heaviest cover entries, the tokens that spell the drafted bytes (its closing entries
along the drafted path), several tokens per row. Verification then finds them ready.

result = speculate("gemma3-270m", "smollm2-135m", "The capital of France is", gamma=4)
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

import torch
from transformers import DynamicCache

from vocablab.errors import VocabLabError
from vocablab.options import MAX_GAMMA, SPACES, SPECULATE_GAMMA, Decoding
from vocablab.progress import check_stop
from vocablab.reduce.ensemble import SharedSpace, shared_space
from vocablab.reduce.generate import Generation, _needs_eos, generate_reduced
from vocablab.reduce.lvr import CoverLimit, ReducedModel
from vocablab.reduce.model import ContextLimit, HFTokenModel, _State, left_padded_cache
from vocablab.reduce.prompt import _split
from vocablab.reduce.sampling import TimeUp, check_time, generation_clock
from vocablab.reduce.subvocab import check_reducible
from vocablab.sources import causal_lm, load_vocabulary, resolve, torch_device

PREFETCH_CHAINS = 4  # cover entries whose tokens along the drafted bytes run ahead, per round
PREFETCH_FIRST = 64  # likeliest next tokens of a closed entry searched for the first token of its chain


def check_gamma(gamma: int) -> None:
    if not isinstance(gamma, int) or isinstance(gamma, bool) or not 1 <= gamma <= MAX_GAMMA:
        raise VocabLabError(f"gamma (symbols drafted per round) must be a whole number from 1 to {MAX_GAMMA}")


def fork_cover(reduced: ReducedModel) -> ReducedModel:
    """A copy of a reduced model that can be advanced without changing the original. Its model
    states (KV caches) are shared: a :class:`~vocablab.reduce.lvr.TokenModel` never changes a
    state it extends. Its lists and dicts are copied, and their entries too, since the cover
    renormalizes entries' weights in place."""
    out = copy.copy(reduced)
    for name, value in vars(reduced).items():
        if isinstance(value, list):
            setattr(out, name, [copy.copy(item) for item in value])
        elif isinstance(value, dict):
            setattr(out, name, dict(value))
    return out


class Draws(Protocol):
    """Where the procedure's randomness comes from: one categorical draw per random choice."""

    def draw(self, probs: torch.Tensor) -> int: ...


class SeededDraws:
    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, probs: torch.Tensor) -> int:
        return int(torch.multinomial(probs, 1, generator=self.generator))


def sampling_probs(log_probs: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0) -> torch.Tensor:
    """The law :func:`vocablab.reduce.sampling.pick` samples from: softmax at ``temperature``, cut to
    the nucleus of mass ``top_p``, renormalized."""
    probs = torch.softmax(log_probs / temperature, dim=0)
    order = probs.argsort(descending=True)
    keep = probs[order].cumsum(0) - probs[order] < top_p
    out = torch.zeros_like(probs)
    out[order[keep]] = probs[order[keep]]
    return out / out.sum()


def acceptance(p: torch.Tensor, q: torch.Tensor) -> float:
    """The probability that a symbol drafted from ``q`` is accepted by a target at ``p``:
    sum_x q(x) min(1, p(x) / q(x)) = sum_x min(p(x), q(x))."""
    return torch.minimum(p, q).sum().item()


class CountingModel:
    """A :class:`~vocablab.reduce.lvr.TokenModel` that counts the calls reaching the model and
    serves states prepared ahead by :meth:`prefetch`."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0  # model calls: a batch of passes counts once
        self.passes = 0  # tokens run through the model
        self._ready: dict[tuple[int, int], tuple[object, object]] = {}  # (id(state), token) -> (state, next state)

    def start(self, prompt_ids: list[int]) -> object:
        self.calls += 1
        self.passes += len(prompt_ids)
        return self.inner.start(prompt_ids)

    def logprobs(self, state: object) -> torch.Tensor:
        return self.inner.logprobs(state)

    def extend(self, requests: list[tuple[object, int]]) -> list[object]:
        misses = [(s, t) for s, t in requests if (id(s), t) not in self._ready]
        made = {}  # kept for this call only: a model that never prefetches holds no states
        if misses:
            self.calls += 1
            self.passes += len(misses)
            made = {(id(s), t): new for (s, t), new in zip(misses, self.inner.extend(misses), strict=True)}
        return [made[(id(s), t)] if (id(s), t) in made else self._ready[(id(s), t)][1] for s, t in requests]

    def prefetch(self, chains: list[tuple[object, list[int]]]) -> None:
        """Run each (state, tokens) chain in one call (rows of several tokens) when the model can run
        chains, else one call per depth; each state along a chain is kept for :meth:`extend`."""
        self._ready = {}  # the previous round's states are not asked for again
        chains = [(s, t) for s, t in chains if t]
        if not chains:
            return
        if not hasattr(self.inner, "extend_chains"):
            states = self._by_depth(chains)
        elif (states := self.inner.extend_chains(chains)) is None:
            return  # the model cannot run these rows together: no use running them one by one ahead
        else:
            self.calls += 1
            self.passes += sum(len(t) for _, t in chains)
        for (state, tokens), row in zip(chains, states, strict=True):
            for parent, token, new in zip([state, *row[:-1]], tokens, row, strict=True):
                self._ready[(id(parent), token)] = (parent, new)

    def _by_depth(self, chains: list[tuple[object, list[int]]]) -> list[list[object]]:
        """The chains' states by one batch of single tokens per depth (a model without chains)."""
        states = [[] for _ in chains]
        for depth in range(max(len(t) for _, t in chains)):
            rows = [n for n, (_, t) in enumerate(chains) if len(t) > depth]
            asked = [(states[n][-1] if depth else chains[n][0], chains[n][1][depth]) for n in rows]
            for n, new in zip(rows, self.extend(asked), strict=True):
                states[n].append(new)
        return states


class ChainedHFModel(HFTokenModel):
    """:class:`HFTokenModel` that also runs several tokens after each of several states in one
    batched forward pass (caches left-padded to the longest, token rows right-padded)."""

    @torch.no_grad()
    def extend_chains(self, chains: list[tuple[object, list[int]]]) -> list[list[object]] | None:
        check_time()  # one batch of passes, like HFTokenModel.extend's
        lengths = [state.length for state, _ in chains]
        longest, width = max(lengths), max(len(tokens) for _, tokens in chains)
        if longest + width + 1 >= min(self.merge_limit, self.context):
            return None  # past a sliding window a cache cannot be cut per row: verify symbol by symbol
        merged = left_padded_cache([state for state, _ in chains], longest, self.model.config)
        mask = torch.zeros(len(chains), longest + width, dtype=torch.long, device=self.device)
        ids = torch.zeros(len(chains), width, dtype=torch.long, device=self.device)
        for row, ((_, tokens), n) in enumerate(zip(chains, lengths, strict=True)):
            mask[row, longest - n : longest + len(tokens)] = 1
            ids[row, : len(tokens)] = torch.tensor(tokens)
        positions = torch.tensor(lengths, device=self.device).unsqueeze(1) + torch.arange(width, device=self.device)
        out = self.model(
            input_ids=ids, past_key_values=merged, attention_mask=mask, use_cache=True, position_ids=positions
        )
        logprobs = torch.log_softmax(out.logits.float(), dim=-1).double().cpu()
        result = []
        for row, ((_, tokens), n) in enumerate(zip(chains, lengths, strict=True)):
            states = []
            for j in range(len(tokens)):
                cache = DynamicCache(config=self.model.config)
                for layer, merged_layer in zip(cache.layers, out.past_key_values.layers, strict=True):
                    span = slice(longest - n, longest + j + 1)
                    layer.update(merged_layer.keys[row : row + 1, :, span], merged_layer.values[row : row + 1, :, span])
                states.append(_State(cache, logprobs[row, j], n + j + 1))
            result.append(states)
        return result


@dataclass
class Emitted:
    symbol: int  # in the target's sub-vocabulary
    drafted: bool  # a drafted symbol the target accepted (else the target's own: a correction or a bonus)


class Speculator:
    """Speculative sampling between two reduced models over one shared space: ``target`` is reduced
    to ``shared.subs[0]``, ``draft`` to ``shared.subs[1]``. :meth:`round` drafts, verifies and emits."""

    def __init__(
        self,
        target: ReducedModel,
        draft: ReducedModel,
        shared: SharedSpace,
        gamma: int = SPECULATE_GAMMA,
        *,
        greedy: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_bytes: int | None = None,
    ) -> None:
        check_gamma(gamma)
        self.target, self.draft, self.shared, self.gamma = target, draft, shared, gamma
        self.greedy, self.temperature, self.top_p = greedy, temperature, top_p
        self.budget = math.inf if max_new_bytes is None else max_new_bytes
        self.target_of_shared, self.draft_of_shared = shared.member_index[0], shared.member_index[1]
        self.draft_of_target = torch.full((len(target.sub.symbols),), -1, dtype=torch.long)
        self.draft_of_target[self.target_of_shared] = self.draft_of_shared
        self.emitted: list[Emitted] = []
        self.produced = 0  # bytes emitted
        self.rounds = self.drafted = 0
        self.draft_lost_at: int | None = None  # the symbol from which the draft could not follow the target
        self.ended_by: str | None = None
        self._token_bytes = {}  # the target's text tokens by their bytes (first chains: longest match)
        for token, data in enumerate(target.sub.token_bytes):
            if data:
                self._token_bytes.setdefault(data, token)
        self._longest = max(map(len, self._token_bytes), default=1)

    @property
    def accepted(self) -> int:
        return sum(e.drafted for e in self.emitted)

    def fork(self) -> Speculator:
        out = copy.copy(self)
        out.target, out.draft, out.emitted = fork_cover(self.target), fork_cover(self.draft), list(self.emitted)
        return out

    def _data(self, symbol: int) -> bytes:
        return self.target.sub.symbols[symbol].data or b""

    def target_probs(self) -> torch.Tensor:
        """The target's next-symbol law as generation samples it (one-hot at its argmax when greedy)."""
        log_p = self.target.distribution()
        if self.greedy:
            return torch.nn.functional.one_hot(log_p.argmax(), len(log_p)).double()
        return sampling_probs(log_p, self.temperature, self.top_p)

    def draft_probs(self, draft: ReducedModel) -> torch.Tensor:
        """The draft's proposal over the target's symbols: its reduced law restricted to the shared
        symbols and renormalized (zero on the target's other symbols), warped like the target's."""
        restricted = draft.distribution()[self.draft_of_shared]
        out = torch.zeros(len(self.target.sub.symbols), dtype=torch.float64)
        if torch.logsumexp(restricted, 0).item() == -math.inf:
            return out
        restricted = restricted - torch.logsumexp(restricted, 0)
        if self.greedy:
            out[self.target_of_shared[restricted.argmax()]] = 1.0
        else:
            out[self.target_of_shared] = sampling_probs(restricted, self.temperature, self.top_p)
        return out

    def _draft_symbols(self, draws: Draws) -> tuple[list[tuple[int, torch.Tensor]], list[ReducedModel]]:
        """Up to ``gamma`` proposals (symbol, proposal law), and the draft's covers after each."""
        proposals, covers, spelled = [], [self.draft], 0
        if self.draft_lost_at is not None:
            return proposals, covers
        for _ in range(self.gamma):
            check_time()
            q = self.draft_probs(covers[-1])
            if q.sum() == 0:
                break
            x = int(q.argmax()) if self.greedy else draws.draw(q)
            proposals.append((x, q))
            spelled += len(self._data(x))
            if x == self.target.sub.eos_symbol or self.produced + spelled >= self.budget:
                break  # nothing after an end, or past the byte budget, could be emitted
            child = fork_cover(covers[-1])
            try:
                child.advance(int(self.draft_of_target[x]))
            except (CoverLimit, ContextLimit):
                break
            covers.append(child)
        self.drafted += len(proposals)
        return proposals, covers

    def round(self, draws: Draws) -> list[Emitted]:
        """Draft, verify and emit: the symbols this round added (at least one unless ended)."""
        self.rounds += 1
        proposals, covers = self._draft_symbols(draws)
        if proposals and isinstance(self.target.model, CountingModel):
            self.target.model.prefetch(self._chains(b"".join(self._data(x) for x, _ in proposals)))
        start = len(self.emitted)
        for i, (x, q) in enumerate(proposals):
            check_time()
            p = self.target_probs()
            if self.greedy:
                accept = int(p.argmax()) == x
            else:
                a = min(1.0, (p[x] / q[x]).item())
                accept = draws.draw(torch.tensor([1 - a, a], dtype=torch.float64)) == 1
            if not accept:
                residual = (p - q).clamp(min=0)
                residual = residual / residual.sum() if residual.sum() > 0 else p
                y = int(residual.argmax()) if self.greedy else draws.draw(residual)
                self._emit(y, False, covers[i])
                return self.emitted[start:]
            if not self._emit(x, True, None):
                return self.emitted[start:]
        p = self.target_probs()  # every proposal accepted: the target's own next symbol comes free
        y = int(p.argmax()) if self.greedy else draws.draw(p)
        self._emit(y, False, covers[len(proposals)] if len(covers) > len(proposals) else None)
        return self.emitted[start:]

    def _emit(self, symbol: int, drafted: bool, draft: ReducedModel | None) -> bool:
        """Advance the target along ``symbol``; with ``draft`` (the draft's cover before it), the
        draft follows. False when the generation ended."""
        try:
            self.target.advance(symbol)
        except CoverLimit:
            self.ended_by = "state limit"
            return False
        except ContextLimit:
            self.ended_by = "context limit"
            return False
        self.emitted.append(Emitted(symbol, drafted))
        self.produced += len(self._data(symbol))
        if self.target.ended:
            self.ended_by = "eos"
        elif self.produced >= self.budget:
            self.ended_by = "budget"
        if self.ended_by:
            return False
        if draft is not None:
            self.draft = draft if self.follow(draft, symbol) else self.draft
        elif not drafted and self.draft_lost_at is None:  # the draft stopped short of this point (a limit)
            self.draft_lost_at = len(self.emitted) - 1
        return True

    def follow(self, draft: ReducedModel, symbol: int) -> bool:
        """Advance ``draft`` along the target's ``symbol``: its shared symbol, or, for a symbol the
        draft lacks, its bytes in the draft's own symbols. A draft that cannot follow (its law gives
        the text no probability, or a limit is met) is dropped: the target goes on alone, which
        keeps the law."""
        own = int(self.draft_of_target[symbol])
        data = self.target.sub.symbols[symbol].data
        path = [own] if own >= 0 else draft.sub.segment(data) if data else []
        try:
            for s in path:
                if draft.ready(s)[s].item() == -math.inf:
                    raise VocabLabError("the draft gives this text no probability")
                draft.advance(s)
        except TimeUp:
            raise  # the time limit ends the run; it says nothing of the draft
        except (VocabLabError, ValueError):
            self.draft_lost_at = len(self.emitted)
            return False
        return True

    def _chains(self, data: bytes) -> list[tuple[object, list[int]]]:
        """The token paths the target's cover will most likely run along ``data`` (the drafted
        bytes): from each closed entry, its likeliest next token that spells a prefix of ``data``,
        then the longest matches; from the heaviest open entries whose pending bytes ``data``
        begins with, their token, then the longest matches. The :data:`PREFETCH_CHAINS` heaviest."""
        sub, chains = self.target.sub, []
        for e in self.target.closed:
            ids, logprobs = e.top
            first = logprobs.topk(min(PREFETCH_FIRST, len(ids))).indices.tolist()
            for token in (int(ids[n]) for n in first):
                spelled = sub.token_bytes[token]
                if spelled and data.startswith(spelled):
                    chains.append((e.logw, e.state, [token, *self._longest_match(data[len(spelled) :])]))
                    break
        for g in self.target.groups:
            for n in g.logw.topk(min(PREFETCH_CHAINS, len(g.logw))).indices.tolist():
                token, pieces = int(g.ids[n]), self._pending(g, n)
                rest = sub.text(pieces)
                if pieces and data.startswith(rest):
                    chains.append((g.logw[n].item(), g.state, [token, *self._longest_match(data[len(rest) :])]))
        chains.sort(key=lambda c: -c[0])
        return [(state, tokens) for _, state, tokens in chains[:PREFETCH_CHAINS]]

    def _pending(self, g, n: int) -> list[int]:
        """The pieces of entry ``n`` of open group ``g`` not yet emitted."""
        if g.pending is not None:
            return [s for s in g.pending[n, g.emitted :].tolist() if s >= 0]
        return list(self.target.sub.nested[int(g.ids[n])][g.emitted :])

    def _longest_match(self, data: bytes) -> list[int]:
        tokens, at = [], 0
        while at < len(data):
            for size in range(min(self._longest, len(data) - at), 0, -1):
                token = self._token_bytes.get(data[at : at + size])
                if token is not None:
                    tokens.append(token)
                    at += size
                    break
            else:
                break
        return tokens


@dataclass
class TargetAlone:
    """The target's plain reduced generation of the same prompt, in the same run."""

    text: str
    steps: int
    target_calls: int
    target_passes: int
    seconds: float
    ended_by: str
    bytes_per_target_call: float

    @classmethod
    def of(cls, plain: Generation) -> TargetAlone:
        per_call = round(len(plain.data) / max(plain.batches, 1), 4)
        return cls(
            plain.text, plain.steps, plain.batches, plain.forward_passes, plain.seconds, plain.ended_by, per_call
        )


@dataclass
class Speculation:
    target: str
    draft: str
    space: str
    gamma: int
    greedy: bool
    text: str
    pieces: list[str]  # the emitted symbols, readable
    piece_bytes: list[int]
    drafted_flags: list[bool]  # per emitted symbol: drafted and accepted (else the target's own)
    rounds: int
    drafted: int  # symbols the draft proposed
    accepted: int  # of them, accepted by the target
    target_calls: int  # calls to the target model, its prompt's included (a batch counts once)
    draft_calls: int
    target_passes: int  # tokens run through the target model
    draft_passes: int
    seconds: float
    ended_by: str
    draft_lost_at: int | None  # the emitted symbol from which the draft could no longer follow
    alone: TargetAlone | None = None
    data: bytes = field(default=b"", repr=False)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def bytes_per_target_call(self) -> float:
        return len(self.data) / max(self.target_calls, 1)

    @property
    def same_as_alone(self) -> bool | None:
        """Whether the text is the target's own (asserted for greedy decoding; sampling draws differ)."""
        return None if self.alone is None else self.text == self.alone.text

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["data"]
        return {
            **out,
            "acceptance_rate": round(self.acceptance_rate, 4),
            "bytes_per_target_call": round(self.bytes_per_target_call, 4),
            "same_as_alone": self.same_as_alone,
        }

    def notes(self) -> list[str]:
        """What ``vocablab speculate`` prints on stderr under the text: the acceptance and the calls made."""
        out = [
            f"-- {self.target} drafted by {self.draft} over {self.space}, gamma {self.gamma}: "
            f"{self.accepted}/{self.drafted} drafted symbols accepted ({self.acceptance_rate:.0%}), "
            f"{self.target_calls} target calls ({self.bytes_per_target_call:.2f} bytes each), "
            f"{self.draft_calls} draft calls, {self.seconds:.1f} s, ended by {self.ended_by}"
        ]
        if self.draft_lost_at is not None:
            out.append(f"-- the draft could not follow from symbol {self.draft_lost_at}; the target went on alone")
        if (alone := self.alone) is not None:
            same = "the same text" if self.same_as_alone else "another text (sampling draws differently)"
            out.append(
                f"-- the target alone: {alone.target_calls} target calls ({alone.bytes_per_target_call:.2f} bytes "
                f"each), {alone.seconds:.1f} s: {same}"
            )
        return out


def check_pair(target: str, draft: str, device: str, draft_device: str | None, trust_remote_code: bool) -> None:
    """Refuse a draft that is the target, and a draft on another device than the target's."""
    sources = [resolve(spec, need="model", trust_remote_code=trust_remote_code) for spec in (target, draft)]
    if sources[0].path.resolve() == sources[1].path.resolve() and sources[0].gguf_file == sources[1].gguf_file:
        raise VocabLabError(f"the draft {draft} is the target itself; pick a smaller model as the draft")
    devices = torch_device(device), torch_device(draft_device or device)
    if devices[0] != devices[1]:
        raise VocabLabError(
            f"the draft would run on {devices[1]} and the target on {devices[0]}: put both on one device (a draft "
            "only pays when its step is cheap beside the target's on the same hardware)"
        )


def reducible_vocabularies(specs: list[str], trust_remote_code: bool = False) -> list:
    """The models' vocabularies, each refused unless it reduces exactly and declares an end."""
    vocabs = [load_vocabulary(spec, trust_remote_code=trust_remote_code) for spec in specs]
    for vocab in vocabs:
        check_reducible(vocab)
        _needs_eos(vocab)
    return vocabs


def _model_device(model) -> str:
    return str(next(model.parameters()).device)


def speculate(
    target: str,
    draft: str,
    prompt: str,
    *,
    gamma: int = SPECULATE_GAMMA,
    space: str = "mcv",
    decoding: Decoding = Decoding(),
    alone: bool = True,
    target_model=None,
    draft_model=None,
    device: str = "auto",
    draft_device: str | None = None,
    trust_remote_code: bool = False,
) -> Speculation:
    """Generate from ``target`` with ``draft`` proposing ``gamma`` symbols a round, both reduced to
    ``space`` (their MCV, or bytes). The text has the target's reduced law (greedy: the target's
    reduced greedy text, as ``generate_reduced(target, subvocab="mcv:DRAFT")`` makes it). With
    ``alone``, the target's plain reduced generation runs too, for comparison. ``decoding`` is as for
    :func:`~vocablab.reduce.generate.generate_reduced`; the draft keeps, beyond its top K,
    the tokens any emitted symbol closes (as ensemble members do), so it can follow the target.

    >>> from vocablab.options import Decoding
    >>> seven_bytes = Decoding(max_new_bytes=7)
    >>> result = speculate("gemma3-270m", "smollm2-135m", "The capital of France is", decoding=seven_bytes)
    >>> result.text, result.same_as_alone
    (' the capital', True)
    """
    check_gamma(gamma)
    if space not in SPACES:
        raise VocabLabError(f"unknown space {space!r}; use mcv or bytes")
    check_pair(target, draft, device, draft_device, trust_remote_code)
    vocabs = reducible_vocabularies([target, draft], trust_remote_code)
    shared = shared_space(vocabs, space)
    remote = {"trust_remote_code": trust_remote_code}
    target_lm = causal_lm(target, target_model, device=device, **remote)
    draft_lm = causal_lm(draft, draft_model, device=draft_device or device, **remote)
    if _model_device(target_lm) != _model_device(draft_lm):
        raise VocabLabError(
            f"the draft is on {_model_device(draft_lm)} and the target on {_model_device(target_lm)}: "
            "put both on one device"
        )
    started = time.perf_counter()
    splits = [_split(vocab, prompt, decoding.chat, decoding.heal) for vocab in vocabs]
    models = CountingModel(ChainedHFModel(target_lm)), CountingModel(HFTokenModel(draft_lm))
    covers = [
        ReducedModel(model, sub, split.ids, keep_closing=n == 1, **decoding.pruning())
        for n, (model, sub, split) in enumerate(zip(models, shared.subs, splits, strict=True))
    ]
    speculator = Speculator(
        *covers,
        shared,
        gamma,
        greedy=decoding.greedy,
        temperature=decoding.temperature,
        top_p=decoding.top_p,
        max_new_bytes=decoding.max_new_bytes,
    )
    ends = [(cover, split.tail) for cover, split in zip(covers, splits, strict=True)]
    run_rounds(speculator, SeededDraws(decoding.seed), ends)
    result = _speculation(vocabs, shared, speculator, *models, started)
    if alone:
        plain = generate_reduced(target, prompt, subvocab=shared.subs[0], decoding=decoding, model=target_lm, **remote)
        result.alone = TargetAlone.of(plain)
    return result


def run_rounds(speculator: Speculator, draws: Draws, prompt_ends: list[tuple[ReducedModel, bytes]] = ()) -> None:
    """Condition each cover of ``prompt_ends`` on its prompt's end, then rounds until the end, the byte
    budget, a limit, or the app's time limit (sampling.time_limit). The time limit counts from the
    conditioning on and holds inside a round: it is checked before each drafted symbol, each verified
    one and each batch of forward passes; the symbols emitted before it passed are kept."""
    with generation_clock():
        try:
            for cover, tail in prompt_ends:
                cover.condition(tail)
            while speculator.ended_by is None:
                check_stop()
                speculator.round(draws)
        except TimeUp:
            speculator.ended_by = "time limit"


def _speculation(vocabs, shared, speculator: Speculator, target_model, draft_model, started: float) -> Speculation:
    sub = shared.subs[0]
    symbols = [e.symbol for e in speculator.emitted]
    data = sub.text(symbols)
    return Speculation(
        target=vocabs[0].name,
        draft=vocabs[1].name,
        space=shared.name,
        gamma=speculator.gamma,
        greedy=speculator.greedy,
        text=data.decode("utf-8", errors="replace"),
        pieces=[str(sub.symbols[s]) for s in symbols],
        piece_bytes=[len(sub.symbols[s].data or b"") for s in symbols],
        drafted_flags=[e.drafted for e in speculator.emitted],
        rounds=speculator.rounds,
        drafted=speculator.drafted,
        accepted=speculator.accepted,
        target_calls=target_model.calls,
        draft_calls=draft_model.calls,
        target_passes=target_model.passes,
        draft_passes=draft_model.passes,
        seconds=round(time.perf_counter() - started, 3),
        ended_by=speculator.ended_by or "eos",
        draft_lost_at=speculator.draft_lost_at,
        data=data,
    )
