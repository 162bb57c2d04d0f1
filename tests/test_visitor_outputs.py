"""A visitor's outputs across page reloads: the key their browser keeps links each new session to
their folder; another visitor (another key, a guessed key, or a session linked first) lists and
reaches none of them; expired outputs are not listed."""

from __future__ import annotations

import os
import time

import pytest

from vocablab import outputs
from vocablab.errors import VocabLabError


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOCABLAB_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.setenv("VOCABLAB_RUNS_MAX_HOURS", "24")
    return tmp_path / "runs"


def make_output(session: str, name: str, age_hours: float = 0.0):
    """A run written while the app serves ``session``, as the transplant view writes one."""
    with outputs.serving(session):
        folder = outputs.workspace() / name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\0" * 1000)
    stamp = time.time() - age_hours * 3600
    os.utime(folder, (stamp, stamp))
    return folder


def listed(session: str) -> list[str]:
    with outputs.serving(session):
        return [run.name for run in outputs.own_runs()]


def reaches(session: str, name: str) -> bool:
    with outputs.serving(session):
        try:
            outputs.find_output(outputs.HANDLE + name)
        except VocabLabError:
            return False
        return True


def test_a_reloaded_page_lists_and_reaches_the_visitors_outputs(workdir):
    key = outputs.welcome("page-load-1", None)  # a first visit: the browser has no key yet
    made = make_output("page-load-1", "gemma-with-smollm")
    assert outputs.welcome("page-load-2", key) == key  # the reload: a new session, the kept key
    assert listed("page-load-2") == ["gemma-with-smollm"]
    assert reaches("page-load-2", "gemma-with-smollm")
    with outputs.serving("page-load-2"):
        assert outputs.find_output("output:gemma-with-smollm") == made


def test_another_visitor_lists_and_reaches_none_of_them(workdir):
    key_a = outputs.welcome("a-1", None)
    make_output("a-1", "a-model")
    key_b = outputs.welcome("b-1", None)
    assert key_b != key_a and len(key_a) >= 43  # 32 random bytes, url-safe
    assert listed("b-1") == [] and not reaches("b-1", "a-model")
    # a key of the right form that is not A's, a malformed one, or none: a folder of its own, never A's
    guessed = key_a[:-1] + ("A" if key_a[-1] != "A" else "B")
    for i, key in enumerate([guessed, "x" * 31, "../" + key_a, None, 12345]):
        given = outputs.welcome(f"c-{i}", key)
        assert given != key_a
        assert listed(f"c-{i}") == [] and not reaches(f"c-{i}", "a-model")
    # a session that never loaded the page (an API client) has its own folder
    assert listed("api-client") == [] and not reaches("api-client", "a-model")


def test_a_session_is_linked_once(workdir):
    key_a = outputs.welcome("a-1", None)
    make_output("a-1", "a-model")
    outputs.welcome("a-1", outputs.welcome("b-1", None))  # B's key shown later for A's session
    assert listed("a-1") == ["a-model"]
    assert outputs.welcome("a-2", key_a) == key_a and listed("a-2") == ["a-model"]


def test_expired_outputs_are_not_listed_and_old_links_are_swept(workdir):
    key = outputs.welcome("v-1", None)
    make_output("v-1", "fresh", age_hours=1)
    make_output("v-1", "older", age_hours=5)
    make_output("v-1", "expired", age_hours=25)  # past the 24 hours, before any sweep
    assert listed("v-1") == ["fresh", "older"]  # newest first
    outputs.sweep()
    assert not reaches("v-1", "expired") and reaches("v-1", "older")
    links = list((workdir / outputs.LINKS).iterdir())
    assert len(links) == 1
    stamp = time.time() - 49 * 3600  # a link outlives twice the longest a run is kept, not more
    os.utime(links[0], (stamp, stamp))
    outputs.sweep()
    assert not links[0].exists()
    assert outputs.welcome("v-2", key) == key and listed("v-2") == ["fresh", "older"]


def test_the_list_names_the_folder_only_locally_and_zips_only_the_visitors_own(workdir, monkeypatch):
    import gradio as gr

    from vocablab.ui import outputs_panel

    key = outputs.welcome("a-1", None)
    made = make_output("a-1", "gemma-with-smollm")
    (made / "transplant.json").write_text('{"base": "gemma3-270m", "donor": "smollm2-135m", "method": "omp"}')
    outputs.welcome("a-2", key)
    outputs.welcome("b-1", None)
    monkeypatch.setenv("VOCABLAB_PUBLIC", "0")
    with outputs.serving("a-2"):
        local = outputs_panel.table(outputs.own_runs())
    assert str(made.resolve()) in local and "`output:gemma-with-smollm`" in local
    assert all(f"`{word}`" in local for word in ("gemma3-270m", "smollm2-135m", "omp"))
    monkeypatch.setenv("VOCABLAB_PUBLIC", "1")
    with outputs.serving("a-2"):
        public = outputs_panel.table(outputs.own_runs())
    assert str(workdir) not in public and "`output:gemma-with-smollm`" in public
    zipped = outputs_panel.archive("gemma-with-smollm", gr.Request(session_hash="a-2"))
    assert zipped == str(made.parent / "gemma-with-smollm.zip")
    with pytest.raises(gr.Error, match="no such output"):  # B cannot have A's output zipped by naming it
        outputs_panel.archive("gemma-with-smollm", gr.Request(session_hash="b-1"))
    assert outputs_panel.listing(gr.Request(session_hash="b-1"))[1] == outputs_panel.NONE_YET
