"""Ensemble scoring with a dummy-prefix member (Mistral's tokenizer) on tiny random models."""

from __future__ import annotations

import pytest

from vocablab.reduce.ensemble import shared_space
from vocablab.reduce.score import _text_target, ensemble_bits_per_byte
from vocablab.sources import load_causal_lm, load_vocabulary

from .conftest import tiny_llama

pytestmark = pytest.mark.real  # preset tokenizers or models

TEXTS = ["The cat sat on the mat.", "Numbers: 12, 345 and 6789!"]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    folders = [
        str(tiny_llama("mistral", root / "mistral", tied=True)),
        str(tiny_llama("gpt2", root / "gpt2", tied=True)),
    ]
    return folders, [load_causal_lm(f, device="cpu") for f in folders]


@pytest.mark.parametrize("space", ["bytes", "mcv"])
def test_the_target_spells_the_text_whatever_the_member_order(members, space):
    folders, _ = members
    vocabs = [load_vocabulary(f) for f in folders]
    assert vocabs[0].dummy_prefix and not vocabs[1].dummy_prefix
    for order in (vocabs, vocabs[::-1]):
        sub = shared_space(order, space).subs[0]
        for text in TEXTS:
            assert sub.text(_text_target(order[0], sub, text)) == text.encode()


def test_members_score_the_same_in_either_order(members):
    folders, models = members
    first = ensemble_bits_per_byte(folders, TEXTS, space="bytes", models=models)
    second = ensemble_bits_per_byte(folders[::-1], TEXTS, space="bytes", models=models[::-1])
    n_bytes = sum(len(t.encode()) for t in TEXTS)
    assert first.steps == second.steps == n_bytes  # one step per byte: no dummy-prefix space in the target
    assert first.reduced_bits_per_byte == pytest.approx(second.reduced_bits_per_byte[::-1], rel=1e-9)
    assert first.ensemble_bits_per_byte == pytest.approx(second.ensemble_bits_per_byte, rel=1e-9)
