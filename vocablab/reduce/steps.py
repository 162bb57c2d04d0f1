"""The decoding loop shared by reduced and ensembled generation."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vocablab.options import Decoding
from vocablab.progress import check_stop
from vocablab.reduce.ensemble import Ensemble
from vocablab.reduce.lvr import CoverLimit, ReducedModel
from vocablab.reduce.model import ContextLimit
from vocablab.reduce.sampling import TimeUp, check_time, generation_clock, pick, top_candidates
from vocablab.reduce.subvocab import Symbol


def run_steps(
    stepper: ReducedModel | Ensemble,
    symbols: list[Symbol],
    decoding: Decoding,
    prompt_ends: Sequence[tuple[ReducedModel, bytes]] = (),
) -> tuple[list[int], list[dict], str]:
    """Condition each cover of ``prompt_ends`` on its prompt's end (:meth:`ReducedModel.condition`), then
    pick symbols until EOS, the byte budget, the time limit, the cover's state limit (exact mode) or a
    model's context; returns them, a per-step inspector record, and what ended it ("eos", "budget",
    "time limit", "state limit" or "context limit"). The time limit (:func:`~vocablab.reduce.sampling.time_limit`)
    counts from the conditioning on and is checked before each batch of forward passes: a step it cuts
    is dropped whole (the cover it left half-moved is not used again), what the steps before made is
    kept, and a conditioning it cuts leaves no symbol."""
    with generation_clock():
        try:
            for cover, tail in prompt_ends:
                cover.condition(tail)
        except TimeUp:
            return [], [], "time limit"
        return _steps(stepper, symbols, decoding)


def _steps(
    stepper: ReducedModel | Ensemble, symbols: list[Symbol], decoding: Decoding
) -> tuple[list[int], list[dict], str]:
    generator = torch.Generator().manual_seed(decoding.seed)
    emitted, inspector, produced = [], [], 0
    while not stepper.ended and produced < decoding.max_new_bytes:
        check_stop()
        try:
            check_time()
            views = stepper.views()
            symbol = pick(
                stepper.distribution(),
                greedy=decoding.greedy,
                temperature=decoding.temperature,
                top_p=decoding.top_p,
                generator=generator,
            )
            stepper.advance(symbol)
        except TimeUp:
            return emitted, inspector, "time limit"
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
