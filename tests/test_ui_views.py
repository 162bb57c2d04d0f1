"""What the app's views show, called as the app calls them (no browser): tiny models with real tokenizers."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from vocablab.sources import load_vocabulary
from vocablab.surgery import transplant

from .conftest import tiny_llama

pytestmark = pytest.mark.slow


def test_anchors_are_listed_by_coefficient_and_say_whose_ids_they_are(tmp_path):
    from vocablab.ui.transplant_tab import show_token

    gpt2 = tiny_llama("gpt2", tmp_path / "gpt2", tied=True)
    mistral = tiny_llama("mistral", tmp_path / "mistral", tied=False, seed=1)
    out = tmp_path / "out"
    transplant(str(gpt2), str(mistral), out, k=4)
    saved = load_file(str(out / "transplant_anchors.safetensors"))  # what the run recorded, read directly
    donor = load_vocabulary(str(mistral))
    for row, token_id in list(enumerate(saved["new_ids"].tolist()))[:5]:
        pairs = zip(saved["embed.anchors"][row].tolist(), saved["embed.coefficients"][row].tolist(), strict=True)
        by_weight = sorted(pairs, key=lambda pair: abs(pair[1]), reverse=True)
        chart, note, _ = show_token(token_id, str(out))
        bars = chart.data[0]
        assert list(bars.x) == pytest.approx([c for _, c in by_weight])
        assert [label.rsplit("(", 1)[1].rstrip(")") for label in bars.y] == [str(i) for i, _ in by_weight]
        assert [label.rsplit(" (", 1)[0] for label in bars.y] == [donor.label(i) for i, _ in by_weight]
        assert f"ids in {mistral}'s tokenizer" in chart.layout.title.text
        assert "largest |coefficient| first" in note
