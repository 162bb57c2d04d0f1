"""Picking the next symbol from a distribution, the top candidates the step inspector shows, and
the time limit the web app puts on a generation (checked before each batch of forward passes)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from vocablab.errors import VocabLabError
from vocablab.reduce.subvocab import Symbol

_TIME_LIMIT: ContextVar[float | None] = ContextVar("vocablab_generation_time_limit", default=None)
_DEADLINE: ContextVar[float | None] = ContextVar("vocablab_generation_deadline", default=None)  # time.monotonic()


class TimeUp(VocabLabError):
    """The running generation's time limit passed (raised before a forward pass; the decoding loop
    catches it, drops the step it cut and ends "by time limit")."""


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


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Within it, each reduced or ensembled generation stops after ``seconds`` (the web app's guard:
    exact mode can grow without bound); what was generated is kept, and ends "by time limit"."""
    token = _TIME_LIMIT.set(seconds)
    try:
        yield
    finally:
        _TIME_LIMIT.reset(token)


@contextmanager
def generation_clock() -> Iterator[None]:
    """Within it, one generation runs against :func:`time_limit`'s seconds, counted from now; within a
    clock already running (started by the generation's entry point, before its prompt's passes), that one."""
    limit, running = _TIME_LIMIT.get(), _DEADLINE.get()
    token = _DEADLINE.set(running if running is not None or limit is None else time.monotonic() + limit)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_time() -> None:
    """Raise :class:`TimeUp` once the running generation's time is up; called before each batch of forward
    passes, so a step of exact mode (hundreds of passes) cannot overrun the limit by more than one batch."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise TimeUp("the generation's time limit passed")
