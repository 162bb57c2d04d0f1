"""HTML for tokenized text: one colour per token, visible whitespace, ids on hover or inline,
and the cuts other tokenizers do not share marked in red."""

from __future__ import annotations

from html import escape

from vocablab.compare import Token, TokenComparison, TokenizedText
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


def render_tokenized(tokenized: TokenizedText, cuts: set[int], show_ids: bool) -> str:
    spans = []
    for n, unit in enumerate(display_units(tokenized.tokens)):
        text = b"".join(t.piece for t in unit).decode("utf-8", errors="replace")
        classes = ["vl-tok"]
        if len(unit) > 1:
            classes.append("vl-multi")
        if all(t.special for t in unit):
            classes.append("vl-special")
        if unit[0].start in cuts and unit[0].start > 0:
            classes.append("vl-cut")
        ids = "+".join(str(t.id) for t in unit)
        title = " + ".join(f"id {t.id}: {t.string!r} ({t.n_bytes} byte{'s' * (t.n_bytes != 1)})" for t in unit)
        id_html = f'<span class="vl-id">{ids}</span>' if show_ids else ""
        spans.append(
            f'<span class="{" ".join(classes)}" style="background:{PALETTE[n % len(PALETTE)]}" '
            f'title="{escape(title)}" data-ids="{ids}">{visible(text)}{id_html}</span>'
        )
    head = (
        f"<b>{escape(tokenized.name)}</b> · <span class='vl-count'>{tokenized.n_tokens}</span> tokens"
        f" · {tokenized.bytes_per_token:.2f} bytes/token · {tokenized.chars_per_token:.2f} chars/token"
    )
    if not tokenized.round_trips:
        head += " · <i>does not round-trip this text (normalizer)</i>"
    return (
        f'<div class="vl-col" data-tokenizer="{escape(tokenized.name)}"><div class="vl-head">{head}</div>'
        f'<div class="vl-body">{"".join(spans)}</div></div>'
    )


def render_comparison(result: TokenComparison, show_ids: bool = False) -> str:
    cuts = set(result.disagreeing_boundaries)
    columns = "".join(render_tokenized(t, cuts, show_ids) for t in result.tokenized)
    n = len(result.tokenized)
    return (
        f"<style>{CSS}</style>"
        f'<div class="vl-grid" style="grid-template-columns: repeat({n}, minmax(0, 1fr))">{columns}</div>'
    )
