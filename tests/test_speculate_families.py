"""Speculative decoding, draft fitness and the speculate view on the tiny family models (tests/families.py):
eight real architectures with real preset tokenizers, each the target of smollm2-135m as its draft.

Greedy speculation must give the text of the target's plain reduced generation over the same MCV
(``generate_reduced(..., subvocab="mcv:DRAFT")``, a path that never drafts); a draft that is a copy of
the target (same weights, same tokenizer) must be accepted everywhere (alpha = 1 along the text)."""

from __future__ import annotations

import math
import shutil

import pytest

from vocablab.options import Decoding

from .families import FAMILIES

pytestmark = [pytest.mark.slow, pytest.mark.families]

DRAFT = "smollm2-135m"
PROMPT = "The capital of France is"
NEW_BYTES = 4  # rounds enough for gamma 3 to draft, verify and correct
TEXT = "The cat sat."  # each byte costs both models a cover's forward passes


@pytest.fixture(scope="module")
def family_models(family_folders):
    """The session's family folders (tests/conftest.py), built once for this file and the family matrix."""
    return family_folders


@pytest.fixture(scope="module")
def draft():
    from vocablab.sources import load_causal_lm

    return load_causal_lm(DRAFT, device="cpu")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_greedy_speculation_is_the_targets_reduced_greedy_text(family_models, draft, family):
    from vocablab.reduce.generate import generate_reduced
    from vocablab.reduce.speculate import speculate
    from vocablab.sources import load_causal_lm

    target = family_models(family)
    model = load_causal_lm(target, device="cpu")
    decoding = Decoding(max_new_bytes=NEW_BYTES)
    plain = generate_reduced(target, PROMPT, subvocab=f"mcv:{DRAFT}", decoding=decoding, model=model)
    result = speculate(
        target,
        DRAFT,
        PROMPT,
        gamma=3,
        decoding=decoding,
        alone=False,
        target_model=model,
        draft_model=draft,
    )
    assert result.text == plain.text and result.ended_by == plain.ended_by
    assert len(result.pieces) == len(result.drafted_flags) and sum(result.piece_bytes) == len(result.data)
    assert result.accepted == sum(result.drafted_flags) <= result.drafted
    assert result.target_calls > 0 and result.draft_calls > 0


@pytest.mark.parametrize("family", list(FAMILIES))
def test_draft_fit_over_the_mcv_and_of_a_copy_of_the_target(family_models, draft, family, tmp_path):
    from vocablab.reduce.draft_fit import draft_fit

    target = family_models(family)
    copy = tmp_path / "copy"
    shutil.copytree(target, copy)
    fit = draft_fit(target, [DRAFT, str(copy)], TEXT, draft_models=[draft, None], device="cpu")
    reduced, own = fit.drafts
    assert (reduced.route, own.route) == ("mcv", "own tokens")
    for row in (reduced, own):
        assert row.positions == len(row.alphas) > 0 and all(0 <= a <= 1 + 1e-9 for a in row.alphas)
        assert row.bytes_per_symbol == pytest.approx(len(TEXT) / row.positions, rel=1e-3)
        a, c = row.alpha_mean, row.cost_ratio
        assert a == pytest.approx(math.fsum(row.alphas) / row.positions, abs=1e-3)
        assert row.speed_up[2] == pytest.approx((1 + a + a * a) / (2 * c + 1), rel=1e-3)
    assert own.alphas == pytest.approx([1.0] * own.positions, abs=1e-6)  # it proposes from the target's own law


@pytest.mark.parametrize("family", ["qwen2", "gemma3", "gpt2"])
def test_the_view_fits_and_runs(family_models, family):
    from vocablab.ui import speculate_tab

    target = family_models(family)
    chart, table = speculate_tab.fit(target, DRAFT, TEXT, "mcv", None)
    assert len(chart.data[0].y) > 1 and "predicted speed-up" in table
    html = speculate_tab.run(target, DRAFT, PROMPT, 2, "mcv", False, 1.0, 1.0, 0, NEW_BYTES, None)
    assert "the target alone" in html and "the same text" in html
