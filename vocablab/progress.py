"""Progress of long work, reported through tqdm.

On a terminal the CLI draws the bars on stderr; when output is piped they stay silent; in the app,
``gr.Progress(track_tqdm=True)`` shows the same bars in the browser. Library code never takes a
progress callback.
"""

from __future__ import annotations

import logging

from tqdm import tqdm

LOG = logging.getLogger(__name__)


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
