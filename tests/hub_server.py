"""A real Hugging Face hub server on 127.0.0.1 for the tests: ``olah`` (a self-hosted hub mirror,
PyPI ``olah``) serving local git repositories as hub model repositories, offline. The real
``huggingface_hub`` client reaches it through ``HF_ENDPOINT``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vocablab.ui.serve import answers_200, free_port, stop_group

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


@contextmanager
def serve_hub(mirrors: Path, work: Path, probe_repo: str, timeout: float = 60) -> Iterator[str]:
    """Start olah offline on a free local port over ``mirrors``; yield its URL once ``probe_repo``
    answers; stop it on the way out. Its log is ``work/olah.log``."""
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
        yield url
    finally:
        stop_group(server)
        log.close()
