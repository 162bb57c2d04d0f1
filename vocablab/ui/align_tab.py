"""Alignment view: two models read one text; compare their next-token distributions position by
position with the ULD loss, its rank-to-rank plan and a Sinkhorn transport plan."""

from __future__ import annotations

from html import escape

import gradio as gr
import pandas as pd

from vocablab import outputs
from vocablab.align import AlignResult, align_text
from vocablab.errors import VocabLabError
from vocablab.options import ALIGN_TOP_K, ALIGNMENT_HELP, COST_HELP, MAX_ALIGN_BYTES, SINKHORN_REG, AlignSettings
from vocablab.plots import rank_plan_heatmap, sinkhorn_heatmap, top_k_bars, uld_line_chart
from vocablab.ui.common import HEAVY, cached_model, chosen, gpu, report_failures, typed, user_errors

INTRO = """How far apart are two models' next-token distributions when their vocabularies differ? Both
models read the text; positions are paired **by byte offset** (both have read the same text) or **by
index** (the i-th token of each, as the ULD paper's code does). At each pair: the **ULD** loss (Boizard
et al. 2024: sort both distributions, pad the shorter with zeros, sum the absolute differences; it
ignores which token is which), ULD's **rank plan** (rank r to rank r), and a **Sinkhorn plan** between
the two top-k distributions under a token cost, which shows who sends mass to whom. The embedding cost
uses a transplant between the two models (make one in the Transplant tab first)."""
SAMPLE_TEXT = "The committee approved 1,250 new homes near the river on Tuesday, and work starts in May."
COLUMNS = ["#", "byte A/B", "pos A/B", "next in text (A)", "A predicts", "B predicts", "ULD", "transport cost", "plan"]
SOLVER_NAMES = {"sinkhorn": "Sinkhorn", "exact": "exact (Sinkhorn did not converge)"}


def positions_table(result: AlignResult) -> pd.DataFrame:
    rows = [
        [
            n,
            f"{p.byte_a}/{p.byte_b}",
            f"{p.index_a}/{p.index_b}",
            p.next_a,
            p.predicted_a,
            p.predicted_b,
            round(p.uld, 4),
            round(p.transport_cost, 4),
            SOLVER_NAMES[p.solver],
        ]
        for n, p in enumerate(result.positions)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def position_choices(result: AlignResult) -> list[tuple[str, int]]:
    data = result.text.encode("utf-8")
    choices = []
    for n, p in enumerate(result.positions):
        read = data[: p.byte_a].decode("utf-8", errors="replace")[-24:]
        choices.append((f"#{n} · byte {p.byte_a} · …{read!r} · ULD {p.uld:.3f}", n))
    return choices


def summary(result: AlignResult) -> str:
    how = "the same byte offset" if result.alignment == "bytes" else "the same token index"
    mapping = f" through the transplant `{outputs.shown(result.transplant)}`" if result.transplant else ""
    n = len(result.positions)
    return (
        f"**{n} position{'s' * (n != 1)}** paired at {how} (alignment: **{result.alignment}**). "
        f"Mean ULD ({result.alignment} alignment, temperature {result.temperature:g}): "
        f"**{result.mean_uld:.4f}**. Sinkhorn plans over the top-{result.top_k} of each, "
        f"{result.cost_kind} cost{mapping}, regularization {result.reg:g}."
        + (f"  \n⚠️ {result.fallback_note()}." if result.fallback_note() else "")
    )


def position_details(result: AlignResult, n: int):
    p = result.positions[n]
    flows = "  \n".join(
        f"<code>{escape(f.source)}</code> → <code>{escape(f.target)}</code>: mass {f.mass:.4f}, cost {f.cost:.3f}"
        for f in p.flows
    )
    fell_back = ""
    if p.solver == "exact":
        fell_back = f"  \nSinkhorn did not converge here at regularization {result.reg:g}: the plan is the exact one."
    text = (
        f"**#{n}** ({p.alignment} alignment): A at token {p.index_a} (byte {p.byte_a}), B at token {p.index_b} "
        f"(byte {p.byte_b}). ULD **{p.uld:.4f}**; total transport cost **{p.transport_cost:.4f}** "
        f"(exact optimum {p.exact_cost:.4f}).{fell_back}  \nLargest flows:  \n{flows}"
    )
    return text, top_k_bars(p, result.a, result.b), rank_plan_heatmap(p), sinkhorn_heatmap(p, result.cost_kind)


@user_errors
def run_align(
    a,
    b,
    text,
    top_k,
    cost,
    alignment,
    temperature,
    reg,
    transplant,
    request: gr.Request,
    progress=gr.Progress(track_tqdm=True),
):
    models = chosen(a, b)
    if len(models) != 2:
        raise VocabLabError("pick two different models, A and B")
    temperature, reg = typed(temperature, "temperature"), typed(reg, "Sinkhorn regularization")
    settings = AlignSettings(int(top_k), cost, alignment, temperature, reg)  # refused before any model loads
    for spec in models:
        cached_model(spec)  # loaded in the app's own process, where the cache lives
    transplant = (transplant or "").strip() or None
    if transplant and cost == "embedding" and (outputs.is_handle(transplant) or outputs.public_mode()):
        transplant = str(outputs.find_output(transplant))  # a visitor names their own runs by handle
    result = align_on_gpu(*models, text or "", transplant, settings, getattr(request, "session_hash", None))
    worst = max(range(len(result.positions)), key=lambda n: result.positions[n].uld)
    return (
        result,
        summary(result),
        uld_line_chart(result),
        positions_table(result),
        gr.Dropdown(choices=position_choices(result), value=worst),
        *position_details(result, worst),
    )


@gpu(60)
def align_on_gpu(a, b, text, transplant, settings, session) -> AlignResult:
    with outputs.serving(session):
        return align_text(a, b, text, settings, transplant=transplant, models=(cached_model(a), cached_model(b)))


@user_errors
def show_position(result, n):
    if result is None or n is None:
        raise VocabLabError("align a text first")
    return position_details(result, int(n))


def build(pickers) -> dict[str, gr.Component]:
    """The tab's components and events, inside an open ``gr.Tab``; models A and B are the shared pickers;
    returns the fields a link carries."""
    gr.Markdown(INTRO)
    text = gr.Textbox(SAMPLE_TEXT, label=f"Text (up to {MAX_ALIGN_BYTES:,} bytes)", lines=3, elem_id="align-text")
    with gr.Row():
        top_k = gr.Slider(1, 60, value=ALIGN_TOP_K, step=1, label="top-k tokens in the plans")
        cost = gr.Radio(
            [(f"{name}: {help}", name) for name, help in COST_HELP.items()],
            value="edit",
            label="token cost (Sinkhorn)",
        )
        alignment = gr.Radio(
            [(help, name) for name, help in ALIGNMENT_HELP.items()], value="bytes", label="pair positions by"
        )
    with gr.Row():
        temperature = gr.Number(1.0, label="temperature")
        reg = gr.Number(SINKHORN_REG, label="Sinkhorn regularization")
        transplant = gr.Textbox(
            label="transplant (embedding cost)",
            placeholder="empty: your newest transplant of these two models; or output:NAME",
        )
    with gr.Row():
        run = gr.Button("Align", variant="primary", elem_id="align-run", scale=4)
        stop = gr.Button("Stop", variant="stop", elem_id="align-stop", scale=1)
    failed = gr.Markdown(elem_id="align-failed")
    result = gr.State(None)
    overview = gr.Markdown(elem_id="align-summary")
    line = gr.Plot(label="ULD along the text", elem_id="align-line")
    table = gr.Dataframe(headers=COLUMNS, label="Paired positions", interactive=False, elem_id="align-table")
    position = gr.Dropdown(label="position (the largest ULD is shown first)", choices=[], elem_id="align-position")
    details = gr.Markdown(elem_id="align-details")
    bars = gr.Plot(label="Top-k distributions", elem_id="align-bars")
    with gr.Row():
        rank_plan = gr.Plot(label="ULD rank plan", elem_id="align-rank-plan")
        sinkhorn = gr.Plot(label="Sinkhorn plan", elem_id="align-sinkhorn")
    aligned = run.click(
        run_align,
        [pickers[0], pickers[1], text, top_k, cost, alignment, temperature, reg, transplant],
        [result, overview, line, table, position, details, bars, rank_plan, sinkhorn],
        **HEAVY,
    )
    report_failures(failed, aligned)
    stop.click(None, cancels=[aligned])  # the run ends before its next position (vocablab.ui.common.visitor_gone)
    position.input(show_position, [result, position], [details, bars, rank_plan, sinkhorn])
    settings = {"top_k": top_k, "cost": cost, "alignment": alignment, "temperature": temperature, "reg": reg}
    return {"text": text, **settings, "transplant": transplant}
