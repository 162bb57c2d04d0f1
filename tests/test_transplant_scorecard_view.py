"""The transplant view's corpus and digit-probe score, called as the app calls it (no browser): tiny
models with real tokenizers, a base that reads numbers in GPT-2's pieces and a donor that reads
them digit by digit."""

from __future__ import annotations

import math

import gradio as gr
import pytest
import torch

from vocablab.digit_probe import DIGIT_PROBES
from vocablab.evaluate import bits_per_byte, corpus_documents
from vocablab.options import MAX_CORPUS_DOCUMENTS
from vocablab.progress import Stopped, stop_when
from vocablab.scorecard import score_models
from vocablab.sources import load_causal_lm, load_vocabulary

from .conftest import tiny_llama

pytestmark = pytest.mark.real  # preset tokenizers and the cached text preset


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("scorecard-view")
    return {
        "base": str(tiny_llama("gpt2", root / "gpt2-base", tied=False, seed=1)),
        "donor": str(tiny_llama("mistral", root / "mistral-donor", tied=True, seed=2)),
    }


def naive_answer_bits(model, vocab, prompt: str, answer: str) -> float:
    """-log2 P(answer tokens | start, prompt tokens), one forward pass per answer token, in float64."""
    prompt_ids, ids = vocab.encode(prompt), vocab.encode(prompt + answer)
    assert ids[: len(prompt_ids)] == prompt_ids  # these prompts end where a token ends
    full = [vocab.start_id, *ids]
    total = 0.0
    with torch.no_grad():
        for n in range(1 + len(prompt_ids), len(full)):
            logits = model(torch.tensor([full[:n]])).logits[0, -1].double()
            total -= torch.log_softmax(logits, dim=-1)[full[n]].item() / math.log(2)
    return total


def test_the_view_shows_the_corpus_score_and_the_digit_probe_of_both_models(models, tmp_path, monkeypatch):
    from vocablab.ui.transplant_tab import run_transplant, score_corpus_and_digits

    monkeypatch.setenv("VOCABLAB_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.setenv("VOCABLAB_PUBLIC", "0")
    visitor = gr.Request(session_hash="visitor")
    _, out, *_ = run_transplant(models["base"], models["donor"], 4, "omp", "bytes", "auto", visitor)
    table, probes, note = score_corpus_and_digits(out, 2, visitor)
    assert table["model"].tolist() == [f"base: {models['base']}", f"transplanted: output:{out.rsplit('/', 1)[1]}"]
    documents = corpus_documents("lee_background", 2)
    n_bytes = sum(len(answer.encode()) for _, answer in DIGIT_PROBES)
    for row, folder in zip(table.itertuples(index=False), (models["base"], out), strict=True):
        model, vocab = load_causal_lm(folder), load_vocabulary(folder)
        # the corpus: bits_per_byte, itself checked against a naive loop in tests/test_evaluate.py
        assert row[1] == pytest.approx(bits_per_byte(folder, documents, model=model).bits_per_byte, abs=1e-4)
        digits = sum(naive_answer_bits(model, vocab, prompt, answer) for prompt, answer in DIGIT_PROBES)
        assert row[2] == pytest.approx(digits / n_bytes, abs=2e-4)
        assert row[3].endswith(f"/{len(DIGIT_PROBES)}")
    assert probes["prompt"].tolist() == [prompt for prompt, _ in DIGIT_PROBES]
    assert "first 2 documents of lee_background" in note and "Cost of the transplant" in note


def test_the_view_refuses_a_document_count_out_of_range(tmp_path, monkeypatch):
    from vocablab.ui.transplant_tab import score_corpus_and_digits

    monkeypatch.setenv("VOCABLAB_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.setenv("VOCABLAB_PUBLIC", "0")
    visitor = gr.Request(session_hash="visitor")
    with pytest.raises(gr.Error, match="run a transplant first"):
        score_corpus_and_digits("", 2, visitor)
    with pytest.raises(gr.Error, match=f"score 1 to {MAX_CORPUS_DOCUMENTS} documents of lee_background here, not 0"):
        score_corpus_and_digits(str(tmp_path), 0, visitor)  # checked before the folder is read


def test_stop_ends_a_scorecard_between_its_steps(models):
    """The app's Stop (or a closed page) is heard between documents and between probes."""
    for corpus, probes in (("lee_background", None), (None, DIGIT_PROBES)):
        with stop_when(lambda: True), pytest.raises(Stopped):
            score_models([models["base"]], corpus=corpus, documents=2, probes=probes)
