"""Share links in a real browser (Debian's chromium driven by Playwright): the link box never shows a
link that does not match the screen, an opened link restores every setting, a light view opens on its
result, and the example chosen follows the restored text."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from vocablab.examples import EXAMPLES, example_text

from .app_server import serve_app
from .conftest import chromium_page

pytestmark = pytest.mark.e2e

expect.set_options(timeout=60_000)  # every check waits for the state it reads: a loaded machine is slow


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


def make_link(page, tab: str) -> dict[str, list[str]]:
    """Click the view's link button; the link's query once the box shows it."""
    page.locator(f"#{tab}-link-button").click()
    box = page.locator(f"#{tab}-link textarea")
    expect(box).to_have_value(re.compile(rf"\?tab={tab}"))
    return parse_qs(urlsplit(box.input_value()).query)


def test_the_link_box_empties_when_a_carried_input_changes(page):
    box = page.locator("#tokenizers-link textarea")
    make_link(page, "tokenizers")
    page.locator("#tok-text textarea").fill("another text")
    expect(box).to_have_value("")
    make_link(page, "tokenizers")
    page.get_by_label("show token ids").check()  # a setting, not only the text
    expect(box).to_have_value("")
    make_link(page, "tokenizers")
    page.locator("#picker-c input").fill("gpt2")  # a shared model the view uses
    page.locator("#picker-c input").press("Enter")
    expect(box).to_have_value("")
    page.get_by_role("tab", name="Generate and ensemble").click()
    make_link(page, "generate")
    page.locator("#gen-exact input").check()
    expect(page.locator("#generate-link textarea")).to_have_value("")


def test_an_opened_link_runs_the_tokenizer_view_and_shows_its_example(page, app_url):
    code = example_text("code")
    page.goto(f"{app_url}?{urlencode({'tab': 'tokenizers', 'a': 'gpt2', 'b': 'llama3', 'text': code, 'ids': '1'})}")
    expect(page.locator("#tok-text textarea")).to_have_value(code)
    expect(page.get_by_label("show token ids")).to_be_checked()
    expect(page.get_by_role("radio", name="Python code")).to_be_checked()  # not the page's first example
    expect(page.get_by_role("radio", name="multilingual text with emoji")).not_to_be_checked()
    # the result, without a click: both tokenizers' columns of this text
    expect(page.locator("#tok-html")).to_contain_text("llama3")
    expect(page.locator("#tok-html")).to_contain_text("def")
    expect(page.locator("#tok-summary")).to_contain_text("gpt2")
    # a text of one's own is no example
    page.goto(f"{app_url}?{urlencode({'tab': 'tokenizers', 'text': 'my own words'})}")
    expect(page.locator("#tok-text textarea")).to_have_value("my own words")
    for title in EXAMPLES.values():  # no example is chosen
        expect(page.get_by_role("radio", name=title)).not_to_be_checked()
    expect(page.locator("#tok-html")).to_contain_text("own")


def test_an_opened_link_runs_the_number_view(page, app_url):
    page.goto(f"{app_url}?{urlencode({'tab': 'numbers', 'a': 'gpt2', 'b': 'llama3', 'text': 'It cost 12345 euros'})}")
    # the comparison, without a click (it takes a minute or more on two busy cores)
    expect(page.locator("#number-schemes")).to_contain_text("llama3", timeout=300_000)
    expect(page.locator("#number-highlight")).to_contain_text("12345")


def test_a_transplant_link_carries_k_method_and_matching(page):
    page.get_by_role("tab", name="Transplant").click()
    k = page.locator("#transplant-k input[type=number]")
    k.fill("16")
    k.press("Enter")
    page.get_by_role("radio", name="knn").check()
    page.get_by_role("radio", name="string").check()
    query = make_link(page, "transplant")
    assert query == {"tab": ["transplant"], "k": ["16"], "method": ["knn"], "match": ["string"]}
    page.goto(page.locator("#transplant-link textarea").input_value())
    expect(page.get_by_role("tab", name="Transplant")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#transplant-k input[type=number]")).to_have_value("16")
    expect(page.get_by_role("radio", name="knn")).to_be_checked()
    expect(page.get_by_role("radio", name="string")).to_be_checked()
    # a heavy view waits for a click, and says so
    expect(page.locator("#transplant-link-opened")).to_contain_text("Press Transplant to run it")
    expect(page.locator("#transplant-summary")).to_have_text("")


def test_a_generate_link_carries_the_decoding_settings(page):
    page.get_by_role("tab", name="Generate and ensemble").click()
    page.locator("#gen-prompt textarea").fill("Once upon a time")
    page.locator("#gen-exact input").check()
    page.locator("#gen-sample input").check()
    temperature = page.locator("#gen-temperature input[type=number]")
    temperature.fill("0.7")
    temperature.press("Enter")
    seed = page.locator("#gen-seed input")
    seed.fill("42")
    seed.press("Enter")
    query = make_link(page, "generate")
    expected = {"exact": ["1"], "sample": ["1"], "temperature": ["0.7"], "seed": ["42"], "text": ["Once upon a time"]}
    assert query == {"tab": ["generate"], "a": ["smollm2-135m"], "b": ["gemma3-270m"], **expected}
    page.goto(page.locator("#generate-link textarea").input_value())
    expect(page.locator("#gen-prompt textarea")).to_have_value("Once upon a time")
    expect(page.locator("#gen-exact input")).to_be_checked()
    expect(page.locator("#gen-sample input")).to_be_checked()
    expect(page.locator("#gen-temperature input[type=number]")).to_have_value("0.7")
    expect(page.locator("#gen-seed input")).to_have_value("42")
    expect(page.locator("#generate-link-opened")).to_contain_text("Press Generate all six")
