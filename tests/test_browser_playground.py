"""The tokenizer view as a playground, in a real browser (Debian's chromium driven by Playwright):
tokens as you type, the tokenizer's own BOS, special tokens parsed or split, id lists both ways, and
chat prompts. The references: the preset tokenizer files read by `tokenizers` in this process, and
transformers' own apply_chat_template."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .app_server import serve_app
from .conftest import chromium_page

pytestmark = pytest.mark.e2e
expect.set_options(timeout=120_000)  # the first keystroke loads the tokenizers on a busy machine

SMOL, GEMMA = "smollm2-135m", "gemma3-270m"  # the default pickers A and B


def reference(name: str):
    from tokenizers import Tokenizer

    from vocablab.presets import ensure_preset

    return Tokenizer.from_file(str(ensure_preset(name) / "tokenizer.json"))


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    env = {"VOCABLAB_WORKDIR": str(tmp_path_factory.mktemp("workspace"))}
    with serve_app(env=env, log=tmp_path_factory.mktemp("app") / "app.log", timeout=180) as url:
        yield url


@pytest.fixture()
def page(app_url):
    with chromium_page(app_url) as page:
        page.set_default_timeout(120_000)
        yield page


def ref_ids(name: str, text: str) -> list[int]:
    """The ids of ``text`` alone (no BOS), by the tokenizer file."""
    return reference(name).encode(text, add_special_tokens=False).ids


def column(page, where: str, name: str):
    return page.locator(f"{where} .vl-col[data-tokenizer='{name}']")


def count(page, name: str) -> int:
    return int(column(page, "#tok-html", name).locator(".vl-count").inner_text())


def ids_box(page, n: int):
    return page.locator(f"#tok-ids-{n} textarea")


def type_text(page, text: str) -> None:
    box = page.locator("#tok-text textarea")
    box.fill("")
    box.press_sequentially(text)


def test_tokens_and_their_ids_follow_the_text_as_it_is_typed(page):
    type_text(page, "Hello world")
    for n, name in enumerate((SMOL, GEMMA)):  # no click: the text's changes alone
        expect(column(page, "#tok-html", name)).to_contain_text("world")
        expect(ids_box(page, n)).to_have_value(json.dumps(ref_ids(name, "Hello world")))
    page.locator("#tok-text textarea").press_sequentially(", 12345 apples")
    text = "Hello world, 12345 apples"
    for n, name in enumerate((SMOL, GEMMA)):
        expect(ids_box(page, n)).to_have_value(json.dumps(ref_ids(name, text)))
        expect(column(page, "#tok-html", name).locator(".vl-count")).to_have_text(str(len(ref_ids(name, text))))
    expect(page.locator("#tok-ids-0")).to_contain_text(f"{SMOL} · ")  # each list is labelled with its tokenizer
    expect(page.locator(".toast-body")).to_have_count(0)


def test_the_bos_switch_adds_gemmas_bos_and_the_count_says_it_is_special(page):
    type_text(page, "Paris is big")
    plain = len(ref_ids(GEMMA, "Paris is big"))
    expect(column(page, "#tok-html", GEMMA).locator(".vl-count")).to_have_text(str(plain))
    expect(column(page, "#tok-html", GEMMA)).to_contain_text("(none special)")
    page.locator("#tok-add-special input").check()
    expect(column(page, "#tok-html", GEMMA).locator(".vl-count")).to_have_text(str(plain + 1))
    expect(column(page, "#tok-html", GEMMA)).to_contain_text(f"(1 special) · {plain} without specials")
    expect(ids_box(page, 1)).to_have_value(re.compile(r"^\[2, "))  # Gemma's <bos> is id 2
    expect(column(page, "#tok-html", SMOL)).to_contain_text("(none special)")  # SmolLM2 adds none
    page.locator("#tok-add-special input").uncheck()
    expect(column(page, "#tok-html", GEMMA).locator(".vl-count")).to_have_text(str(plain))


def test_written_special_tokens_are_one_readable_token_or_plain_text(page):
    type_text(page, "<|im_start|>user")
    smol = column(page, "#tok-html", SMOL)
    expect(smol).to_contain_text("(1 special)")
    special = smol.locator(".vl-special").first
    expect(special).to_contain_text("<|im_start|>")
    # finding 7: the special token's text is light on its dark background, not Gradio's dark grey
    colours = special.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    assert colours == ["rgb(255, 255, 255)", "rgb(68, 68, 68)"], colours
    page.locator("#tok-parse-special input").uncheck()
    split = reference(SMOL)
    pieces = split.pre_tokenizer.pre_tokenize_str("<|im_start|>user")
    expected = [t.id for piece, _ in pieces for t in split.model.tokenize(piece)]  # the BPE alone
    expect(ids_box(page, 0)).to_have_value(json.dumps(expected))
    expect(smol).to_contain_text("(none special)")
    expect(smol.locator(".vl-special")).to_have_count(0)


def test_an_id_list_is_decoded_by_each_tokenizer_and_a_bad_id_is_named(page):
    ids = ref_ids(SMOL, "Paris is the capital")
    page.locator("#tok-decode-ids textarea").fill(str(ids))
    page.locator("#tok-decode").click()
    table = page.locator("#tok-decoded")
    expect(table).to_contain_text("Paris is the capital")
    expect(table).to_contain_text(GEMMA)  # Gemma's row: the same numbers are other tokens there
    page.locator("#tok-decode-ids textarea").fill("[5, 300000]")  # past both vocabularies
    page.locator("#tok-decode").click()
    toast = page.locator(".toast-body").filter(has_text="id 300000 (item 2) is not in smollm2-135m's vocabulary")
    expect(toast.first).to_contain_text("49,152 ids")
    expect(toast.first).not_to_contain_text("Traceback")
    page.locator("#tok-decode-ids textarea").fill("[5, 100000]")  # past SmolLM2's only: said in its row
    page.locator("#tok-decode").click()
    expect(table).to_contain_text("id 100000 (item 2) is not in smollm2-135m's vocabulary of 49,152 ids")


def test_a_chat_prompt_is_built_by_each_tokenizers_own_template(page):
    from transformers import AutoTokenizer

    from vocablab.presets import ensure_preset

    messages = [{"role": "user", "content": "What is 2+2?"}]
    page.get_by_text("Chat template", exact=True).click()
    editor = page.locator("#chat-messages .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    editor.fill(json.dumps(messages))
    page.locator("#chat-run").click()
    smol = column(page, "#chat-html", SMOL)
    expected = AutoTokenizer.from_pretrained(ensure_preset(SMOL)).apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True
    )["input_ids"]
    expect(smol.locator(".vl-ids")).to_have_text(json.dumps(expected))
    expect(smol.locator(".vl-count")).to_have_text(str(len(expected)))
    expect(smol.locator(".vl-special").first).to_contain_text("<|im_start|>")
    expect(column(page, "#chat-html", GEMMA)).to_contain_text("gemma3-270m has no chat template")
