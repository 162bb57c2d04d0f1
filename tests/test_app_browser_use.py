"""The web app in real use, in a real browser (Debian's chromium driven by Playwright): what a person
meets in long sessions: readable special tokens, one run per click, narrow windows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .app_server import serve_app
from .conftest import chromium_page
from .test_app_browser import pick

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def app_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app") / "app.log"


@pytest.fixture(scope="module")
def app_workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workspace")  # models the tests make go here


@pytest.fixture(scope="module")
def app_url(app_workspace, app_log):
    with serve_app(env={"VOCABLAB_WORKDIR": str(app_workspace)}, log=app_log, timeout=180) as url:
        yield url


@pytest.fixture()
def page(app_url):
    with chromium_page(app_url) as page:
        yield page


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour with channels in 0..255."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG contrast ratio (L1 + 0.05) / (L2 + 0.05) of two CSS rgb()/rgba() colours (opaque ones)."""
    lighter, darker = sorted((relative_luminance(parse_rgb(c)) for c in (foreground, background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def parse_rgb(css: str) -> tuple[float, float, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    assert len(numbers) == 3 or numbers[3] == 1, f"{css} is not an opaque colour"
    return numbers[0], numbers[1], numbers[2]


# every element inside a special token that draws text, with its colour, and the token's background
SPECIAL_COLOURS = """() => [...document.querySelectorAll('#tok-html .vl-special')].flatMap(token => {
    const background = getComputedStyle(token).backgroundColor;
    return [token, ...token.querySelectorAll('*')]
        .filter(el => [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
        .map(el => ({text: el.textContent, color: getComputedStyle(el).color, background}));
})"""


def test_special_tokens_are_readable(page):
    page.get_by_role("radio", name="a chat turn (ChatML markers)").click()
    expect(page.locator("#tok-text textarea")).to_have_value(re.compile(r"<\|im_start\|>"))
    page.locator("#tok-run").click()
    expect(page.locator("#tok-html .vl-special").first).to_be_visible(timeout=180_000)
    drawn = page.evaluate(SPECIAL_COLOURS)
    assert any("<|im_start|>" in d["text"] for d in drawn)
    for d in drawn:
        ratio = contrast_ratio(d["color"], d["background"])
        assert ratio >= 4.5, f"{d['text']!r}: {d['color']} on {d['background']} has contrast {ratio:.2f}"


def transplant_outputs(workspace: Path) -> list[Path]:
    return sorted(report.parent for report in workspace.rglob("transplant.json"))


def test_a_second_click_on_transplant_starts_no_second_run(page, app_workspace):
    page.get_by_role("tab", name="Transplant").click()
    page.get_by_role("radio", name="mean").click()  # no anchors: the quickest run; the job control is the same
    before = transplant_outputs(app_workspace)
    run = page.locator("#transplant-run")
    run.click()
    # the transplant itself is under way (its progress is shown), past the quick check of the pair
    expect(page.locator("#transplant-summary [data-testid='status-tracker']")).to_contain_text(
        "transplant", timeout=120_000
    )
    expect(run).to_be_disabled()
    run.click(force=True)  # what a visitor's second click does: nothing
    expect(page.locator("#transplant-summary")).to_contain_text("Done", timeout=300_000)
    expect(page.locator("#transplant-map .js-plotly-plot")).to_be_visible(timeout=300_000)
    expect(run).to_be_enabled(timeout=60_000)  # unlocked once the run and its map have ended
    expect(page.locator("[data-testid='status-tracker']:not(.hide)")).to_have_count(0, timeout=60_000)
    assert len(transplant_outputs(app_workspace)) == len(before) + 1


def test_align_has_a_stop_that_ends_the_run(page, app_log):
    stops = "stopped: the page that asked for this run was closed"
    before = app_log.read_text().count(stops)
    page.get_by_role("tab", name="Align distributions").click()
    sentence = "The committee approved 1,250 new homes near the river on Tuesday, and work starts in May. "
    page.locator("#align-text textarea").fill(sentence * 40)  # 3,600 bytes: hundreds of transport problems
    page.locator("#align-run").click()
    progress = page.locator("#align-summary [data-testid='status-tracker']")
    expect(progress).to_contain_text("2/3", timeout=300_000)  # past the forward passes, solving the plans
    page.locator("#align-stop").click()
    expect(page.locator("#align-failed")).to_contain_text("did not finish", timeout=60_000)
    expect(page.locator("#align-summary")).not_to_contain_text("Mean ULD")  # no result of the stopped run
    for _ in range(600):  # the run's own loop ends at its next position: the log says so
        if app_log.read_text().count(stops) > before:
            break
        page.wait_for_timeout(100)
    assert app_log.read_text().count(stops) == before + 1


def test_a_new_transplant_clears_the_last_search(page):
    page.get_by_role("tab", name="Transplant").click()
    page.get_by_role("radio", name="mean").click()
    run, summary, token = (
        page.locator("#transplant-run"),
        page.locator("#transplant-summary"),
        page.locator("#transplant-token"),
    )
    run.click()
    expect(summary).to_contain_text("Done", timeout=300_000)
    search = page.locator("#transplant-search textarea")
    search.fill("ing")
    search.press("Enter")
    expect(token).to_contain_text("shown", timeout=60_000)  # "N shown" under the list: those with "ing"
    first = summary.inner_text()
    expect(run).to_be_enabled(timeout=300_000)  # the first run's map is drawn
    run.click()
    expect(summary).not_to_have_text(first, timeout=300_000)  # the second run's output has its own name
    expect(summary).to_contain_text("Done", timeout=300_000)
    expect(token).not_to_contain_text("shown", timeout=60_000)  # the full list of the new run, no stale hint
    expect(search).to_have_value("")


def test_generate_checkboxes_keep_their_labels_at_800_px(page):
    page.set_viewport_size({"width": 800, "height": 1100})
    page.get_by_role("tab", name="Generate and ensemble").click()
    for box in ("#gen-exact", "#gen-sample"):
        label = page.locator(f"{box} label")
        expect(label).to_be_visible(timeout=60_000)
        # the whole label is drawn: the box is wide enough for its first word, and no text is cut off
        width = page.locator(box).evaluate("el => el.getBoundingClientRect().width")
        text = label.locator("span").last
        first_word = text.evaluate(
            """el => { const r = document.createRange(); r.setStart(el.firstChild, 0);
                       r.setEnd(el.firstChild, el.textContent.trim().split(' ')[0].length);
                       return r.getBoundingClientRect().width; }"""
        )
        assert width >= first_word + 30, (
            f"{box} is {width:.0f} px wide for a label whose first word needs {first_word:.0f}"
        )
        assert text.evaluate("el => el.scrollWidth <= el.clientWidth + 1")


def test_a_tokenizer_only_preset_in_a_or_b_is_said_to_serve_only_some_views(page):
    note = page.locator("#picker-weights-note")
    expect(note).to_have_text("")  # the default models have weights
    pick(page, "picker-b", "llama3")
    expect(note).to_contain_text("llama3 is a tokenizer without weights", timeout=60_000)
    for view in ("Generate and ensemble", "Align distributions", "Speculative decoding"):
        expect(note).to_contain_text(view)
    pick(page, "picker-a", "mistral")
    expect(note).to_contain_text("mistral and llama3 are tokenizers without weights", timeout=60_000)
    pick(page, "picker-a", "smollm2-135m")
    pick(page, "picker-b", "gemma3-270m")
    expect(note).to_have_text("", timeout=60_000)
