"""Job control (issue 34, findings 2 and 5): heavy work runs in a worker process at a lower priority
that Stop ends, and the transplant view's map neither holds the model-run slot nor outlives a Stop.

The checks read the operating system's process table (/proc), not the code's own account of its
workers."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vocablab.errors import VocabLabError
from vocablab.isolated import run_isolated
from vocablab.options import HEAVY_NICE
from vocablab.progress import Stopped, stop_when

WORKER = "vocablab.isolated"


def workers(marker: str) -> list[int]:
    """Live worker processes (``python -m vocablab.isolated``) whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environment = (entry / "environ").read_bytes()
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue  # it ended meanwhile, or is not ours to read
        if WORKER.encode() in command and marker.encode() in environment and "zombie" not in state:
            found.append(int(entry.name))
    return found


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.2)


def test_a_worker_answers_as_the_call_does_at_a_lower_priority():
    from vocablab.surgery.report import project_rows

    rows = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    assert np.array_equal(run_isolated(project_rows, rows, "pca"), project_rows(rows, "pca"))
    assert run_isolated(os.nice, 0) == min(19, os.nice(0) + HEAVY_NICE)  # the child's own niceness, from the OS
    cores = len(os.sched_getaffinity(0))
    assert run_isolated(torch.get_num_threads) == max(1, cores - 1)  # a core is left for the light views


@pytest.mark.real  # tiny models with preset tokenizers
def test_a_transplant_in_a_worker_writes_what_one_here_does(tmp_path):
    """Its bars (the library's tqdm) are forwarded to this process; the weights are the same."""
    from safetensors.torch import load_file

    from vocablab.surgery import transplant

    from .conftest import tiny_llama

    base = tiny_llama("gpt2", tmp_path / "base", tied=True)
    donor = tiny_llama("mistral", tmp_path / "donor", tied=True, seed=2)
    here = transplant(str(base), str(donor), tmp_path / "here", k=2)
    there = run_isolated(transplant, str(base), str(donor), tmp_path / "there", k=2)
    assert there.counts == here.counts
    written = {name: load_file(str(tmp_path / name / "model.safetensors")) for name in ("here", "there")}
    assert written["here"].keys() == written["there"].keys()
    for key, tensor in written["here"].items():
        assert torch.equal(tensor, written["there"][key]), key


def test_a_refusal_in_a_worker_is_the_same_refusal_here(tmp_path):
    from vocablab.surgery.report import TransplantReport

    with pytest.raises(VocabLabError, match="holds no transplant report"):
        run_isolated(TransplantReport.load, tmp_path)


def test_stop_ends_the_worker_process(monkeypatch):
    marker = f"job-control-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("VOCABLAB_TEST_MARKER", marker)
    stop, raised = threading.Event(), []

    def call() -> None:
        with stop_when(stop.is_set):
            try:
                run_isolated(time.sleep, 600)
            except Stopped as exc:
                raised.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: workers(marker), 60, "the worker to start")
    stop.set()
    caller.join(timeout=60)
    assert raised and not caller.is_alive()
    assert workers(marker) == []  # ended, not left sleeping


def no_umap_drawn(page) -> None:
    """The map shows no UMAP: its drawn title says so, where its progress bar's text says "UMAP of ..." too."""
    from playwright.sync_api import expect

    expect(page.locator("#transplant-map")).not_to_contain_text("embeddings (UMAP")


@pytest.mark.e2e
def test_stop_ends_the_map_and_an_align_meanwhile_is_not_queued_behind_it(tmp_path):
    """A UMAP map of many rows runs for minutes: an Align clicked meanwhile completes while it still
    runs (the map is outside the model-run slot), and the transplant's Stop ends the map's worker."""
    from playwright.sync_api import expect

    from .app_server import serve_app
    from .conftest import chromium_page

    work = tmp_path / "workspace"  # unique to this test: marks this app's worker processes
    with serve_app(env={"VOCABLAB_WORKDIR": str(work)}, log=tmp_path / "app.log", timeout=180) as url:
        with chromium_page(url) as page:
            page.set_default_timeout(120_000)
            page.get_by_role("tab", name="Transplant").click()
            page.get_by_role("radio", name="mean").click()  # no OMP: the quickest transplant
            page.locator("#transplant-run").click()
            expect(page.locator("#transplant-summary")).to_contain_text("approximated", timeout=300_000)
            expect(page.locator("#transplant-map")).to_contain_text("PCA", timeout=60_000)  # drawn at once

            page.get_by_role("radio", name="UMAP", exact=False).click()
            points = page.locator("#transplant-points input[type='number']")
            points.fill("20000")
            points.press("Enter")
            page.locator("#transplant-draw-map").click()
            wait_until(lambda: workers(str(work)), 120, "the map's worker process")

            page.get_by_role("tab", name="Align distributions").click()
            page.locator("#align-run").click()
            expect(page.locator("#align-summary")).to_contain_text("Mean ULD", timeout=300_000)
            assert workers(str(work)), "the map ended before the Align did: the test proves nothing"
            no_umap_drawn(page)

            page.get_by_role("tab", name="Transplant").click()
            page.locator("#transplant-stop").click()
            wait_until(lambda: not workers(str(work)), 60, "Stop to end the map's worker")
            expect(page.locator("#transplant-draw-map")).to_be_enabled()
            no_umap_drawn(page)


def test_the_maps_pca_is_the_first_two_principal_components_of_unit_rows():
    """The map drawn at once, against the definition: the rows scaled to unit length (cosine
    geometry), centred, projected on the two eigenvectors of their covariance with the largest
    eigenvalues (an eigendecomposition, not the code's SVD); up to each axis's sign."""
    from vocablab.surgery.report import project_rows

    rows = np.random.default_rng(2).normal(size=(200, 12)) * np.linspace(1, 5, 12)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    expected = centred @ vectors[:, np.argsort(values)[::-1][:2]]
    got = project_rows(rows, "pca")
    assert got.shape == (200, 2)
    for axis in range(2):
        sign = np.sign(got[:, axis] @ expected[:, axis])
        np.testing.assert_allclose(sign * got[:, axis], expected[:, axis], atol=1e-9)
