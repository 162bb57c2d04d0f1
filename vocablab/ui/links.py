"""Links a user can share: the URL carries the chosen models, the open tab and the view's text
(``?tab=numbers&a=gpt2&b=llama3&text=...``); opening it restores them. Each view has a "copy link"
button, which builds the link in the browser from what is on screen."""

from __future__ import annotations

import json

import gradio as gr

from vocablab.options import MAX_TEXT_CHARS

LINK_TEXT_CHARS = 2000  # a URL stays well under the 8 KB that servers and proxies accept
PICKERS = ("a", "b", "c", "d")


def share_row(tab: str) -> tuple[gr.Button, gr.Textbox, gr.Markdown]:
    """The "copy link" button, the box that shows the link (for copying by hand, too), and a note
    for a text the link cuts."""
    with gr.Row(equal_height=True):
        button = gr.Button("🔗 Copy link", size="sm", scale=0, min_width=120, elem_id=f"{tab}-link-button")
        box = gr.Textbox(
            show_label=False,
            placeholder="a link that opens this view with the models (and text) chosen now",
            interactive=False,
            max_lines=2,
            scale=4,
            elem_id=f"{tab}-link",
        )
    note = gr.Markdown(elem_id=f"{tab}-link-note")
    return button, box, note


def wire(tab: str, button, box, note, pickers: list, fields: dict[str, gr.Component]) -> None:
    """On click, the browser puts the pickers' and ``fields``' values in a link, copies it and shows
    it, and says so when a text was longer than a link carries."""
    names = [*PICKERS, *fields]
    cut_note = f"The link carries the first {LINK_TEXT_CHARS:,} characters of the text, not all of it."
    script = f"""(...values) => {{
        const names = {json.dumps(names)};
        const url = new URL(window.location.href);
        url.search = "";
        url.searchParams.set("tab", {json.dumps(tab)});
        let cut = false;
        names.forEach((name, i) => {{
            const whole = values[i] == null ? "" : String(values[i]);
            cut = cut || whole.length > {LINK_TEXT_CHARS};
            if (whole) url.searchParams.set(name, whole.slice(0, {LINK_TEXT_CHARS}));
        }});
        const link = url.toString();
        if (navigator.clipboard) navigator.clipboard.writeText(link).catch(() => {{}});
        return [link, cut ? {json.dumps(cut_note)} : ""];
    }}"""
    button.click(None, [*pickers, *fields.values()], [box, note], js=script)


def restore(request: gr.Request, fields: dict[str, list[str]], pickers_used: dict[str, int]) -> list:
    """What to show for a link's query: the pickers (those the tab uses shown), the tab, then each
    tab's fields in order (``fields``: every tab -> its field names; ``pickers_used``: every tab -> how
    many pickers it uses). Anything the link does not carry stays as it is."""
    query = dict(request.query_params) if request else {}
    tab = query.get("tab")
    used = pickers_used.get(tab, len(PICKERS))  # no tab: the first, which uses them all
    updates = [
        gr.update(value=query[name], visible=i < used) if query.get(name) else gr.update(visible=i < used)
        for i, name in enumerate(PICKERS)
    ]
    updates.append(gr.Tabs(selected=tab) if tab in fields else gr.update())
    for name, names in fields.items():
        for field in names:
            value = query.get(field) if tab == name else None
            updates.append(gr.update(value=value[:MAX_TEXT_CHARS]) if value else gr.update())
    return updates
