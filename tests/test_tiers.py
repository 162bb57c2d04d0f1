"""The test tiers of tests/conftest.py: a fast test cannot reach the presets, a browser or the network,
and the older markers select the tiers they stand for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

import vocablab.presets
from vocablab.sources import load_vocabulary

from .conftest import FAST_TIER_CACHE, FastTierViolation


def test_a_fast_test_cannot_load_a_preset():
    with pytest.raises(FastTierViolation, match="mark it `real`"):
        load_vocabulary("gpt2")


def test_a_fast_tests_subprocess_cannot_load_a_preset():
    run = subprocess.run(
        [sys.executable, "-m", "vocablab", "compare", "gpt2", "mistral", "--text", "x"], capture_output=True, text=True
    )
    assert run.returncode == 2 and FAST_TIER_CACHE in run.stderr, run.stderr


def test_a_fast_test_cannot_start_a_browser():
    from playwright.sync_api import sync_playwright

    with pytest.raises(FastTierViolation, match="started a browser"):
        sync_playwright()


def test_a_fast_test_cannot_connect_off_this_machine():
    with socket.socket() as sock, pytest.raises(FastTierViolation, match="connected to"):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never reached, refused before any packet


def test_a_fast_test_may_connect_to_this_machine():
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.connect(server.getsockname())


@pytest.mark.slow
def test_slow_is_the_real_tier(request):
    assert request.node.get_closest_marker("real") is not None
    assert vocablab.presets.cache_dir() != FAST_TIER_CACHE
    assert os.environ.get("VOCABLAB_CACHE") != FAST_TIER_CACHE


@pytest.mark.browser
def test_browser_is_the_e2e_tier(request):
    assert request.node.get_closest_marker("e2e") is not None
    assert request.node.get_closest_marker("real") is None  # one tier each


@pytest.mark.real
def test_real_carries_the_older_name_too(request):
    assert request.node.get_closest_marker("slow") is not None  # -m "not slow and not browser" stays the fast tier
