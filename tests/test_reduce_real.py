"""Reduced generation with a real model (SmolLM2-135M): K = 1 reproduces the model's greedy text."""

from __future__ import annotations

import pytest
import torch

from vocablab.errors import VocabLabError
from vocablab.reduce.generate import generate_reduced, prompt_ids
from vocablab.reduce.subvocab import parse_subvocab
from vocablab.sources import load_causal_lm, load_vocabulary

pytestmark = pytest.mark.slow

PROMPTS = [
    "The capital of France is",
    "In 2023, the company reported revenue of $",
    "def fibonacci(n):\n   ",
    "Once upon a time",
    "The chemical symbol for gold is",
    "Water boils at",
    "Les enfants jouent dans le",
    "1, 2, 3, 5, 8,",
    "The quick brown fox",
    "日本の首都は",
]
MAX_BYTES = 40


@pytest.fixture(scope="module")
def smol():
    return load_causal_lm("smollm2-135m", device="cpu"), load_vocabulary("smollm2-135m")


@pytest.fixture(scope="module")
def subvocabs(smol, tmp_path_factory):
    _, vocab = smol
    listing = tmp_path_factory.mktemp("subvocab") / "tokens.txt"
    listing.write_text("\n".join(["Ġthe", "Ġof", "Ġand", "ing", "\\sis", "er"]) + "\n")
    return {spec: parse_subvocab(spec, vocab) for spec in ["bytes", "maxlen:4", "mcv:gemma3-270m", f"file:{listing}"]}


def plain_greedy_bytes(model, vocab, prompt: str) -> bytes:
    ids = torch.tensor([prompt_ids(vocab, prompt)])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_BYTES, do_sample=False)
    return vocab.text_bytes([t for t in out[0, ids.shape[1] :].tolist() if t != vocab.roles["eos"]])


@pytest.mark.parametrize("kind", ["bytes", "maxlen:4", "mcv:gemma3-270m", "file"])
def test_k1_reduced_greedy_is_the_original_greedy(smol, subvocabs, kind):
    model, vocab = smol
    sub = next(s for spec, s in subvocabs.items() if spec.startswith(kind))
    for prompt in PROMPTS:
        reference = plain_greedy_bytes(model, vocab, prompt)
        result = generate_reduced("smollm2-135m", prompt, subvocab=sub, k=1, max_new_bytes=MAX_BYTES, model=model)
        produced = sub.text(result.symbols)
        assert reference.startswith(produced) or (result.ended_by == "eos" and produced == reference), prompt
        assert len(produced) >= min(MAX_BYTES, len(reference)) or result.ended_by == "eos"


def test_bad_subvocabularies(smol, tmp_path):
    _, vocab = smol
    with pytest.raises(VocabLabError, match="unknown sub-vocabulary"):
        parse_subvocab("words", vocab)
    listing = tmp_path / "bad.txt"
    listing.write_text("Ġthe\nzzzz-not-a-token\n")
    with pytest.raises(VocabLabError, match="not tokens of"):
        parse_subvocab(f"file:{listing}", vocab)
