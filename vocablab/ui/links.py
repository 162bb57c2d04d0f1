"""Links a user can share: the URL carries the open tab, the shared models it uses and every field its
``build()`` registers (``?tab=generate&a=gpt2&b=llama3&text=...&exact=1``); opening it restores them.

Any text or code box, checkbox, slider, number box, radio or dropdown a tab returns is carried with no change
here; a field at its default is left out, so links stay short. Each view has a "copy link" button,
and its link box is emptied in the browser as soon as a carried input changes, so the box never
shows a link that does not match the screen. What a link brings is checked as a visitor's typing
would be: unknown names are ignored, numbers are clamped to their box's range, a choice must be one
of its choices, and a public app takes no file paths from a link."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

import gradio as gr

from vocablab import outputs
from vocablab.options import MAX_TEXT_CHARS

LINK_TEXT_CHARS = 2000  # a URL stays well under the 8 KB that servers and proxies accept
LINE_CHARS = 300  # a one-line value (a model spec, an output name)
PICKERS = ("a", "b", "c", "d")
RESERVED = ("tab", *PICKERS)
LARGEST = 2**53  # a number box with no bounds: what a browser's number holds exactly
CUT_NOTE = f"The link carries the first {LINK_TEXT_CHARS:,} characters of the text, not all of it."
OPENED_NOTE = (
    "🔗 Opened from a link: its settings are restored. Press {button} to run it (views that run "
    "models wait for a click, so that opening a link never starts a long job or spends a GPU allowance unasked)."
)
CLEAR = "() => ['', '']"
COPY = "(link) => { if (link && navigator.clipboard) navigator.clipboard.writeText(link).catch(() => {}); }"
PAGE = "(page, ...values) => [window.location.origin + window.location.pathname, ...values]"


def kind(field: gr.components.Component) -> str:
    """How a field travels in a link: "flag", "number", "choices" (several), "choice", "spec" (a
    one-line value of the visitor's, like a model), or "text"."""
    if isinstance(field, gr.Checkbox):
        return "flag"
    if isinstance(field, (gr.Slider, gr.Number)):
        return "number"
    if isinstance(field, gr.CheckboxGroup) or (isinstance(field, gr.Dropdown) and field.multiselect):
        return "choices"
    if isinstance(field, gr.Dropdown) and field.allow_custom_value:
        return "spec"
    if isinstance(field, (gr.Radio, gr.Dropdown)):
        return "choice"
    if isinstance(field, (gr.Textbox, gr.Code)):  # a code box: the chat builder's messages
        return "text"
    raise TypeError(f"a link cannot carry a {type(field).__name__}: return only inputs a visitor types or picks")


def number_text(value: float) -> str:
    """A number as a link writes it: integers without a point, others without float noise."""
    number = float(value)
    return str(int(number)) if number.is_integer() else format(number, ".12g")


def encode(field: gr.components.Component, value) -> list[str]:
    """A field's value as the link's strings (none: nothing to carry)."""
    if value is None:
        return []
    what = kind(field)
    if what == "flag":
        return ["1" if value else "0"]
    if what == "number":
        return [number_text(value)] if isinstance(value, (int, float)) and math.isfinite(value) else []
    if what == "choices":
        return [str(v) for v in value] or [""]  # one empty value: nothing chosen
    value = str(value)
    if hidden_path(field, value) or (what == "spec" and not value.strip()):
        return []
    return [value]  # an emptied text box too, unlike a box left at its default


def hidden_path(field, value: str) -> bool:
    """Whether a one-line value (a model, an output) is a file path that a public app's links never carry."""
    one_line = kind(field) == "spec" or (isinstance(field, gr.Textbox) and field.lines == 1)
    return one_line and outputs.public_mode() and looks_like_path(value.strip())


def looks_like_path(value: str) -> bool:
    """A file path rather than a preset, hub id or output name: a public app opens none from a link."""
    return value.startswith(("/", "~", ".", "\\")) or bool(re.match(r"[A-Za-z]:[\\/]", value)) or ".gguf" in value


def make_link(page: str, tab: str, pickers: Mapping, fields: Mapping, values: list) -> tuple[str, str]:
    """The link to ``page`` that opens ``tab`` with the shared ``pickers``' values (always carried) and
    ``fields``' values (each when it is not the field's default): ``values`` are theirs, in order.
    Returns the link and a note when a text was cut to fit."""
    parts = urlsplit(page or "")
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme in ("http", "https") else "/"
    query: list[tuple[str, str]] = [("tab", tab)]
    cut = False
    for (name, field), value in zip([*pickers.items(), *fields.items()], values, strict=True):
        strings = encode(field, value)
        if name not in pickers and strings == encode(field, field.value):
            continue
        cut = cut or any(len(s) > LINK_TEXT_CHARS for s in strings)
        query += [(name, s[:LINK_TEXT_CHARS]) for s in strings]
    return f"{base}?{urlencode(query)}", CUT_NOTE if cut else ""


def number_value(field, text: str) -> float | int | None:
    """A number from a link, clamped to the field's range and put on its step; None when not a number."""
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    low = field.minimum if field.minimum is not None else -LARGEST
    high = field.maximum if field.maximum is not None else LARGEST
    number = min(max(number, low), high)
    step = field.step if isinstance(field, gr.Slider) else None  # a number box's step only sets its arrows
    if step:
        number = min(low + round((number - low) / step) * step, high)
        whole = float(step).is_integer() and float(low).is_integer()
        return int(round(number)) if whole else round(number, 10)
    return int(round(number)) if getattr(field, "precision", None) == 0 else number


def choice_values(field) -> list:
    return [choice[1] if isinstance(choice, (tuple, list)) else choice for choice in field.choices or []]


def decode(field: gr.components.Component, strings: list[str]):
    """A field's value from a link's strings, checked as typing would be; None when it is not one."""
    what = kind(field)
    if not strings:
        return None
    first = strings[0]
    if what == "flag":
        return {"1": True, "true": True, "0": False, "false": False}.get(first.lower())
    if what == "number":
        return number_value(field, first)
    allowed = {str(v): v for v in choice_values(field)} if what in ("choice", "choices") else {}
    if what == "choices":
        chosen = [s for s in strings if s]  # one empty value: nothing chosen
        return [allowed[s] for s in chosen] if all(s in allowed for s in chosen) else None
    if what == "choice":
        return allowed.get(first)
    if hidden_path(field, first):
        return None
    if what == "spec":
        first = first.strip()
        return first if first and len(first) <= LINE_CHARS and first.isprintable() else None
    return first[: min(getattr(field, "max_length", None) or MAX_TEXT_CHARS, MAX_TEXT_CHARS)]


def read_query(query: Mapping[str, list[str]], fields: Mapping) -> dict:
    """The values a link's query gives ``fields`` (name -> component), checked; unknown names and
    values that are not valid are left out."""
    values = {}
    for name, field in fields.items():
        value = decode(field, [s for s in query.get(name, []) if isinstance(s, str)])
        if value is not None:
            values[name] = value
    return values


def share_row(tab: str) -> tuple[gr.Button, gr.Textbox, gr.Markdown, gr.Markdown]:
    """The "copy link" button, the box that shows the link (for copying by hand, too), a note for a
    text the link cuts, and a note for a view opened from a link."""
    with gr.Row(equal_height=True):
        button = gr.Button("🔗 Copy link", size="sm", scale=0, min_width=120, elem_id=f"{tab}-link-button")
        box = gr.Textbox(
            show_label=False,
            placeholder="a link that opens this view with the models and settings chosen now",
            interactive=False,
            max_lines=2,
            scale=4,
            elem_id=f"{tab}-link",
        )
    note = gr.Markdown(elem_id=f"{tab}-link-note")
    opened = gr.Markdown(elem_id=f"{tab}-link-opened")
    return button, box, note, opened


def wire(tab: str, button, box, note, pickers: Mapping, fields: Mapping) -> None:
    """On click, the server writes the link from the ``pickers``' and ``fields``' values (name ->
    component) and the browser copies it; any change to one of them empties the box and its note."""
    if clash := set(fields) & set(RESERVED):
        raise ValueError(f"the {tab} view's fields {sorted(clash)} would clash with the link's own names")
    for field in fields.values():
        kind(field)  # a field a link cannot carry is refused when the app is built, not when a link is made
    carried = [*pickers.values(), *fields.values()]

    def link(page: str, *values) -> tuple[str, str]:
        return make_link(page, tab, pickers, fields, list(values))

    made = button.click(
        link, [box, *carried], [box, note], js=PAGE, queue=False, show_progress="hidden", api_visibility="private"
    )
    made.then(None, box, None, js=COPY, queue=False)
    for component in carried:
        component.change(None, None, [box, note], js=CLEAR, queue=False, show_progress="hidden")


def query_lists(request: gr.Request | None) -> dict[str, list[str]]:
    if request is None:
        return {}
    params = request.query_params
    if hasattr(params, "getlist"):  # Starlette's multi-dict: a name may come more than once
        return {name: params.getlist(name) for name in set(params.keys())}
    return {name: [value] for name, value in dict(params).items()}


def restore(
    request: gr.Request | None,
    pickers: Mapping,
    views: Mapping[str, Mapping],
    pickers_used: Mapping[str, int],
    buttons: Mapping[str, str],
) -> list:
    """What to show for a link's query: the shared ``pickers`` (name -> component; those the tab uses
    shown), the tab, each tab's fields in order (``views``: tab -> its fields), then each tab's "opened
    from a link" note, which names the run button (``buttons``: tab -> label) of a view that waits for
    a click. Anything the link does not carry stays as it is."""
    query = query_lists(request)
    tab = (query.get("tab") or [None])[0]
    tab = tab if tab in views else None
    used = pickers_used.get(tab, len(PICKERS))  # no tab: the first, which uses them all
    models = read_query(query, {name: pickers[name] for name in PICKERS[:used]}) if tab else {}
    updates = [
        gr.update(value=models[name], visible=i < used) if name in models else gr.update(visible=i < used)
        for i, name in enumerate(PICKERS)
    ]
    updates.append(gr.Tabs(selected=tab) if tab else gr.update())
    for name, fields in views.items():
        values = read_query(query, fields) if name == tab else {}
        updates += [gr.update(value=values[field]) if field in values else gr.update() for field in fields]
    for name in views:
        waits = name == tab and name in buttons
        updates.append(OPENED_NOTE.format(button=buttons[name]) if waits else gr.update())
    return updates


def run_on_open(buttons: Mapping[str, str]) -> str:
    """The browser's step after a link is restored: click the run button of a light view
    (``buttons``: tab -> the button's elem_id), so the link opens on its result. The button is
    clicked once its tab is shown (a click on a hidden button does nothing)."""
    return f"""() => {{
        const tab = new URLSearchParams(window.location.search).get("tab");
        const run = {json.dumps(dict(buttons))}[tab];
        if (!run) return;
        const started = Date.now();
        const press = () => {{
            const button = document.getElementById(run);
            if (button && button.offsetParent !== null) button.click();
            else if (Date.now() - started < 30000) setTimeout(press, 100);
        }};
        press();
    }}"""
