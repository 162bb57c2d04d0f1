"""The Python library as a user calls it: what it accepts, and bad input refused with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from vocablab import (
    Decoding,
    align_text,
    bits_per_byte,
    compare_numbers,
    compare_tokenization,
    compare_vocabularies,
    distill,
    generate_ensemble,
    generate_reduced,
    load_causal_lm,
    load_vocabulary,
    maximal_common_vocabulary,
    resolve,
    transplant,
)
from vocablab.errors import VocabLabError
from vocablab.options import DistillSettings
from vocablab.presets import preset_dir

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def smol():
    return load_causal_lm("smollm2-135m", device="cpu")


@pytest.fixture(scope="module")
def gemma():
    return load_causal_lm("gemma3-270m", device="cpu")


def test_model_ids_paths_and_sources_are_taken_where_vocabularies_are():
    smol, llama = load_vocabulary("smollm2-135m"), load_vocabulary("llama3")
    by_id = compare_tokenization(["smollm2-135m", "llama3"], "In 2024, 12,345 fans")
    by_vocab = compare_tokenization([smol, llama], "In 2024, 12,345 fans")
    assert [t.tokens for t in by_id.tokenized] == [t.tokens for t in by_vocab.tokenized]
    assert compare_numbers("smollm2-135m", "llama3").scheme_b == compare_numbers(smol, llama).scheme_b
    assert compare_vocabularies(["smollm2-135m", "llama3"]).pairs[0].shared_by_bytes == len(
        smol.byte_set & llama.byte_set
    )
    assert maximal_common_vocabulary(["smollm2-135m", "llama3"]) == maximal_common_vocabulary([smol, llama])
    folder = preset_dir("smollm2-135m")
    assert load_vocabulary(Path(folder)).encode("hello world") == smol.encode("hello world")
    source = resolve("smollm2-135m")
    assert resolve(source) is source


def test_a_cached_result_cannot_be_changed_by_its_caller():
    first = compare_numbers("smollm2-135m", "llama3")
    rows = len(first.mismatches)
    first.mismatches.clear()
    first.scheme_b = None
    again = compare_numbers("smollm2-135m", "llama3")
    assert len(again.mismatches) == rows > 0
    assert again.scheme_b.description == "groups of up to 3 digits, left to right"
    overlap = compare_vocabularies(["smollm2-135m", "llama3"])
    overlap.pairs.clear()
    shared = len(load_vocabulary("smollm2-135m").byte_set & load_vocabulary("llama3").byte_set)
    assert compare_vocabularies(["smollm2-135m", "llama3"]).pairs[0].shared_by_bytes == shared


def test_a_string_is_one_document():
    text = "The capital of France is Paris."
    one = bits_per_byte("smollm2-135m", text)
    assert (one.n_documents, one.n_bytes) == (1, len(text.encode()))
    assert one.bits_per_byte == pytest.approx(bits_per_byte("smollm2-135m", [text]).bits_per_byte)


def test_a_model_given_must_be_the_one_named(smol, gemma):
    # Gemma's 262,144 rows hold SmolLM2's ids: only its config tells the two apart
    with pytest.raises(VocabLabError, match="pass smollm2-135m's own model"):
        bits_per_byte("smollm2-135m", ["Some text."], model=gemma)
    with pytest.raises(VocabLabError, match="tokenizer has ids up to"):
        generate_reduced("gemma3-270m", PROMPT, model=smol, decoding=Decoding(max_new_bytes=4))
    with pytest.raises(VocabLabError, match="pass smollm2-135m's own model"):
        generate_ensemble(
            ["smollm2-135m", "gemma3-270m"], PROMPT, models=[gemma, smol], decoding=Decoding(max_new_bytes=4)
        )
    with pytest.raises(VocabLabError, match="1 models given for 2 model ids"):
        generate_ensemble(["smollm2-135m", "gemma3-270m"], PROMPT, models=[smol], decoding=Decoding(max_new_bytes=4))
    with pytest.raises(VocabLabError, match="gemma3-270m: its tokenizer has ids up to"):
        align_text("gemma3-270m", "smollm2-135m", "The cat sat.", models=(smol, gemma))
    with pytest.raises(VocabLabError, match="takes a loaded causal LM"):
        bits_per_byte("smollm2-135m", ["Some text."], model="smollm2-135m")
    assert (
        generate_reduced("smollm2-135m", PROMPT, model=smol, decoding=Decoding(k=1, max_new_bytes=7)).text == " Paris."
    )


BAD_CALLS = {
    "unknown device": (lambda: load_causal_lm("smollm2-135m", device="gpu"), "unknown device 'gpu'"),
    "unknown matching": (
        lambda: transplant("gemma3-270m", "smollm2-135m", "unused", method="mean", match="bogus"),
        "unknown matching 'bogus'",
    ),
    "k as text": (lambda: transplant("gemma3-270m", "smollm2-135m", "unused", k="8"), "whole number"),
    "beam 0": (lambda: generate_reduced("smollm2-135m", PROMPT, decoding=Decoding(beam=0)), "beam"),
    "negative min_weight": (
        lambda: generate_reduced("smollm2-135m", PROMPT, decoding=Decoding(min_weight=-1)),
        "min_weight",
    ),
    "empty document": (lambda: bits_per_byte("smollm2-135m", [""]), "no text to score"),
    "no ensemble": (lambda: generate_ensemble([], PROMPT), "at least two model ids"),
    "one id as the ensemble": (lambda: generate_ensemble("smollm2-135m", PROMPT), "at least two model ids"),
    "one id as the vocabularies": (lambda: compare_tokenization("smollm2-135m", "hi"), "give a list"),
    "no vocabularies": (lambda: maximal_common_vocabulary([]), "at least one"),
    "negative max_rows": (lambda: compare_numbers("smollm2-135m", "llama3", max_rows=-1), "max_rows"),
    "no documents to distill on": (
        lambda: distill("gemma3-270m", "smollm2-135m", [" "], DistillSettings(steps=1)),
        "no text",
    ),
}


@pytest.mark.parametrize("case", BAD_CALLS)
def test_bad_input_is_refused_with_a_message(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a call that went through would write here
    call, message = BAD_CALLS[case]
    with pytest.raises(VocabLabError, match=message):
        call()
    assert not (tmp_path / "unused").exists()


def test_the_transplant_function_and_its_subpackage_have_their_own_names():
    import vocablab
    import vocablab.surgery  # importing the subpackage leaves the function in place

    assert callable(vocablab.transplant) and vocablab.transplant is vocablab.surgery.transplant
    assert vocablab.transplant.__module__ == "vocablab.surgery.engine"
