"""Heavy work in a Python process of its own, at a lower CPU priority, that a Stop ends at once.

The web app runs a transplant or a UMAP map this way: the operating system then serves the light
views (tokenizers, numbers, searches) first, the work leaves the app's interpreter lock alone, and
Stop terminates the process instead of waiting for the work's next step. The child's progress bars
are mirrored by bars in the caller (which Gradio shows in the page).

    python -m vocablab.isolated   # the child: reads its call from stdin, writes frames to stdout
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from vocablab.errors import VocabLabError
from vocablab.options import HEAVY_NICE, heavy_threads
from vocablab.progress import Stopped, check_stop

LOG = logging.getLogger(__name__)
POLL_S = 0.2  # how often the caller asks whether its run was stopped
GRACE_S = 10  # SIGTERM first (the child's cleanup runs), SIGKILL after this


def run_isolated(fn: Callable, *args, session: str | None = None, **kwargs) -> Any:
    """``fn(*args, **kwargs)`` in a child process (``fn`` importable by its module and name; the
    arguments and result picklable), with the visitor's ``session`` folder as its workspace.
    Returns its result or raises its VocabLabError; when the caller's run is stopped
    (:func:`vocablab.progress.check_stop`) the child is ended and :class:`Stopped` raised."""
    call = pickle.dumps((fn, args, kwargs, session))
    child = subprocess.Popen(
        [sys.executable, "-m", "vocablab.isolated"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=os.environ
    )
    frames: Queue = Queue()
    reader = threading.Thread(target=_read_frames, args=(child.stdout, frames), daemon=True)
    reader.start()
    child.stdin.write(call)
    child.stdin.close()
    bars: dict[int, Any] = {}
    try:
        while True:
            try:
                kind, payload = frames.get(timeout=POLL_S)
            except Empty:
                check_stop()
                continue
            if kind == "progress":
                _mirror(bars, *payload)
            elif kind == "result":
                return payload
            elif kind == "error":
                raise payload
            else:  # "eof": the child ended without an answer
                child.wait()
                status = child.returncode
                raise VocabLabError(f"the worker process for {fn.__name__} ended unexpectedly (status {status})")
    except Stopped:
        end(child)
        LOG.info("%s: stopped, its worker process %d ended", fn.__name__, child.pid)
        raise
    finally:
        for tracked in bars.values():
            tracked.close()
        end(child)


def end(child: subprocess.Popen) -> None:
    """End a child process: SIGTERM (its cleanup runs), then SIGKILL."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def remove_partial(out: str | Path) -> None:
    """Remove what a killed writer of ``out`` left (``vocablab.surgery.checkpoint.write_folder``'s
    hidden temporary folders beside it)."""
    out = Path(out)
    for leftover in out.parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _mirror(bars: dict, key: int, desc: str, n: float, total: float | None, closed: bool) -> None:
    """The caller's copy of one of the child's bars (created in the caller's thread, so Gradio tracks it)."""
    from tqdm import tqdm

    if key not in bars:
        bars[key] = tqdm(total=total, desc=desc, disable=None, leave=False)
    tracked = bars[key]
    tracked.total, tracked.desc = total, desc
    tracked.update(n - tracked.n)
    if closed:
        bars.pop(key).close()


def _read_frames(stream, frames: Queue) -> None:
    while True:
        header = stream.read(4)
        if len(header) < 4:
            frames.put(("eof", None))
            return
        frames.put(pickle.loads(stream.read(struct.unpack(">I", header)[0])))


# --- the child ---------------------------------------------------------------------------------


class _Channel:
    """Frames to the caller: a length, then a pickle; one writer at a time."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb")
        self._lock = threading.Lock()

    def send(self, kind: str, payload) -> None:
        data = pickle.dumps((kind, payload))
        with self._lock:
            self._file.write(struct.pack(">I", len(data)) + data)
            self._file.flush()


def _forwarding_tqdm(channel: _Channel):
    """A tqdm whose state is also sent to the caller (at most a few times a second per bar)."""
    from tqdm import tqdm

    quiet = open(os.devnull, "w")  # noqa: SIM115 - the child's bars are drawn by the caller only

    class Forwarding(tqdm):
        def __init__(self, *args, **kwargs) -> None:
            # a disabled tqdm counts nothing; this one counts, and draws into /dev/null
            super().__init__(*args, **{**kwargs, "disable": False, "file": quiet})

        def _send(self, closed: bool = False) -> None:
            now = time.monotonic()
            if closed or now - getattr(self, "_sent", 0.0) > 0.25:
                self._sent = now
                channel.send("progress", (id(self), self.desc, self.n, self.total, closed))

        def update(self, n=1):
            shown = super().update(n)
            self._send()
            return shown

        def close(self):
            if not getattr(self, "_closed_sent", False) and hasattr(self, "n"):
                self._closed_sent = True
                self._send(closed=True)
            super().close()

    return Forwarding


def _child() -> None:
    os.nice(HEAVY_NICE)  # before torch starts its threads, which inherit it
    channel = _Channel(os.dup(1))
    os.dup2(2, 1)  # anything printed goes to the log, not into the frames
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup (finally blocks) runs on a stop
    fn, args, kwargs, session = pickle.loads(sys.stdin.buffer.read())

    import torch

    from vocablab import outputs, progress

    torch.set_num_threads(heavy_threads())
    progress.tqdm = _forwarding_tqdm(channel)  # the library's bars (vocablab.progress.bar and track)
    try:
        with outputs.serving(session):
            result = fn(*args, **kwargs)
    except VocabLabError as exc:
        channel.send("error", VocabLabError(str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 - the caller logs and shows it
        LOG.exception("worker process: %s failed", getattr(fn, "__name__", fn))
        channel.send("error", RuntimeError(f"{type(exc).__name__}: {str(exc)[:300]}"))
        return
    channel.send("result", result)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s (worker): %(message)s")
    _child()
