"""Number view: how models A and B split numbers, and where their splits differ."""

from __future__ import annotations

import html

import gradio as gr
import pandas as pd

from vocablab.errors import VocabLabError
from vocablab.examples import example_text
from vocablab.numbers import NumberComparison, NumberSpan, compare_numbers, highlight_numbers
from vocablab.plots import number_mismatch_heatmap, tokens_per_number_chart
from vocablab.sources import load_vocabulary
from vocablab.ui.common import MAX_TEXT_CHARS, hide_paths, report_failures, user_errors
from vocablab.vocab import display_token

INTRO = """Tokenizers split digit runs in different ways: one digit per token, groups of up to three
digits from the left, or free BPE merges. The scheme is detected from how each tokenizer encodes
digit strings, never from its name. Why it matters: a tokenizer transplant between models that
split numbers differently loses about three quarters of its math (GSM8K) accuracy, against about
5% for pairs with the same scheme (Goddard & Fernandes Neto 2025, arXiv 2506.06607)."""

SHOWN_DIGIT_TOKENS = 400


def schemes_markdown(result: NumberComparison) -> str:
    capped = len(result.mismatches) < result.mismatch_total
    return (
        f"**A: {result.a}**: {result.scheme_a.description} ({result.scheme_a.kind})  \n"
        f"**B: {result.b}**: {result.scheme_b.description} ({result.scheme_b.kind})  \n"
        f"{result.mismatch_total:,} of {result.samples_total:,} sample numbers are split differently"
        f"{f'; the table shows {len(result.mismatches):,} of them' if capped else ''}."
    )


def mismatch_table(result: NumberComparison) -> pd.DataFrame:
    names = {
        "category": "category",
        "leading_space": "leading space",
        "number": "number",
        "split_a": f"A: {result.a}",
        "split_b": f"B: {result.b}",
        "tokens_a": "tokens A",
        "tokens_b": "tokens B",
    }
    return pd.DataFrame(result.mismatches, columns=list(names)).rename(columns=names)


def digit_tokens_markdown(name: str, tokens: list[str], total: int) -> str:
    shown = " ".join(f"`{display_token(t.encode('utf-8'))}`" for t in tokens[:SHOWN_DIGIT_TOKENS])
    more = f" … and {len(tokens) - SHOWN_DIGIT_TOKENS:,} more" if len(tokens) > SHOWN_DIGIT_TOKENS else ""
    return (
        f"**Digit tokens only in {name}: {len(tokens):,}** (of its {total:,}; '·' is a leading space)\n\n"
        f"{shown or '(none)'}{more}"
    )


def highlighted(text: str, spans: list[NumberSpan]) -> list[tuple[str, str | None]]:
    """The text in pieces for gr.HighlightedText: numbers split differently carry both splits."""
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for span in spans:
        if not span.differs:
            continue
        pieces.append((text[position : span.start], None))
        pieces.append((span.text, f"A {'|'.join(span.split_a)} ≠ B {'|'.join(span.split_b)}"))
        position = span.end
    pieces.append((text[position:], None))
    return [p for p in pieces if p[0]]


def highlight_summary(spans: list[NumberSpan]) -> str:
    differing = sum(s.differs for s in spans)
    found = f"{len(spans)} number{'s' if len(spans) != 1 else ''} found"
    return f"{found}; {differing} split differently (highlighted)." if spans else "No numbers found."


@user_errors
def compare_numbers_view(spec_a: str, spec_b: str, text: str, request: gr.Request):
    """Everything the Compare button fills in."""
    a, b = load_vocabulary(spec_a), load_vocabulary(spec_b)
    result = compare_numbers(a, b)
    return (
        schemes_markdown(result),
        mismatch_table(result),
        tokens_per_number_chart(result),
        number_mismatch_heatmap(result),
        digit_tokens_markdown(f"A ({result.a})", result.digit_tokens_only_a, result.digit_tokens_a),
        digit_tokens_markdown(f"B ({result.b})", result.digit_tokens_only_b, result.digit_tokens_b),
        *_marked(a, b, text),
    )


def _marked(a, b, text: str) -> tuple[list, str]:
    """The highlight of ``text`` and its summary; a blank text clears it (it is being typed)."""
    if not text or not text.strip():
        return [], "Type some text above to see how its numbers are split."
    spans = highlight_numbers(a, b, text)
    return highlighted(text, spans), highlight_summary(spans)


@user_errors
def highlight_view(spec_a: str, spec_b: str, text: str, request: gr.Request):
    """Mark the numbers of ``text`` that A and B split differently. It runs at every key typed, so a
    model that cannot be loaded is said once, in the note under the highlight, not in a toast per key."""
    try:
        a, b = load_vocabulary(spec_a), load_vocabulary(spec_b)
    except VocabLabError as exc:
        return [], f"⚠️ {html.escape(hide_paths(str(exc)), quote=False)}"
    return _marked(a, b, text)


def build(pickers: list[gr.Dropdown]) -> dict[str, gr.Component]:
    """The tab's components and events, inside an open ``gr.Tab``; uses models A and B; returns the
    fields a link carries."""
    gr.Markdown(INTRO)
    text = gr.Textbox(
        value=example_text("numbers"),
        lines=3,
        label="Your text with numbers",
        max_length=MAX_TEXT_CHARS,
        elem_id="number-text",
        info="numbers that A and B split differently are highlighted below as you type",
    )
    run = gr.Button("Compare numbers", variant="primary", elem_id="numbers-run")
    failed = gr.Markdown(elem_id="numbers-failed")
    marked = gr.HighlightedText(label="Numbers split differently", elem_id="number-highlight")
    marked_note = gr.Markdown()
    schemes = gr.Markdown(elem_id="number-schemes")
    with gr.Row():
        per_length = gr.Plot(label="Tokens per number")
        heatmap = gr.Plot(label="Where the splits differ")
    table = gr.Dataframe(
        headers=["category", "leading space", "number", "A", "B", "tokens A", "tokens B"],
        label="Sample numbers split differently (A vs B; '·' is a space)",
        elem_id="number-mismatch-table",
        interactive=False,
        max_height=420,
    )
    with gr.Row():
        only_a = gr.Markdown(elem_id="number-digit-tokens-a")
        only_b = gr.Markdown(elem_id="number-digit-tokens-b")

    models = [pickers[0], pickers[1]]
    compared = run.click(
        compare_numbers_view,
        inputs=[*models, text],
        outputs=[schemes, table, per_length, heatmap, only_a, only_b, marked, marked_note],
    )
    report_failures(failed, compared)
    # as the visitor types (Enter makes a new line in this box); only the latest text is worked on
    text.input(highlight_view, inputs=[*models, text], outputs=[marked, marked_note], trigger_mode="always_last")
    return {"text": text}
