"""Generation and ensemble view: each model as is and reduced, and their MCV and byte ensembles,
side by side, with a step inspector."""

from __future__ import annotations

from html import escape

import gradio as gr
import plotly.graph_objects as go

from vocablab import outputs
from vocablab.errors import VocabLabError
from vocablab.options import LVR_K, SIDE_BY_SIDE_WEIGHT_A, Decoding
from vocablab.reduce.generate import SIDE_BY_SIDE, STATE_LIMIT_NOTE, TIME_LIMIT_NOTE, Generation, generate_side_by_side
from vocablab.reduce.sampling import time_limit
from vocablab.ui.common import HEAVY, cached_model, chosen, gpu, report_failures, typed, user_errors
from vocablab.ui.token_html import CSS, PALETTE, visible

INTRO = """Generate with a model reduced to a smaller vocabulary without changing its distribution over
texts (lossless vocabulary reduction, Chijiwa et al. 2026), and ensemble two models with different
tokenizers over their maximal common vocabulary (MCV) or over bytes. Colours mark the reduced
model's pieces (for the models as is: their own tokens). With "heal the prompt's end" on, each model
conditions on the prompt's text: its end, from the last boundary later text cannot move, is covered
by every tokenization that could continue it (a prompt ending in a space then continues with a
word); each output names the end it conditioned on as text."""

CAVEAT = """**Why greedy outputs can differ.** The reduced model has the same distribution over texts as
the original, so *sampling* from it gives texts with the same probabilities. Its *greedy* path can
still differ: if the model gives "ab" 0.3, "ac" 0.3 and "b" 0.4, the original's greedy pick is "b",
but over single characters "a" has 0.6 and wins. K-LVR with K = 1 follows the original's greedy
path; larger K and exact mode follow the reduced distribution. In an ensemble over the MCV, the two
models can also segment the same text differently, which is why the byte ensemble is shown too."""


def render_generation(title: str, result: Generation) -> str:
    """One output: its pieces coloured in turn (bytes that only form a character together are joined,
    with the number of pieces in the tooltip), then time, steps and bytes per step."""
    spans, buffer, count, n = [], b"", 0, 0
    for piece, size in zip(result.pieces_bytes(), result.piece_bytes, strict=True):
        buffer, count = buffer + piece, count + 1
        try:
            text = buffer.decode("utf-8")
        except UnicodeDecodeError:
            if len(buffer) < 4:
                continue
            text = buffer.decode("utf-8", errors="replace")
        tip = f"{count} pieces" if count > 1 else f"{size} bytes"
        spans.append(f'<span class="vl-tok" style="background:{PALETTE[n % 2]}" title="{tip}">{visible(text)}</span>')
        buffer, count, n = b"", 0, n + 1
    stats = (
        f"{result.seconds:.1f} s · {result.steps} steps · {result.bytes_per_step:.2f} bytes/step · "
        f"{result.forward_passes} forward passes · ended by {result.ended_by}"
    )
    if result.ended_by == "state limit":
        stats += f"<br>{STATE_LIMIT_NOTE}: untick exact to go on"
    if result.ended_by == "time limit" and not result.steps:
        stats += f"<br>{TIME_LIMIT_NOTE}: untick exact, or end the prompt elsewhere"
    if result.pruned_note:
        stats += f"<br><small>{result.pruned_note}</small>"
    healed = ""
    if result.prompt_tail:
        tails = " / ".join(f"<code>{escape(repr(tail))}</code>" for tail in dict.fromkeys(result.prompt_tail))
        healed = f'<br><small class="vl-healed">prompt healed: its end {tails} conditioned on as text</small>'
    for name, text in (result.prompt_normalized or {}).items():  # escaped: "é" and "e" + U+0301 look alike
        healed += (
            f'<br><small class="vl-normalized">prompt normalized by {escape(name)}\'s tokenizer to '
            f"<code>{escape(ascii(text))}</code>, which the model conditions on</small>"
        )
    return (
        f'<div class="vl-col" data-run="{escape(title)}"><div class="vl-head"><b>{escape(title)}</b> · '
        f"{escape(result.model)} over {escape(result.subvocab)}<br><small>{stats}</small>{healed}</div>"
        f'<div class="vl-body">{"".join(spans)}</div></div>'
    )


def render_all(results: dict[str, Generation]) -> str:
    cards = "".join(render_generation(title, r) for title, r in results.items())
    grid = '<div class="vl-grid" style="grid-template-columns: repeat(2, minmax(0, 1fr))">'
    return f"<style>{CSS}</style>{grid}{cards}</div>"


def inspector_chart(result: Generation, step: int) -> go.Figure:
    """Top candidates of each distribution at one step: members and the ensemble, as grouped bars."""
    if not result.inspector:
        raise VocabLabError(f"{result.model} over {result.subvocab} generated nothing to inspect")
    record = result.inspector[step]
    fig = go.Figure()
    for name, top in record["top"].items():
        fig.add_bar(name=name, x=[p for p, _ in top], y=[q for _, q in top])
    fig.update_layout(
        title=f"step {step}: chosen {record['chosen']!r}",
        barmode="group",
        yaxis_title="probability",
        height=360,
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


SECONDS_EACH = 45  # a reduced or ensembled output stops here (exact mode can grow without bound)
SUBVOCAB_CHOICES = {"MCV with the other model": "mcv", "bytes": "bytes", "maxlen:N": "maxlen"}


@user_errors
def run_all(
    a,
    b,
    prompt,
    chat,
    heal,
    subvocab,
    maxlen,
    k,
    exact,
    sample,
    temperature,
    top_p,
    seed,
    max_bytes,
    weight,
    which,
    request: gr.Request,
    progress=gr.Progress(track_tqdm=True),
):
    models = chosen(a, b)
    if len(models) != 2:
        raise VocabLabError("pick two different models, A and B")
    decoding = Decoding(
        k=None if exact else typed(k, "K", int),
        greedy=not sample,
        temperature=temperature,
        top_p=top_p,
        seed=int(seed or 0),  # used only when sampling; an empty box is the default, 0
        max_new_bytes=int(max_bytes),
        chat=chat,
        heal=heal,
    )
    kind = SUBVOCAB_CHOICES[subvocab]
    sub = f"maxlen:{typed(maxlen, 'N (maxlen)', int)}" if kind == "maxlen" else kind
    for spec in models:
        cached_model(spec)  # loaded in the app's own process, where the cache lives
    results = generate_on_gpu(*models, prompt, sub, decoding, weight, getattr(request, "session_hash", None))
    return render_all(results), results, *_inspected(results, which, 0)


@gpu(6 * SECONDS_EACH)
def generate_on_gpu(a, b, prompt, subvocab, decoding, weight, session) -> dict[str, Generation]:
    with outputs.serving(session), time_limit(SECONDS_EACH):
        models = (cached_model(a), cached_model(b))
        return generate_side_by_side(a, b, prompt, subvocab=subvocab, decoding=decoding, weight_a=weight, models=models)


@user_errors
def inspect(results, run, step):
    if not results:  # nothing generated yet: the choice waits for the first run
        return gr.update(), gr.update()
    return _inspected(results, run, step)


def _inspected(results: dict[str, Generation], run: str, step) -> tuple[go.Figure, gr.Slider]:
    """The chart of one output at one step, and the step slider fitted to that output's steps."""
    last = max(len(results[run].inspector) - 1, 0)
    step = min(int(step), last)
    return inspector_chart(results[run], step), gr.Slider(maximum=max(last, 1), value=step)


CLAMP_STEP = """(results, which, step) => {
    const end = Number(document.querySelector("#gen-step input[type=range]")?.max ?? step);
    return [results, which, Math.max(0, Math.min(step, end))];
}"""


# run_all's arguments after models A and B, by the names the settings are registered under
RUN_ARGUMENTS = (
    *("text", "chat", "heal", "subvocab", "maxlen", "k", "exact", "sample"),
    *("temperature", "top_p", "seed", "bytes", "weight"),
)


def settings() -> dict[str, gr.Component]:
    """The prompt and the decoding settings, the fields a link carries."""
    prompt = gr.Textbox("The capital of France is", label="Prompt", lines=2, elem_id="gen-prompt")
    with gr.Row():
        subvocab = gr.Radio(
            list(SUBVOCAB_CHOICES),
            value="MCV with the other model",
            label="Sub-vocabulary of the reduced models",
        )
        maxlen = gr.Number(4, label="N (maxlen)", precision=0)
        chat = gr.Checkbox(False, label="chat template")
        heal = gr.Checkbox(True, label="heal the prompt's end (condition on its text)", elem_id="gen-heal")
    with gr.Row():
        k = gr.Number(LVR_K, label="K (next tokens kept per cover entry)", precision=0)
        # checkboxes take no min_width of their own: in a column that has one, a narrow window wraps the row
        # rather than squeeze them to their boxes (31 px at 800 px, labels gone)
        with gr.Column(min_width=220, scale=2):
            exact = gr.Checkbox(
                False, label=f"exact (no pruning; slow: each output stops after {SECONDS_EACH} s)", elem_id="gen-exact"
            )
            sample = gr.Checkbox(False, label="sample (else greedy)", elem_id="gen-sample")
        temperature = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="temperature", elem_id="gen-temperature")
        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="top-p")
        seed = gr.Number(0, label="seed", precision=0, elem_id="gen-seed")
    with gr.Row():
        max_bytes = gr.Slider(4, 400, value=48, step=4, label="new bytes (the last token may run past)")
        weight = gr.Slider(0.0, 1.0, value=SIDE_BY_SIDE_WEIGHT_A, step=0.05, label="ensemble weight of model A")
    return {
        "text": prompt,
        "subvocab": subvocab,
        "maxlen": maxlen,
        "chat": chat,
        "heal": heal,
        "k": k,
        "exact": exact,
        "sample": sample,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
        "bytes": max_bytes,
        "weight": weight,
    }


def build(pickers) -> dict[str, gr.Component]:
    """The tab's components and events, inside an open ``gr.Tab``; models A and B are the shared pickers;
    returns the fields a link carries."""
    gr.Markdown(INTRO)
    fields = settings()
    with gr.Row():
        run = gr.Button("Generate all six", variant="primary", elem_id="gen-run", scale=4)
        stop = gr.Button("Stop", variant="stop", elem_id="gen-stop", scale=1)
    failed = gr.Markdown(elem_id="gen-failed")
    generated = gr.HTML(elem_id="gen-outputs")
    results = gr.State({})
    gr.Markdown("### Step inspector")
    with gr.Row():
        which = gr.Dropdown(list(SIDE_BY_SIDE), value="MCV ensemble", label="output", elem_id="gen-which")
        step = gr.Slider(0, 1, value=0, step=1, label="step", elem_id="gen-step")
    chart = gr.Plot(label="Top candidates", elem_id="gen-inspector")
    gr.Markdown(CAVEAT)
    ran = run.click(
        run_all,
        [pickers[0], pickers[1], *(fields[name] for name in RUN_ARGUMENTS), which],
        [generated, results, chart, step],
        **HEAVY,
    )
    report_failures(failed, ran)
    stop.click(None, cancels=[ran])  # the run ends at its next step (vocablab.ui.common.visitor_gone)
    which.change(inspect, [results, which, step], [chart, step])
    # typed in its box, moved by the arrow keys or dragged (only the latest value is drawn)
    # a step typed past the slider's end is clamped to it here: Gradio would refuse it with an error in place
    # of the slider and the chart
    step.input(inspect, [results, which, step], [chart, step], trigger_mode="always_last", js=CLAMP_STEP)
    return fields
