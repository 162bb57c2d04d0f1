"""The digit probe and the scorecard against naive loops written here from their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from vocablab.cli import main
from vocablab.digit_probe import DIGIT_PROBES, greedy_bytes, is_exact, probe_model, read_probes
from vocablab.errors import VocabLabError
from vocablab.evaluate import corpus_documents
from vocablab.scorecard import score_models
from vocablab.sources import load_causal_lm, load_vocabulary

from .families import FAMILIES, build_family

# prompts and answers whose tokens meet at the prompt's end in every tokenizer used here
CLEAN = [("3 + 4 = 7\n12 + 35 =", " 47"), ("The year after 1999 is", " 2000"), ("10, 20, 30, 40,", " 50")]


def naive_answer_bits(model, vocab, prompt: str, answer: str) -> float:
    """-log2 P(answer tokens | start, prompt tokens): one forward pass per answer token on the whole
    prefix, in float64. The answer's tokens: those of prompt + answer after the prompt's own tokens."""
    prompt_ids, ids = vocab.encode(prompt), vocab.encode(prompt + answer)
    assert ids[: len(prompt_ids)] == prompt_ids  # a clean boundary, so the split is unambiguous
    full = [vocab.start_id, *ids]
    total = 0.0
    with torch.no_grad():
        for n in range(1 + len(prompt_ids), len(full)):
            logits = model(torch.tensor([full[:n]])).logits[0, -1].double()
            total -= torch.log_softmax(logits, dim=-1)[full[n]].item() / math.log(2)
    return total


def naive_document_bits(model, vocab, text: str) -> float:
    ids = [vocab.start_id, *vocab.encode(text)]
    with torch.no_grad():
        logits = [model(torch.tensor([ids[:n]])).logits[0, -1].double() for n in range(1, len(ids))]
    return -sum(torch.log_softmax(row, -1)[ids[n + 1]].item() for n, row in enumerate(logits)) / math.log(2)


def check_against_the_naive_loop(spec: str, probes) -> None:
    vocab, model = load_vocabulary(spec), load_causal_lm(spec)
    score = probe_model(spec, probes, model=model)
    expected = [naive_answer_bits(model, vocab, prompt, answer) for prompt, answer in probes]
    # float32 forward passes of different lengths round differently (a real model's logits by ~1e-4 bits)
    assert [item["bits"] for item in score.items] == pytest.approx(expected, rel=1e-3, abs=1e-3)
    n_bytes = sum(len(answer.encode()) for _, answer in probes)
    assert score.n_bytes == n_bytes and score.bits_per_byte == pytest.approx(sum(expected) / n_bytes, rel=1e-3)


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    root = tmp_path_factory.mktemp("digit-families")
    return {name: str(build_family(FAMILIES[name], root / name)) for name in ("llama3", "gemma3")}


@pytest.mark.real  # preset tokenizers
@pytest.mark.parametrize("family", ["llama3", "gemma3"])  # digits grouped by three; one a token (and extra ids)
def test_the_probe_scores_the_answer_as_a_naive_loop_does(families, family):
    check_against_the_naive_loop(families[family], CLEAN)


@pytest.mark.real  # a preset model
def test_the_probe_scores_a_real_preset_as_a_naive_loop_does():
    check_against_the_naive_loop("smollm2-135m", CLEAN)


@pytest.mark.real  # preset tokenizers
def test_a_token_across_the_prompts_end_is_the_answers(families, tmp_path):
    """GPT-2 reads "= 47" as " =", " 47": a prompt ending in a space ends inside a token, which the
    answer must predict (-log2 p of " 47" after the prompt's tokens up to " =")."""
    from transformers import AutoModelForCausalLM

    folder = str(build_family(FAMILIES["gpt2"], tmp_path / "gpt2"))
    vocab, model = load_vocabulary(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    before, joint = vocab.encode("12 + 35 ="), vocab.encode("12 + 35 = 47")
    assert joint == [*before, vocab.encode(" 47")[0]]  # hand-checked: one token straddles the boundary
    with torch.no_grad():
        logits = model(torch.tensor([[vocab.start_id, *before]])).logits[0, -1].double()
    expected = -torch.log_softmax(logits, -1)[joint[-1]].item() / math.log(2)
    score = probe_model(folder, [("12 + 35 = ", "47")], model=model)
    assert score.total_bits == pytest.approx(expected, rel=1e-4) and score.n_bytes == 2


@pytest.mark.real  # a preset model
def test_greedy_exact_match_agrees_with_transformers_generate():
    """The greedy bytes are transformers' own greedy continuation (the peer tool), cut to the answer."""
    vocab, model = load_vocabulary("smollm2-135m"), load_causal_lm("smollm2-135m")
    for prompt, answer in DIGIT_PROBES[:4]:
        ids = torch.tensor([[vocab.start_id, *vocab.encode(prompt)]])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False)
        theirs = b"".join(vocab.pieces[i] for i in out[0, ids.shape[1] :].tolist())
        ours = greedy_bytes(model, vocab, prompt, len(answer) + 1)
        assert theirs.startswith(ours) and len(ours) >= len(answer) + 1
    score = probe_model("smollm2-135m", DIGIT_PROBES[:4], model=model)
    assert score.exact == sum(is_exact(item["greedy"].encode(), item["answer"]) for item in score.items)


def test_exact_match_is_the_answer_and_no_further_digit():
    assert is_exact(b" 47\n", " 47") and is_exact(b" 47", " 47") and is_exact(b" 47.", " 47")
    assert not is_exact(b" 470", " 47") and not is_exact(b" 4", " 47") and not is_exact(b"47 ", " 47")


@pytest.mark.real  # preset tokenizers
def test_the_corpus_score_is_the_naive_bits_of_its_first_documents(families, tmp_path):
    from transformers import AutoModelForCausalLM

    corpus = tmp_path / "corpus.txt"
    docs = ["The cat sat on the mat.", "", "It cost 12,345 dollars in 1999.", "Not scored: past the limit."]
    corpus.write_text("\n".join(docs), encoding="utf-8")
    folder = families["llama3"]
    vocab, model = load_vocabulary(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    (card,) = score_models([folder], corpus=str(corpus), documents=2, probes=CLEAN[:1], models=[model])
    scored = [docs[0], docs[2]]  # the empty line is no document
    expected = sum(naive_document_bits(model, vocab, d) for d in scored) / sum(len(d.encode()) for d in scored)
    assert card.corpus.n_documents == 2 and card.corpus.bits_per_byte == pytest.approx(expected, rel=1e-4)
    assert card.digits.total_bits == pytest.approx(naive_answer_bits(model, vocab, *CLEAN[0]), rel=1e-4)


@pytest.mark.real  # the cached text preset
def test_the_bundled_corpus_is_read_from_its_preset_file():
    from vocablab.presets import ensure_text

    lines = [line for line in ensure_text("lee_background").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert corpus_documents("lee_background", 3) == lines[:3]


def test_bad_probes_and_corpora_are_refused_with_the_reason(tmp_path):
    with pytest.raises(VocabLabError, match="probe list is empty"):
        probe_model("smollm2-135m", [])
    with pytest.raises(VocabLabError, match="needs a prompt and an answer"):
        probe_model("smollm2-135m", [("12 + 35 =", "")])
    with pytest.raises(VocabLabError, match="unknown corpus 'no-such-corpus'.*lee_background"):
        score_models(["smollm2-135m"], corpus="no-such-corpus")
    with pytest.raises(VocabLabError, match="nothing to score"):
        score_models(["smollm2-135m"], corpus=None, probes=None)
    tabless = tmp_path / "probes.txt"
    tabless.write_text("12 + 35 = 47\n", encoding="utf-8")
    with pytest.raises(VocabLabError, match="line 1: give the prompt and the answer separated by one tab"):
        read_probes(tabless)


def test_the_cli_says_why_it_refuses(tmp_path, capsys):
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n", encoding="utf-8")
    assert main(["probe", "smollm2-135m", "--probes", str(empty)]) == 2
    assert "no probes in" in capsys.readouterr().err
    assert main(["probe", "smollm2-135m", "--corpus", "no-such-corpus"]) == 2
    assert "unknown corpus 'no-such-corpus'" in capsys.readouterr().err


@pytest.mark.real  # preset tokenizers
def test_the_cli_prints_both_scores(families, tmp_path, capsys):
    import json

    probes = tmp_path / "probes.tsv"
    probes.write_text("3 + 4 = 7\\n12 + 35 =\t 47\n", encoding="utf-8")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat.\n", encoding="utf-8")
    folder = families["gemma3"]
    assert main(["probe", folder, "--corpus", str(corpus), "--probes", str(probes), "--json"]) == 0
    (card,) = json.loads(capsys.readouterr().out)["models"]
    assert card["digits"]["items"][0]["prompt"] == "3 + 4 = 7\n12 + 35 ="
    assert card["corpus"]["n_bytes"] == 23 and card["digits"]["n_bytes"] == 3
