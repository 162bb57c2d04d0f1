"""Lossless vocabulary reduction by relative covers (Chijiwa et al. 2026; ALGORITHMS.md section 4).

The reduced model over S is the push-forward of the model's token-sequence law under nested
tokenization. Its next-symbol distribution comes from the relative cover of the symbols emitted
so far: every model-token path whose nested pieces spell them. An entry is *open* while pieces of
its last token are still pending, *closed* when its pieces are used up exactly:

    p_S(v | y) ∝ Σ_open w(e) [next pending piece of e = v] + Σ_closed w(e) Σ_{u: first piece of u = v} p(u | e)

Only closed entries need a forward pass. Weights stay in log space and are renormalized after each
emitted symbol. K-LVR keeps the K most likely next tokens of each closed entry (K = 1 reproduces
the model's greedy text); ``k=None`` is exact.

The model is reached through :class:`TokenModel`, so the algorithm is tested against brute-force
enumeration on a tiny model and runs unchanged on a transformers model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import torch

from vocablab.reduce.subvocab import SubVocabulary


class TokenModel(Protocol):
    """What LVR needs of a language model: states after token prefixes, and next-token log-probs."""

    def start(self, prompt_ids: list[int]) -> object: ...

    def logprobs(self, state: object) -> torch.Tensor: ...  # float64, over the model's vocabulary

    def extend(self, requests: list[tuple[object, int]], in_place: list[bool]) -> list[object]:
        """One forward pass per (state, token); ``in_place[i]``: nothing else needs that state."""
        ...


@dataclass
class Entry:
    logw: float
    state: object  # closed: after all its tokens; open: after all but the last one
    tokens: tuple[int, ...]
    pending: tuple[int, ...] = ()  # symbols of the last token still to be emitted
    top: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)  # closed: (ids, logprobs)

    @property
    def closed(self) -> bool:
        return not self.pending


class ReducedModel:
    """The reduced model of one language model over one sub-vocabulary, as a stepping state."""

    def __init__(
        self, model: TokenModel, sub: SubVocabulary, prompt_ids: list[int], *, k: int | None = 300,
        beam: int | None = None, min_weight: float = 0.0, keep_closing: bool = False,
        target: list[int] | None = None,
    ) -> None:  # fmt: skip
        """``keep_closing``: also keep, beyond the top K, the children that close at once (the
        token spelled by the emitted symbol alone), so that the cover survives any symbol another
        model picks (ensembles). ``target``: score these symbols: children are limited to the
        tokens consistent with them (exact, since the others die at once) and the distributions use
        the full softmax."""
        if target is not None:
            k = None
        self.model, self.sub, self.k, self.beam, self.keep_closing = model, sub, k, beam, keep_closing
        self.target, self.position = target, 0
        self.log_min_weight = math.log(min_weight) if min_weight > 0 else -math.inf
        self.entries = [self._closed(0.0, model.start(prompt_ids), tuple(prompt_ids))]
        self.forward_passes = 1
        self.ended = False
        self._distribution: torch.Tensor | None = None

    def _closed(self, logw: float, state: object, tokens: tuple[int, ...]) -> Entry:
        logprobs = self.model.logprobs(state)
        if self.k is None or self.k >= len(logprobs):
            ids = torch.arange(len(logprobs))
            top = (ids, logprobs)
        else:
            values, ids = logprobs.topk(self.k)
            top = (ids, values)
        return Entry(logw, state, tokens, (), top)

    def distribution(self) -> torch.Tensor:
        """log p_S(· | symbols so far), normalized, over the sub-vocabulary's symbols."""
        if self._distribution is None:
            self._distribution = self._compute_distribution()
        return self._distribution

    def _compute_distribution(self) -> torch.Tensor:
        size = len(self.sub.symbols)
        masses = torch.full((size,), -math.inf, dtype=torch.float64)
        open_entries = [e for e in self.entries if not e.closed and e.logw > -math.inf]
        if open_entries:
            first = torch.tensor([e.pending[0] for e in open_entries])
            weights = torch.tensor([e.logw for e in open_entries], dtype=torch.float64)
            peak = weights.max()
            grouped = torch.zeros(size, dtype=torch.float64).scatter_add_(0, first, (weights - peak).exp())
            masses = grouped.log() + peak
        for e in self.entries:
            if e.closed:
                ids, logprobs = e.top
                peak = logprobs.max()
                grouped = torch.zeros(size, dtype=torch.float64).scatter_add_(
                    0, self.sub.first_piece[ids], (logprobs - peak).exp()
                )
                masses = torch.logaddexp(masses, grouped.log() + peak + e.logw)
        return masses - torch.logsumexp(masses, dim=0)

    def views(self) -> dict[str, torch.Tensor]:
        return {"reduced": self.distribution()}

    def advance(self, symbol: int) -> float:
        """Emit ``symbol``; returns its log-probability under the reduced model."""
        log_p = self.distribution()[symbol].item()
        self._distribution = None
        survivors: list[Entry] = []
        to_close: list[tuple[float, object, tuple[int, ...], int]] = []
        for e in self.entries:
            if not e.closed:
                if e.pending[0] != symbol:
                    continue
                if len(e.pending) > 1:
                    survivors.append(Entry(e.logw, e.state, e.tokens, e.pending[1:]))
                else:
                    to_close.append((e.logw, e.state, e.tokens, e.tokens[-1]))
                continue
            for token, logprob in self._children(e, symbol):
                rest = self.sub.nested[token][1:]
                if rest:
                    survivors.append(Entry(e.logw + logprob, e.state, (*e.tokens, token), rest))
                else:
                    to_close.append((e.logw + logprob, e.state, (*e.tokens, token), token))
        self.position += 1
        if not survivors and not to_close:
            raise ValueError(f"no cover entry can emit {self.sub.symbols[symbol]} here")
        if symbol == self.sub.eos_symbol:
            self.ended = True
            self.entries = survivors + [Entry(w, s, t) for w, s, t, _ in to_close]
            return log_p
        survivors, to_close = self._prune(survivors, to_close)
        states = self.model.extend([(s, t) for _, s, _, t in to_close], self._reusable(survivors, to_close))
        self.forward_passes += len(to_close)
        closed = [self._closed(w, s, t) for (w, _, t, _), s in zip(to_close, states, strict=True)]
        self.entries = survivors + closed
        total = torch.logsumexp(torch.tensor([e.logw for e in self.entries], dtype=torch.float64), dim=0).item()
        for e in self.entries:
            e.logw -= total
        return log_p

    def _children(self, e: Entry, symbol: int) -> list[tuple[int, float]]:
        """The tokens a closed entry is extended with when ``symbol`` is emitted, with log-probs."""
        ids, logprobs = e.top
        if self.target is not None:
            ahead = self.target[self.position :]
            full = self.model.logprobs(e.state)
            out = []
            for n in range(1, min(len(ahead), self.sub.longest_nesting) + 1):
                out += [(t, full[t].item()) for t in self.sub.by_nested.get(tuple(ahead[:n]), ())]
            return out
        chosen = (self.sub.first_piece[ids] == symbol).nonzero().flatten()
        out = list(zip(ids[chosen].tolist(), logprobs[chosen].tolist(), strict=True))
        if self.keep_closing:
            have = {t for t, _ in out}
            full = self.model.logprobs(e.state)
            out += [(t, full[t].item()) for t in self.sub.by_nested.get((symbol,), ()) if t not in have]
        return out

    @staticmethod
    def _reusable(survivors: list[Entry], to_close: list) -> list[bool]:
        """A request may advance its state in place if it is the last one to use that state."""
        alive = {id(e.state) for e in survivors}
        remaining: dict[int, int] = {}
        for _, state, _, _ in to_close:
            remaining[id(state)] = remaining.get(id(state), 0) + 1
        out = []
        for _, state, _, _ in to_close:
            remaining[id(state)] -= 1
            out.append(remaining[id(state)] == 0 and id(state) not in alive)
        return out

    def _prune(self, survivors, to_close):
        """Drop entries about to close (each costs a forward pass) that are lighter than
        ``min_weight`` times the heaviest entry, then keep the ``beam`` heaviest of them. Open
        entries cost nothing and are never dropped. Both are off in exact mode."""
        if not to_close:
            return survivors, to_close
        heaviest = max([e.logw for e in survivors] + [c[0] for c in to_close])
        kept = sorted((c for c in to_close if c[0] >= heaviest + self.log_min_weight), key=lambda c: -c[0])
        if self.beam is not None:
            kept = kept[: self.beam]
        if self.keep_closing and not kept:
            kept = [max(to_close, key=lambda c: c[0])]
        return survivors, kept
