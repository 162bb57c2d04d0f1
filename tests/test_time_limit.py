"""The app's time limit holds inside a step of exact mode, not only between steps: a tiny Llama built in
code, behind the real adapter (HFTokenModel), whose every batch of forward passes is slowed by a known sleep."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch

from vocablab.options import Decoding
from vocablab.reduce import lvr
from vocablab.reduce import model as adapter
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.sampling import time_limit
from vocablab.reduce.steps import run_steps
from vocablab.reduce.subvocab import build_subvocabulary
from vocablab.vocab import ALL_BYTES

BATCH_SLEEP = 0.05  # seconds each call to the model sleeps before its forward pass
SLACK = 0.6  # seconds for the work around the passes (distributions, cover updates) on a busy machine


@pytest.fixture(scope="module")
def tiny(byte_level_vocab):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(byte_level_vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    # untrained: its next-token law is near uniform, so exact mode's cover holds many token paths
    return LlamaForCausalLM(config).eval(), build_subvocabulary(byte_level_vocab, ALL_BYTES, "bytes")


def timed_run(model, sub, prompt, tail, decoding, seconds, *, slow_from_conditioning=True):
    """The symbols, what ended them, and the seconds they took from the conditioning on (with it slowed)
    or from the first step (a conditioning run before at full speed)."""
    reduced = ReducedModel(HFTokenModel(model), sub, prompt, k=None)
    if not slow_from_conditioning:
        reduced.condition(tail)
    hook = model.register_forward_pre_hook(lambda module, args: time.sleep(BATCH_SLEEP)) if seconds else None
    try:
        started = time.perf_counter()
        with time_limit(seconds):
            ends = [(reduced, tail)] if slow_from_conditioning else []
            emitted, _, ended = run_steps(reduced, sub.symbols, decoding, ends)
        return emitted, ended, time.perf_counter() - started
    finally:
        if hook:
            hook.remove()


def test_the_time_limit_cuts_a_step_of_exact_mode_and_keeps_the_steps_before(tiny, byte_level_vocab, monkeypatch):
    model, sub = tiny
    monkeypatch.setattr(adapter, "BATCH", 1)  # a batch: one pass
    # after " on the mat" the cover closes 37, then 72 entries a step: the second step lasts ~4 s
    prompt, tail = byte_level_vocab.backend.encode("the cat sat").ids, b" on the mat"
    decoding, limit = Decoding(k=None, greedy=False, seed=3, max_new_bytes=40), 3.0
    emitted, ended, elapsed = timed_run(model, sub, prompt, tail, decoding, limit, slow_from_conditioning=False)
    assert ended == "time limit" and emitted  # the first step fits in the limit, the second does not
    assert elapsed < limit + BATCH_SLEEP + SLACK  # checked between steps only, it ran to the step's end (~6 s)
    made = sub.text(emitted)
    longer = dataclasses.replace(decoding, max_new_bytes=len(made) + 1)
    unlimited, _, _ = timed_run(model, sub, prompt, tail, longer, None, slow_from_conditioning=False)
    assert len(sub.text(unlimited)) > len(made) and sub.text(unlimited).startswith(made)  # the cut changed no law


def test_the_time_limit_holds_while_conditioning_on_the_prompts_end(tiny, byte_level_vocab, monkeypatch):
    model, sub = tiny
    monkeypatch.setattr(adapter, "BATCH", 1)  # a batch: one pass
    # a tail of more token paths than one tree call takes is conditioned on offset by offset: that path
    monkeypatch.setattr(lvr, "TREE_NODES", 0)
    prompt, limit = byte_level_vocab.backend.encode("the cat sat").ids, 1.0
    # in exact mode the tail " on the" takes ~100 forward passes to condition on (~5 s)
    emitted, ended, elapsed = timed_run(model, sub, prompt, b" on the", Decoding(k=None), limit)
    assert (emitted, ended) == ([], "time limit")
    assert elapsed < limit + BATCH_SLEEP + SLACK
