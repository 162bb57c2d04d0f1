"""What the model resolver may open for whoever it serves: a policy the application passes in.

:func:`vocablab.sources.resolve` asks :func:`current` rather than knowing about web sessions. The
default, :class:`Reach` as built, is everything this machine's user can reach (a script). The
package installs the app's policy (``vocablab.outputs.app_reach``: each visitor's ``output:NAME``
handles, public mode on a Space) with :func:`install`; a test or an embedding program may install
its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def _nothing_named(spec: str) -> Path | None:
    return None


def _no_runs() -> list[Path]:
    return []


@dataclass(frozen=True)
class Reach:
    """One policy. ``public``: the caller serves untrusted visitors, so no path on this machine, no
    token of its owner and no repository code; ``named``: the folder a name of the application's
    own stands for (None when ``spec`` is no such name; it raises when the name is bad);
    ``names_hint``: how a visitor writes such a name; ``runs``: earlier runs a search may look in
    (the embedding cost's transplant)."""

    public: bool = False
    named: Callable[[str], Path | None] = field(default=_nothing_named)
    names_hint: str = ""
    runs: Callable[[], list[Path]] = field(default=_no_runs)


_provider: Callable[[], Reach] = Reach


def current() -> Reach:
    """The policy in force now (built per call: the installed one may read the environment)."""
    return _provider()


def install(provider: Callable[[], Reach]) -> None:
    global _provider
    _provider = provider


@contextmanager
def using(provider: Callable[[], Reach]) -> Iterator[None]:
    """``provider`` in force within the block, the previous one after it."""
    before = _provider
    install(provider)
    try:
        yield
    finally:
        install(before)
