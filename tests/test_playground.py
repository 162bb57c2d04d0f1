"""The tokenizer playground's operations: the tokenizer's own special tokens added or not, special
tokens written in a text parsed or split, counts that name specials, id lists to text and back, and
chat prompts by each tokenizer's own template. The references: hand-labelled ids, the `tokenizers`
library's BPE model run on the pre-tokenized text (which knows no added tokens), and transformers'
own apply_chat_template on a tokenizer loaded apart."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, processors

from vocablab.chat import chat_prompt, parse_messages
from vocablab.compare import compare_tokenization, tokenize_text
from vocablab.errors import VocabLabError
from vocablab.playground import decode_ids, format_ids, parse_ids
from vocablab.vocab import Vocabulary

from .conftest import tiny_sentencepiece_bpe


@pytest.fixture(scope="module")
def sp_with_bos() -> Vocabulary:
    """The tiny SentencePiece-style tokenizer with a post-processor that adds <s> (id 1), as Llama 2's does."""
    tok = tiny_sentencepiece_bpe()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return Vocabulary.from_backend(tok, "tiny-sp-bos", roles={"bos": 1, "eos": 2, "unk": 0})


# --- fast: tiny tokenizers built in code -------------------------------------------------------------


def test_bos_is_added_only_when_asked_and_counted_as_special(sp_with_bos):
    plain = tokenize_text(sp_with_bos, "the cat")
    with_bos = tokenize_text(sp_with_bos, "the cat", add_special_tokens=True)
    assert [t.id for t in with_bos.tokens] == [1, *(t.id for t in plain.tokens)]  # <s> is id 1, by hand
    first = with_bos.tokens[0]
    assert first.special and first.added and (first.start, first.end, first.n_bytes) == (0, 0, 0)
    # the text's tokens keep their byte spans, and an added BOS is no cut between tokens of the text
    assert [(t.start, t.end) for t in with_bos.tokens[1:]] == [(t.start, t.end) for t in plain.tokens]
    assert with_bos.boundaries() == plain.boundaries()
    assert with_bos.round_trips and plain.round_trips
    n = len(plain.tokens)
    assert plain.count_note() == f"{n} tokens (none special)"
    assert with_bos.count_note() == f"{n + 1} tokens (1 special) · {n} without specials"


def test_a_written_special_token_is_one_token_or_plain_text(sp_with_bos):
    parsed = tokenize_text(sp_with_bos, "the</s>")
    assert [t.id for t in parsed.tokens][-1] == 2 and parsed.n_special == 1  # </s> is id 2, by hand
    split = tokenize_text(sp_with_bos, "the</s>", parse_special_tokens=False)
    assert split.n_special == 0 and 2 not in [t.id for t in split.tokens]
    # "</s>" as text: '<', '/', '>' are not in the tiny vocabulary, so they fall back to their bytes
    assert [t.string for t in split.tokens][-4:] == ["<0x3C>", "<0x2F>", "s", "<0x3E>"]
    assert split.round_trips and sp_with_bos.decode([t.id for t in split.tokens]) == "the</s>"


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("[1, 2, 3]", [1, 2, 3]),
        ("1 2 3", [1, 2, 3]),
        ("(7,8)", [7, 8]),
        ("128000,\n791\n", [128000, 791]),
        ("[ 5 ]", [5]),
    ],
)
def test_id_lists_are_read_in_the_forms_they_are_copied_in(text, ids):
    assert parse_ids(text) == ids
    assert parse_ids(format_ids(ids)) == ids
    assert json.loads(format_ids(ids)) == ids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no token ids to decode"),
        ("[]", "no token ids to decode"),
        ("[1, two, 3]", "item 2 of the list, 'two', is not a token id"),
        ("[1.5]", "item 1 of the list, '1.5', is not a token id"),
    ],
)
def test_a_list_that_is_not_ids_is_refused_with_the_item(text, message):
    with pytest.raises(VocabLabError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_ids(text)


def test_an_id_past_the_vocabulary_is_refused_naming_it_and_the_size(sp_with_bos):
    size = len(sp_with_bos)
    with pytest.raises(VocabLabError, match=rf"id {size} \(item 2\) is not in tiny-sp-bos's vocabulary of {size} ids"):
        decode_ids(sp_with_bos, [1, size])
    with pytest.raises(VocabLabError, match=r"id -1 \(item 1\)"):
        decode_ids(sp_with_bos, [-1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{'role': 'user'}]", "not valid JSON (line 1, column 3"),
        ('{"role": "user", "content": "hi"}', "non-empty JSON list"),
        ('[{"role": "user"}]', "message 1 has no 'content' text"),
        ('[{"role": "user", "content": "hi"}, "hello"]', "message 2 is not an object"),
        ('[{"role": " ", "content": "hi"}]', "message 1 has an empty role"),
    ],
)
def test_messages_that_are_not_a_chat_are_refused(text, message):
    with pytest.raises(VocabLabError, match=message.replace("(", r"\(")):
        parse_messages(text)


@pytest.fixture(scope="module")
def sp_folder(tmp_path_factory) -> str:
    """The tiny tokenizer with its BOS post-processor, as a folder the CLI loads."""
    tok = tiny_sentencepiece_bpe()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    folder = tmp_path_factory.mktemp("sp-bos")
    tok.save(str(folder / "tokenizer.json"))
    return str(folder)


def test_cli_decode_prints_each_text_and_refuses_a_bad_id(sp_folder, capsys):
    from vocablab.cli import main

    reference = Tokenizer.from_file(f"{sp_folder}/tokenizer.json")
    ids = reference.encode("the cat", add_special_tokens=False).ids
    assert main(["decode", sp_folder, "--ids", str(ids), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ids"] == ids and data["decoded"][0]["text"] == "the cat"
    size = reference.get_vocab_size(with_added_tokens=True)
    assert main(["decode", sp_folder, "--ids", f"1 {size}"]) == 2
    assert f"id {size} (item 2) is not in" in capsys.readouterr().err


def test_cli_compare_adds_the_bos_and_splits_written_specials_when_asked(sp_folder, capsys):
    from vocablab.cli import main

    reference = Tokenizer.from_file(f"{sp_folder}/tokenizer.json")
    argv = ["compare", sp_folder, sp_folder, "--text", "the cat</s>", "--json"]
    cases = (([], False, 1), (["--add-special-tokens"], True, 2), (["--split-special-tokens"], False, 0))
    for flags, add, specials in cases:
        assert main([*argv, *flags]) == 0
        entry = json.loads(capsys.readouterr().out)["tokenizers"][0]
        assert entry["n_special"] == specials
        if not flags or add:
            assert entry["ids"] == reference.encode("the cat</s>", add_special_tokens=add).ids


# --- real: the preset tokenizers -------------------------------------------------------------------


def preset_tokenizer(name: str) -> Tokenizer:
    from vocablab.presets import ensure_preset

    return Tokenizer.from_file(str(ensure_preset(name) / "tokenizer.json"))


@pytest.mark.real
def test_hand_labelled_ids_and_their_text():
    # GPT-2's ids for "Hello, world" and Gemma 3's BOS, as published with the tokenizers
    gpt2 = compare_tokenization(["gpt2", "gemma3-270m"], "Hello, world", add_special_tokens=True, with_overlap=False)
    assert gpt2.tokenized[0].ids == [15496, 11, 995]  # GPT-2 adds nothing
    assert gpt2.tokenized[1].ids[0] == 2 and gpt2.tokenized[1].n_special == 1  # <bos>
    from vocablab.sources import load_vocabulary

    assert decode_ids(load_vocabulary("gpt2"), [15496, 11, 995]).text == "Hello, world"
    with pytest.raises(VocabLabError, match=r"id 50257 \(item 1\) is not in gpt2's vocabulary of 50,257 ids"):
        decode_ids(load_vocabulary("gpt2"), [50257])


@pytest.mark.real
@pytest.mark.parametrize("name", ["gemma3-270m", "mistral", "smollm2-135m", "qwen3"])
def test_added_special_tokens_are_what_the_tokenizer_file_adds(name):
    """The reference: the tokenizer file loaded apart by `tokenizers`, its post-processor applied."""
    text = "Paris is the capital of France."
    reference = preset_tokenizer(name).encode(text, add_special_tokens=True).ids
    got = compare_tokenization([name], text, add_special_tokens=True, with_overlap=False).tokenized[0]
    assert got.ids == reference
    plain = preset_tokenizer(name).encode(text, add_special_tokens=False).ids
    assert got.n_tokens - got.n_special == len(plain)  # what was added is what is special


@pytest.mark.real
@pytest.mark.parametrize("name", ["smollm2-135m", "qwen3"])
def test_written_special_tokens_split_as_text_are_the_bpe_of_that_text(name):
    """Split as text, "<|im_start|>" is what the BPE model alone (no added tokens) makes of its
    pre-tokenized pieces."""
    text = "<|im_start|>user\nHi<|im_end|>"
    reference = preset_tokenizer(name)
    pieces = reference.pre_tokenizer.pre_tokenize_str(text)
    expected = [token.id for piece, _ in pieces for token in reference.model.tokenize(piece)]
    split = compare_tokenization([name], text, parse_special_tokens=False, with_overlap=False).tokenized[0]
    assert split.ids == expected and split.n_special == 0 and split.round_trips
    parsed = compare_tokenization([name], text, with_overlap=False).tokenized[0]
    assert parsed.n_special == 2 and parsed.ids[0] == reference.token_to_id("<|im_start|>")


@pytest.mark.real
@pytest.mark.parametrize("name", ["gpt2", "llama3", "mistral", "gemma3-270m", "qwen3"])
def test_ids_round_trip_to_the_text(name):
    from vocablab.sources import load_vocabulary

    text = "In 2024, 12,345 fans paid $3.50: 日本語 🙂 <b>x</b>"
    vocab = load_vocabulary(name)
    ids = parse_ids(format_ids(vocab.encode(text)))
    assert decode_ids(vocab, ids).text == preset_tokenizer(name).decode(ids, skip_special_tokens=False) == text


@pytest.mark.real
@pytest.mark.parametrize("name", ["smollm2-135m", "qwen3", "llama3"])
@pytest.mark.parametrize("generation_prompt", [True, False])
def test_chat_prompt_is_transformers_own_apply_chat_template(name, generation_prompt):
    from transformers import AutoTokenizer

    from vocablab.presets import ensure_preset
    from vocablab.sources import load_vocabulary

    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    reference = AutoTokenizer.from_pretrained(ensure_preset(name))  # loaded apart from vocablab's cache
    text = reference.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    ids = reference.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    prompt = chat_prompt(load_vocabulary(name), messages, generation_prompt)
    assert prompt.problem is None and prompt.text == text
    assert prompt.tokenized.ids == list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    added = reference.added_tokens_decoder
    specials = sum(i in added and added[i].special for i in prompt.tokenized.ids)
    assert prompt.tokenized.n_special == specials > 0


@pytest.mark.real
def test_a_tokenizer_without_a_chat_template_says_so():
    from vocablab.sources import load_vocabulary

    prompt = chat_prompt(load_vocabulary("gemma3-270m"), [{"role": "user", "content": "hi"}])
    assert prompt.text is None and prompt.problem == "gemma3-270m has no chat template"


@pytest.mark.real
def test_a_template_that_refuses_the_messages_says_why_in_its_column(tmp_path):
    import shutil

    from vocablab.presets import ensure_preset
    from vocablab.sources import load_vocabulary

    folder = tmp_path / "strict"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(ensure_preset("smollm2-135m") / name, folder / name)
    strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('the first turn must be the user') }}{% endif %}"
    (folder / "chat_template.jinja").write_text(strict + "{{ messages[0]['content'] }}")
    vocab = load_vocabulary(str(folder))
    refused = chat_prompt(vocab, [{"role": "assistant", "content": "hi"}])
    assert refused.text is None and "the first turn must be the user" in refused.problem
    assert chat_prompt(vocab, [{"role": "user", "content": "hi"}]).text == "hi"
