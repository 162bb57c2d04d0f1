"""The prepared GPU script (benchmarks/gpu_check.py): its file transport is checked on small files,
and its benchmark steps run on the CPU with small sizes, so it cannot rot between GPU loans."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def gpu_check(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "CARRY", tmp_path / "carry")
    monkeypatch.setattr(module, "STAGE", tmp_path / "stage")
    monkeypatch.setattr(module, "CHUNK", 1000)
    return module


def test_files_travel_in_folders_under_the_limit_and_arrive_whole(monkeypatch, tmp_path):
    module = gpu_check(monkeypatch, tmp_path)
    big = tmp_path / "model.gguf"
    big.write_bytes(bytes(range(256)) * 17)  # 4,352 bytes: five pieces of at most 1,000
    files = module.CARRY / "files"
    (files / "wheels").mkdir(parents=True)
    (files / "wheels" / "a.whl").write_bytes(b"w" * 300)
    (files / "text.txt").write_bytes(b"t" * 900)
    module._cut(big, files / "model.gguf")
    module._pack(files)
    folders = sorted(module.CARRY.iterdir())
    for folder in folders:  # each folder is one device call: none may pass the limit
        assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) <= 1000
    for folder in folders:  # one call at a time, as on the device
        others = [f for f in folders if f != folder]
        for other in others:
            other.rename(tmp_path / f"away-{other.name}")
        module.receive()
        for other in others:
            (tmp_path / f"away-{other.name}").rename(other)
    stage = module.STAGE
    joined = b"".join(p.read_bytes() for p in sorted(stage.glob("model.gguf.[0-9][0-9][0-9]")))
    assert hashlib.sha256(joined).digest() == hashlib.sha256(big.read_bytes()).digest()
    assert (stage / "wheels" / "a.whl").read_bytes() == b"w" * 300
    assert (stage / "text.txt").read_bytes() == b"t" * 900


@pytest.mark.slow
def test_every_step_runs_on_the_cpu_with_small_sizes():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "run", "--device", "cpu", "--quick"],
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout[done.stdout.index("## steps") :]
    assert summary.count("| 0 |") == 4, summary
    assert '"failed": 0' in done.stdout
