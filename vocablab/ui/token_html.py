"""HTML for tokenized text: one colour per token, visible whitespace, ids on hover or inline,
and the cuts other tokenizers do not share marked in red."""

from __future__ import annotations

from html import escape

from vocablab.chat import ChatPrompt
from vocablab.compare import Token, TokenComparison, TokenizedText
from vocablab.playground import format_ids
from vocablab.vocab import display_token

PALETTE = ["#fde2a7", "#c6e8c6", "#c9d9f5", "#f5c9d9", "#d9c9f5", "#c9f0ee", "#f0dcc2", "#e4e4b8"]
WHITESPACE_MARKS = "·→␍↵"  # what display_token shows for a space, a tab, a carriage return, a newline

CSS = """
.vl-grid {display: grid; gap: 12px;}
.vl-col {border: 1px solid #ddd; border-radius: 6px; padding: 8px; min-width: 0;}
.vl-head {font-size: 13px; margin-bottom: 6px; color: #333;}
.vl-body {font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.9; word-break: break-all;}
.vl-tok {border-radius: 3px; padding: 1px 0; color: #111 !important;}
.vl-multi {outline: 1px dashed #777;}
.vl-special {background: #444 !important; color: #fff !important;}
.vl-cut {box-shadow: inset 2px 0 0 #d62728;}
.vl-id {font-size: 9px; color: #555 !important; vertical-align: sub; margin-left: 1px;}
.vl-ws {color: #999;}
.vl-special .vl-id, .vl-special .vl-ws {color: #ddd !important;}
.vl-added {outline: 1px dotted #d62728;}
.vl-ids, .vl-prompt {font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap;
  word-break: break-all; margin: 6px 0 0; max-height: 12em; overflow: auto;}
.vl-problem {font-style: italic;}
"""
# The colours are !important: Gradio's own text colour (its .prose rules, light or dark theme) is more
# specific and would otherwise draw the tokens' text, dark grey on the special tokens' dark background.


def visible(text: str) -> str:
    """``text`` as :func:`~vocablab.vocab.display_token` shows it, escaped for HTML, with the
    whitespace marks greyed and a line break after each newline."""
    out = []
    for ch in display_token(text.encode("utf-8")):
        if ch in WHITESPACE_MARKS:
            out.append(f'<span class="vl-ws">{ch}</span>' + ("<br>" if ch == "↵" else ""))
        else:
            out.append(escape(ch))
    return "".join(out)


def display_units(tokens: list[Token]) -> list[list[Token]]:
    """Group tokens so each group decodes to whole characters: a character split over several
    byte tokens is shown once, spanning its tokens, instead of as replacement characters."""
    units: list[list[Token]] = []
    pending: list[Token] = []
    for token in tokens:
        pending.append(token)
        data = b"".join(t.piece for t in pending)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            if len(data) < 8:  # a UTF-8 character is at most 4 bytes; wait for the rest
                continue
        units.append(pending)
        pending = []
    if pending:
        units.append(pending)
    return units


def token_spans(tokenized: TokenizedText, cuts: set[int], show_ids: bool) -> str:
    """One coloured span per token (per character, where a character spans several byte tokens)."""
    spans = []
    for n, unit in enumerate(display_units(tokenized.tokens)):
        text = b"".join(t.piece for t in unit).decode("utf-8", errors="replace")
        classes = ["vl-tok"]
        if len(unit) > 1:
            classes.append("vl-multi")
        if all(t.special for t in unit):
            classes.append("vl-special")
        if any(t.added for t in unit):
            classes.append("vl-added")  # put there by the tokenizer, not written in the text
        if unit[0].start in cuts and unit[0].start > 0:
            classes.append("vl-cut")
        ids = "+".join(str(t.id) for t in unit)
        title = " + ".join(f"id {t.id}: {t.string!r} ({t.n_bytes} byte{'s' * (t.n_bytes != 1)})" for t in unit)
        id_html = f'<span class="vl-id">{ids}</span>' if show_ids else ""
        spans.append(
            f'<span class="{" ".join(classes)}" style="background:{PALETTE[n % len(PALETTE)]}" '
            f'title="{escape(title)}" data-ids="{ids}">{visible(text)}{id_html}</span>'
        )
    return "".join(spans)


def count_html(tokenized: TokenizedText) -> str:
    """The count, whether it holds special tokens said: "<n> tokens (2 special) · 10 without specials"."""
    rest = tokenized.count_note().split(" ", 1)[1]  # after the number, which gets its own span
    return f"<span class='vl-count' data-special='{tokenized.n_special}'>{tokenized.n_tokens}</span> {escape(rest)}"


def render_tokenized(tokenized: TokenizedText, cuts: set[int], show_ids: bool) -> str:
    head = (
        f"<b>{escape(tokenized.name)}</b> · {count_html(tokenized)}"
        f" · {tokenized.bytes_per_token:.2f} bytes/token · {tokenized.chars_per_token:.2f} chars/token"
    )
    if not tokenized.round_trips:
        head += " · <i>does not round-trip this text (normalizer)</i>"
    return (
        f'<div class="vl-col" data-tokenizer="{escape(tokenized.name)}"><div class="vl-head">{head}</div>'
        f'<div class="vl-body">{token_spans(tokenized, cuts, show_ids)}</div></div>'
    )


def render_comparison(result: TokenComparison, show_ids: bool = False) -> str:
    cuts = set(result.disagreeing_boundaries)
    columns = "".join(render_tokenized(t, cuts, show_ids) for t in result.tokenized)
    n = len(result.tokenized)
    return (
        f"<style>{CSS}</style>"
        f'<div class="vl-grid" style="grid-template-columns: repeat({n}, minmax(0, 1fr))">{columns}</div>'
    )


def render_chat_prompts(prompts: list[ChatPrompt], show_ids: bool = False) -> str:
    """One column per tokenizer: its rendered chat prompt as tokens, the count, and the ids as a list;
    or why it has none (no chat template, or the template refused the messages)."""
    columns = []
    for prompt in prompts:
        name = escape(prompt.name)
        if prompt.tokenized is None:
            body = f'<div class="vl-problem">{escape(prompt.problem or "")}</div>'
            head = f"<b>{name}</b> · no prompt"
        else:
            body = (
                f'<div class="vl-body">{token_spans(prompt.tokenized, set(), show_ids)}</div>'
                f'<details><summary>prompt text</summary><pre class="vl-prompt">{escape(prompt.text or "")}</pre>'
                f'</details><pre class="vl-ids">{format_ids(prompt.tokenized.ids)}</pre>'
            )
            head = f"<b>{name}</b> · {count_html(prompt.tokenized)}"
        columns.append(f'<div class="vl-col" data-tokenizer="{name}"><div class="vl-head">{head}</div>{body}</div>')
    return (
        f"<style>{CSS}</style>"
        f'<div class="vl-grid" style="grid-template-columns: repeat({len(prompts)}, minmax(0, 1fr))">'
        f"{''.join(columns)}</div>"
    )
