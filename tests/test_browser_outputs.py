"""A visitor's outputs in a real browser (Debian's chromium, driven by Playwright), in public mode:
listed across a page reload and still reachable as ``output:NAME``, never listed to another visitor;
and a failed or stopped run leaves no earlier result under its "Error" badge and no progress bar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .app_server import serve_app
from .conftest import chromium_page
from .test_app_browser import pick

pytestmark = pytest.mark.e2e

expect.set_options(timeout=60_000)
TRACKERS = "[data-testid='status-tracker']:not(.hide)"  # an "Error" badge or a progress bar, shown


@pytest.fixture(scope="module")
def app_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app") / "app.log"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, app_log):
    env = {"VOCABLAB_WORKDIR": str(tmp_path_factory.mktemp("workspace")), "VOCABLAB_PUBLIC": "1"}
    with serve_app(env=env, log=app_log, timeout=180) as url:
        yield url


@pytest.fixture()
def page(app_url):
    with chromium_page(app_url) as page:
        page.set_default_timeout(120_000)
        yield page


def transplant(page) -> str:
    """A quick transplant (the mean method: no anchors to fit); returns its ``output:NAME``."""
    page.get_by_role("tab", name="Transplant").click()
    page.get_by_role("radio", name="mean").click()
    page.locator("#transplant-run").click()
    summary = page.locator("#transplant-summary")
    expect(summary).to_contain_text("Done", timeout=300_000)
    return re.search(r"output:\S+?(?=[\s`(]|$)", summary.inner_text()).group(0)


def open_list(page):
    page.locator("#outputs-panel").get_by_text("Your outputs").click()
    return page.locator("#outputs-list")


def tokenize_with(page, spec: str) -> None:
    page.get_by_role("tab", name="Tokenizers").click()
    pick(page, "picker-b", spec)
    page.locator("#tok-run").click()


def test_an_output_is_listed_and_reachable_after_a_reload_and_only_by_its_visitor(page, app_url):
    handle = transplant(page)
    page.reload()
    listed = open_list(page)
    expect(listed).to_contain_text(handle, timeout=60_000)
    expect(listed).to_contain_text("gemma3-270m")  # the base
    expect(listed).to_contain_text("smollm2-135m")  # the donor
    expect(page.locator("#outputs-panel")).to_contain_text("Your outputs (1)")
    expect(listed).not_to_contain_text("/")  # public: no folder on the server
    tokenize_with(page, handle)  # the handle still names the output: its tokenizer is the donor's
    expect(page.locator("#tok-html .vl-col").nth(1)).to_have_attribute("data-tokenizer", handle, timeout=120_000)
    context = page.context.browser.new_context(viewport={"width": 1400, "height": 1100})
    try:  # another browser context: another visitor, whose browser has no key of the first's
        other = context.new_page()
        other.set_default_timeout(120_000)
        other.goto(app_url)
        expect(open_list(other)).to_contain_text("No outputs yet", timeout=60_000)
        expect(other.locator("#outputs-panel")).to_contain_text("Your outputs (0)")
        tokenize_with(other, handle)
        toast = other.get_by_test_id("toast-text").filter(has_text="no such output").first
        expect(toast).to_be_visible(timeout=60_000)
    finally:
        context.close()


def test_a_failed_or_stopped_run_leaves_no_stale_result_and_no_progress_bar(page):
    page.locator("#tok-run").click()
    columns = page.locator("#tok-html .vl-col")
    expect(columns).to_have_count(2, timeout=120_000)
    tokenize_with(page, "no-such-org/no-such-model")
    expect(page.get_by_test_id("toast-text").filter(has_text="cannot be reached").first).to_be_visible()
    expect(page.locator("#tok-failed")).to_contain_text("did not finish")
    expect(columns).to_have_count(0)  # the first run's columns are not shown under the failure
    expect(page.locator(TRACKERS)).to_have_count(0)  # nor any "Error" badge over what stays
    pick(page, "picker-b", "gemma3-270m")
    page.get_by_role("tab", name="Transplant").click()
    page.get_by_role("radio", name="omp").click()  # a minute or more on 2 cores: stopped well before its end
    page.locator("#transplant-run").click()
    progress = page.locator("#transplant-summary [data-testid='status-tracker']")
    expect(progress).to_contain_text("transplant", timeout=120_000)  # under way, its bar shown
    page.locator("#transplant-stop").click()
    expect(page.locator("#transplant-failed")).to_contain_text("did not finish")
    expect(page.locator(TRACKERS)).to_have_count(0)  # the stopped run's bars go
    handle = transplant(page)
    assert handle.startswith("output:gemma3-270m-with-smollm2-135m-mean-")
    expect(page.locator("#transplant-map .js-plotly-plot")).to_be_visible(timeout=300_000)
    expect(page.locator("#transplant-failed")).to_have_text("")
    expect(page.locator(TRACKERS)).to_have_count(0, timeout=60_000)  # "Done", and no bar left anywhere
