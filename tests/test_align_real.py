"""align_text and distill on real models: the presets, and tiny models with real tokenizers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.stats import wasserstein_distance
from tokenizers import Tokenizer, normalizers

from vocablab.align import align_text
from vocablab.align.distill import distill
from vocablab.cli import main
from vocablab.errors import VocabLabError
from vocablab.options import AlignSettings, DistillSettings
from vocablab.sources import load_causal_lm, load_vocabulary
from vocablab.surgery import transplant
from vocablab.surgery.checkpoint import find_embeddings, read_tensor

from .conftest import tiny_llama

pytestmark = pytest.mark.slow

TEXT = "The committee approved 1,250 new homes near the river on Tuesday."
EMBEDDING = AlignSettings(cost="embedding")


@pytest.fixture(scope="module")
def presets():
    return load_causal_lm("gemma3-270m"), load_causal_lm("smollm2-135m")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-align")
    gpt2 = tiny_llama("gpt2", root / "gpt2", tied=True)
    return {"gpt2": gpt2, "mistral": tiny_llama("mistral", root / "mistral", tied=False, seed=1)}


def test_align_text_against_a_full_forward_pass(presets):
    result = align_text("gemma3-270m", "smollm2-135m", TEXT, AlignSettings(top_k=12), models=presets)
    vocab_a, vocab_b = load_vocabulary("gemma3-270m"), load_vocabulary("smollm2-135m")
    ids_a = [vocab_a.start_id] + vocab_a.encode(TEXT)
    ids_b = [vocab_b.start_id] + vocab_b.encode(TEXT)
    with torch.no_grad():
        full_a = torch.softmax(presets[0](torch.tensor([ids_a])).logits[0].double(), -1)
        full_b = torch.softmax(presets[1](torch.tensor([ids_b])).logits[0].double(), -1)
    assert result.alignment == "bytes" and len(result.positions) > 8
    n = max(full_a.shape[-1], full_b.shape[-1])
    for position in result.positions[::4]:
        p, q = full_a[position.index_a], full_b[position.index_b]
        assert vocab_a.text_bytes(ids_a[1 : position.index_a + 1]) == TEXT.encode()[: position.byte_a]
        assert vocab_b.text_bytes(ids_b[1 : position.index_b + 1]) == TEXT.encode()[: position.byte_b]
        padded_p = np.concatenate([p.numpy(), np.zeros(n - len(p))])
        padded_q = np.concatenate([q.numpy(), np.zeros(n - len(q))])
        assert position.uld == pytest.approx(n * wasserstein_distance(padded_p, padded_q), rel=1e-3)
        assert [t.id for t in position.top_a] == p.topk(12).indices.tolist()
        top_p = np.array([t.prob for t in position.top_a])
        top_q = np.array([t.prob for t in position.top_b])
        np.testing.assert_allclose(position.rank_cost, np.abs(top_p - top_q), atol=1e-6)
        plan = np.array(position.plan)
        np.testing.assert_allclose(plan.sum(axis=1), top_p / top_p.sum(), atol=1e-6)
        np.testing.assert_allclose(plan.sum(axis=0), top_q / top_q.sum(), atol=1e-6)
        assert position.transport_cost >= position.exact_cost - 1e-9
        assert [f.mass for f in position.flows] == sorted((f.mass for f in position.flows), reverse=True)
        assert position.next_a == vocab_a.label(ids_a[position.index_a + 1])
    json.dumps(result.to_dict())  # serializable for --json


def test_align_completes_at_its_defaults_where_sinkhorn_does_not_converge(presets, capsys):
    """A model against itself (as against its own transplant, which predicts nearly the same): equal top-20
    histograms under the edit cost, where Sinkhorn at regularization 0.05 does not converge at some positions.
    Those positions get the exact optimal plan (scipy's linear program is the reference) and say so."""
    from .test_align import linprog_transport_cost

    gemma = presets[0]
    text = "Paris is the capital of France, with 2,100,000 residents."
    result = align_text("gemma3-270m", "gemma3-270m", text, models=(gemma, gemma))
    assert result.reg == 0.05 and result.cost_kind == "edit" and result.top_k == 20  # the defaults
    assert result.fallbacks, "the case no longer makes Sinkhorn fail: it tests nothing"
    assert result.fallbacks == [n for n, p in enumerate(result.positions) if p.solver == "exact"]
    assert "did not converge at regularization 0.05" in result.fallback_note()
    for n in result.fallbacks:
        position = result.positions[n]
        mass = np.array([t.prob for t in position.top_a])
        mass /= mass.sum()
        plan, cost = np.array(position.plan), np.array(position.cost)
        np.testing.assert_allclose(plan.sum(axis=1), mass, atol=1e-9)
        np.testing.assert_allclose(plan.sum(axis=0), mass, atol=1e-9)
        optimum = linprog_transport_cost(mass, mass, cost)
        assert position.transport_cost == pytest.approx(optimum, abs=1e-9)
        assert position.exact_cost == pytest.approx(optimum, abs=1e-9)
    assert any(p.solver == "sinkhorn" for p in result.positions)  # only the positions that need it fall back
    assert json.loads(json.dumps(result.to_dict()))["fallbacks"] == result.fallbacks


def test_index_alignment_says_so_and_drifts(presets):
    text = "Antidisestablishmentarianism, 3.14159 and ½ are tokenized differently."
    by_index = align_text("gemma3-270m", "smollm2-135m", text, AlignSettings(5, alignment="index"), models=presets)
    by_bytes = align_text("gemma3-270m", "smollm2-135m", text, AlignSettings(5, alignment="bytes"), models=presets)
    assert {p.alignment for p in by_index.positions} == {"index"}
    assert {p.alignment for p in by_bytes.positions} == {"bytes"}
    assert any(p.byte_a != p.byte_b for p in by_index.positions)
    assert all(p.byte_a == p.byte_b for p in by_bytes.positions)


def test_embedding_cost_uses_the_transplant_mapping(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("VOCABLAB_WORKDIR", str(tmp_path / "workspace"))
    gpt2, mistral = str(tiny["gpt2"]), str(tiny["mistral"])
    with pytest.raises(VocabLabError, match="none exists yet"):
        align_text(gpt2, mistral, "Hello world", EMBEDDING)
    transplant(mistral, gpt2, tmp_path / "mean", k=4, method="mean")
    with pytest.raises(VocabLabError, match="OMP"):
        align_text(gpt2, mistral, "Hello world", EMBEDDING, transplant=tmp_path / "mean")
    out = tmp_path / "workspace" / "gpt2-with-mistral"
    transplant(gpt2, mistral, out, k=4)
    result = align_text(gpt2, mistral, "Hello world, again", AlignSettings(8, "embedding"))  # found in the workspace
    assert result.transplant == str(out)
    base = read_tensor(tiny["gpt2"], find_embeddings(tiny["gpt2"])[0]).double()
    mapped = next(t for name, t in load_file(str(out / "model.safetensors")).items() if "embed_tokens" in name)
    for position in result.positions:
        a = torch.nn.functional.normalize(base[[t.id for t in position.top_a]], dim=-1)
        b = torch.nn.functional.normalize(mapped.double()[[t.id for t in position.top_b]], dim=-1)
        np.testing.assert_allclose(position.cost, ((1 - a @ b.T) / 2).numpy(), atol=1e-6)
    other = tiny_llama("gpt2", tmp_path / "other", tied=True, seed=7)
    with pytest.raises(VocabLabError, match="neither"):
        align_text(str(other), mistral, "Hello", EMBEDDING, transplant=out)
    with pytest.raises(VocabLabError, match="read only by the embedding cost"):  # not silently ignored
        align_text(gpt2, mistral, "Hello", AlignSettings(cost="edit"), transplant=out)


def test_bad_input_gets_clear_messages(tiny, tmp_path, capsys):
    gpt2, mistral = str(tiny["gpt2"]), str(tiny["mistral"])
    lower = tiny_llama("gpt2", tmp_path / "lower", tied=True)
    tokenizer = Tokenizer.from_file(str(lower / "tokenizer.json"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.save(str(lower / "tokenizer.json"))
    with pytest.raises(VocabLabError, match="cannot encode this text exactly"):
        align_text(str(lower), mistral, "Hello World")
    for top_k in (201, 40_000):  # a 40,000 x 40,000 plan per position would run for hours
        with pytest.raises(VocabLabError, match="between 1 and 200"):
            align_text(gpt2, mistral, "Hello", AlignSettings(top_k=top_k))
    with pytest.raises(VocabLabError, match="empty"):
        align_text(gpt2, mistral, "")
    with pytest.raises(VocabLabError, match="align takes up to"):
        align_text(gpt2, mistral, "word " * 1000)
    with pytest.raises(VocabLabError, match="past its context of 64"):  # the tiny models' context
        align_text(gpt2, mistral, "word " * 100)
    assert main(["align", gpt2, mistral, "--text", "Hello there", "--position", "99"]) == 2
    assert "not among the" in capsys.readouterr().err
    assert main(["align", gpt2, mistral, "--text", "Hi", "--cost", "embedding"]) == 2
    assert "transplant" in capsys.readouterr().err
    with pytest.raises(VocabLabError, match="steps must be at least 1"):
        distill(gpt2, mistral, tmp_path / "missing.txt", DistillSettings(steps=0))
    with pytest.raises(VocabLabError, match="cannot read"):
        distill(gpt2, mistral, tmp_path / "missing.txt", DistillSettings(steps=1))
    if not torch.cuda.is_available():  # asking for a GPU that is not there is a message, not a traceback
        with pytest.raises(VocabLabError, match="no CUDA GPU"):
            distill(gpt2, mistral, tmp_path / "missing.txt", DistillSettings(steps=1), device="cuda")
        (tmp_path / "doc.txt").write_text("Hello there\n")
        assert main(["eval", gpt2, "--text", str(tmp_path / "doc.txt"), "--device", "cuda"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err


def test_cli_align_prints_the_plan(tiny, capsys):
    gpt2, mistral = str(tiny["gpt2"]), str(tiny["mistral"])
    assert main(["align", gpt2, mistral, "--text", "Hello there, world", "--top-k", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["alignment"] == "bytes" and data["positions"] and len(data["positions"][0]["plan"]) == 4
    assert (
        main(
            [
                "align",
                gpt2,
                mistral,
                "--text",
                "Hello there, world",
                "--top-k",
                "4",
                "--position",
                "1",
                "--alignment",
                "index",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "alignment: index" in out and "largest flows" in out and "padded classes" in out


def test_a_few_distillation_steps_lower_uld_on_the_training_text(tmp_path, capsys):
    text = (
        "The river rose overnight after three days of rain, and the council closed the old bridge to traffic "
        "while engineers checked its supports. Residents were asked to avoid the riverside paths until Friday."
    )
    (tmp_path / "train.txt").write_text(text + "\n")
    out = tmp_path / "student"
    assert (
        main(
            [
                "distill",
                "--teacher",
                "gemma3-270m",
                "--student",
                "smollm2-135m",
                "--text",
                str(tmp_path / "train.txt"),
                "--steps",
                "3",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert [s["step"] for s in result["steps"]] == [1, 2, 3]
    assert all(s["ce"] > 0 and s["uld"] > 0 for s in result["steps"])
    for s in result["steps"]:
        assert s["loss"] == pytest.approx(s["ce"] + 1.5 * s["uld"], rel=1e-5)
    assert result["after"]["uld"] < result["before"]["uld"]
    # the saved student is a safetensors model folder that reproduces the measured ULD
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    assert json.loads((out / "distill.json").read_text())["steps"] == result["steps"]
    check = align_text("gemma3-270m", str(out), text, AlignSettings(top_k=3))
    assert check.mean_uld == pytest.approx(result["after"]["uld"], rel=1e-3)
