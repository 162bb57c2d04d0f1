"""Lossless vocabulary reduction by relative covers (Chijiwa et al. 2026; docs/methods.md §4).

The reduced model over S is the push-forward of the model's token-sequence law under nested
tokenization. Its next-symbol distribution comes from the relative cover of the symbols emitted
so far: every model-token path whose nested pieces spell them. An entry is *open* while pieces of
its last token are still pending, *closed* when its pieces are used up exactly:

    p_S(v | y) ∝ Σ_open w(e) [next pending piece of e = v] + Σ_closed w(e) Σ_{u: first piece of u = v} p(u | e)

Only closed entries need a forward pass; with each batch of them, the heaviest open entry runs
ahead, since it is usually the next to close. The open children of one closed entry are kept
together as one group of tensors (tokens, weights, how many of their pieces are emitted), so exact
mode, where a closed entry has thousands of children, costs a few vector operations per step.
Weights stay in log space and are renormalized after each emitted symbol. K-LVR keeps the K most
likely next tokens of each closed entry (K = 1 reproduces the model's greedy text); ``k=None`` is
exact.

The model is reached through :class:`TokenModel`, so the algorithm is tested against brute-force
enumeration on a tiny model and runs unchanged on a transformers model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import torch

from vocablab.errors import VocabLabError
from vocablab.options import HEAL_K, LVR_K, check_pruning
from vocablab.reduce.sampling import check_time
from vocablab.reduce.subvocab import SubVocabulary

MAX_STATES = 2_000  # model states (KV caches) a cover may hold: exact mode can grow exponentially
LOOKAHEAD = 1  # open entries run ahead with each batch of forward passes (:meth:`ReducedModel._extend`)
# paths inside a prompt's tail run as one tree in one forward pass up to this many (:meth:`ReducedModel.condition`)
TREE_NODES = 400
RESERVE = 4  # closing entries pruning drops that are kept apart, without a forward pass, for recovery


class CoverLimit(VocabLabError):
    """The cover grew past :data:`MAX_STATES` model states."""


class TokenModel(Protocol):
    """What LVR needs of a language model: states after token prefixes, and next-token log-probs."""

    def start(self, prompt_ids: list[int]) -> object: ...

    def logprobs(self, state: object) -> torch.Tensor: ...  # float64, over the model's vocabulary

    def extend(self, requests: list[tuple[object, int]]) -> list[object]:
        """One forward pass per (state, token), each leaving its state as it was."""
        ...


@dataclass
class Closed:
    """A token path whose nested pieces are all emitted; ``top``: its next-token (ids, log-probs)."""

    logw: float
    state: object  # after all its tokens
    tokens: tuple[int, ...]
    top: tuple[torch.Tensor, torch.Tensor] = field(repr=False)


@dataclass
class OpenGroup:
    """Paths ``tokens + (u,)`` for each u in ``ids``, whose first ``emitted`` pieces are out.
    ``pending``, when set, replaces the nested pieces of each u: one row of symbol ids per entry,
    padded with -1 (a token that runs past the end of the prompt, see :meth:`ReducedModel.condition`)."""

    logw: torch.Tensor  # float64, one per token
    state: object  # after ``tokens`` (the parent's state)
    tokens: tuple[int, ...]
    ids: torch.Tensor
    emitted: int
    pending: torch.Tensor | None = None


class ReducedModel:
    """The reduced model of one language model over one sub-vocabulary, as a stepping state."""

    def __init__(
        self,
        model: TokenModel,
        sub: SubVocabulary,
        prompt_ids: list[int],
        *,
        k: int | None = LVR_K,
        beam: int | None = None,
        min_weight: float = 0.0,
        keep_closing: bool = False,
        heal_beam: int | None = None,
        heal_min_weight: float = 0.0,
        heal_k: int | None = HEAL_K,
    ) -> None:
        """``beam``/``min_weight`` prune the entries about to close (each costs a forward pass);
        ``heal_beam``/``heal_min_weight`` the paths ending inside the prompt's tail (:meth:`condition`),
        and the paths closed at its end keep their ``heal_k`` likeliest next tokens (None: all).
        ``keep_closing``: also keep, beyond the top K, the children that close at once (the token
        spelled by the emitted symbol alone), so the cover survives any symbol another model picks."""
        check_pruning(beam, min_weight)
        check_pruning(heal_beam, heal_min_weight)
        self.heal_beam, self.heal_k = heal_beam, heal_k
        self.log_heal_min_weight = math.log(heal_min_weight) if heal_min_weight > 0 else -math.inf
        self.model, self.sub, self.k, self.beam, self.keep_closing = model, sub, k, beam, keep_closing
        self.log_min_weight = math.log(min_weight) if min_weight > 0 else -math.inf
        # the prompt's entry is made when first read (:attr:`closed`): a model may run the prompt with the
        # tree of its tail's paths, in one pass (:meth:`condition`)
        self._root, self._entries = (model.start(prompt_ids), tuple(prompt_ids)), None
        self.groups: list[OpenGroup] = []
        self.forward_passes = 1  # tokens run through the model
        self.batches = 1  # calls to the model: a batch of passes counts once
        self.log_kept = 0.0  # log of the cover mass kept by pruning (0 when nothing was pruned)
        # log of every mass pruning or the top K ever left out, each as weighed when left out, in the cover's
        # current units: it bounds what their descendants weigh now (:attr:`tv_bound`)
        self.log_dropped = -math.inf
        self.tv_bound = 0.0  # of the last distribution computed (:meth:`_compute_distribution`)
        self.max_tv_bound = 0.0  # over every distribution computed
        self._aside: list[tuple] = []  # closing entries pruning dropped, for recovery (:meth:`_set_aside`)
        self._since: list[int] = []  # the symbols emitted since they were set aside
        self.ended = False
        self._distribution: torch.Tensor | None = None
        self._ahead: dict[tuple[int, int], tuple[object, object]] = {}  # (id(state), token) -> (state, next state)

    @property
    def closed(self) -> list[Closed]:
        """The closed entries of the cover."""
        if self._entries is None:
            self._entries = [self._closed(0.0, *self._root)]
        return self._entries

    @closed.setter
    def closed(self, entries: list[Closed]) -> None:
        self._entries = entries

    def _closed(self, logw: float, state: object, tokens: tuple[int, ...], *, at_prompt_end: bool = False) -> Closed:
        logprobs = self._logprobs(state)
        k = self.heal_k if at_prompt_end else self.k
        if k is None or k >= len(logprobs):
            return Closed(logw, state, tokens, (torch.arange(len(logprobs)), logprobs))
        values, ids = logprobs.topk(k)
        return Closed(logw, state, tokens, (ids, values))

    def _logprobs(self, state: object) -> torch.Tensor:
        """Next-token log-probs over the tokenizer's ids: rows of a head padded past the tokenizer
        (Qwen2.5, Phi-3, Pythia) stand for no text and are dropped."""
        return self.model.logprobs(state)[: len(self.sub.nested)]

    def _pieces(self, g: OpenGroup) -> torch.Tensor:
        """The next pending piece of each entry of ``g``."""
        return self.sub.piece(g.ids, g.emitted) if g.pending is None else g.pending[:, g.emitted]

    @property
    def cover_size(self) -> int:
        return len(self.closed) + sum(len(g.ids) for g in self.groups)

    def distribution(self) -> torch.Tensor:
        """log p_S(· | symbols so far), normalized, over the sub-vocabulary's symbols."""
        if self._distribution is None:
            self._distribution = self._compute_distribution()
        return self._distribution

    def ready(self, symbol: int) -> torch.Tensor:
        """:meth:`distribution`, after recovering ``symbol`` if the pruned cover gives it no mass
        (another ensemble member picked it, or a scored text holds it): :meth:`_recover`."""
        if self.distribution()[symbol].item() == -math.inf:
            self._recover(symbol)
        return self.distribution()

    def views(self) -> dict[str, torch.Tensor]:
        return {"reduced": self.distribution()}

    def _compute_distribution(self) -> torch.Tensor:
        size = len(self.sub.symbols)
        parts = [(self._pieces(g), g.logw) for g in self.groups]
        parts += [(self.sub.first_piece[e.top[0]], e.top[1] + e.logw) for e in self.closed]
        pieces, logw = torch.cat([p for p, _ in parts]), torch.cat([w for _, w in parts])
        peak = logw.max()
        masses = torch.zeros(size, dtype=torch.float64).scatter_add_(0, pieces, (logw - peak).exp())
        self._bound(peak.item() + math.log(masses.sum().item()))
        return masses.log() - masses.sum().log()

    def _bound(self, log_kept_mass: float) -> None:
        """Set :attr:`tv_bound`, a bound on the total variation between this distribution and exact
        mode's (docs/methods.md §4, "How far from exact"). The exact one is the push-forward of the
        law of the token paths the symbols so far allow, this one of that law conditioned on the set
        A the cover keeps, so their distance is at most 1 - P(A) = L / (K + L) with K the mass kept and
        L the exact mass left out. L is at most what was ever left out, each weighed when left out
        (the paths that go on from a path weigh no more than it): :attr:`log_dropped`, and the
        children outside the top K of the closed entries now."""
        outside = [self.log_dropped]
        for e in self.closed:
            if len(e.top[0]) < len(self.sub.nested):
                # against the sum of its log-probs, not 1: float32 softmaxes sum to 1 +- 2e-5, as much as a tail
                full, top = self._logprobs(e.state).logsumexp(0).item(), e.top[1].logsumexp(0).item()
                outside.append(e.logw + full + math.log(-math.expm1(top - full)) if top < full else -math.inf)
        left = torch.tensor(outside, dtype=torch.float64).logsumexp(0).item()
        self.tv_bound = 0.0 if left == -math.inf else 1 / (1 + math.exp(log_kept_mass - left))
        self.max_tv_bound = max(self.max_tv_bound, self.tv_bound)

    def _drop(self, weights: list[float]) -> None:
        """Add masses (log weights in the cover's current units) to :attr:`log_dropped`."""
        if weights:
            self.log_dropped = torch.tensor([self.log_dropped, *weights], dtype=torch.float64).logsumexp(0).item()

    def _outside_top(self, symbol: int) -> list[float]:
        """Per closed entry, the log weight of its children that ``symbol`` continues and that its top K
        (with :meth:`_beyond`'s when ``keep_closing``) leaves out of the cover."""
        out = []
        for e in self.closed:
            if len(e.top[0]) >= len(self.sub.nested):
                continue
            logprobs = self._logprobs(e.state)  # a tokenizer may have ids past the model's rows (Gemma 3)
            left = self.sub.first_piece[: len(logprobs)] == symbol
            left[e.top[0]] = False
            if self.keep_closing:
                beyond = self._beyond(e, symbol)
                left[beyond[beyond < len(logprobs)]] = False
            if left.any():
                out.append(e.logw + logprobs[left].logsumexp(0).item())
        return out

    def advance(self, symbol: int) -> float:
        """Emit ``symbol``; returns its log-probability under the reduced model (after any recovery)."""
        log_p = self.ready(symbol)[symbol].item()
        self._distribution = None
        groups, to_close = self._match(self.closed, self.groups, symbol, self.keep_closing)
        if symbol == self.sub.eos_symbol:
            self.ended = True
            return log_p
        open_mass = [g.logw.logsumexp(0).item() for g in groups]
        before = math.fsum(math.exp(w) for w in [*open_mass, *[c[0] for c in to_close]])
        kept = self._prune(groups, to_close)
        kept_ids = {id(c) for c in kept}
        self._drop(self._outside_top(symbol) + [c[0] for c in to_close if id(c) not in kept_ids])
        aside = self._dropped(symbol, to_close, kept)  # reads the closed entries before they are replaced
        closing = max((c[0] for c in kept), default=-math.inf)
        states = self._extend([(s, t) for _, s, _, t in kept], groups, closing)
        self.closed = [self._closed(w, s, t) for (w, _, t, _), s in zip(kept, states, strict=True)]
        self.groups = groups
        held = len({id(e.state) for e in self.closed} | {id(g.state) for g in groups})
        if held > MAX_STATES:
            raise CoverLimit(
                f"the cover holds {held:,} model states, past the limit of {MAX_STATES:,}: with nothing pruned it "
                "grows exponentially here; keep K next tokens per entry (leave exact mode) or ask for fewer bytes"
            )
        total = math.log(math.fsum(math.exp(w) for w in [*open_mass, *[e.logw for e in self.closed]]))
        self.log_kept += total - math.log(before)
        self._normalize(total)
        self._set_aside(symbol, aside, bool(kept), total)
        return log_p

    def _match(
        self, closed: list[Closed], groups: list[OpenGroup], symbol: int, keep_closing: bool
    ) -> tuple[list[OpenGroup], list[tuple[float, object, tuple[int, ...], int]]]:
        """The entries that go on after ``symbol``: open groups (weights not renormalized), and the
        entries it closes as (weight, parent state, tokens, last token), each to run a forward pass."""
        out: list[OpenGroup] = []
        to_close: list[tuple[float, object, tuple[int, ...], int]] = []

        def split(logw, state, tokens, ids, emitted, pending=None):
            lengths = self.sub.lengths[ids] if pending is None else (pending >= 0).sum(dim=1)
            done = lengths == emitted
            to_close.extend(
                (w, state, (*tokens, u), u) for w, u in zip(logw[done].tolist(), ids[done].tolist(), strict=True)
            )
            if not done.all():
                rest = None if pending is None else pending[~done]
                out.append(OpenGroup(logw[~done], state, tokens, ids[~done], emitted, rest))

        for g in groups:
            match = self._pieces(g) == symbol
            if match.any():
                pending = None if g.pending is None else g.pending[match]
                split(g.logw[match], g.state, g.tokens, g.ids[match], g.emitted + 1, pending)
        for e in closed:
            ids, logprobs = self._children(e, symbol, keep_closing)
            if len(ids):
                split(logprobs + e.logw, e.state, e.tokens, ids, 1)
        return out, to_close

    def _normalize(self, total: float) -> None:
        """Divide every cover weight by exp(``total``)."""
        for e in self.closed:
            e.logw -= total
        for g in self.groups:
            g.logw = g.logw - total
        self.log_dropped -= total

    def _mass(self) -> float:
        """log of the cover's total weight."""
        masses = [e.logw for e in self.closed] + [g.logw.logsumexp(0).item() for g in self.groups]
        return torch.tensor(masses, dtype=torch.float64).logsumexp(0).item() if masses else -math.inf

    def _extend(self, requests: list[tuple[object, int]], groups: list[OpenGroup], closing: float) -> list[object]:
        """The states after ``requests`` (state, token), by one batch of forward passes. Open entries
        heavier than every closing one (``closing``: the heaviest closing weight) are usually the
        next to close, so the :data:`LOOKAHEAD` heaviest run ahead in that batch, where a row costs
        far less than a pass of its own; a request run ahead this way needs no pass when it comes."""
        ahead, self._ahead = self._ahead, {}
        misses = [(state, token) for state, token in requests if (id(state), token) not in ahead]
        if misses:
            asked = {(id(state), token) for state, token in misses} | set(ahead)
            heaviest = sorted(((g.logw.max().item(), g) for g in groups), key=lambda wg: -wg[0])
            for weight, g in heaviest[:LOOKAHEAD]:
                token = int(g.ids[g.logw.argmax()])
                if weight >= closing and (id(g.state), token) not in asked:
                    misses.append((g.state, token))
        states = self.model.extend(misses) if misses else []
        self.forward_passes += len(misses)
        self.batches += bool(misses)
        ahead.update({(id(state), token): (state, new) for (state, token), new in zip(misses, states, strict=True)})
        out = [ahead.pop((id(state), token))[1] for state, token in requests]
        live = {id(g.state) for g in groups}  # a key's state is held by its value, so its id stays its own
        self._ahead = {key: value for key, value in ahead.items() if key[0] in live}
        return out

    def condition(self, tail: bytes) -> None:
        """Condition the cover on ``tail``, the end of the prompt after its last boundary that no
        later text can move (docs/methods.md §4, "The prompt's end"). The cover becomes every token
        path from the single closed entry whose bytes begin with ``tail``: paths that end exactly at
        its end are closed; a path whose last token runs past it is open, with tau_S of the bytes
        past the end as its pending pieces. Paths that end inside the tail are extended (a forward
        pass each), offset by offset: all paths ending at one offset face the same rest of the tail,
        so only they are pruned against each other and the cover spelling the tail so far
        (:meth:`_heal_prune`); a path is never judged by its weight before the rest of the tail, which
        it may spell far likelier than its rivals (" ca" given " caf"). When the model runs token
        trees (:meth:`HFTokenModel.tree`) and the paths ending inside the tail are at most
        :data:`TREE_NODES`, they all run in one forward pass instead, and nothing is pruned."""
        if not tail:
            return
        # the prompt's entry: only its weight, state and tokens are read here, so its top K is not taken
        (root,) = [Closed(0.0, *self._root, top=None)] if self._entries is None else self._entries
        pending = getattr(root.state, "pending", False)  # the prompt runs in the tree's pass
        tree = getattr(self.model, "tree", None)  # a TokenModel may not run trees (tests' table models)
        nodes = self._tail_tree(tail) if tree is not None else None
        states = None
        if nodes is not None:
            check_time()
            states = tree(root.state, [(parent, u) for parent, u, _ in nodes]) if nodes else []
        if states is None:
            closed, groups = self._condition_by_offset(root, tail)
        else:
            closed, groups = self._condition_at_once(root, tail, nodes, states)
            self.batches -= pending and bool(nodes)  # the tree's pass was the prompt's, counted already
        masses = [g.logw.logsumexp(0).item() for g in groups] + [e.logw for e in closed]
        if not masses or max(masses) == -math.inf:
            raise VocabLabError("no token path of this model spells the end of the prompt")
        total = torch.tensor(masses, dtype=torch.float64).logsumexp(0).item()
        for e in closed:
            e.logw -= total
        for g in groups:
            g.logw = g.logw - total
        self.log_dropped -= total
        self.closed, self.groups, self._distribution = closed, groups, None

    def _tail_tree(self, tail: bytes) -> list[tuple[int, int, int]] | None:
        """Every token path from the root whose bytes are a prefix of ``tail``, as a tree: per node (its
        parent's index, -1 for the root; its last token; the offset it ends at), parents first. None
        when there are more than :data:`TREE_NODES`."""
        nodes: list[tuple[int, int, int]] = []
        frontier = [(-1, 0)]
        for parent, offset in frontier:  # grows while it is read: breadth first
            if offset == len(tail):
                continue
            for u in self.sub.tokens_along(tail[offset:])[0]:
                nodes.append((parent, u, offset + len(self.sub.token_bytes[u])))
                frontier.append((len(nodes) - 1, nodes[-1][2]))
                if len(nodes) > TREE_NODES:
                    return None
        return nodes

    def _condition_at_once(
        self, root: Closed, tail: bytes, nodes: list[tuple[int, int, int]], states: list[object]
    ) -> tuple[list[Closed], list[OpenGroup]]:
        """:meth:`condition`'s cover from the states after every node of :meth:`_tail_tree`, run in
        one forward pass: the nodes that end at the tail's end are closed; each other node, and the
        root, starts an open group of the tokens that run past the end."""
        self.forward_passes += len(nodes)
        self.batches += bool(nodes)
        paths = [(root.logw, root.state, root.tokens, 0)]  # per node: weight, state, tokens, end offset
        for (parent, u, end), state in zip(nodes, states, strict=True):
            w, parent_state, tokens, _ = paths[parent + 1]
            paths.append((w + self._logprobs(parent_state)[u].item(), state, (*tokens, u), end))
        closed, groups = [], []
        for w, state, tokens, end in paths:
            if w == -math.inf:
                continue
            if end == len(tail):
                closed.append(self._closed(w, state, tokens, at_prompt_end=True))
                continue
            _, ids, pending = self.sub.tokens_along(tail[end:])
            if len(ids):
                groups.append(OpenGroup(self._logprobs(state)[ids] + w, state, tokens, ids, 0, pending))
        return closed, groups

    def _condition_by_offset(self, root: Closed, tail: bytes) -> tuple[list[Closed], list[OpenGroup]]:
        """:meth:`condition`'s cover built offset by offset: a batch of forward passes per offset."""
        entries, closed, groups = [root], [], []
        arriving: dict[int, list] = {}  # offset -> paths ending there: (weight, parent state, tokens, token)
        for offset in range(len(tail) + 1):
            if offset:
                requests = self._heal_prune(arriving.pop(offset, []), arriving, groups)
                states = self.model.extend([(s, u) for _, s, _, u in requests]) if requests else []
                self.forward_passes += len(requests)
                self.batches += bool(requests)
                end = offset == len(tail)
                entries = [
                    self._closed(w, s, t, at_prompt_end=end) for (w, _, t, _), s in zip(requests, states, strict=True)
                ]
            if offset == len(tail):
                closed = entries
                break
            for entry in entries:
                logprobs = self._logprobs(entry.state)
                within, ids, pending = self.sub.tokens_along(tail[offset:])
                if len(ids):
                    groups.append(OpenGroup(logprobs[ids] + entry.logw, entry.state, entry.tokens, ids, 0, pending))
                for u in within:
                    w = entry.logw + logprobs[u].item()
                    if w > -math.inf:
                        end = offset + len(self.sub.token_bytes[u])
                        arriving.setdefault(end, []).append((w, entry.state, (*entry.tokens, u), u))
            held = sum(map(len, arriving.values())) + len({id(g.state) for g in groups})
            if held > MAX_STATES and self.heal_beam is None:
                raise CoverLimit(
                    f"conditioning on the prompt's last {len(tail)} bytes needs more than {MAX_STATES:,} model states "
                    "in exact mode: keep K next tokens per entry (leave exact mode), or end the prompt elsewhere"
                )
        return closed, groups

    def _heal_prune(self, requests: list, arriving: dict[int, list], groups: list[OpenGroup]) -> list:
        """The paths ending at one offset of the prompt's tail kept for a forward pass: those within
        ``heal_min_weight`` of the heaviest path that spells the tail up to there (these, the paths
        ending later in the tail, ``arriving``, and those running past it, ``groups``), at most
        ``heal_beam`` of them. What is dropped is charged to :attr:`log_kept`, as in :meth:`advance`."""
        if not requests or (self.heal_beam is None and self.log_heal_min_weight == -math.inf):
            return requests
        later = [r[0] for rs in arriving.values() for r in rs] + [g.logw.max().item() for g in groups]
        heaviest = max([r[0] for r in requests] + later)
        kept = sorted((r for r in requests if r[0] >= heaviest + self.log_heal_min_weight), key=lambda r: -r[0])
        kept = kept[: self.heal_beam] if self.heal_beam is not None else kept
        if not kept and not later:  # nothing else spells the tail: the heaviest path goes on
            kept = [max(requests, key=lambda r: r[0])]
        kept_ids = {id(r) for r in kept}
        self._drop([r[0] for r in requests if id(r) not in kept_ids])
        if len(kept) < len(requests):
            others = [r[0] for rs in arriving.values() for r in rs] + [g.logw.logsumexp(0).item() for g in groups]
            before = torch.tensor([r[0] for r in requests] + others, dtype=torch.float64).logsumexp(0).item()
            after = torch.tensor([r[0] for r in kept] + others, dtype=torch.float64).logsumexp(0).item()
            self.log_kept += after - before
        return kept

    def _children(self, e: Closed, symbol: int, keep_closing: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The tokens a closed entry is extended with when ``symbol`` is emitted, with log-probs."""
        ids, logprobs = e.top
        chosen = self.sub.first_piece[ids] == symbol
        ids, logprobs = ids[chosen], logprobs[chosen]
        if keep_closing:
            extra = self._beyond(e, symbol)
            ids, logprobs = torch.cat([ids, extra]), torch.cat([logprobs, self._logprobs(e.state)[extra]])
        return ids, logprobs

    def _beyond(self, e: Closed, symbol: int) -> torch.Tensor:
        """The tokens outside ``e``'s top K whose whole nesting is ``symbol``: they close at once."""
        extra = torch.tensor(self.sub.by_nested.get((symbol,), ()), dtype=torch.long)
        return extra[~torch.isin(extra, e.top[0])] if len(e.top[0]) < len(self.sub.nested) else extra[:0]

    def _prune(self, groups: list[OpenGroup], to_close: list) -> list:
        """Drop entries about to close (each costs a forward pass) that are lighter than
        ``min_weight`` times the heaviest entry, then keep the ``beam`` heaviest of them. Open
        entries cost nothing and are never dropped. Both are off in exact mode. What is dropped is
        set aside without a forward pass (:meth:`_set_aside`), for :meth:`_recover`."""
        if not to_close:
            return to_close
        heaviest = max([g.logw.max().item() for g in groups] + [c[0] for c in to_close])
        kept = sorted((c for c in to_close if c[0] >= heaviest + self.log_min_weight), key=lambda c: -c[0])
        if self.beam is not None:
            kept = kept[: self.beam]
        return kept

    def _dropped(self, symbol: int, to_close: list, kept: list) -> list:
        """The closing entries pruning dropped; when it kept none, also the children of the closed
        entries outside their top K that ``symbol`` closes at once (kept apart, they cost nothing)."""
        kept_ids = {id(c) for c in kept}
        dropped = [c for c in to_close if id(c) not in kept_ids]
        if not kept and not self.keep_closing:
            for e in self.closed:
                extra = self._beyond(e, symbol)
                weights = (self._logprobs(e.state)[extra] + e.logw).tolist()
                dropped += [(w, e.state, (*e.tokens, u), u) for w, u in zip(weights, extra.tolist(), strict=True)]
        return [c for c in dropped if c[0] > -math.inf]

    def _set_aside(self, symbol: int, dropped: list, kept_any: bool, total: float) -> None:
        """Keep the :data:`RESERVE` heaviest entries set aside at the last step that closed any, with
        the symbols emitted since. A cover with a closed entry can emit any symbol by widening it
        (:meth:`_widen`); one with only open entries needs these, so they are kept until a step
        closes an entry again."""
        if dropped or kept_any:
            pool, self._since = dropped, []
        else:
            pool = self._aside
            self._since.append(symbol)
        self._aside = [(w - total, *rest) for w, *rest in sorted(pool, key=lambda c: -c[0])[:RESERVE]]

    def _recover(self, symbol: int) -> None:
        """Give ``symbol`` mass when the pruned cover gives it none: widen the closed entries past
        their top K (no forward pass), else bring back the entries pruning set aside, heaviest first,
        until one can emit it. Restored mass is added back to :attr:`log_kept`."""
        self._widen(symbol)
        while self.distribution()[symbol].item() == -math.inf and self._aside:
            self._restore(self._aside.pop(0))
            self._widen(symbol)
        if self.distribution()[symbol].item() == -math.inf:
            raise VocabLabError(
                f"no token path of this model that the cover holds or set aside can emit {self.sub.symbols[symbol]} "
                "here; use exact mode"
            )

    def _widen(self, symbol: int) -> None:
        """Add to each closed entry's top K its other children whose first piece is ``symbol``."""
        for e in self.closed:
            if len(e.top[0]) == len(self.sub.nested):
                continue
            logprobs = self._logprobs(e.state)
            extra = (self.sub.first_piece == symbol).nonzero().flatten()
            extra = extra[~torch.isin(extra, e.top[0]) & (logprobs[extra] > -math.inf)]
            if len(extra):
                e.top = (torch.cat([e.top[0], extra]), torch.cat([e.top[1], logprobs[extra]]))
                self._distribution = None

    def _restore(self, entry: tuple[float, object, tuple[int, ...], int]) -> None:
        """Bring back a set-aside closing entry with its descendants along the symbols emitted since
        it was set aside (pruned as the cover is, keeping at least one closed entry each step so the
        next symbol can be reached), and renormalize."""
        w, state, tokens, token = entry
        closed, groups = [self._closed(w, self._run([(state, token)])[0], tokens)], []
        for symbol in self._since:
            groups, to_close = self._match(closed, groups, symbol, keep_closing=True)
            kept = self._prune(groups, to_close) or sorted(to_close, key=lambda c: -c[0])[:1]
            states = self._run([(s, t) for _, s, _, t in kept])
            closed = [self._closed(w, s, t) for (w, _, t, _), s in zip(kept, states, strict=True)]
        before = self._mass()
        self.closed += closed
        self.groups += groups
        total = self._mass()
        self.log_kept += total - before
        self._normalize(total)
        self._distribution = None

    def _run(self, requests: list[tuple[object, int]]) -> list[object]:
        """Forward passes outside the cover's own batches (recovery)."""
        if not requests:
            return []
        self.forward_passes += len(requests)
        self.batches += 1
        return self.model.extend(requests)
