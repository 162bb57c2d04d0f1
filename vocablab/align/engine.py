"""Align two models' next-token distributions over one text (docs/methods.md §6).

    result = align_text("gemma3-270m", "smollm2-135m", "The cat sat on the mat.", top_k=20)
    result.positions[3].uld, result.positions[3].flows[0]

Each model reads the text after its own start token; positions are paired by byte offset or by index
(``positions.py``). At every pair: the ULD value over the full vocabularies, ULD's rank-to-rank plan
over the top-k ranks, and a Sinkhorn plan between the two top-k distributions (each renormalized to
sum 1) under a token cost (``transport.py``), with its exact (EMD) cost beside it. Where Sinkhorn does not
converge at the asked regularization, that position shows the exact optimal plan instead and says so
(``solver``), and the run goes on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from vocablab.align.mapping import TokenMapping
from vocablab.align.positions import PositionPair, align_positions
from vocablab.align.transport import embedding_costs, token_costs, transport_plan
from vocablab.align.uld import uld_loss, uld_rank_plan
from vocablab.errors import VocabLabError
from vocablab.options import MAX_ALIGN_BYTES, AlignSettings
from vocablab.progress import bar, check_stop, note
from vocablab.sources import Source, causal_lms, load_vocabulary, resolve
from vocablab.vocab import Vocabulary

LOG = logging.getLogger(__name__)

CHUNK = 32  # positions whose full distributions are expanded at once
N_FLOWS = 5


@dataclass
class TokenMass:
    id: int
    token: str
    prob: float


@dataclass
class Flow:
    source: str  # a token of A
    target: str  # a token of B
    mass: float
    cost: float


@dataclass
class PositionReport:
    """Everything measured at one pair of positions; ``alignment`` says how they were paired."""

    alignment: str
    index_a: int
    index_b: int
    byte_a: int
    byte_b: int
    next_a: str  # the token that actually comes next in A's tokenization of the text
    next_b: str
    uld: float  # over the full vocabularies, at the result's temperature
    top_a: list[TokenMass]
    top_b: list[TokenMass]
    rank_cost: list[float]  # |p_(r) - q_(r)| for the top-k ranks (top_a[r] -> top_b[r]), mass 1/n each
    n_padded: int
    cost: list[list[float]]  # top_a x top_b token costs
    plan: list[list[float]]  # Sinkhorn plan between the renormalized top-k distributions
    transport_cost: float  # sum(plan * cost)
    exact_cost: float  # the exact optimal transport cost between the same two top-k histograms
    flows: list[Flow]
    solver: str = "sinkhorn"  # "exact": Sinkhorn did not converge here, and the plan is the exact optimal one

    @property
    def predicted_a(self) -> str:
        return self.top_a[0].token

    @property
    def predicted_b(self) -> str:
        return self.top_b[0].token


@dataclass
class AlignResult:
    a: str
    b: str
    text: str
    alignment: str
    cost_kind: str
    temperature: float
    top_k: int
    reg: float
    transplant: str | None
    positions: list[PositionReport] = field(default_factory=list)

    @property
    def mean_uld(self) -> float:
        return float(np.mean([p.uld for p in self.positions])) if self.positions else 0.0

    @property
    def fallbacks(self) -> list[int]:
        """Numbers of the positions whose plan is the exact one (Sinkhorn did not converge there)."""
        return [n for n, p in enumerate(self.positions) if p.solver == "exact"]

    def fallback_note(self) -> str | None:
        """One sentence on the positions that fell back to the exact plan, or None."""
        if not self.fallbacks:
            return None
        n = len(self.fallbacks)
        where = ", ".join(f"#{i}" for i in self.fallbacks)
        return (
            f"Sinkhorn did not converge at regularization {self.reg:g} at {n} position{'s' * (n != 1)} ({where}): "
            f"{'their plans are' if n != 1 else 'its plan is'} the exact optimal plan, the limit as the "
            "regularization shrinks"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "mean_uld": self.mean_uld, "fallbacks": self.fallbacks}

    def lines(self, position: int | None = None) -> list[str]:
        """The settings and mean ULD, then a row per paired position, or one ``position`` in full."""
        how = "same byte offset" if self.alignment == "bytes" else "same token index"
        head = [
            f"A {self.a} vs B {self.b}: {len(self.positions)} positions paired by {how} "
            f"(alignment: {self.alignment}); temperature {self.temperature:g}",
            f"mean ULD ({self.alignment} alignment): {self.mean_uld:.4f}",
            *([f"note: {self.fallback_note()}"] if self.fallbacks else []),
            f"Sinkhorn plan between the top-{self.top_k} of each, cost {self.cost_kind}, reg {self.reg:g}"
            + (f" (mapping: {self.transplant})" if self.transplant else ""),
        ]
        return head + (self._table_lines() if position is None else self._position_lines(position))

    def _table_lines(self) -> list[str]:
        out = [
            f"{'#':>4} {'byte':>5} {'pos A/B':>8}  {'A predicts':14} {'B predicts':14} {'ULD':>6} {'OT cost':>7}"
            "  largest flow (mass, cost)"
        ]
        for n, p in enumerate(self.positions):
            flow = p.flows[0]
            out.append(
                f"{n:>4} {p.byte_a:>5} {f'{p.index_a}/{p.index_b}':>8}  {p.predicted_a:14} {p.predicted_b:14} "
                f"{p.uld:6.3f} {p.transport_cost:7.3f}  {flow.source} -> {flow.target} ({flow.mass:.3f}, "
                f"{flow.cost:.2f})"
            )
        return out

    def _position_lines(self, n: int) -> list[str]:
        p = self.positions[n]
        read = self.text.encode("utf-8")[: p.byte_a].decode("utf-8", errors="replace")
        out = [
            f"position {n}: A at token {p.index_a} (byte {p.byte_a}), B at token {p.index_b} "
            f"(byte {p.byte_b}); text so far ends {read[-40:]!r}",
            f"ULD {p.uld:.4f} over {p.n_padded:,} padded classes; transport cost {p.transport_cost:.4f} "
            f"(exact optimum {p.exact_cost:.4f})",
            f"{'rank':>4}  {'A token':16} {'p':>7}  {'B token':16} {'q':>7}  |p-q|",
        ]
        for r, (ta, tb, c) in enumerate(zip(p.top_a, p.top_b, p.rank_cost, strict=True)):
            out.append(f"{r:>4}  {ta.token:16} {ta.prob:7.4f}  {tb.token:16} {tb.prob:7.4f}  {c:.4f}")
        out.append("largest flows of the Sinkhorn plan:")
        out.extend(
            f"   {flow.source:16} -> {flow.target:16} mass {flow.mass:.4f}  cost {flow.cost:.3f}" for flow in p.flows
        )
        return out


def check_encodes(vocab: Vocabulary, text: str) -> list[int]:
    """``vocab``'s ids for ``text``, or a clear error when they do not spell the text back exactly
    (unknown characters, a normalizer that rewrites them): byte offsets would not line up."""
    ids = vocab.encode(text)
    if vocab.text_bytes(ids) != text.encode("utf-8"):
        got = vocab.text_bytes(ids).decode("utf-8", errors="replace")
        raise VocabLabError(
            f"{vocab.name}'s tokenizer cannot encode this text exactly (it reads it back as {got[:60]!r}); "
            f"both models must encode the text byte for byte to compare their predictions"
        )
    return ids


def byte_ends(vocab: Vocabulary, text_ids: list[int]) -> list[int]:
    """Bytes read after the start token and after each text token."""
    return [0] + [end for _, end in vocab.byte_spans(text_ids)]


def check_text(text: str) -> None:
    """What can be refused of the text before any tokenizer or model is loaded."""
    if not text:
        raise VocabLabError("the text is empty: type some text to align the two models on")
    if len(text.encode("utf-8")) > MAX_ALIGN_BYTES:
        raise VocabLabError(f"the text has {len(text.encode('utf-8')):,} bytes; align takes up to {MAX_ALIGN_BYTES:,}")


def check_top_k(top_k: int, vocab_a: Vocabulary, vocab_b: Vocabulary) -> None:
    for vocab in (vocab_a, vocab_b):
        if top_k > len(vocab):
            raise VocabLabError(f"top-k {top_k:,} is larger than {vocab.name}'s vocabulary ({len(vocab):,} tokens)")


@torch.no_grad()
def next_token_logits(model, ids: list[int], positions: list[int]) -> torch.Tensor:
    """(len(positions), V) logits, in float32 on the CPU, computing the head only where needed."""
    context = getattr(model.config.get_text_config(decoder=True), "max_position_embeddings", None)
    if context and len(ids) > context:
        raise VocabLabError(
            f"the text is {len(ids):,} tokens for {model.config.name_or_path}, past its context of "
            f"{context:,}: shorten it"
        )
    device = next(model.parameters()).device
    keep = torch.tensor(positions, dtype=torch.long, device=device)
    out = model(torch.tensor([ids], device=device), logits_to_keep=keep)
    return out.logits[0].float().cpu()


def align_text(
    a: str | Source,
    b: str | Source,
    text: str,
    settings: AlignSettings | None = None,
    *,
    transplant: str | None = None,
    models: tuple | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> AlignResult:
    """Pair the positions of ``text`` as read by models A and B and compare what they predict next.

    ``settings``: top-k, cost, alignment, temperature and regularization (default: ``AlignSettings()``);
    ``models``: the two already-loaded causal LMs (the app keeps them); ``transplant``: a transplant
    folder between A and B for the embedding cost (default: the newest one in the workspace).

    >>> result = align_text("gemma3-270m", "smollm2-135m", "Paris is the capital of France.", AlignSettings(top_k=5))
    >>> len(result.positions), result.alignment, round(result.mean_uld, 2)
    (7, 'bytes', 0.68)
    """
    settings = settings or AlignSettings()
    check_text(text)
    if transplant and settings.cost != "embedding":
        raise VocabLabError(
            f"a transplant is read only by the embedding cost, not by {settings.cost!r}: leave it out, or use that cost"
        )
    src_a, src_b = (resolve(s, need="model", trust_remote_code=trust_remote_code) for s in (a, b))
    vocab_a, vocab_b = (load_vocabulary(s, trust_remote_code=trust_remote_code) for s in (src_a, src_b))
    check_top_k(settings.top_k, vocab_a, vocab_b)
    text_a, text_b = check_encodes(vocab_a, text), check_encodes(vocab_b, text)
    mapping = None
    if settings.cost == "embedding":
        mapping = TokenMapping.for_models(src_a, src_b, vocab_a, vocab_b, transplant)
    pairs = align_positions(byte_ends(vocab_a, text_a), byte_ends(vocab_b, text_b), settings.alignment)
    if not pairs:
        raise VocabLabError("the two models share no position in this text; try a longer text or index alignment")
    steps = bar(3, "align")
    ids = ([vocab_a.start_id] + text_a, [vocab_b.start_id] + text_b)
    if models is None:
        note(steps, "loading the models")
    models = causal_lms([src_a, src_b], models, device=device, trust_remote_code=trust_remote_code)
    steps.update()
    note(steps, f"reading the text with both models ({len(pairs)} paired positions)")
    logits_a = next_token_logits(models[0], ids[0], [p.index_a for p in pairs])
    check_stop()
    logits_b = next_token_logits(models[1], ids[1], [p.index_b for p in pairs])
    result = AlignResult(
        a=src_a.spec,
        b=src_b.spec,
        text=text,
        alignment=settings.alignment,
        cost_kind=settings.cost,
        temperature=settings.temperature,
        top_k=settings.top_k,
        reg=settings.reg,
        transplant=str(mapping.folder) if mapping else None,
    )
    steps.update()
    note(steps, "ULD and transport plans")
    _compare(result, pairs, (logits_a, logits_b), ids, (vocab_a, vocab_b), mapping)
    steps.update()
    steps.close()
    return result


def _compare(result: AlignResult, pairs: list[PositionPair], logits, ids, vocabs, mapping) -> None:
    """Fill ``result.positions`` from the two models' logits at the paired positions."""
    (logits_a, logits_b), temperature = logits, result.temperature
    for start in range(0, len(pairs), CHUNK):  # a chunk at a time: 262k-wide rows add up
        chunk = slice(start, start + CHUNK)
        uld = uld_loss(logits_a[chunk], logits_b[chunk], temperature, reduction="none")
        probs_a = torch.softmax(logits_a[chunk] / temperature, dim=-1)
        probs_b = torch.softmax(logits_b[chunk] / temperature, dim=-1)
        for i, pair in enumerate(pairs[chunk]):
            check_stop()  # a position can take a second or two (Sinkhorn's 20,000 iterations): Stop is heard between
            report = _position(result, pair, probs_a[i], probs_b[i], float(uld[i]), ids, vocabs, mapping)
            result.positions.append(report)


def _position(result: AlignResult, pair: PositionPair, p, q, uld: float, ids, vocabs, mapping) -> PositionReport:
    (ids_a, ids_b), (vocab_a, vocab_b), k = ids, vocabs, result.top_k
    rank = uld_rank_plan(p, q, k)  # its ranks are the two top-k lists
    top_a = [TokenMass(i, vocab_a.label(i), prob) for i, prob in zip(rank.ids_p, rank.p, strict=True)]
    top_b = [TokenMass(i, vocab_b.label(i), prob) for i, prob in zip(rank.ids_q, rank.q, strict=True)]
    matrix = _cost_matrix(result.cost_kind, top_a, top_b, vocab_a, vocab_b, mapping)
    mass_a = np.array([t.prob for t in top_a]) / sum(t.prob for t in top_a)
    mass_b = np.array([t.prob for t in top_b]) / sum(t.prob for t in top_b)
    transport = transport_plan(mass_a, mass_b, matrix, result.reg)
    if transport.solver != "sinkhorn":
        LOG.info("position %d of %s: Sinkhorn did not converge; the exact plan", pair.index_a, vocab_a.name)
    plan = transport.plan
    order = np.argsort(plan, axis=None)[::-1][:N_FLOWS]
    flows = [
        Flow(top_a[r].token, top_b[c].token, float(plan[r, c]), float(matrix[r, c]))
        for r, c in zip(*np.unravel_index(order, plan.shape), strict=True)
    ]
    return PositionReport(
        alignment=result.alignment,
        index_a=pair.index_a,
        index_b=pair.index_b,
        byte_a=pair.byte_a,
        byte_b=pair.byte_b,
        next_a=vocab_a.label(ids_a[pair.index_a + 1]),
        next_b=vocab_b.label(ids_b[pair.index_b + 1]),
        uld=uld,
        top_a=top_a,
        top_b=top_b,
        rank_cost=rank.cost,
        n_padded=rank.n,
        cost=matrix.tolist(),
        plan=plan.tolist(),
        transport_cost=float((plan * matrix).sum()),
        exact_cost=float((transport.exact * matrix).sum()),
        flows=flows,
        solver=transport.solver,
    )


def _cost_matrix(cost, top_a, top_b, vocab_a, vocab_b, mapping) -> np.ndarray:
    ids_a, ids_b = [t.id for t in top_a], [t.id for t in top_b]
    if cost == "embedding":
        return embedding_costs(*mapping.vectors(ids_a, ids_b))

    def pieces(vocab, ids):
        return [vocab.pieces[i] if i < len(vocab) else None for i in ids]

    def names(vocab, ids):  # specials match across vocabularies by role (bos, eos, ...), else by name
        roles = {i: role for role, i in vocab.roles.items()}
        return [roles.get(i, vocab.label(i)) for i in ids]

    names_a, names_b = names(vocab_a, ids_a), names(vocab_b, ids_b)
    return token_costs(pieces(vocab_a, ids_a), pieces(vocab_b, ids_b), cost, names_a, names_b)
