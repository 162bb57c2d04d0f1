"""Run the app (``app.py``) as a real server on a free local port, for the smoke and browser tests
and the start-up and load benchmarks, and reach it as a visitor's ``gradio_client`` does. Only
127.0.0.1 is used."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository, where app.py is


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def visitor(url: str):
    """A ``gradio_client`` client of the app at ``url``, as one visitor (quiet, no analytics)."""
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False)


@contextmanager
def serve_app(
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    command: list[str] | None = None,
    timeout: float = 300,
) -> Iterator[str]:
    """Start the app (``command``, default ``python app.py``) on a free port and yield its URL once
    ``/`` answers HTTP 200; stop it, and everything it started, on the way out. Raises
    ``RuntimeError`` with the end of the log if it exits or does not answer within ``timeout`` s."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    environment = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(env or {}),
    }
    sink = open(log, "w") if log else subprocess.DEVNULL  # a file, not a pipe nobody reads  # noqa: SIM115
    app = subprocess.Popen(
        command or [sys.executable, "app.py"],
        cwd=ROOT,
        env=environment,
        stdout=sink,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: `make app` starts a python of its own
    )
    try:
        deadline = time.monotonic() + timeout
        while not answers_200(url):
            if app.poll() is not None or time.monotonic() > deadline:
                happened = f"exited with status {app.returncode}" if app.poll() is not None else "did not answer"
                tail = log.read_text()[-5000:] if log else ""
                raise RuntimeError(f"the app {happened} on {url} within {timeout:.0f} s\n{tail}")
            time.sleep(0.05)
        yield url
    finally:
        stop_group(app)
        if log:
            sink.close()


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop a process started in its own session, and everything it started: SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
