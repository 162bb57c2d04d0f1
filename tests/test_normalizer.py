"""Models whose tokenizer normalizes text (Qwen's NFC): reduction, ensembles, prompts and scoring.

A tiny random Qwen2 carries the real ``qwen3`` tokenizer (NFC normalizer, byte-level BPE) and a head
padded past it, as Qwen2.5 ships; a tiny Llama carries the real ``llama3`` tokenizer (no normalizer).
"""

from __future__ import annotations

import json
import math
import shutil
import unicodedata

import pytest
import torch
from tokenizers import decoders, normalizers
from transformers.convert_slow_tokenizer import bytes_to_unicode

from vocablab.cli import main
from vocablab.errors import VocabLabError
from vocablab.evaluate import bits_per_byte
from vocablab.options import Decoding
from vocablab.reduce.generate import Generation, generate_ensemble, generate_reduced
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.model import HFTokenModel
from vocablab.reduce.prompt import as_tokenized, split_prompt
from vocablab.reduce.score import ensemble_bits_per_byte, reduced_bits_per_byte
from vocablab.reduce.subvocab import bytes_only
from vocablab.sources import load_causal_lm, load_vocabulary, resolve

from .conftest import tiny_byte_level_bpe, tiny_llama

DECOMPOSED = "cafe\u0301 na"  # "e" + a combining acute accent: NFC composes them into "é"
COMPOSED = "caf\u00e9 na"
QWEN2_5_ROWS = 152_064  # Qwen2.5's head: 151,665 tokenizer ids padded to a multiple of 128


@pytest.fixture(scope="module")
def qwen(tmp_path_factory) -> str:
    """A 2-layer Qwen2, hidden size 32, with the qwen3 preset's tokenizer files and a padded head."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("qwen") / "model"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(resolve("qwen3").path / name, folder / name)
    assert len(load_vocabulary("qwen3")) < QWEN2_5_ROWS
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=QWEN2_5_ROWS,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
        initializer_range=0.2,  # far from uniform next-token laws
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> str:
    return str(tiny_llama("llama3", tmp_path_factory.mktemp("llama") / "model", tied=True))


def token_bytes(tokenizer) -> list[bytes | None]:
    """Each id's bytes, its token string read through the GPT-2 byte alphabet (None for special tokens)."""
    alphabet = {char: byte for byte, char in bytes_to_unicode().items()}
    special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    out: list[bytes | None] = []
    for i, string in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        spelled = b"".join(bytes([alphabet[c]]) if c in alphabet else c.encode() for c in string)
        out.append(None if i in special else spelled)
    return out


@torch.no_grad()
def brute_force_next_byte(model, head: list[int], tail: bytes, spelled: list[bytes | None]) -> torch.Tensor:
    """P(next byte | the tokens ``head``, then text beginning with ``tail``), from the definition:
    every token path after ``head`` whose bytes begin with ``tail`` plus one more byte, each weighted
    by the product of the model's probabilities (full forward passes, float64). Entry 256 is the
    mass on special tokens right after ``tail``. Rows past the tokenizer stand for no text: no path
    holds one."""
    n = len(spelled)
    first = torch.tensor([256 if b is None else b[0] for b in spelled])
    mass = torch.zeros(257, dtype=torch.float64)

    def logprobs(ids):
        return torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1)[:n]

    def walk(ids: list[int], logp: float, rest: bytes) -> None:
        lp = logprobs(ids).tolist()
        for u, b in enumerate(spelled):
            if not b:
                continue
            if len(b) < len(rest) and rest.startswith(b):
                walk([*ids, u], logp + lp[u], rest[len(b) :])
            elif b == rest:  # ends with the tail: the next token gives the next byte
                mass.scatter_add_(0, first, (logprobs([*ids, u]) + logp + lp[u]).exp())
            elif b.startswith(rest):  # runs past the tail
                mass[b[len(rest)]] += math.exp(logp + lp[u])

    walk(head, 0.0, tail)
    return mass / mass.sum()


@pytest.mark.slow
def test_the_reduced_next_byte_after_a_prompt_nfc_changes_is_the_brute_force_one_over_its_nfc_form(qwen):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(qwen)
    model = load_causal_lm(qwen, device="cpu")
    assert model.lm_head.weight.shape[0] == QWEN2_5_ROWS > len(tokenizer)
    vocab = load_vocabulary(qwen)
    split = split_prompt(vocab, DECOMPOSED)
    # hand-labelled: the NFC form, backed off to its last pre-tokenizer piece " na"
    assert split.normalized == unicodedata.normalize("NFC", DECOMPOSED) == COMPOSED
    assert split.tail == b" na"
    assert tokenizer.bos_token is None  # a document starts after Qwen's EOS token
    head = [tokenizer.eos_token_id, *tokenizer.encode("caf\u00e9", add_special_tokens=False)]
    assert split.ids == head
    expected = brute_force_next_byte(model, head, b" na", token_bytes(tokenizer))

    reduced = ReducedModel(HFTokenModel(model), bytes_only(vocab), split.ids, k=None)
    reduced.condition(split.tail)
    law = reduced.distribution().exp()
    by_byte = {s.data[0]: i for i, s in enumerate(reduced.sub.symbols) if s.data is not None}
    got = torch.tensor([law[by_byte[b]].item() if b in by_byte else 0.0 for b in range(256)], dtype=torch.float64)
    assert (got - expected[:256]).abs().sum().item() < 1e-5
    assert 1 - got.sum().item() == pytest.approx(expected[256].item(), abs=1e-6)  # the rest is on specials

    # the library call a user makes: its first step shows the same top 5
    generated = generate_reduced(
        qwen, DECOMPOSED, subvocab="bytes", decoding=Decoding(k=None, max_new_bytes=1), model=model
    )
    top = [p for _, p in generated.inspector[0]["top"]["reduced"]]
    assert top == pytest.approx(expected.topk(5).values.tolist(), abs=2e-5)
    assert generated.prompt_normalized == {vocab.name: COMPOSED}


@pytest.mark.parametrize("subvocab", ["bytes", "maxlen:3", "mcv:llama3"])
@pytest.mark.slow
def test_generate_runs_over_every_sub_vocabulary(qwen, subvocab, capsys):
    assert (
        main(["generate", qwen, "--subvocab", subvocab, "--prompt", DECOMPOSED, "--max-new-bytes", "4", "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["subvocab"] == subvocab.replace("llama3", load_vocabulary("llama3").name)
    assert sum(result["piece_bytes"]) >= 4 or result["ended_by"] == "eos"
    assert result["prompt_normalized"] == {load_vocabulary(qwen).name: COMPOSED}


@pytest.mark.slow
def test_the_cli_says_so_exactly_when_the_normalizer_changed_the_prompt(qwen, capsys):
    name = load_vocabulary(qwen).name
    for prompt, changed in ((DECOMPOSED, True), (COMPOSED, False)):
        assert main(["generate", qwen, "--prompt", prompt, "--max-new-bytes", "2"]) == 0
        err = capsys.readouterr().err
        assert ("prompt normalized" in err) == changed, err
        assert (f"-- prompt normalized by {name}'s tokenizer: {ascii(prompt)} -> {ascii(COMPOSED)}" in err) == changed
        assert main(["generate", qwen, "--prompt", prompt, "--max-new-bytes", "2", "--json"]) == 0
        assert ("prompt_normalized" in json.loads(capsys.readouterr().out)) == changed


# over bytes, exact: with K-LVR's pruning this flat random pair can still stop mid-run (issue 32, item 4)
@pytest.mark.slow
@pytest.mark.parametrize(("space", "k"), [("mcv", 300), ("bytes", None)])
def test_an_ensemble_with_a_qwen_tokenizer_member_conditions_each_member_on_its_own_form(qwen, llama, space, k, capsys):
    names = [load_vocabulary(f).name for f in (qwen, llama)]
    result = generate_ensemble([qwen, llama], "cafe\u0301", space=space, decoding=Decoding(k=k, max_new_bytes=2))
    assert result.steps > 0 and result.ended_by in ("budget", "eos", "state limit")
    # Qwen conditions on "café" (NFC); Llama 3, with no normalizer, on the accent as typed
    assert result.prompt_normalized == {names[0]: "caf\u00e9"}
    assert result.prompt_tail[0] == "caf\u00e9" and result.prompt_tail[1].endswith("\u0301")
    assert (
        generate_ensemble(
            [qwen, llama], "caf\u00e9", space=space, decoding=Decoding(k=k, max_new_bytes=1)
        ).prompt_normalized
        is None
    )
    if space == "mcv":  # the command line says which member's tokenizer changed the prompt
        assert main(["ensemble", qwen, llama, "--prompt", DECOMPOSED, "--max-new-bytes", "2"]) == 0
        err = capsys.readouterr().err
        assert f"prompt normalized by {names[0]}'s tokenizer" in err and f"by {names[1]}'s" not in err


@pytest.mark.slow
def test_a_document_the_normalizer_changes_is_scored_on_its_normalized_form_on_every_side(
    qwen, llama, tmp_path, capsys
):
    documents = ["cafe\u0301.", "ok"]
    nfc = [unicodedata.normalize("NFC", d) for d in documents]
    assert nfc[0] != documents[0] and nfc[1] == documents[1]
    model = load_causal_lm(qwen, device="cpu")
    given = reduced_bits_per_byte(qwen, documents, subvocab="bytes", model=model)
    normalized = reduced_bits_per_byte(qwen, nfc, subvocab="bytes", model=model)
    assert given.normalized_documents == [1] and normalized.normalized_documents == []
    assert given.n_bytes == sum(len(d.encode()) for d in nfc)  # per byte of the text scored
    assert given.reduced_bits_per_byte == pytest.approx(normalized.reduced_bits_per_byte, rel=1e-9)
    assert given.canonical_bits_per_byte == pytest.approx(bits_per_byte(qwen, nfc, model=model).bits_per_byte)

    # an ensemble's members score that same text, Llama 3 (no normalizer) too
    both = ensemble_bits_per_byte([qwen, llama], documents, space="bytes")
    assert both.normalized_documents == [1] and both.n_bytes == given.n_bytes
    alone = [given, reduced_bits_per_byte(llama, nfc, subvocab="bytes")]
    assert both.reduced_bits_per_byte == pytest.approx([a.reduced_bits_per_byte for a in alone], rel=1e-9)

    text = tmp_path / "docs.txt"
    text.write_text("\n".join(documents), encoding="utf-8")
    for command in (["eval", qwen, "--subvocab", "bytes"], ["eval", qwen, llama, "--space", "bytes"]):
        assert main([*command, "--text", str(text)]) == 0
        assert "1 document (1) scored as the tokenizers normalize them" in capsys.readouterr().out
    text.write_text("\n".join(nfc), encoding="utf-8")
    assert main(["eval", qwen, "--subvocab", "bytes", "--text", str(text)]) == 0
    assert "normalize" not in capsys.readouterr().out


def _tokenizer_folder(tmp_path, name: str, tokenizer) -> str:
    (tmp_path / name).mkdir()
    tokenizer.save(str(tmp_path / name / "tokenizer.json"))
    return str(tmp_path / name)


def test_tokenizers_whose_normalizers_never_agree_are_refused_naming_the_document(tmp_path):
    a_to_b, b_to_a = tiny_byte_level_bpe(), tiny_byte_level_bpe()
    a_to_b.normalizer = normalizers.Replace("a", "b")
    b_to_a.normalizer = normalizers.Replace("b", "a")
    folders = [_tokenizer_folder(tmp_path, "ab", a_to_b), _tokenizer_folder(tmp_path, "ba", b_to_a)]
    with pytest.raises(VocabLabError, match=r"document 2 \('the cab'\.\.\.\) is rewritten"):
        ensemble_bits_per_byte(folders, ["the cut", "the cab"], space="bytes")


def test_lowercasing_is_no_reason_to_refuse_and_the_prompt_is_taken_lowered(tmp_path):
    lower = tiny_byte_level_bpe()
    lower.normalizer = normalizers.Lowercase()
    vocab = load_vocabulary(_tokenizer_folder(tmp_path, "lower", lower))
    assert as_tokenized(vocab, "Hi THERE") == "Hi THERE".lower()
    with pytest.raises(VocabLabError, match="no EOS token"):  # the next check in line, not the normalizer
        generate_reduced(str(tmp_path / "lower"), "Hi")


@pytest.mark.parametrize(
    ("decoder", "reason"),
    [
        (decoders.WordPiece(), "WordPiece step puts a space between two tokens"),
        (decoders.CTC(), "CTC step drops a token that repeats"),
        (None, "has no decoder"),
        (decoders.Replace("t", "d"), "has a Replace step"),  # a rewrite the byte view does not apply
    ],
)
def test_a_decoder_whose_text_is_not_the_tokens_bytes_joined_is_refused(tmp_path, decoder, reason):
    tokenizer = tiny_byte_level_bpe()
    tokenizer.decoder = decoder
    ids = [tokenizer.token_to_id("t"), tokenizer.token_to_id("t"), tokenizer.token_to_id("e")]
    # the tokenizer's own decoding is not the concatenation "tte": that is the reason
    assert tokenizer.decode(ids) != "tte"
    folder = _tokenizer_folder(tmp_path, "joined", tokenizer)
    with pytest.raises(VocabLabError, match=reason):
        generate_reduced(folder, "the cat")
    with pytest.raises(VocabLabError, match=reason):
        reduced_bits_per_byte(folder, ["the cat"])


def test_the_generation_view_notes_a_normalized_prompt_escaped():
    from vocablab.ui.generate_tab import render_generation

    result = Generation("q", "bytes", "x", [0], ["x"], [1], 1, 1, 0.1, "budget", [], data=b"x")
    assert "normalized" not in render_generation("A reduced", result)
    result.prompt_normalized = {"q": COMPOSED}
    note = "prompt normalized by q's tokenizer to <code>&#x27;caf\\xe9 na&#x27;</code>"
    assert note in render_generation("A reduced", result).replace("&#x27;s", "'s")
