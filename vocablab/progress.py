"""Progress of long work, reported through tqdm.

On a terminal the CLI draws the bars on stderr; when output is piped they stay silent; in the app,
``gr.Progress(track_tqdm=True)`` shows the same bars in the browser. Library code never takes a
progress callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

from vocablab.errors import VocabLabError

LOG = logging.getLogger(__name__)
_STOP: ContextVar[Callable[[], bool] | None] = ContextVar("vocablab_stop", default=None)


class Stopped(VocabLabError):
    """Long work stopped from outside, between two of its steps (in the web app: its visitor left)."""


@contextmanager
def stop_when(check: Callable[[], bool] | None) -> Iterator[None]:
    """Within it, long work stops (raises :class:`Stopped`) at its next step once ``check()`` is true."""
    token = _STOP.set(check)
    try:
        yield
    finally:
        _STOP.reset(token)


def check_stop() -> None:
    """Called by long work between its steps (a generation's symbols, OMP's blocks of targets)."""
    check = _STOP.get()
    if check is not None and check():
        raise Stopped("stopped: the page that asked for this run was closed, or its Stop button pressed")


def bar(total: int, desc: str, unit: str = "step") -> tqdm:
    """A bar of ``total`` steps; ``note`` names the step under way."""
    return tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, dynamic_ncols=True)


def note(steps: tqdm, message: str) -> None:
    """Say what the current step does: in the log, and beside the bar on a terminal."""
    LOG.info("%s", message)
    if not steps.disable:
        steps.set_postfix_str(message, refresh=True)


def track(items, desc: str, unit: str = "step"):
    """Iterate over ``items`` with a bar."""
    return tqdm(items, desc=desc, unit=unit, disable=None, leave=False, dynamic_ncols=True)
