"""The web app in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from .app_server import serve_app
from .conftest import chromium_page

pytestmark = pytest.mark.e2e  # the app in a browser

README_VIEWS = {"tokenizers.png", "numbers.png", "transplant.png", "generate.png", "align.png"}
# Every check waits for the state it reads (expect retries until it holds), never for a fixed time: on a
# loaded machine an answer can take many times longer. These are the waits of checks with no timeout of
# their own and of the page's actions.
expect.set_options(timeout=60_000)
ACTION_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def app_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app") / "app.log"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, app_log):
    env = {"VOCABLAB_WORKDIR": str(tmp_path_factory.mktemp("workspace"))}  # models the tests make go here
    with serve_app(env=env, log=app_log, timeout=180) as url:
        yield url


@pytest.fixture()
def page(app_url):
    with chromium_page(app_url) as page:
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        yield page


def screenshot(page, tmp_path: Path, name: str, part: str | None = ".tabs") -> None:
    """Save a PNG of part of the page (the tab bar and the open tab; None: the viewport) in the test's tmp_path.

    `make screenshots` sets VOCABLAB_SCREENSHOTS to a folder: the README's views are written there instead.
    """
    folder = Path(os.environ.get("VOCABLAB_SCREENSHOTS") or tmp_path) if name in README_VIEWS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    (page.locator(part) if part else page).screenshot(path=str(folder / name), type="png")


def pick(page, picker: str, value: str) -> None:
    box = page.locator(f"#{picker} input")
    box.fill(value)
    box.press("Enter")
    page.keyboard.press("Escape")


def open_tab(page, tab: str, model_a: str, model_b: str) -> None:
    """Pick both models (the pickers are shared by every tab and test) and open a tab."""
    pick(page, "picker-a", model_a)
    pick(page, "picker-b", model_b)
    page.get_by_role("tab", name=tab).click()


def expect_empty_input_refused(page, field: str, button: str, message: str) -> None:
    """Clear a text field, click the button: a toast explains, and nothing runs."""
    page.locator(field).fill("")
    page.locator(button).click()
    toast = page.locator(".toast-body").filter(has_text=message).first
    expect(toast).to_be_visible(timeout=60_000)
    toast.get_by_test_id("toast-close").click()  # dismissed, so that it does not cover the view's screenshot
    expect(toast).to_be_hidden()


def test_tokenizer_view_shows_both_default_tokenizers(page, tmp_path):
    expect(page.locator("#tok-summary")).to_contain_text("bytes/token")  # its headers before the first run
    page.locator("#tok-text textarea").fill("In 2024, 12,345 people paid $3.50 each. 日本語 🙂")
    page.locator("#tok-run").click()
    columns = page.locator("#tok-html .vl-col")
    expect(columns).to_have_count(2, timeout=180_000)
    names = [columns.nth(i).get_attribute("data-tokenizer") for i in range(2)]
    assert names == ["smollm2-135m", "gemma3-270m"]
    for i in range(2):
        assert columns.nth(i).locator(".vl-tok").count() > 10
        assert int(columns.nth(i).locator(".vl-count").inner_text()) > 10
    assert "\ufffd" not in page.locator("#tok-html").inner_text()
    page.locator("#overlap-table").get_by_text("shared by bytes").wait_for(timeout=60_000)
    # the specials of each tokenizer by role, from the presets' tokenizer configs (SmolLM2: ChatML markers)
    for token in ("<|im_start|>", "<|im_end|>", "<bos>", "<eos>"):
        expect(page.locator("#specials-table")).to_contain_text(token)
    page.locator("#overlap-chart .js-plotly-plot").wait_for(timeout=60_000)
    screenshot(page, tmp_path, "tokenizers.png")


def test_text_cut_at_the_box_limit_is_said_to_be_cut(page):
    # the browser cuts pasted text at 20,000 UTF-16 units: 10,000 emoji, not 20,000 characters
    page.locator("#tok-text textarea").fill("🙂" * 12_000)
    assert page.locator("#tok-text textarea").input_value() == "🙂" * 10_000
    page.locator("#tok-run").click()
    expect(page.locator("#tok-html .vl-col").first).to_be_visible(timeout=180_000)
    expect(page.get_by_text("pasted text beyond it was cut")).to_be_visible(timeout=60_000)


def test_bad_model_shows_a_message_and_the_app_keeps_serving(page, tmp_path):
    page.locator("#tok-run").click()
    page.locator("#tok-html .vl-col").nth(1).wait_for(timeout=120_000)
    expect(page.locator("#tok-failed")).to_have_text("")
    pick(page, "picker-b", "no-such-org/no-such-model")
    page.locator("#tok-run").click()
    toast = page.get_by_test_id("toast-text").filter(has_text="cannot be reached").first
    expect(toast).to_be_visible()
    toast.hover(trial=True)  # only waits until the toast stands still (slid in) for the screenshot
    # a line says that the run did not finish, and the first run's columns are not left to be taken for its own
    expect(page.locator("#tok-failed")).to_contain_text("The last run did not finish")
    expect(page.locator("#tok-html .vl-col")).to_have_count(0)
    screenshot(page, tmp_path, "error.png", part=None)
    # what a visitor (or a shared link) typed is shown as text, not as HTML
    pick(page, "picker-b", "<b>typed</b>")
    page.locator("#tok-run").click()
    toast = page.get_by_test_id("toast-text").filter(has_text="'<b>typed</b>' is not a preset").first
    toast.wait_for(timeout=60_000)
    assert toast.locator("b").count() == 0
    pick(page, "picker-b", "llama3")
    page.locator("#tok-run").click()
    expect(page.locator("#tok-html .vl-col").nth(1)).to_have_attribute("data-tokenizer", "llama3", timeout=120_000)
    expect(page.locator("#tok-failed")).to_have_text("")


def test_number_view_shows_a_mismatch_table(page, tmp_path):
    pick(page, "picker-b", "llama3")  # 3-digit groups against SmolLM2's single digits
    page.get_by_role("tab", name="Numbers").click()
    page.locator("#numbers-run").click()
    table = page.locator("#number-mismatch-table")
    expect(table).to_contain_text(re.compile(r"\d\|\d\|\d\|\d"), timeout=180_000)  # SmolLM2: single digits
    expect(table).to_contain_text(re.compile(r"\d{3}\|\d"))  # Llama 3: groups of three from the left
    expect(page.locator("#number-schemes")).to_contain_text("groups")
    # typed text is marked as it is typed, without the button (Enter only makes a new line there)
    page.locator("#number-text textarea").fill("")
    page.locator("#number-text textarea").press_sequentially("We paid 7654321 dollars.")
    expect(page.locator("#number-highlight")).to_contain_text("7654321", timeout=60_000)
    screenshot(page, tmp_path, "numbers.png")
    # clearing the box (or typing blanks) clears the highlight quietly: no error toast a keystroke
    page.locator("#number-text textarea").fill("")
    page.locator("#number-text textarea").press_sequentially("  ")
    expect(page.locator("#number-highlight")).not_to_contain_text("7654321", timeout=60_000)
    expect(page.locator(".toast-body")).to_have_count(0)


def test_transplant_view_shows_anchors_and_map(page, tmp_path):
    page.get_by_role("tab", name="Transplant").click()
    k_box = page.locator("#transplant-k input[type='number']")
    page.get_by_role("radio", name="mean").click()  # no anchors: k cannot be set
    expect(k_box).to_be_disabled()
    page.get_by_role("radio", name="omp").click()
    expect(k_box).to_be_enabled()
    k_box.fill("8")  # fewer anchors keep the CPU run short; the view is the same
    k_box.press("Enter")
    page.locator("#transplant-run").click()
    expect(page.locator("#transplant-summary")).to_contain_text("approximated", timeout=300_000)
    anchors = page.locator("#transplant-anchors .js-plotly-plot")
    anchors.wait_for(timeout=120_000)
    expect(page.locator("#transplant-anchors")).to_contain_text("Anchors of")
    page.locator("#transplant-map .js-plotly-plot").wait_for(timeout=300_000)
    expect(page.locator("#transplant-map")).to_contain_text("new (transplanted)")
    screenshot(page, tmp_path, "transplant.png")
    search = page.locator("#transplant-search textarea")
    search.fill("zzzzqqq")
    search.press("Enter")  # no match: said so, and the token shown stays
    expect(page.locator("#transplant-token")).to_contain_text("no new token contains 'zzzzqqq'", timeout=60_000)
    expect(page.locator("#transplant-anchors")).to_contain_text("Anchors of")
    search.fill("")
    search.press("Enter")  # every new token again, and the no-match line goes
    expect(page.locator("#transplant-token")).not_to_contain_text("no new token contains", timeout=60_000)
    page.get_by_text("Before and after").click()
    pick(page, "transplant-base", "smollm2-135m")  # the box changes; the comparison keeps the run's own base
    page.locator("#transplant-compare").click()
    # the table's rows read "base: ..." and "transplanted: ..." (the progress text has no colon)
    expect(page.locator("#transplant-scores")).to_contain_text("transplanted: ", timeout=300_000)
    expect(page.locator("#transplant-scores")).to_contain_text("base: gemma3-270m")
    screenshot(page, tmp_path, "before-after.png")


def test_generation_view_shows_six_outputs_and_the_step_inspector(page, tmp_path):
    open_tab(page, "Generate and ensemble", "smollm2-135m", "gemma3-270m")
    expect_empty_input_refused(page, "#gen-prompt textarea", "#gen-run", "type a prompt")
    page.locator("#gen-prompt textarea").fill("The capital of France is ")  # a trailing space: healed
    budget = page.locator("input[aria-label='number input for new bytes (the last token may run past)']")
    budget.fill("16")  # six outputs on 2 CPU cores: short ones with a small K keep the test quick
    budget.press("Enter")
    page.locator("input[aria-label='K (next tokens kept per cover entry)']").fill("20")
    page.locator("#gen-run").click()
    cards = page.locator("#gen-outputs .vl-col")
    cards.nth(5).wait_for(timeout=400_000)
    expect(cards.nth(0).locator(".vl-body")).to_contain_text("Paris")  # SmolLM2 as is, healed
    expect(cards.nth(0).locator(".vl-healed")).to_contain_text("prompt healed: its end ' '")
    for n, run in enumerate(["A as is", "A reduced", "B as is", "B reduced", "MCV ensemble", "byte ensemble"]):
        expect(cards.nth(n)).to_have_attribute("data-run", run)
        expect(cards.nth(n)).to_contain_text("bytes/step")
        assert cards.nth(n).locator(".vl-tok").count() > 1  # pieces coloured in turn
    expect(cards.nth(5)).to_contain_text("over bytes")
    chart = page.locator("#gen-inspector")
    expect(chart).to_contain_text("step 0: chosen", timeout=60_000)
    expect(chart).to_contain_text("ensemble")  # the ensemble's bars next to each model's
    # the step slider follows the output chosen: its last step is that output's last
    steps = int(re.search(r"(\d+) steps", cards.nth(0).inner_text()).group(1))
    page.locator("#gen-which input").fill("A as is")
    page.locator("#gen-which").get_by_text("A as is").first.click()
    # the choice's answer redraws the chart (A's bars alone, no ensemble's) and resets the step to 0: a step
    # typed before that answer lands would be undone by it, so wait for it (the slider's end alone can match
    # the ensemble's before it lands)
    expect(chart).not_to_contain_text("ensemble", timeout=120_000)
    expect(chart).to_contain_text("step 0: chosen")
    slider = page.locator("#gen-step input[type='range']")
    expect(slider).to_have_attribute("max", str(max(steps - 1, 1)), timeout=60_000)
    number = page.locator("#gen-step input[type='number']")  # a step typed in the slider's box is drawn
    number.fill("2")
    number.press("Enter")
    expect(chart).to_contain_text("step 2: chosen", timeout=60_000)
    number.fill("999")  # past the last step: clamped to it (it was an error in place of slider and chart)
    number.press("Enter")
    expect(chart).to_contain_text(f"step {max(steps - 1, 1)}: chosen", timeout=60_000)
    expect(page.locator("#gen-step")).not_to_contain_text("Error")
    number.fill("2")
    number.press("Enter")
    expect(chart).to_contain_text("step 2: chosen", timeout=60_000)
    screenshot(page, tmp_path, "generate.png")


def test_align_view_shows_plans_for_a_chosen_position(page, tmp_path):
    open_tab(page, "Align distributions", "gemma3-270m", "smollm2-135m")
    expect_empty_input_refused(page, "#align-text textarea", "#align-run", "text is empty")
    page.locator("#align-text textarea").fill("The committee approved 1,250 new homes near the river.")
    page.locator("#align-run").click()
    expect(page.locator("#align-summary")).to_contain_text("Mean ULD (bytes alignment", timeout=300_000)
    expect(page.locator("#align-line")).to_contain_text("ULD along the text")
    expect(page.locator("#align-table")).to_contain_text("·approved")  # the text's next tokens, listed
    expect(page.locator("#align-rank-plan")).to_contain_text("ULD rank plan")
    expect(page.locator("#align-sinkhorn")).to_contain_text("transport cost")
    expect(page.locator("#align-bars")).to_contain_text("A gemma3-270m")
    # choose another position: the details and the plans follow
    box = page.locator("#align-position input")
    box.fill("#2 · byte")
    page.locator("#align-position").get_by_text(re.compile(r"#2 · byte")).first.click()
    expect(page.locator("#align-details")).to_contain_text("#2 (bytes alignment)", timeout=60_000)
    page.locator("#align-sinkhorn .nsewdrag").first.hover()  # plotly's hover layer answers
    screenshot(page, tmp_path, "align.png")


def test_a_shared_link_restores_the_models_the_tab_and_the_text(page):
    pick(page, "picker-b", "llama3")
    page.get_by_role("tab", name="Numbers").click()
    text = "Prices rose from 1234567 to 3.14159 & more; 東京"
    page.locator("#number-text textarea").fill(text)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator("#numbers-link-button").click()
    box = page.locator("#numbers-link textarea")
    expect(box).to_have_value(re.compile(r"tab=numbers"), timeout=30_000)
    link = box.input_value()
    # the copy to the clipboard may land after the box shows the link
    page.wait_for_function("link => navigator.clipboard.readText().then(t => t === link)", arg=link, polling=200)
    query = parse_qs(urlsplit(link).query)
    assert query == {"tab": ["numbers"], "a": ["smollm2-135m"], "b": ["llama3"], "text": [text]}
    page.goto(link)  # a fresh load of the app, as whoever receives the link
    expect(page.locator("#picker-b input")).to_have_value("llama3", timeout=60_000)
    expect(page.locator("#picker-a input")).to_have_value("smollm2-135m")
    expect(page.get_by_role("tab", name="Numbers")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#number-text textarea")).to_have_value(text)
    expect(page.locator("#picker-c")).to_be_hidden()  # the Numbers view uses A and B only
    expect(page.locator("#numbers-link-note")).not_to_contain_text("first 2,000 characters")
    long_text = "1234 " * 500  # 2,500 characters: the link carries 2,000 and says so
    page.locator("#number-text textarea").fill(long_text)
    page.locator("#numbers-link-button").click()
    expect(page.locator("#numbers-link-note")).to_contain_text("first 2,000 characters", timeout=30_000)
    assert parse_qs(urlsplit(box.input_value()).query)["text"] == [long_text[:2000]]


def test_each_view_shows_the_shared_pickers_it_uses(page):
    pickers = {name: page.locator(f"#picker-{name}") for name in "abcd"}

    def expect_shown(names: str) -> None:
        """Waits until exactly the pickers ``names`` are shown."""
        for name, box in pickers.items():
            expect(box).to_be_visible() if name in names else expect(box).to_be_hidden()

    expect_shown("abcd")  # Tokenizers
    page.get_by_role("tab", name="Transplant").click()
    expect_shown("")  # the view has its own base and donor
    # a pair with different digit schemes: the warning's button opens the Numbers view on that pair
    pick(page, "transplant-donor", "llama3")
    page.get_by_role("radio", name="mean").click()  # a donor without weights; mean needs none
    page.locator("#transplant-run").click()
    page.locator("#transplant-numbers").click(timeout=120_000)
    expect(page.get_by_role("tab", name="Numbers")).to_have_attribute("aria-selected", "true")
    expect(pickers["a"].locator("input")).to_have_value("gemma3-270m")
    expect(pickers["b"].locator("input")).to_have_value("llama3")
    expect_shown("ab")
    page.get_by_role("tab", name="Tokenizers").click()
    expect_shown("abcd")
    # the map drawn after the run: no run left in flight whose stop, at the page's close, the next test counts
    expect(page.locator("#transplant-map")).to_contain_text("PCA", timeout=120_000)


def test_a_run_given_up_stops_and_frees_the_app(app_url, app_log):
    """Gradio cannot stop a function in a thread: the run's own loop stops at its next step once its
    Stop button is pressed or its page is closed, and the next visitor's run starts."""
    import time

    def stops_logged() -> int:
        return app_log.read_text().count("stopped: the page that asked for this run was closed")

    def wait_for_stops(count: int) -> None:
        deadline = time.monotonic() + 300  # exact runs go on for minutes; a stop comes within a step
        while stops_logged() < count and time.monotonic() < deadline:
            time.sleep(1)
        assert stops_logged() == count

    before = stops_logged()
    with chromium_page(app_url) as page:
        open_tab(page, "Generate and ensemble", "smollm2-135m", "gemma3-270m")
        page.get_by_label("bytes", exact=True).check()
        page.locator("#gen-exact input").check()  # exact over bytes: six outputs of up to a minute each
        page.locator("#gen-run").click()
        expect(page.locator("#gen-outputs")).to_contain_text("generations", timeout=120_000)  # under way
        page.locator("#gen-stop").click()
        wait_for_stops(before + 1)
        expect(page.locator("#gen-failed")).to_contain_text("did not finish")  # not "failed": it was stopped
        page.locator("#gen-run").click()
        expect(page.locator("#gen-outputs")).to_contain_text("generations", timeout=120_000)
    wait_for_stops(before + 2)  # the page was closed mid-run
    with chromium_page(app_url) as page:  # the next visitor's model run is served (one runs at a time)
        open_tab(page, "Align distributions", "gemma3-270m", "smollm2-135m")
        page.locator("#align-run").click()
        expect(page.locator("#align-summary")).to_contain_text("Mean ULD", timeout=120_000)


def test_speculate_view_fits_the_draft_and_colours_a_run(page, tmp_path):
    open_tab(page, "Speculative decoding", "gemma3-270m", "gemma3-270m")  # first, a draft that is the target
    page.locator("#spec-run").click()
    toast = page.get_by_test_id("toast-text").filter(has_text="pick two different models").first
    expect(toast).to_be_visible(timeout=60_000)
    expect(page.locator("#spec-failed")).to_contain_text("did not finish")
    pick(page, "picker-b", "smollm2-135m")  # the view goes on serving: A, the target, drafted by B
    page.locator("#spec-text textarea").fill("The capital of France is Paris.")
    page.locator("#spec-fit").click()
    page.locator("#spec-alpha .js-plotly-plot").wait_for(timeout=300_000)
    expect(page.locator("#spec-alpha")).to_contain_text("smollm2-135m drafting for gemma3-270m over mcv")
    table = page.locator("#spec-table")
    expect(table).to_contain_text("predicted speed-up", timeout=60_000)
    expect(table).to_contain_text(re.compile(r"mean alpha 0\.\d\d"))
    assert table.locator("tr").count() == 3  # gamma, symbols per target call, predicted speed-up
    budget = page.locator("input[aria-label='number input for new bytes']")
    budget.fill("12")
    budget.press("Enter")
    page.locator("#spec-run").click()
    cards = page.locator("#spec-outputs .vl-col")
    expect(cards).to_have_count(2, timeout=300_000)
    expect(page.locator("#spec-failed")).to_have_text("")
    speculative, alone = cards.nth(0), cards.nth(1)
    expect(speculative).to_have_attribute("data-run", "speculative")
    expect(alone).to_have_attribute("data-run", "alone")
    counts = re.search(r"(\d+) symbols: (\d+) drafted and accepted, (\d+) the target's own", speculative.inner_text())
    symbols, accepted, own = (int(n) for n in counts.groups())
    # each emitted symbol is one coloured span, green if drafted and accepted, orange if the target's own
    assert speculative.locator(".vl-body .vl-tok").count() == symbols == accepted + own > 0
    assert speculative.locator(".spec-accepted").count() == accepted
    assert speculative.locator(".spec-own").count() == own
    assert f"{accepted}/" in speculative.inner_text()  # the same count in the acceptance figure
    # greedy: the coloured text is the target's own reduced greedy text, shown beside it
    expect(alone).to_contain_text("the same text")
    assert speculative.locator(".vl-body").inner_text() == alone.locator(".vl-body").inner_text() != ""
    screenshot(page, tmp_path, "speculate.png")
