"""Tokenizer view: the same text side by side, and the vocabulary-overlap panel."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd

from vocablab.compare import compare_tokenization
from vocablab.errors import VocabLabError
from vocablab.examples import EXAMPLES, example_text
from vocablab.options import MCV_RULE, MCV_RULE_HELP, MCV_RULES, check_length
from vocablab.plots import overlap_chart
from vocablab.sources import load_vocabulary
from vocablab.ui.common import MAX_TEXT_CHARS, chosen, report_failures, user_errors
from vocablab.ui.token_html import render_comparison
from vocablab.vocab import ROLES, VocabOverlap, token_membership

# The tables' columns, also their headers before the first run
SUMMARY_COLUMNS = ["tokenizer", "tokens", "bytes/token", "chars/token", "round-trips"]
OVERLAP_COLUMNS = [
    "pair",
    "size A",
    "size B",
    "shared by string",
    "shared by bytes",
    "only in A",
    "only in B",
    "MCV",
]
MEMBERSHIP = {"only in first": "only_a", "only in second": "only_b", "shared (by bytes)": "shared"}
# which example a text is, in the browser (no request per key typed); null: none of them
MATCH_EXAMPLE = f"""(text) => {{
    const examples = {json.dumps({name: example_text(name) for name in EXAMPLES})};
    return Object.keys(examples).find((name) => examples[name] === text) ?? null;
}}"""


def summary_table(result) -> pd.DataFrame:
    rows = [
        (t.name, t.n_tokens, round(t.bytes_per_token, 2), round(t.chars_per_token, 2), t.round_trips)
        for t in result.tokenized
    ]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def overlap_table(overlap: VocabOverlap) -> pd.DataFrame:
    rows = []
    for p in overlap.pairs:
        sizes = (overlap.sizes[p.a], overlap.sizes[p.b], p.shared_by_string, p.shared_by_bytes)
        sizes += (p.only_a_by_bytes, p.only_b_by_bytes, p.mcv_size)
        rows.append((f"{p.a} vs {p.b}", *(f"{n:,}" for n in sizes)))
    return pd.DataFrame(rows, columns=OVERLAP_COLUMNS)


def specials_table(overlap: VocabOverlap) -> pd.DataFrame:
    """One row per special-token role that some tokenizer fills, one column per tokenizer."""
    token = {name: {} for name in overlap.names}
    for p in overlap.pairs:
        for role, (a, b) in p.special_roles.items():
            token[p.a][role], token[p.b][role] = a, b
    roles = [role for role in ROLES if any(token[name].get(role) for name in overlap.names)]
    rows = [(role, *(token[name].get(role) or "-" for name in overlap.names)) for role in roles]
    return pd.DataFrame(rows, columns=["role", *overlap.names])


@user_errors
def tokenize_side_by_side(
    text, show_ids, a, b, c, d, mcv_rule, request: gr.Request, progress=gr.Progress(track_tqdm=True)
):
    # mcv_rule comes last: API callers that omit it get the radio's default
    specs = chosen(a, b, c, d)
    if len(specs) < 2:
        raise VocabLabError("choose at least two different tokenizers")
    progress(0, desc="loading tokenizers")  # not progress.tqdm: a hub download's own bar would nest in it
    vocabs = [load_vocabulary(spec) for spec in specs]
    result = compare_tokenization(vocabs, text, mcv_rule=mcv_rule or MCV_RULE)
    return (
        render_comparison(result, show_ids=show_ids),
        summary_table(result),
        overlap_table(result.overlap),
        specials_table(result.overlap),
        overlap_chart(result.overlap),
        boundaries_note(len(result.disagreeing_boundaries))
        + (
            f" The text is at the box's limit of {MAX_TEXT_CHARS:,} characters: pasted text beyond it was cut."
            if utf16_length(text) >= MAX_TEXT_CHARS
            else ""
        ),
    )


def boundaries_note(n: int) -> str:
    """How many token boundaries the tokenizers do not all share, in words."""
    if n == 0:
        return "Every token boundary is shared by all the tokenizers."
    if n == 1:
        return "1 token boundary is not shared by all the tokenizers (marked with a red bar)."
    return f"{n:,} token boundaries are not shared by all the tokenizers (marked with a red bar)."


def utf16_length(text: str) -> int:
    """The length a browser gives a text box's value, and cuts it to: UTF-16 code units, so a character
    outside the Basic Multilingual Plane (an emoji, a rare CJK character) counts twice."""
    return len(text.encode("utf-16-le")) // 2


@user_errors
def search_tokens(query, which, a, b, request: gr.Request):
    specs = chosen(a, b)
    if len(specs) < 2:
        raise VocabLabError("choose two different tokenizers")
    first, second = (load_vocabulary(s) for s in specs)
    rows = token_membership(first, second, query or "", MEMBERSHIP[which], limit=300)
    return pd.DataFrame(rows) if rows else pd.DataFrame({"token": ["(no match)"]})


@user_errors
def read_upload(path) -> str:
    """The text of an uploaded file: UTF-8 only, within the view's limit."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark is not text
    except UnicodeDecodeError as exc:
        raise VocabLabError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start:,}); "
            "save it as UTF-8 and load it again"
        ) from exc
    if not text.strip():
        raise VocabLabError("the file is empty")
    check_length(text, what="file")
    return text


def build(pickers: list[gr.Dropdown]) -> dict[str, gr.Component]:
    """The tab's components and events, inside an open ``gr.Tab``; returns the fields a link carries."""
    example = gr.Radio([(title, name) for name, title in EXAMPLES.items()], value="multilingual", label="Example text")
    text = gr.Textbox(
        value=example_text("multilingual"),
        lines=5,
        label="Text",
        max_length=MAX_TEXT_CHARS,
        elem_id="tok-text",
        info="up to 20,000 characters; an emoji counts as two",
    )
    with gr.Row():
        upload = gr.UploadButton("Load a text file (UTF-8)", file_types=[".txt", ".md", ".csv", ".json"], size="sm")
        show_ids = gr.Checkbox(value=False, label="show token ids (they are also shown on hover)")
        run = gr.Button("Tokenize", variant="primary", elem_id="tok-run")
    failed = gr.Markdown(elem_id="tok-failed")
    cut_note = gr.Markdown()
    tokens_html = gr.HTML(elem_id="tok-html")
    summary = gr.Dataframe(headers=SUMMARY_COLUMNS, label="Per tokenizer", elem_id="tok-summary", interactive=False)
    with gr.Accordion("Vocabulary overlap", open=True):
        gr.Markdown(
            "Tokens are the same when their UTF-8 bytes are equal (docs/methods.md §1); "
            "raw string matching under-counts across byte-level BPE and SentencePiece. "
            "MCV: the maximal common vocabulary, all single bytes plus the shared byte strings the rule keeps "
            "(docs/methods.md §5). The merge-closed rule takes up to a minute for a large pair, once."
        )
        mcv_rule = gr.Radio(
            [(f"{rule}: {MCV_RULE_HELP[rule]}", rule) for rule in MCV_RULES],
            value=MCV_RULE,
            label="MCV rule",
            elem_id="mcv-rule",
        )
        overlap = gr.Dataframe(
            headers=OVERLAP_COLUMNS, label="Overlap of each pair", elem_id="overlap-table", interactive=False
        )
        specials = gr.Dataframe(
            headers=["role", "tokenizer A", "tokenizer B"],
            label="Special tokens by role (matched across tokenizers by role, not by text)",
            elem_id="specials-table",
            interactive=False,
        )
        chart = gr.Plot(label="Overlap chart", elem_id="overlap-chart")
        with gr.Row():
            query = gr.Textbox(label="Search tokens (substring)", value="", elem_id="token-search")
            which = gr.Radio(list(MEMBERSHIP), value="only in first", label="Tokens of the first two")
        found = gr.Dataframe(
            headers=["token", "bytes", "id in A", "id in B"],
            label="Tokens",
            elem_id="token-search-table",
            interactive=False,
        )

    inputs = [text, show_ids, *pickers, mcv_rule]
    outputs = [tokens_html, summary, overlap, specials, chart, cut_note]
    example.input(example_text, example, text)
    # the example chosen follows the text (a link's, an upload, typing): the one it is, else none
    text.change(None, text, example, js=MATCH_EXAMPLE, queue=False, show_progress="hidden")
    upload.upload(read_upload, upload, text)
    search = (search_tokens, [query, which, pickers[0], pickers[1]], found)
    tokenized = run.click(tokenize_side_by_side, inputs, outputs)
    tokenized.success(*search)  # a bad model: one message, not two
    changed = [trigger(tokenize_side_by_side, inputs, outputs) for trigger in (show_ids.change, mcv_rule.change)]
    report_failures(failed, tokenized, *changed)
    for trigger in (query.submit, which.change):
        trigger(*search)
    return {"text": text, "ids": show_ids, "mcv": mcv_rule, "search": query, "tokens": which}
