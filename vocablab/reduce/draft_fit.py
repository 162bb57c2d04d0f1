"""How well a draft fits a target for speculative decoding, measured before anything runs (docs/methods.md §7).

Along a text, at each position, a symbol drafted from the draft's law p_D is accepted by the target
with probability alpha = sum_x min(p_T(x), p_D(x)), over the symbols of their shared space (the
draft's law restricted to them), from the exact reduced distributions. With the mean alpha a and
the cost c of one draft step relative to one target step, a round of gamma drafted symbols yields
(1 - a^(gamma+1)) / (1 - a) symbols per target call on average, and the speed-up is that divided by
gamma c + 1 (Leviathan et al. 2023). A draft with the target's own tokenizer is scored over its tokens.

fit = draft_fit("gemma3-270m", ["smollm2-135m"], "The capital of France is Paris.")
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass

import torch

from vocablab.errors import VocabLabError
from vocablab.options import DRAFT_FIT_BYTES, DRAFT_FIT_GAMMAS
from vocablab.reduce.ensemble import shared_space
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.score import BEAM, MIN_WEIGHT, _text_target
from vocablab.reduce.speculate import Speculator, acceptance, check_pair, reducible_vocabularies
from vocablab.sources import causal_lm

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
TIMED_STEPS = 8  # single-token steps timed per model on the own-token route


def expected_symbols(alpha: float, gamma: int) -> float:
    """Symbols one target call yields with ``gamma`` drafted symbols each accepted with ``alpha``."""
    return gamma + 1.0 if alpha >= 1 else (1 - alpha ** (gamma + 1)) / (1 - alpha)


def speed_up(alpha: float, gamma: int, cost: float) -> float:
    """Expected speed-up over the target alone; ``cost``: a draft step over a target step."""
    return expected_symbols(alpha, gamma) / (gamma * cost + 1)


def alpha_needed(cost: float, gammas=DRAFT_FIT_GAMMAS) -> float | None:
    """The least mean alpha at which some gamma speeds up (None: none can, the draft costs too much)."""
    best = None
    for gamma in gammas:
        if speed_up(1.0, gamma, cost) <= 1:
            continue
        low, high = 0.0, 1.0
        for _ in range(50):  # speed_up rises with alpha
            mid = (low + high) / 2
            low, high = (mid, high) if speed_up(mid, gamma, cost) <= 1 else (low, mid)
        best = high if best is None else min(best, high)
    return best


@dataclass
class DraftFitness:
    draft: str
    route: str  # "mcv", "bytes", or "own tokens" (the draft shares the target's tokenizer)
    positions: int
    alphas: list[float]
    alpha_mean: float
    alpha_quantiles: dict[str, float]
    bytes_per_symbol: float
    draft_step_ms: float
    target_step_ms: float
    cost_ratio: float
    expected_symbols: dict[int, float]  # per gamma: symbols per target call
    speed_up: dict[int, float]  # per gamma
    best_gamma: int
    alpha_needed: float | None  # the least mean alpha that would give a speed-up at this cost ratio


@dataclass
class DraftFit:
    target: str
    text_bytes: int
    drafts: list[DraftFitness]

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """A table: a row per draft, a column per gamma with its speed-up (and symbols per target call)."""
        gammas = list(self.drafts[0].speed_up)
        out = [
            f"drafts for {self.target} along {self.text_bytes:,} bytes; speed-up per gamma (symbols per target call)",
            f"{'draft':16} {'route':10} {'alpha':>5} {'q10/q50/q90':>15} {'B/sym':>5} {'draft ms':>8} "
            f"{'target ms':>9} {'c':>5}  " + " ".join(f"{f'g={g}':>11}" for g in gammas) + f"  {'alpha needed':>12}",
        ]
        for row in self.drafts:
            q = row.alpha_quantiles
            cells = " ".join(f"{f'{row.speed_up[g]:.2f}({row.expected_symbols[g]:.1f})':>11}" for g in gammas)
            needed = "none" if row.alpha_needed is None else f"{row.alpha_needed:.2f}"
            spread = "/".join(f"{q[name]:.2f}" for name in ("q10", "q50", "q90"))
            out.append(
                f"{row.draft:16} {row.route:10} {row.alpha_mean:5.2f} {spread:>15} "
                f"{row.bytes_per_symbol:5.2f} {row.draft_step_ms:8.1f} {row.target_step_ms:9.1f} "
                f"{row.cost_ratio:5.2f}  {cells}  {needed:>12}"
            )
        return out


def _fitness(draft: str, route: str, alphas: list[float], n_bytes: int, draft_s: float, target_s: float):
    if not alphas:
        raise VocabLabError("the text is empty; give a text to score the draft along")
    mean = math.fsum(alphas) / len(alphas)
    cost = draft_s / target_s
    ups = {g: round(speed_up(mean, g, cost), 4) for g in DRAFT_FIT_GAMMAS}
    cuts = statistics.quantiles(alphas, n=20, method="inclusive") if len(alphas) > 1 else alphas * 19
    quantiles = {f"q{round(q * 100)}": round(cuts[round(q * 20) - 1], 4) for q in QUANTILES}
    return DraftFitness(
        draft=draft,
        route=route,
        positions=len(alphas),
        alphas=[round(a, 4) for a in alphas],
        alpha_mean=round(mean, 4),
        alpha_quantiles=quantiles,
        bytes_per_symbol=round(n_bytes / len(alphas), 4),
        draft_step_ms=round(draft_s * 1000, 2),
        target_step_ms=round(target_s * 1000, 2),
        cost_ratio=round(cost, 4),
        expected_symbols={g: round(expected_symbols(mean, g), 4) for g in DRAFT_FIT_GAMMAS},
        speed_up=ups,
        best_gamma=max(ups, key=ups.get),
        alpha_needed=None if (needed := alpha_needed(cost)) is None else round(needed, 4),
    )


def _reduced_route(target_lm, draft_lm, vocabs, space: str, text: str) -> tuple[list[float], float, float]:
    """Alpha along the text's symbols in the shared space, and the mean seconds of one reduced step
    (the distribution and the advance, forward passes included) of the draft and of the target."""
    shared = shared_space(vocabs, space)
    covers = [
        ReducedModel(HFTokenModel(lm), sub, [v.start_id], k=None, beam=BEAM, min_weight=MIN_WEIGHT, keep_closing=n == 1)
        for n, (lm, sub, v) in enumerate(zip((target_lm, draft_lm), shared.subs, vocabs, strict=True))
    ]
    for cover, vocab in zip(covers, vocabs, strict=True):
        if vocab.dummy_prefix:
            cover.condition(b" ")
    spec = Speculator(*covers, shared, 1)
    alphas, seconds = [], [0.0, 0.0]
    for symbol in _text_target(vocabs[0], shared.subs[0], text):
        started = time.perf_counter()
        spec.target.ready(symbol)
        p = spec.target_probs()
        middle = time.perf_counter()
        q = spec.draft_probs(spec.draft)
        drafted = time.perf_counter()
        alphas.append(acceptance(p, q))
        spec.target.advance(symbol)
        advanced = time.perf_counter()
        if not spec.follow(spec.draft, symbol):
            raise VocabLabError(f"{vocabs[1].name} gives this text no probability; it cannot draft it")
        seconds[0] += (middle - started) + (advanced - drafted)
        seconds[1] += (drafted - middle) + (time.perf_counter() - advanced)
    n = max(len(alphas), 1)
    return alphas, seconds[1] / n, seconds[0] / n


@torch.no_grad()
def _own_token_route(target_lm, draft_lm, vocab, text: str) -> tuple[list[float], float, float]:
    """Alpha along the text's own tokens (both models share the tokenizer), and the seconds of one
    single-token step with a KV cache, the median of :data:`TIMED_STEPS`, per model."""
    ids = [vocab.start_id, *vocab.encode(text)]
    laws, steps = [], []
    for lm in (target_lm, draft_lm):
        device = next(lm.parameters()).device
        logits = lm(input_ids=torch.tensor([ids], device=device)).logits[0, :-1].float()
        laws.append(torch.softmax(logits, -1).double().cpu())
        model, times = HFTokenModel(lm), []
        state = model.start(ids[:1])
        for token in ids[1 : TIMED_STEPS + 1]:
            started = time.perf_counter()
            (state,) = model.extend([(state, token)])
            times.append(time.perf_counter() - started)
        steps.append(statistics.median(times) if times else math.nan)
    size = min(len(laws[0][0]), len(laws[1][0]))
    alphas = torch.minimum(laws[0][:, :size], laws[1][:, :size]).sum(-1).tolist()
    return alphas, steps[1], steps[0]


def draft_fit(
    target: str,
    drafts: list[str],
    text: str,
    *,
    space: str = "mcv",
    max_bytes: int = DRAFT_FIT_BYTES,
    target_model=None,
    draft_models: list | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
) -> DraftFit:
    """Score each of ``drafts`` as a draft for ``target`` along the first ``max_bytes`` bytes of
    ``text``: alpha per position, its mean and quantiles, bytes per symbol, the measured cost of a
    draft and a target step, and the expected symbols per target call and speed-up for gamma 1 to 8.

    >>> fit = draft_fit("gemma3-270m", ["smollm2-135m"], "The capital of France is Paris.")
    >>> 0 < fit.drafts[0].alpha_mean <= 1, fit.drafts[0].route
    (True, 'mcv')
    """
    if isinstance(drafts, str) or not drafts:
        raise VocabLabError("give at least one draft model")
    if max_bytes < 1:
        raise VocabLabError("max_bytes (bytes of the text to score along) must be at least 1")
    text = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    if not text:
        raise VocabLabError("the text is empty; give a text to score the draft along")
    for draft in drafts:
        check_pair(target, draft, device, None, trust_remote_code)
    target_vocab, *draft_vocabs = reducible_vocabularies([target, *drafts], trust_remote_code)
    target_lm = causal_lm(target, target_model, device=device, trust_remote_code=trust_remote_code)
    rows, n_bytes = [], len(text.encode("utf-8"))
    given = draft_models if draft_models is not None else [None] * len(drafts)
    if len(given) != len(drafts):
        raise VocabLabError(f"{len(given)} draft models given for {len(drafts)} drafts")
    for draft, vocab, model in zip(drafts, draft_vocabs, given, strict=True):
        draft_lm = causal_lm(draft, model, device=device, trust_remote_code=trust_remote_code)
        if vocab.pieces == target_vocab.pieces:
            alphas, draft_s, target_s = _own_token_route(target_lm, draft_lm, target_vocab, text)
            route = "own tokens"
        else:
            alphas, draft_s, target_s = _reduced_route(target_lm, draft_lm, [target_vocab, vocab], space, text)
            route = space
        rows.append(_fitness(vocab.name, route, alphas, n_bytes, draft_s, target_s))
    return DraftFit(target_vocab.name, n_bytes, rows)
