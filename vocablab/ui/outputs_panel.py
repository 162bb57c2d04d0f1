"""The visitor's own outputs, listed under the model pickers: each one's handle, what it was made
from, when, its size, how long it is kept, its folder when the app runs locally, and a .zip of it.

The list survives a page reload: the browser keeps the visitor's key (a ``gr.BrowserState``, in its
``localStorage``) and shows it on each page load, and the server links the new session to that
visitor's folder (:func:`vocablab.outputs.welcome`); a public app lists no other visitor's outputs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from vocablab import outputs
from vocablab.surgery.engine import REPORT
from vocablab.surgery.report import write_archive
from vocablab.ui.common import HEAVY, user_errors

# The key is random and checked on the server; the browser's copy is encrypted with a secret that is
# itself sent to the page, so this constant protects nothing and only keeps the key stable across restarts.
STORAGE_KEY = "vocablab-visitor"
STORAGE_SECRET = "vocablab-visitor-key"
NONE_YET = (
    "No outputs yet: a transplant's output is listed here, and stays listed across page reloads until it expires."
)


@dataclass
class Panel:
    visitor: gr.BrowserState
    accordion: gr.Accordion
    table: gr.Markdown
    choice: gr.Dropdown

    @property
    def shown(self) -> list:
        """The components a listing updates (see :func:`listing`)."""
        return [self.accordion, self.table, self.choice]


def _settings(run: Path) -> dict:
    try:
        return json.loads((run / REPORT).read_text())
    except (OSError, ValueError):
        return {}


def _when(seconds: float) -> str:
    return time.strftime("%d %b %H:%M UTC", time.gmtime(seconds))


def _row(run: Path) -> str:
    settings = _settings(run)
    cells = [
        f"`{outputs.handle(run)}`",
        *(f"`{settings.get(key, '?')}`" for key in ("base", "donor", "method")),
        _when(run.stat().st_mtime),
        f"{outputs.size_of(run) / 1e6:,.0f} MB",
        _when(outputs.kept_until(run)),
    ]
    if not outputs.public_mode():
        cells.append(f"`{run.resolve()}`")
    return "| " + " | ".join(cells) + " |"


def table(runs: list[Path]) -> str:
    """The outputs as a Markdown table (the folder column only when the app is not public)."""
    if not runs:
        return NONE_YET
    headers = ["output (type it in any model picker)", "base", "donor", "method", "made", "size", "kept until"]
    if not outputs.public_mode():
        headers.append("folder on this machine (for the CLI, transformers or mergekit)")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join([*lines, *map(_row, runs)])


def _listing() -> tuple:
    runs = outputs.own_runs()
    names = [run.name for run in runs]
    return (
        gr.Accordion(label=f"Your outputs ({len(runs)})"),
        table(runs),
        gr.Dropdown(choices=names, value=names[0] if names else None),
    )


@user_errors
def listing(request: gr.Request) -> tuple:
    """The current visitor's outputs: the accordion's title, the table, the choices to download."""
    return _listing()


@user_errors
def arrive(key: str | None, request: gr.Request) -> tuple:
    """On a page load: the visitor's key (kept by their browser) and the list of their outputs."""
    session = getattr(request, "session_hash", None)
    if not session:  # a direct call: nothing to link
        return key, *_listing()
    key = outputs.welcome(session, key)
    with outputs.serving(session):  # now the visitor's folder
        return key, *_listing()


@user_errors
def archive(name: str | None, request: gr.Request, progress=gr.Progress()) -> str:
    """A .zip of one of the visitor's own outputs (another visitor's name is not found in their folder)."""
    out = outputs.find_output(outputs.HANDLE + (name or ""))
    progress(0.1, desc="writing the archive")
    outputs.make_room(2 * outputs.size_of(out), keep=out)  # the archive, and Gradio's copy it is served from
    return str(write_archive(out))


def build() -> Panel:
    """The accordion, inside an open ``gr.Blocks``; :func:`wire` lists the outputs on each page load."""
    visitor = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=STORAGE_SECRET)
    with gr.Accordion("Your outputs", open=False, elem_id="outputs-panel") as accordion:
        listed = gr.Markdown(NONE_YET, elem_id="outputs-list")
        with gr.Row():
            choice = gr.Dropdown(label="Output", choices=[], elem_id="outputs-choice", scale=3)
            refresh = gr.Button("Refresh the list", elem_id="outputs-refresh", scale=1)
            zip_button = gr.Button("Make a .zip of it", elem_id="outputs-zip", scale=1)
        archived = gr.File(label="Output archive", elem_id="outputs-archive")
    panel = Panel(visitor, accordion, listed, choice)
    refresh.click(listing, None, panel.shown)
    zip_button.click(archive, choice, archived, **HEAVY)
    return panel


def wire(app: gr.Blocks, panel: Panel) -> None:
    """On each page load: the visitor recognised (or given a key) and their outputs listed."""
    app.load(arrive, panel.visitor, [panel.visitor, *panel.shown], show_progress="hidden")
