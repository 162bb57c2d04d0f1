"""The prompt's end in one forward pass (``HFTokenModel.tree``, ``ReducedModel.condition``) on SmolLM2-135M.

Oracles: the model run on each whole token sequence from scratch (no cache, no mask of ours), and the
brute-force enumeration of every token path after the head (tests/test_boundary.py, float64).
"""

from __future__ import annotations

import pytest
import torch

from vocablab.options import Decoding
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.subvocab import bytes_only

from . import test_boundary
from .test_boundary import PROMPTS, reduced_law, total_variation

smol, brute_force_laws = test_boundary.smol, test_boundary.brute_force_laws  # its fixtures, shared
pytestmark = pytest.mark.real


def from_scratch(model, ids: list[int]) -> torch.Tensor:
    """Next-token log-probs after ``ids``: one plain forward pass over the whole sequence."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    return torch.log_softmax(logits.double(), dim=-1)


@pytest.mark.parametrize("prompt_run_first", [False, True])
def test_each_node_of_a_tree_gets_the_log_probs_of_its_own_path(smol, prompt_run_first):
    model, _, vocab = smol
    lm = HFTokenModel(model)
    head = [vocab.start_id, *vocab.encode("The capital of")]
    tokens = vocab.encode(" France is Paris, the city")  # six tokens
    # two branches of different depths, and a node with two children
    nodes = [(-1, tokens[0]), (0, tokens[1]), (1, tokens[2]), (0, tokens[3]), (-1, tokens[4]), (4, tokens[2])]
    root = lm.start(head)
    if prompt_run_first:
        root.logprobs  # noqa: B018 - reading it runs the prompt alone; the tree then runs after its cache
    states = lm.tree(root, nodes)
    paths = []
    for parent, token in nodes:
        paths.append(([] if parent < 0 else paths[parent]) + [token])
    assert torch.allclose(root.logprobs, from_scratch(model, head), atol=1e-4)
    for state, path in zip(states, paths, strict=True):
        assert state.length == len(head) + len(path)
        assert torch.allclose(state.logprobs, from_scratch(model, head + path), atol=1e-4)
    # a node's gathered cache goes on like the sequence itself: one more token after the deepest node
    (after,) = lm.extend([(states[2], tokens[0])])
    assert torch.allclose(after.logprobs, from_scratch(model, head + paths[2] + [tokens[0]]), atol=1e-4)
    (after_root,) = lm.extend([(root, tokens[4])])
    assert torch.allclose(after_root.logprobs, from_scratch(model, head + [tokens[4]]), atol=1e-4)


@pytest.mark.parametrize("name", ["accents", "indentation", "spaces"])
def test_the_default_heals_in_one_call_with_the_law_of_every_path(smol, brute_force_laws, name):
    """The defaults' first next byte after a healed prompt: one call to the model (the prompt and every
    path inside its tail together), nothing pruned, the brute-force law to float32's precision (the
    offset-by-offset beam was only within 1e-2 of it)."""
    model, _, vocab = smol
    split, first, _, _ = brute_force_laws(name)
    assert split.tail and PROMPTS[name]
    reduced = ReducedModel(HFTokenModel(model), bytes_only(vocab), split.ids, **Decoding().pruning())
    reduced.condition(split.tail)
    got = reduced_law(reduced)
    assert reduced.batches == 1
    assert reduced.log_kept == 0.0
    assert total_variation(got, first) < 1e-5  # float32 passes against float64 ones: 2e-6 measured
