"""Speculative decoding's time limit holds inside a round, not only between rounds: two tiny Llamas built
in code, saved with a tokenizer trained in code as local model folders, run through ``speculate``."""

from __future__ import annotations

import time

import pytest
import torch

from vocablab.options import Decoding
from vocablab.reduce import speculate as speculate_module
from vocablab.reduce.sampling import TimeUp, check_time, time_limit

LIMIT = 2.0  # seconds: far more than the tiny models' conditioning on the prompt takes


class LateDraws(speculate_module.SeededDraws):
    """Seeded draws whose first draw (the draft's first proposal of the first round) returns only once
    the running generation's time is up: the deadline passes inside that round. Made just before the
    run's clock starts, they stop waiting in any case a second after the limit (a run whose clock does
    not reach into rounds would never see its time up)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.waited, self.latest = False, time.monotonic() + LIMIT + 1.0

    def draw(self, probs: torch.Tensor) -> int:
        while not self.waited:
            try:
                check_time()
            except TimeUp:
                self.waited = True
            else:
                self.waited = time.monotonic() > self.latest
                time.sleep(0.01)
        return super().draw(probs)


def tiny_folder(backend, folder, seed: int) -> str:
    """A 1-layer Llama with ``backend``'s tokenizer, saved as a local model folder."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def pair(byte_level_vocab, tmp_path_factory) -> tuple[str, str]:
    """A target and a draft folder: two seeds, one tokenizer (the session's byte-level BPE)."""
    root = tmp_path_factory.mktemp("speculate-time-limit")
    return tiny_folder(byte_level_vocab.backend, root / "target", 1), tiny_folder(
        byte_level_vocab.backend, root / "draft", 2
    )


def test_a_time_limit_ends_speculation_inside_a_round(pair, monkeypatch):
    target, draft = pair
    monkeypatch.setattr(speculate_module, "SeededDraws", LateDraws)
    decoding = Decoding(greedy=False, seed=0, max_new_bytes=40)
    with time_limit(LIMIT):
        result = speculate_module.speculate(
            target, draft, "the cat sat", gamma=4, decoding=decoding, alone=False, device="cpu"
        )
    # the first round began (its first proposal was drawn) and the limit ended it before it emitted a
    # symbol: checked between rounds only, the round would have run to its end and emitted at least one
    assert result.rounds == 1
    assert result.pieces == [] and result.text == ""
    assert result.ended_by == "time limit"
    assert "ended by time limit" in result.notes()[0]


def test_without_a_limit_the_same_run_emits(pair):
    """The same run with no limit generates: the limit, not the models, ended the run above."""
    target, draft = pair
    decoding = Decoding(greedy=False, seed=0, max_new_bytes=8)
    result = speculate_module.speculate(
        target, draft, "the cat sat", gamma=4, decoding=decoding, alone=False, device="cpu"
    )
    assert result.pieces and result.ended_by in ("budget", "eos")
