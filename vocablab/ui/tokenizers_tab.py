"""Tokenizer view: the same text side by side, and the vocabulary-overlap panel."""

from __future__ import annotations

import html
import json
from pathlib import Path

import gradio as gr
import pandas as pd

from vocablab.chat import EXAMPLE_MESSAGES, chat_prompt, parse_messages
from vocablab.compare import TokenComparison, compare_tokenization
from vocablab.errors import VocabLabError
from vocablab.examples import EXAMPLES, example_text
from vocablab.options import (
    ADD_SPECIAL_TOKENS,
    MCV_RULE,
    MCV_RULE_HELP,
    MCV_RULES,
    PARSE_SPECIAL_TOKENS,
    check_length,
)
from vocablab.playground import decode_ids, format_ids, parse_ids
from vocablab.plots import overlap_chart
from vocablab.sources import load_vocabulary
from vocablab.ui.common import MAX_TEXT_CHARS, chosen, hide_paths, report_failures, user_errors
from vocablab.ui.token_html import render_chat_prompts, render_comparison
from vocablab.vocab import ROLES, VocabOverlap, token_membership

# The tables' columns, also their headers before the first run
SUMMARY_COLUMNS = ["tokenizer", "tokens", "special", "bytes/token", "chars/token", "round-trips"]
DECODED_COLUMNS = ["tokenizer", "text", "tokens"]
ID_BOXES = 4  # one copyable list of ids per picker
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
        (t.name, t.n_tokens, t.n_special, round(t.bytes_per_token, 2), round(t.chars_per_token, 2), t.round_trips)
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


def id_boxes(result: TokenComparison | None) -> list:
    """The copyable lists of ids, one box per tokenizer, labelled with its name and count; the rest hidden."""
    tokenized = result.tokenized if result is not None else []
    boxes = [gr.update(value=format_ids(t.ids), label=f"{t.name} · {t.count_note()}", visible=True) for t in tokenized]
    return boxes + [gr.update(value="", visible=False)] * (ID_BOXES - len(boxes))


def tokenize(text, specs, add_special, parse_special, **kwargs) -> TokenComparison:
    if len(specs) < 2:
        raise VocabLabError("choose at least two different tokenizers")
    vocabs = [load_vocabulary(spec) for spec in specs]
    add = ADD_SPECIAL_TOKENS if add_special is None else bool(add_special)
    parse = PARSE_SPECIAL_TOKENS if parse_special is None else bool(parse_special)
    return compare_tokenization(vocabs, text, add_special_tokens=add, parse_special_tokens=parse, **kwargs)


def cut_note(text: str, result: TokenComparison) -> str:
    return boundaries_note(len(result.disagreeing_boundaries)) + (
        f" The text is at the box's limit of {MAX_TEXT_CHARS:,} characters: pasted text beyond it was cut."
        if utf16_length(text) >= MAX_TEXT_CHARS
        else ""
    )


@user_errors
def tokenize_side_by_side(
    text,
    show_ids,
    a,
    b,
    c,
    d,
    mcv_rule,
    request: gr.Request,
    add_special=None,
    parse_special=None,
    progress=gr.Progress(track_tqdm=True),
):
    # the later inputs come last: API callers (and tests) that omit them get the defaults
    progress(0, desc="loading tokenizers")  # not progress.tqdm: a hub download's own bar would nest in it
    result = tokenize(text, chosen(a, b, c, d), add_special, parse_special, mcv_rule=mcv_rule or MCV_RULE)
    return (
        render_comparison(result, show_ids=show_ids),
        summary_table(result),
        overlap_table(result.overlap),
        specials_table(result.overlap),
        overlap_chart(result.overlap),
        cut_note(text, result),
        *id_boxes(result),
    )


@user_errors
def tokenize_as_typed(text, show_ids, a, b, c, d, add_special, parse_special, request: gr.Request):
    """The tokens alone (no overlap, no chart) at every change of the text or of a switch: cheap, and
    quiet. An empty text clears the view; a tokenizer that cannot be loaded is said in the note, not in
    a toast per key typed."""
    if not (text or "").strip():
        return "", pd.DataFrame(columns=SUMMARY_COLUMNS), "", *id_boxes(None)
    try:
        result = tokenize(text, chosen(a, b, c, d), add_special, parse_special, with_overlap=False)
    except VocabLabError as exc:
        return gr.update(), gr.update(), f"⚠️ {html.escape(hide_paths(str(exc)), quote=False)}", *id_boxes(None)
    html_out = render_comparison(result, show_ids=show_ids)
    return html_out, summary_table(result), cut_note(text, result), *id_boxes(result)


@user_errors
def decode_view(ids_text, a, b, c, d, request: gr.Request) -> pd.DataFrame:
    """The pasted ids decoded by each tokenizer; an id one of them lacks is said in its row (all: refused)."""
    ids = parse_ids(ids_text)
    rows, problems = [], []
    for spec in chosen(a, b, c, d):
        vocab = load_vocabulary(spec)
        try:
            decoded = decode_ids(vocab, ids)
        except VocabLabError as exc:
            problems.append(str(exc))
            rows.append((vocab.name, f"⚠️ {exc}", ""))
            continue
        rows.append((vocab.name, decoded.text, " | ".join(decoded.tokens)))
    if problems and len(problems) == len(rows):
        raise VocabLabError("; ".join(problems))
    return pd.DataFrame(rows, columns=DECODED_COLUMNS)


@user_errors
def chat_view(messages_text, add_generation_prompt, show_ids, a, b, c, d, request: gr.Request) -> str:
    """Each tokenizer's own chat template applied to the messages: the prompt, its tokens and ids."""
    messages = parse_messages(messages_text)
    specs = chosen(a, b, c, d)
    if not specs:
        raise VocabLabError("choose a tokenizer")
    prompts = [chat_prompt(load_vocabulary(spec), messages, bool(add_generation_prompt)) for spec in specs]
    return render_chat_prompts(prompts, show_ids=bool(show_ids))


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


def vocabulary_panel(pickers: list[gr.Dropdown]) -> tuple:
    """The vocabulary-overlap accordion: the MCV rule, the tables, the chart and the token search (wired
    here); returns the rule, the overlap outputs, the search event's arguments and the search fields a link carries."""
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
    search = (search_tokens, [query, which, pickers[0], pickers[1]], found)
    for trigger in (query.submit, which.change):
        trigger(*search)
    return mcv_rule, [overlap, specials, chart], search, {"search": query, "tokens": which}


def ids_panel(pickers: list[gr.Dropdown]) -> list[gr.Textbox]:
    """The copyable lists of ids (one box per tokenizer, filled by a tokenization) and the decoder of
    pasted ids (wired here); returns the id boxes and the decoder's box, last."""
    with gr.Accordion("Token ids, and ids back to text", open=True):
        ids = [
            gr.Textbox(label="token ids", buttons=["copy"], interactive=False, visible=False, elem_id=f"tok-ids-{n}")
            for n in range(ID_BOXES)
        ]
        with gr.Row(equal_height=True):
            decode_box = gr.Textbox(
                label="Token ids to decode",
                placeholder="[128000, 791, 6864] (brackets optional; commas, spaces or lines between ids)",
                max_length=MAX_TEXT_CHARS,
                scale=4,
                elem_id="tok-decode-ids",
            )
            decode = gr.Button("Decode with each tokenizer", scale=1, elem_id="tok-decode")
        decoded = gr.Dataframe(
            headers=DECODED_COLUMNS, label="Decoded", elem_id="tok-decoded", interactive=False, wrap=True
        )
    for trigger in (decode.click, decode_box.submit):
        trigger(decode_view, [decode_box, *pickers], decoded)
    return [*ids, decode_box]


def chat_panel(pickers: list[gr.Dropdown], show_ids: gr.Checkbox) -> tuple[gr.Code, gr.Checkbox]:
    """The chat-template builder (wired here); returns its inputs, the messages and the switch."""
    with gr.Accordion("Chat template", open=False):
        gr.Markdown(
            "Messages as JSON; each tokenizer's own chat template (run by transformers in its jinja2 sandbox) "
            "renders the prompt, shown as its tokens with the count and ids. No template: said so."
        )
        messages = gr.Code(
            value=json.dumps(EXAMPLE_MESSAGES, indent=1, ensure_ascii=False),
            language="json",
            label="Messages (role, content)",
            interactive=True,
            elem_id="chat-messages",
        )
        with gr.Row():
            generation_prompt = gr.Checkbox(
                value=True, label="add the generation prompt (the assistant's turn opened)", elem_id="chat-gen-prompt"
            )
            apply = gr.Button("Apply each chat template", variant="primary", elem_id="chat-run")
        chat_html = gr.HTML(elem_id="chat-html")
    apply.click(chat_view, [messages, generation_prompt, show_ids, *pickers], chat_html)
    return messages, generation_prompt


def build(pickers: list[gr.Dropdown]) -> dict[str, gr.Component]:
    """The tab's components and events, inside an open ``gr.Tab``; returns the fields a link carries."""
    example = gr.Radio([(title, name) for name, title in EXAMPLES.items()], value="multilingual", label="Example text")
    text = gr.Textbox(
        value=example_text("multilingual"),
        lines=5,
        label="Text (tokenized as you type)",
        max_length=MAX_TEXT_CHARS,
        elem_id="tok-text",
        info="up to 20,000 characters; an emoji counts as two",
    )
    with gr.Row():
        upload = gr.UploadButton("Load a text file (UTF-8)", file_types=[".txt", ".md", ".csv", ".json"], size="sm")
        show_ids = gr.Checkbox(value=False, label="show token ids (they are also shown on hover)")
        add_special = gr.Checkbox(
            value=ADD_SPECIAL_TOKENS,
            label="add each tokenizer's own special tokens (BOS/EOS, as a model is fed)",
            elem_id="tok-add-special",
        )
        parse_special = gr.Checkbox(
            value=PARSE_SPECIAL_TOKENS,
            label="read special tokens written in the text (<|im_start|>) as one token, not as plain text",
            elem_id="tok-parse-special",
        )
        run = gr.Button("Tokenize and compare vocabularies", variant="primary", elem_id="tok-run")
    failed = gr.Markdown(elem_id="tok-failed")
    note = gr.Markdown(elem_id="tok-note")
    tokens_html = gr.HTML(elem_id="tok-html")
    summary = gr.Dataframe(headers=SUMMARY_COLUMNS, label="Per tokenizer", elem_id="tok-summary", interactive=False)
    *ids, decode_box = ids_panel(pickers)
    messages, generation_prompt = chat_panel(pickers, show_ids)
    mcv_rule, overlap_outputs, search, search_fields = vocabulary_panel(pickers)

    inputs = [text, show_ids, *pickers, mcv_rule, add_special, parse_special]
    outputs = [tokens_html, summary, *overlap_outputs, note, *ids]
    example.input(example_text, example, text)
    # the example chosen follows the text (a link's, an upload, typing): the one it is, else none
    text.change(None, text, example, js=MATCH_EXAMPLE, queue=False, show_progress="hidden")
    upload.upload(read_upload, upload, text)
    tokenized = run.click(tokenize_side_by_side, inputs, outputs)
    tokenized.success(*search)  # a bad model: one message, not two
    report_failures(failed, tokenized, mcv_rule.change(tokenize_side_by_side, inputs, outputs))
    # as the text or a switch changes, without a click: the tokens only, and only the latest change
    typed = [text, show_ids, *pickers, add_special, parse_special]
    light = (tokenize_as_typed, typed, [tokens_html, summary, note, *ids])
    for trigger in (text.change, show_ids.change, add_special.change, parse_special.change):
        trigger(*light, trigger_mode="always_last", show_progress="hidden")
    return {
        "text": text,
        "ids": show_ids,
        "mcv": mcv_rule,
        **search_fields,
        "bos": add_special,
        "specials": parse_special,
        "decode": decode_box,
        "messages": messages,
        "chat_prompt": generation_prompt,
    }
