"""Where the app keeps what its users make, and what a visitor may reach.

Every visitor gets their own folder under the workspace (``VOCABLAB_WORKDIR``, default
``vocablab-runs`` in the system's temporary folder). A visitor is recognised across page reloads by a
random key the server gives their browser, which keeps it (``localStorage``) and shows it on each page
load (:func:`welcome`); the folder is named by a digest of the key, so only who holds the key reaches
it, and the key is never derived from anything another visitor could know. A page load links its
session (whose id changes on every reload) to that folder, on disk, so that a worker process finds it
too. A request from a session never linked (an API client) has a folder of its own session. A run in
a visitor's folder is named to them by a handle, ``output:NAME``, which any model picker takes; the server's
paths are never shown. Two limits, both settable, keep the disk bounded; the oldest runs go first:

- ``VOCABLAB_RUNS_MAX_GB`` (default 20): all sessions' runs together;
- ``VOCABLAB_RUNS_MAX_HOURS`` (default 24): a run's age.

**Public mode** is on when ``VOCABLAB_PUBLIC=1``, or when ``SPACE_ID`` is set (a Hugging Face
Space) and ``VOCABLAB_PUBLIC`` is not ``0``. Then model pickers take presets, hub ids and the
visitor's own handles, never a path on the server; the hub is reached without any token
(``token=False``) and through a hub cache of its own (``sources.tokenless_cache``), so a visitor
cannot use the Space owner's access.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from vocablab.errors import VocabLabError
from vocablab.reach import Reach

LOG = logging.getLogger(__name__)

HANDLE = "output:"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
KEY = re.compile(r"^[A-Za-z0-9_-]{32,128}$")  # a visitor's key: at least 32 random url-safe characters
FOLDER = re.compile(r"^[0-9a-f]{24}$")
LINKS = ".visitors"  # under the workspace: one small file per linked session, naming its visitor's folder
_SESSION: ContextVar[Path | None] = ContextVar("vocablab_session_folder", default=None)
_SWEEPING = threading.Lock()  # the hourly sweep and the ones before a run do not overlap


def public_mode() -> bool:
    flag = os.environ.get("VOCABLAB_PUBLIC", "").strip().lower()
    if flag in ("1", "true", "yes"):
        return True
    return bool(os.environ.get("SPACE_ID")) and flag not in ("0", "false", "no")


def root() -> Path:
    """The workspace: every session's folder lives under ``sessions/`` in it."""
    path = Path(os.environ.get("VOCABLAB_WORKDIR") or Path(tempfile.gettempdir()) / "vocablab-runs")
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_bytes() -> int:
    return int(float(os.environ.get("VOCABLAB_RUNS_MAX_GB", "20")) * 1e9)


def max_age_seconds() -> float:
    return float(os.environ.get("VOCABLAB_RUNS_MAX_HOURS", "24")) * 3600


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def visitor_folder(key: str) -> Path:
    """The folder of the visitor who holds ``key`` (a digest of it, in a namespace of its own: no
    session id and no other key names the same folder)."""
    return root() / "sessions" / _digest("visitor\0" + key)


def _link(session_hash: str) -> Path:
    return root() / LINKS / _digest(session_hash)


def session_folder(session_hash: str) -> Path:
    """The folder of one browser session: its visitor's folder once a page load linked them
    (:func:`welcome`), else a folder of its own (named by a digest, so the session id is not on disk)."""
    try:
        name = _link(session_hash).read_text().strip()
    except OSError:
        name = ""
    return root() / "sessions" / (name if FOLDER.match(name) else _digest(session_hash))


def welcome(session_hash: str, key: str | None) -> str:
    """On a page load: the visitor's key (a new one when the browser has none, or one that is not a
    key this server gives), and the session linked to that visitor's folder. A session is linked
    once: a later call cannot move it to another folder."""
    if not isinstance(key, str) or not KEY.match(key):
        key = secrets.token_urlsafe(32)  # 256 random bits: not guessable
    folder = visitor_folder(key)
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)  # a visitor seen now: their folder is not an abandoned one
    link = _link(session_hash)
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(link, "x") as file:  # "x": created here, or left as it was
            file.write(folder.name)
    except FileExistsError:
        pass
    return key


def own_runs(now: float | None = None) -> list[Path]:
    """The current visitor's outputs that have not expired, newest first (empty outside a visitor's request)."""
    folder = _SESSION.get()
    if folder is None or not folder.is_dir():
        return []
    now = time.time() if now is None else now
    found = [p for p in folder.iterdir() if p.is_dir() and NAME.match(p.name) and kept_until(p) > now]
    return sorted(found, key=_mtime, reverse=True)


@contextmanager
def serving(session_hash: str | None) -> Iterator[None]:
    """While the app serves one visitor's request: their folder is the workspace, and handles
    resolve in it (and only in it)."""
    token = _SESSION.set(session_folder(session_hash) if session_hash else None)
    try:
        yield
    finally:
        _SESSION.reset(token)


def workspace() -> Path:
    """Where new runs go: the visitor's own folder while the app serves them, else the workspace."""
    path = _SESSION.get() or root()
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_handle(spec: str) -> bool:
    return spec.startswith(HANDLE)


def handle(path: str | Path) -> str:
    return HANDLE + Path(path).name


def shown(path: str | Path) -> str:
    """How a folder is named to a visitor: a handle for runs in the workspace, else its path."""
    return handle(path) if Path(path).resolve().is_relative_to(root().resolve()) else str(path)


def find_output(spec: str) -> Path:
    """The folder an ``output:NAME`` handle names, in the current visitor's own folder."""
    if not is_handle(spec):
        raise VocabLabError(f"{spec!r}: name a model you made in this app as {HANDLE}NAME")
    name = spec[len(HANDLE) :].strip()
    folder = _SESSION.get()
    if folder is None:
        raise VocabLabError(f"{spec!r}: output handles name models made in this session of the web app")
    path = folder / name
    if not NAME.match(name) or not path.is_dir():
        raise VocabLabError(f"{spec!r}: no such output in this session (it may have expired)")
    return path


def app_reach() -> Reach:
    """The app's policy for the model resolver (:mod:`vocablab.reach`): ``output:NAME`` names the
    current visitor's own runs, public mode hides the server, and a search for earlier runs looks in
    :func:`reachable`."""
    return Reach(public=public_mode(), named=_named_output, names_hint=f"{HANDLE}NAME", runs=reachable)


def _named_output(spec: str) -> Path | None:
    return find_output(spec) if is_handle(spec) else None


def reachable() -> list[Path]:
    """Runs the caller may reach: the visitor's own while the app serves them, else every run in
    the workspace (the CLI, on the server's own machine)."""
    folder = _SESSION.get()
    found = list(folder.glob("*")) if folder else [*root().glob("*"), *(root() / "sessions").glob("*/*")]
    return [p for p in found if p.is_dir() and p.name != "sessions" and not p.name.startswith(".")]


def runs() -> list[Path]:
    """Every session's finished runs and archives, oldest first."""
    found = [p for p in (root() / "sessions").glob("*/*") if not p.name.startswith(".")]
    return sorted(found, key=_mtime)


def size_of(path: Path) -> int:
    """Bytes in a file or a folder; what vanishes meanwhile counts as nothing."""
    return sum(_stat(f).st_size for f in _files(path))


def _files(path: Path) -> list[Path]:
    """A file, or the files under a folder (``os.walk`` skips folders that vanish meanwhile)."""
    if not path.is_dir():
        return [path]
    return [Path(folder) / name for folder, _, names in os.walk(path) for name in names]


def sweep(now: float | None = None, reserve: int = 0, keep: Path | None = None) -> list[Path]:
    """Delete runs (but ``keep``) past the age limit, then the oldest until all of them and
    ``reserve`` more bytes fit the size limit, and partial outputs nothing has written to for an
    hour (a crash's leftovers). Returns what went."""
    with _SWEEPING:
        now = time.time() if now is None else now
        partial = (root() / "sessions").glob("*/.*")
        removed = [p for p in partial if now - max(map(_mtime, [p, *_files(p)])) > 3600]
        kept = []
        for run in runs():
            if run != keep and now - _mtime(run) > max_age_seconds():
                removed.append(run)
            else:
                kept.append((run, size_of(run)))
        total = sum(size for _, size in kept) + reserve
        for run, size in kept:  # oldest first
            if total <= max_bytes():
                break
            if run != keep:
                removed.append(run)
                total -= size
        # a session's link outlives the longest a run is kept: a page open that long still finds its runs
        removed += [p for p in (root() / LINKS).glob("*") if now - _mtime(p) > 2 * max_age_seconds()]
        for path in removed:
            _remove(path)
    if removed:
        LOG.info("removed %d expired, over-limit or abandoned runs", len(removed))
    return removed


def make_room(needed: int, keep: Path | None = None) -> None:
    """Before a run that writes about ``needed`` bytes: free room under the size limit (oldest runs
    first, but never ``keep``), or refuse with a message when it cannot fit under the limit or on
    the disk."""
    if needed > max_bytes():
        raise VocabLabError(
            f"this run would write about {needed / 1e9:.1f} GB, more than this server keeps "
            f"({max_bytes() / 1e9:.1f} GB in all); run it on your own machine with the CLI"
        )
    sweep(reserve=needed, keep=keep)
    free = shutil.disk_usage(root()).free
    if free < needed * 1.1:
        raise VocabLabError(
            f"the server's disk is full ({free / 1e9:.1f} GB free, about {needed / 1e9:.1f} GB needed); "
            "try again later, or run it on your own machine with the CLI"
        )


def kept_until(path: Path) -> float:
    """When the run at ``path`` is deleted, at the latest (seconds since the epoch)."""
    return _mtime(path) + max_age_seconds()


def _stat(path: Path) -> os.stat_result:
    """A file's size and times; one that is gone reads as empty and as old as can be."""
    try:
        return path.stat()
    except FileNotFoundError:
        return os.stat_result((0,) * 10)


def _mtime(path: Path) -> float:
    return _stat(path).st_mtime


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
