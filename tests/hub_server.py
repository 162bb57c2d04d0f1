"""A real Hugging Face hub server on 127.0.0.1 for the tests: ``olah`` (a self-hosted hub mirror,
PyPI ``olah``) serving local git repositories as hub model repositories, offline. The real
``huggingface_hub`` client reaches it through ``HF_ENDPOINT``.

olah cannot gate a repository, so a small gate stands in front of it: it answers a gated
repository's file downloads the way the hub answers a user without access (status 403 with the
error code ``GatedRepo`` in ``X-Error-Code``, which ``huggingface_hub`` turns into
``GatedRepoError``) unless they carry the one token that has access, and passes every other request
through to olah unchanged."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .app_server import answers_200, free_port, stop_group

GIT_ENV = {
    "GIT_AUTHOR_NAME": "vocablab tests",
    "GIT_AUTHOR_EMAIL": "tests@vocablab.invalid",
    "GIT_COMMITTER_NAME": "vocablab tests",
    "GIT_COMMITTER_EMAIL": "tests@vocablab.invalid",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def hub_repo(mirrors: Path, repo_id: str, *commits: dict[str, Path | bytes]) -> list[str]:
    """A model repository ``repo_id`` whose commits on ``main`` each write the given files (a source
    path or bytes, by name in the repository); returns the commit hashes, oldest first."""
    repo = mirrors / "models" / repo_id
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    hashes = []
    for n, files in enumerate(commits):
        for name, content in files.items():
            target = repo / name
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_bytes(content)
        git(repo, "-c", "core.compression=0", "add", "-A")
        git(repo, "commit", "-q", "-m", f"version {n + 1}")
        hashes.append(git(repo, "rev-parse", "HEAD"))
    return hashes


HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "date", "server"}


def gate_handler(upstream: str, gated: tuple[str, ...], access: str | None) -> type[BaseHTTPRequestHandler]:
    """Requests for files of a repository in ``gated`` are refused as the hub refuses them, unless
    they carry the token ``access``; the rest go to ``upstream`` and come back as they are (one
    connection per request)."""
    host = urlsplit(upstream).netloc

    class Gate(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            repo = next((r for r in gated if self.path.startswith(f"/{r}/resolve/")), None)
            if repo is not None and self.headers.get("Authorization") != f"Bearer {access}":
                self.send_response(403)
                self.send_header("X-Error-Code", "GatedRepo")
                self.send_header("X-Error-Message", f"Access to model {repo} is restricted. You must have access.")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            connection = http.client.HTTPConnection(host, timeout=300)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, headers=headers)
            response = connection.getresponse()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                while chunk := response.read(1 << 20):
                    self.wfile.write(chunk)
            connection.close()

        do_HEAD = do_GET

        def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
            pass

    return Gate


@contextmanager
def serve_hub(
    mirrors: Path,
    work: Path,
    probe_repo: str,
    gated: tuple[str, ...] = (),
    access: str | None = None,
    timeout: float = 60,
) -> Iterator[str]:
    """Start olah offline on a free local port over ``mirrors``, behind a gate for the repositories
    in ``gated`` that only the token ``access`` opens; yield the gate's URL once ``probe_repo``
    answers; stop both on the way out. olah's output is in ``work/olah.log``, its logs in
    ``work/olah-logs``."""
    port = free_port()
    config = work / "olah.toml"
    config.write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nrepos-path = "{work / "olah-repos"}"\n'
        f'mirrors-path = ["{mirrors}"]\n\n[accessibility]\noffline = true\n'
    )
    log = open(work / "olah.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "olah.server", "-c", str(config), "--log-path", str(work / "olah-logs")],
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not answers_200(f"{url}/api/models/{probe_repo}/revision/main"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"olah did not start on {url}:\n{(work / 'olah.log').read_text()[-3000:]}")
            time.sleep(0.1)
        gate = ThreadingHTTPServer(("127.0.0.1", 0), gate_handler(url, gated, access))
        threading.Thread(target=gate.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{gate.server_port}"
        finally:
            gate.shutdown()
            gate.server_close()
    finally:
        stop_group(server)
        log.close()
