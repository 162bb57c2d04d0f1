"""What a visitor of the app may reach, and how the disk stays bounded: per-session folders, output
handles, the age and size limits, public mode, and the memory-bounded model cache."""

from __future__ import annotations

import os
import threading
import time

import pytest
from safetensors import safe_open

from vocablab import outputs
from vocablab.errors import VocabLabError
from vocablab.sources import resolve
from vocablab.ui.common import ModelCache, hide_paths, model_bytes

from .conftest import tiny_llama

MB = 1_000_000


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOCABLAB_WORKDIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def make_run(session: str, name: str, size: int, age_hours: float, now: float):
    """A finished run of ``size`` bytes, last written ``age_hours`` before ``now``."""
    folder = outputs.session_folder(session) / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * size)
    stamp = now - age_hours * 3600
    for path in (folder / "model.safetensors", folder):
        os.utime(path, (stamp, stamp))
    return folder


def test_sweep_removes_expired_runs_then_the_oldest_over_the_size_limit(workdir, monkeypatch):
    monkeypatch.setenv("VOCABLAB_RUNS_MAX_GB", str(8 * MB / 1e9))
    monkeypatch.setenv("VOCABLAB_RUNS_MAX_HOURS", "24")
    now = time.time()
    expired = make_run("alice", "expired", 1 * MB, 30, now)
    oldest = make_run("bob", "oldest", 5 * MB, 10, now)
    middle = make_run("alice", "middle", 2 * MB, 5, now)
    newest = make_run("carol", "newest", 4 * MB, 1, now)
    # by hand: the expired run goes; 11 MB remain over 8, so the oldest (5 MB) goes and 6 MB stay
    assert set(outputs.sweep(now)) == {expired, oldest}
    assert middle.is_dir() and newest.is_dir() and not oldest.exists() and not expired.exists()
    assert outputs.sweep(now) == []


def test_sweep_removes_partial_outputs_only_when_abandoned(workdir):
    now = time.time()
    fresh = outputs.session_folder("a") / ".run.partial-1"
    stale = outputs.session_folder("a") / ".run.partial-2"
    busy = outputs.session_folder("a") / ".run.partial-3"  # an old folder, one file still being written
    for folder, age in ((fresh, 60), (stale, 7200), (busy, 7200)):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"\0" * 10)
        os.utime(folder / "model.safetensors", (now - age, now - age))
        os.utime(folder, (now - age, now - age))
    os.utime(busy / "model.safetensors", (now - 5, now - 5))
    archive = outputs.session_folder("a") / ".run.zip.partial"
    archive.write_bytes(b"PK")
    os.utime(archive, (now - 7200, now - 7200))
    assert set(outputs.sweep(now)) == {stale, archive}
    assert fresh.is_dir() and busy.is_dir()


def test_sweep_keeps_the_run_being_used_even_when_expired(workdir, monkeypatch):
    monkeypatch.setenv("VOCABLAB_RUNS_MAX_HOURS", "1")
    now = time.time()
    used = make_run("a", "used", MB, 2, now)
    other = make_run("a", "other", MB, 2, now)
    assert outputs.sweep(now, keep=used) == [other] and used.is_dir()


def test_make_room_frees_the_oldest_or_refuses(workdir, monkeypatch):
    monkeypatch.setenv("VOCABLAB_RUNS_MAX_GB", str(10 * MB / 1e9))
    now = time.time()
    first = make_run("a", "first", 4 * MB, 3, now)
    second = make_run("b", "second", 4 * MB, 2, now)
    outputs.make_room(5 * MB, keep=first)  # 8 + 5 > 10, but the oldest is kept: the next goes
    assert first.is_dir() and not second.exists()
    second = make_run("b", "second", 4 * MB, 2, now)
    outputs.make_room(5 * MB)  # 8 + 5 > 10: the oldest goes
    assert not first.exists() and second.is_dir()
    with pytest.raises(VocabLabError, match="more than this server keeps"):
        outputs.make_room(11 * MB)
    assert second.is_dir()  # a run that can never fit deletes nothing


def test_handles_reach_only_the_visitors_own_runs(workdir):
    now = time.time()
    mine = make_run("me", "gemma-with-smollm2", MB, 0, now)
    make_run("someone-else", "theirs", MB, 0, now)
    with pytest.raises(VocabLabError, match="made in this session"):
        outputs.find_output("output:gemma-with-smollm2")  # outside a request: no session
    with outputs.serving("me"):
        assert outputs.find_output("output:gemma-with-smollm2") == mine
        assert outputs.workspace() == mine.parent
        assert outputs.reachable() == [mine]
        for spec in ("output:theirs", "output:../someone-else", "output:", "/etc/passwd"):
            with pytest.raises(VocabLabError):
                outputs.find_output(spec)
    assert outputs.workspace() == workdir


@pytest.mark.real  # preset tokenizers or models
def test_public_mode_refuses_server_paths(workdir, monkeypatch, tmp_path):
    model = tiny_llama("gpt2", tmp_path / "local-model", tied=True)
    assert resolve(str(model), need="model").kind == "local"  # a local app opens it
    monkeypatch.setenv("SPACE_ID", "someone/vocablab")  # on a Space, public unless VOCABLAB_PUBLIC=0
    assert outputs.public_mode()
    for spec in (str(model), "/etc/passwd", "../secret.gguf", "~/.cache/huggingface/token"):
        with pytest.raises(VocabLabError, match="not paths on its server"):
            resolve(spec)
    assert resolve("gpt2").kind == "preset"
    run = make_run("visitor", "mine", 10, 0, time.time())
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (run / name).write_bytes((model / name).read_bytes())
    with outputs.serving("visitor"):
        assert resolve("output:mine").path == run
    monkeypatch.setenv("VOCABLAB_PUBLIC", "0")  # the owner of a private Space can turn it off
    assert not outputs.public_mode()


def test_public_messages_hide_server_paths(monkeypatch):
    message = "could not write /tmp/vocablab-runs/sessions/ab12/run: disk full; see org/name or https://hf.co/a/b"
    assert hide_paths(message) == message  # a local app shows the paths its user typed
    monkeypatch.setenv("VOCABLAB_PUBLIC", "1")
    assert hide_paths(message) == "could not write …: disk full; see org/name or https://hf.co/a/b"


@pytest.mark.real  # preset tokenizers or models
def test_model_bytes_match_the_safetensors_payload(tmp_path):
    from transformers import AutoModelForCausalLM

    for tied in (True, False):
        folder = tiny_llama("gpt2", tmp_path / f"tied-{tied}", tied=tied)
        with safe_open(folder / "model.safetensors", "pt") as f:
            payload = sum(f.get_tensor(k).numel() * 4 for k in f.keys())  # float32, tied rows stored once
        model = AutoModelForCausalLM.from_pretrained(folder)
        buffers = sum(b.numel() * b.element_size() for b in model.buffers())  # rotary tables, not saved
        assert model_bytes(model) == payload + buffers


@pytest.mark.real  # preset tokenizers or models
def test_model_cache_is_bounded_by_memory_least_recently_used_first(tmp_path):
    folders = {name: str(tiny_llama("gpt2", tmp_path / name, tied=True, seed=n)) for n, name in enumerate("abc")}
    cache = ModelCache(budget=10**12)
    size = model_bytes(cache.get(folders["a"]))
    cache.budget = int(2.5 * size)  # room for two of the three
    first_a = cache.get(folders["a"])
    cache.get(folders["b"])
    assert cache.get(folders["a"]) is first_a  # kept, not reloaded
    cache.get(folders["c"])  # b is now the least recently used
    assert [key[0] for key in cache.keys()] == [folders["a"], folders["c"]]
    assert cache.used() <= cache.budget
    cache.budget = size // 2  # smaller than any model: the one asked for still loads, alone
    cache.get(folders["b"])
    assert [key[0] for key in cache.keys()] == [folders["b"]]


@pytest.mark.real  # preset tokenizers or models
def test_model_cache_loads_a_model_once_for_simultaneous_visitors(tmp_path):
    folder = str(tiny_llama("gpt2", tmp_path / "m", tied=True))
    cache = ModelCache(budget=10**12)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(folder))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(model is got[0] for model in got)


@pytest.mark.real  # preset tokenizers or models
def test_model_cache_asks_where_a_model_is_only_until_it_is_loaded(tmp_path, monkeypatch):
    import vocablab.ui.common as common

    folder = str(tiny_llama("gpt2", tmp_path / "m", tied=True))
    asked = []
    monkeypatch.setattr(common, "resolve", lambda spec, **kw: asked.append(spec) or resolve(spec, **kw))
    cache = ModelCache(budget=10**12)
    first = cache.get(folder)
    assert cache.get(folder) is first and asked == [folder]  # for a hub id, no second hub request


def test_archive_keeps_the_full_name_and_leaves_nothing_when_the_disk_fills(workdir):
    import resource
    import signal
    import zipfile

    from vocablab.surgery.report import write_archive

    session = outputs.session_folder("a")
    model = session / "Qwen_Qwen2.5-0.5B-with-gpt2-omp"  # dots: the archive must not cut the name there
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(os.urandom(2 * MB))
    archive = write_archive(model)
    assert archive == session / "Qwen_Qwen2.5-0.5B-with-gpt2-omp.zip"
    with zipfile.ZipFile(archive) as opened:
        assert opened.read(f"{model.name}/model.safetensors") == (model / "model.safetensors").read_bytes()
    archive.unlink()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (MB, hard))  # a write past 1 MB fails as on a full disk
    try:
        with pytest.raises(VocabLabError, match="the disk is full"):
            write_archive(model)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert sorted(p.name for p in session.iterdir()) == [model.name]  # no archive, no partial file


def test_a_deleted_run_is_named_not_crashed_on(workdir, monkeypatch):
    from vocablab.ui.transplant_tab import run_folder

    monkeypatch.setenv("VOCABLAB_RUNS_MAX_HOURS", "6")
    with outputs.serving("a"):
        gone = outputs.workspace() / "base-with-donor-omp"
    with pytest.raises(VocabLabError, match="output:base-with-donor-omp is no longer on this server .*kept 6 hours"):
        run_folder(str(gone))
    with pytest.raises(VocabLabError, match="run a transplant first"):
        run_folder("")
