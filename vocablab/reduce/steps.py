"""The decoding loop shared by reduced and ensembled generation."""

from __future__ import annotations

import time

import torch

from vocablab.options import Decoding
from vocablab.progress import check_stop
from vocablab.reduce.ensemble import Ensemble
from vocablab.reduce.lvr import CoverLimit, ReducedModel
from vocablab.reduce.model import ContextLimit
from vocablab.reduce.sampling import _TIME_LIMIT, pick, top_candidates
from vocablab.reduce.subvocab import Symbol


def run_steps(
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
