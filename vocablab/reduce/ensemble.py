"""Ensembles of models with different tokenizers over a shared symbol space (docs/methods.md §5).

Each model is reduced (lossless vocabulary reduction) to the same space: the maximal common
vocabulary (MCV) of all the models, or bytes. Their reduced next-symbol distributions, restricted
to the symbols every model has (text pieces and the shared EOS) and renormalized, are mixed with
the given weights; the picked symbol advances every model's cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from vocablab.errors import VocabLabError
from vocablab.options import MCV_RULE, SPACES, McvRule
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.subvocab import EOS, SubVocabulary, Symbol, build_subvocabulary, common_with, mcv_name
from vocablab.vocab import ALL_BYTES, Vocabulary, check_mcv_rule, maximal_common_vocabulary


@dataclass
class SharedSpace:
    """The symbols every model can emit, and where each one sits in each model's sub-vocabulary."""

    name: str
    symbols: list[Symbol]
    subs: list[SubVocabulary]
    member_index: list[torch.Tensor]  # member_index[m][shared symbol] = that symbol in subs[m]

    def to_member(self, m: int, shared_symbols: list[int]) -> list[int]:
        return self.member_index[m][shared_symbols].tolist()

    def from_member(self, m: int, member_symbols: list[int]) -> list[int]:
        index = {s: i for i, s in enumerate(self.member_index[m].tolist())}
        try:
            return [index[s] for s in member_symbols]
        except KeyError:
            raise VocabLabError(
                "the text holds a piece not every model can produce; the ensemble cannot score it"
            ) from None


def shared_space(vocabs: list[Vocabulary], space: str, mcv_rule: McvRule = MCV_RULE) -> SharedSpace:
    """The space the models are reduced to: their MCV under ``mcv_rule``, or bytes (no rule then)."""
    check_mcv_rule(mcv_rule)
    return _shared_space(tuple(vocabs), space, mcv_rule if space == "mcv" else MCV_RULE)


@lru_cache(maxsize=8)
def _shared_space(vocabs: tuple[Vocabulary, ...], space: str, mcv_rule: McvRule) -> SharedSpace:
    if space not in SPACES:
        raise VocabLabError(f"unknown ensemble space {space!r}; use mcv or bytes")
    if len(vocabs) < 2:
        raise VocabLabError("an ensemble needs at least two models")
    name = mcv_name(space, mcv_rule)
    if space == "mcv" and len(vocabs) == 2:  # the sub-vocabularies each model is reduced to (built once)
        subs = [common_with(vocabs[0], vocabs[1], mcv_rule), common_with(vocabs[1], vocabs[0], mcv_rule)]
    else:
        allowed = maximal_common_vocabulary(list(vocabs), mcv_rule) if space == "mcv" else ALL_BYTES
        subs = [build_subvocabulary(v, allowed, name) for v in vocabs]
    common = set.intersection(*(set(sub.symbols) for sub in subs))
    shared = sorted((s for s in common if s.data is not None), key=lambda s: (len(s.data), s.data))
    symbols = [Symbol(None, EOS), *shared]
    member_index = [torch.tensor([sub.index[s] for s in symbols]) for sub in subs]
    return SharedSpace(name, symbols, subs, member_index)


class Ensemble:
    """Weighted mixture of reduced models stepping over one shared space."""

    def __init__(
        self, members: list[ReducedModel], names: list[str], shared: SharedSpace, weights: list[float] | None = None
    ) -> None:
        self.members, self.names, self.shared = members, names, shared
        self.weights = normalized_weights(weights, len(members))
        self.log_weights = torch.tensor(
            [math.log(w) if w > 0 else -math.inf for w in self.weights], dtype=torch.float64
        ).unsqueeze(1)

    @property
    def ended(self) -> bool:
        return any(m.ended for m in self.members)

    def member_distributions(self) -> list[torch.Tensor]:
        """Each member's reduced distribution over the shared symbols (log, renormalized). A member
        whose cover gives no shared symbol any mass here gets a row of -inf (it sits out the mixture)."""
        out = []
        for member, index in zip(self.members, self.shared.member_index, strict=True):
            restricted = member.distribution()[index]
            total = torch.logsumexp(restricted, 0)
            out.append(restricted - total if total > -math.inf else restricted)
        return out

    def distribution(self) -> torch.Tensor:
        return self._mix(self.member_distributions())

    def views(self) -> dict[str, torch.Tensor]:
        members = self.member_distributions()
        return {**dict(zip(self.names, members, strict=True)), "ensemble": self._mix(members)}

    def _mix(self, members: list[torch.Tensor]) -> torch.Tensor:
        """The weighted mixture, over the members that can emit a shared symbol (weights renormalized
        among them); the others recover the symbol picked when they advance."""
        able = torch.tensor([bool(d.max() > -math.inf) for d in members]).unsqueeze(1)
        log_weights = self.log_weights.masked_fill(~able, -math.inf)
        if log_weights.max() == -math.inf:
            raise VocabLabError("no model of the ensemble can emit a symbol the others share here")
        stacked = torch.stack(members).masked_fill(~able, 0.0)  # rows left out carry weight 0
        return torch.logsumexp(stacked + log_weights - log_weights.logsumexp(0), 0)

    def advance(self, symbol: int) -> float:
        """Emit ``symbol`` in every member. A member whose pruned cover gives it no mass (another
        member picked it) recovers it first (:meth:`ReducedModel.ready`); all recover before any
        moves on, so no member is left a step ahead. Returns the mixture's log-probability of it."""
        log_p = self.distribution()[symbol].item()
        own = [int(index[symbol]) for index in self.shared.member_index]
        for member, s in zip(self.members, own, strict=True):
            member.ready(s)
        for member, s in zip(self.members, own, strict=True):
            member.advance(s)
        return log_p


def normalized_weights(weights: list[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1 / n] * n
    if len(weights) != n:
        raise VocabLabError(f"{len(weights)} weights for {n} models; give one weight per model")
    if any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
        raise VocabLabError("weights must be non-negative numbers with a positive sum")
    return [w / sum(weights) for w in weights]
