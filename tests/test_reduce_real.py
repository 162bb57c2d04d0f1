"""Reduced generation with a real model (SmolLM2-135M): K = 1 reproduces the model's greedy text."""

from __future__ import annotations

import json
import time

import pytest
import torch

from vocablab.errors import VocabLabError
from vocablab.options import Decoding
from vocablab.reduce.generate import generate_plain, generate_reduced
from vocablab.reduce.prompt import prompt_ids
from vocablab.reduce.sampling import time_limit
from vocablab.reduce.subvocab import parse_subvocab
from vocablab.sources import load_causal_lm, load_vocabulary

from .conftest import tiny_byte_level_bpe

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
MAX_BYTES = 20


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


def test_a_prompt_ending_in_a_space_is_continued_from_its_text(smol):
    """The trailing space is one token "Ġ" alone, which the model almost never saw before a word;
    conditioned on the text, the cover holds every token that starts with that space."""
    model, _ = smol
    prompt, kwargs = "The capital of France is ", dict(subvocab="bytes", model=model)
    decoding = Decoding(k=300, max_new_bytes=24)
    healed = generate_reduced("smollm2-135m", prompt, decoding=decoding, **kwargs)
    assert healed.text.startswith("Paris"), healed.text
    assert healed.prompt_tail == [" "]
    canonical = generate_reduced(
        "smollm2-135m", prompt, decoding=Decoding(k=300, max_new_bytes=24, heal=False), **kwargs
    )
    assert not canonical.text.startswith("Paris") and canonical.prompt_tail is None
    plain = generate_plain("smollm2-135m", prompt, decoding=Decoding(max_new_bytes=24), model=model)
    assert plain.text.startswith("Paris") and plain.prompt_tail == [" "]
    cut = generate_reduced("smollm2-135m", "The capital of Fran", decoding=decoding, **kwargs)
    assert cut.text.startswith("ce") and cut.prompt_tail == [" Fran"]


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m", "mistral", "llama3", "qwen3"])
def test_the_prompt_is_backed_off_to_a_boundary_no_later_text_moves(name):
    """The tokenizer itself is the oracle: cut a real article anywhere, the tokens fixed before the
    tail are the first tokens of the cut prompt followed by any text; and the boundary is a nearby
    one, not the start of the prompt (Gemma and Mistral normalize spaces to "▁" first)."""
    from vocablab.evaluate import read_documents
    from vocablab.presets import ensure_text
    from vocablab.reduce.prompt import split_prompt

    vocab, text = load_vocabulary(name), read_documents(ensure_text("lee_background"))[0][:1500]
    cuts = range(1, len(text), 23)
    near = 0
    for cut in cuts:
        split = split_prompt(vocab, text[:cut])
        fixed = split.ids[1:]  # after the start token
        assert split.tail.endswith(text[split.boundary : cut].encode()) and split.boundary <= cut
        for more in (text[cut : cut + 1], text[cut : cut + 40], " ", "s", "0", "\n\n", "'s"):
            assert vocab.encode(text[:cut] + more)[: len(fixed)] == fixed, (text[:cut][-30:], more)
        near += len(split.tail) <= 40
    assert near >= 0.9 * len(cuts)
    if name == "gemma3-270m":  # hand-labelled: a letter and the space after it are in no Gemma token
        assert split_prompt(vocab, "The capital of France is").tail == b" is"
        assert split_prompt(vocab, "The capital of France is ").tail == b" "
        assert split_prompt(vocab, "Pi is 3.14159").tail == b"9"  # Gemma's digits are tokens of their own


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_a_long_run_without_a_boundary_is_healed_at_its_end_only(name):
    """Chinese without spaces is one pre-tokenizer piece: conditioning on all of it as text took a
    forward pass per byte (and 12 GB for 9,000 characters). The tail is cut to the prompt's own
    tokens within MAX_TAIL_BYTES of its end, the tokens before it being the prompt's first tokens."""
    from vocablab.reduce.prompt import MAX_TAIL_BYTES, split_prompt

    vocab = load_vocabulary(name)
    for prompt in ("日本" * 4000, "東京は日本の首都です。" * 300, "7" * 5000):
        split = split_prompt(vocab, prompt)
        assert 0 < len(split.tail) <= MAX_TAIL_BYTES
        assert split.ids[1:] == vocab.encode(prompt)[: len(split.ids) - 1]  # the tokenizer is the oracle
        assert prompt[: split.boundary].encode() + split.tail == prompt.encode()


def test_whitespace_and_cut_character_prompts_generate(smol):
    model, _ = smol
    kwargs = dict(subvocab="bytes", decoding=Decoding(k=300, max_new_bytes=8), model=model)
    spaces = generate_reduced("smollm2-135m", "   ", **kwargs)
    assert spaces.prompt_tail == ["   "] and spaces.steps > 0
    # "\xe2\x82" (the first two bytes of "€" or "₂") as a command line passes it: surrogate escapes
    cut = generate_reduced("smollm2-135m", b"\xe2\x82".decode("utf-8", "surrogateescape"), **kwargs)
    completed = (b"\xe2\x82" + cut.data)[:3].decode("utf-8")  # raises if the character was not completed
    assert len(completed) == 1


def test_a_time_limit_stops_exact_mode_and_keeps_what_it_made(smol):
    model, _ = smol
    started = time.monotonic()
    with time_limit(5.0):  # the first step closes hundreds of entries (every token " X"): several seconds here
        result = generate_reduced(
            "smollm2-135m", "Hi ", subvocab="bytes", decoding=Decoding(k=None, max_new_bytes=400), model=model
        )
    assert result.ended_by == "time limit" and 0 < result.steps < 400
    # the generation's own time (prompt's pass included): one batch of 32 passes past the limit at most
    assert result.seconds < 5.0 + 3 and time.monotonic() - started < 120
    unlimited = generate_reduced(
        "smollm2-135m", "Hi ", subvocab="bytes", decoding=Decoding(k=None, max_new_bytes=result.steps), model=model
    )
    assert unlimited.text.startswith(result.text)  # greedy: the same path, cut earlier


def test_the_state_limit_stops_exact_mode_and_keeps_what_it_made(smol, monkeypatch):
    from vocablab.reduce import lvr

    model, _ = smol
    monkeypatch.setattr(lvr, "MAX_STATES", 30)
    result = generate_reduced(
        "smollm2-135m", "Hi ", subvocab="bytes", decoding=Decoding(k=None, max_new_bytes=64), model=model
    )
    assert result.ended_by == "state limit" and 0 < result.steps < 64
    assert len(result.inspector) == result.steps
    shorter = generate_reduced(
        "smollm2-135m", "Hi ", subvocab="bytes", decoding=Decoding(k=None, max_new_bytes=result.steps), model=model
    )  # stops one byte before the limit: the same greedy path
    assert (shorter.ended_by, shorter.data) == ("budget", result.data)


@pytest.mark.parametrize("kind", ["bytes", "maxlen:4", "mcv:gemma3-270m", "file"])
def test_k1_reduced_greedy_is_the_original_greedy(smol, subvocabs, kind):
    model, vocab = smol
    sub = next(s for spec, s in subvocabs.items() if spec.startswith(kind))
    for prompt in PROMPTS:
        reference = plain_greedy_bytes(model, vocab, prompt)
        # heal=False: the model's own greedy text is conditioned on the prompt's canonical tokens too
        decoding = Decoding(k=1, max_new_bytes=MAX_BYTES, heal=False)
        result = generate_reduced("smollm2-135m", prompt, subvocab=sub, decoding=decoding, model=model)
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


@pytest.fixture(scope="module")
def gemma():
    return load_causal_lm("gemma3-270m", device="cpu")


@pytest.fixture(scope="module")
def lee_text():
    from vocablab.evaluate import read_documents
    from vocablab.presets import ensure_text

    return [doc[:200] for doc in read_documents(ensure_text("lee_background"))[-2:]]


TOLERANCE = 0.01  # bits per byte the pruned reduced score may lose against the model's own


def test_reduced_bits_per_byte_is_not_worse_than_the_canonical(smol, lee_text):
    from vocablab.reduce.score import reduced_bits_per_byte

    model, _ = smol
    score = reduced_bits_per_byte("smollm2-135m", lee_text, subvocab="bytes", model=model)
    assert score.steps == score.n_bytes == sum(len(t.encode()) for t in lee_text)
    # exact, the reduced probability of a text sums over all its tokenizations, so it is at least the
    # canonical one; pruning only drops paths (charged to the score), so this checks what pruning lost
    assert score.reduced_bits_per_byte <= score.canonical_bits_per_byte + TOLERANCE
    assert score.reduced_bits_per_byte > score.canonical_bits_per_byte - 0.2


def test_batched_forward_passes_equal_one_at_a_time(smol, gemma):
    from vocablab.reduce.model import HFTokenModel

    for model, name in [(smol[0], "smollm2-135m"), (gemma, "gemma3-270m")]:
        vocab = load_vocabulary(name)
        lm = HFTokenModel(model)
        states = [lm.start(prompt_ids(vocab, p)) for p in PROMPTS[:4]]
        token = vocab.encode(" and")[0]
        batched = lm.extend([(s, token) for s in states])
        alone = [lm.extend([(s, token)])[0] for s in states]
        for b, a in zip(batched, alone, strict=True):
            assert b.length == a.length
            assert torch.allclose(b.logprobs, a.logprobs, atol=1e-3)
            again_b, again_a = lm.extend([(b, token)])[0], lm.extend([(a, token)])[0]  # the split caches work on
            assert torch.allclose(again_b.logprobs, again_a.logprobs, atol=1e-3)


@torch.no_grad()
def test_extending_a_state_leaves_it_as_it_was(smol, gemma):
    """States share their cache tensors (model.fork); each extension must equal a forward pass
    over the whole sequence without a cache, however often the parent was extended before."""
    from vocablab.reduce.model import HFTokenModel

    for model, name in [(smol[0], "smollm2-135m"), (gemma, "gemma3-270m")]:
        vocab = load_vocabulary(name)
        lm = HFTokenModel(model)
        ids = prompt_ids(vocab, "The capital of France is")
        parent = lm.start(ids)
        a, b = vocab.encode(" Paris")[0], vocab.encode(" the")[0]
        lm.extend([(parent, a)])
        child = lm.extend([(lm.extend([(parent, b)])[0], a)])[0]  # the parent extended twice, then its child
        again = lm.extend([(parent, a)])[0]
        assert parent.cache.get_seq_length() == parent.length == len(ids)
        for state, seq in [(again, [*ids, a]), (child, [*ids, b, a])]:
            full = torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0, -1].float(), -1).double()
            assert torch.allclose(state.logprobs, full, atol=1e-3), name


def test_ensemble_scores_and_generation(smol, gemma, lee_text, tmp_path, capsys):
    from vocablab.cli import main
    from vocablab.reduce.score import ensemble_bits_per_byte

    models = [smol[0], gemma]
    score = ensemble_bits_per_byte(["smollm2-135m", "gemma3-270m"], lee_text[:1], space="mcv", models=models)
    assert score.steps < score.n_bytes  # MCV symbols span several bytes
    sweep = dict(score.weight_sweep)
    # a mixture's log-loss is at most the mixture of log-losses (Jensen), at every step
    assert score.ensemble_bits_per_byte <= 0.5 * sweep[1.0] + 0.5 * sweep[0.0] + 1e-9
    for alone, end in zip(score.reduced_bits_per_byte, (sweep[1.0], sweep[0.0]), strict=True):
        assert end == pytest.approx(alone, abs=0.05)  # restricted to shared symbols, pruning not charged
    text = tmp_path / "doc.txt"
    text.write_text(lee_text[0] + "\n")
    assert main(["eval", "smollm2-135m", "--text", str(text), "--subvocab", "bytes", "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert {"reduced_bits_per_byte", "canonical_bits_per_byte"} <= reported.keys()
    assert (
        main(
            [
                "ensemble",
                "smollm2-135m",
                "gemma3-270m",
                "--prompt",
                "The capital of France is",
                "--max-new-bytes",
                "12",
                "--weights",
                "1,1",
                "--json",
            ]
        )
        == 0
    )
    generated = json.loads(capsys.readouterr().out)
    assert generated["weights"] == [0.5, 0.5] and generated["steps"] == len(generated["pieces"])
    assert generated["text"].encode() == b"".join(piece_bytes for piece_bytes in _piece_bytes(generated))
    assert main(["ensemble", "smollm2-135m", "gemma3-270m", "--prompt", "x", "--weights", "1,2,3"]) == 2
    assert "3 weights for 2 models" in capsys.readouterr().err


def _piece_bytes(generated: dict) -> list[bytes]:
    from vocablab.reduce.ensemble import shared_space

    shared = shared_space([load_vocabulary("smollm2-135m"), load_vocabulary("gemma3-270m")], "mcv")
    return [shared.symbols[s].data or b"" for s in generated["symbols"]]


def test_bad_input_gets_clear_messages(smol, tmp_path, capsys):
    from tokenizers import decoders

    from vocablab.cli import main
    from vocablab.reduce.ensemble import shared_space
    from vocablab.reduce.subvocab import build_subvocabulary

    model, vocab = smol
    joined = tiny_byte_level_bpe()
    joined.decoder = decoders.WordPiece()  # its text has a space between two tokens (a normalizer is no reason)
    (tmp_path / "joined").mkdir()
    joined.save(str(tmp_path / "joined" / "tokenizer.json"))
    assert main(["generate", str(tmp_path / "joined"), "--prompt", "Hi"]) == 2
    assert "WordPiece step puts a space between two tokens" in capsys.readouterr().err
    (tmp_path / "no-eos").mkdir()
    tiny_byte_level_bpe().save(str(tmp_path / "no-eos" / "tokenizer.json"))
    with pytest.raises(VocabLabError, match="no EOS token"):
        generate_reduced(str(tmp_path / "no-eos"), "Hi")
    with pytest.raises(VocabLabError, match="context is 8192"):
        generate_reduced("smollm2-135m", "日" * 9000, model=model)  # 18,000 tokens in 9,000 characters
    with pytest.raises(VocabLabError, match="lacks .* single bytes"):
        build_subvocabulary(vocab, frozenset({b"a", b"b"}), "two letters")
    with pytest.raises(VocabLabError, match="unknown ensemble space"):
        shared_space([vocab, load_vocabulary("gemma3-270m")], "words")


def test_cli_completes_a_cut_character_of_the_prompt():
    """A command line can pass bytes that are not UTF-8; the printed text joins them to the rest."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "vocablab", "generate", "smollm2-135m", "--subvocab", "bytes"]
    done = subprocess.run([*command, "--max-new-bytes", "6", "--prompt", b"\xe2\x82"], capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith(b"\xe2\x82")
    assert len(done.stdout[:3].decode("utf-8")) == 1  # raises if the character was left cut
    assert b"prompt healed" in done.stderr


def test_cli_chat_prints_the_reply_alone():
    """With --chat the prompt goes into a chat turn: the reply is printed without it (it is not a continuation)."""
    import json
    import subprocess
    import sys

    command = [sys.executable, "-m", "vocablab", "generate", "smollm2-135m", "--chat", "--max-new-bytes", "12"]
    command += ["--prompt", "Say hello."]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert printed.returncode == 0, printed.stderr[-500:]
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=240)
    reply = json.loads(as_json.stdout)["text"]
    assert reply and printed.stdout == reply + "\n"
    assert "Say hello." not in printed.stdout  # the prompt is in the chat turn, not printed before the reply
