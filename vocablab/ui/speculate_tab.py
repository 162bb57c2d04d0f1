"""Speculative decoding view: model A is the target, model B the draft; how well the draft fits
along a text (alpha per position, the predicted speed-up per gamma), then a run with the accepted
and corrected symbols coloured, beside the target alone."""

from __future__ import annotations

from html import escape

import gradio as gr
import plotly.graph_objects as go

from vocablab import outputs
from vocablab.errors import VocabLabError
from vocablab.options import MAX_GAMMA, MAX_PROMPT_CHARS, SPECULATE_GAMMA, Decoding, check_length
from vocablab.reduce.draft_fit import DraftFit, draft_fit
from vocablab.reduce.sampling import time_limit
from vocablab.reduce.speculate import Speculation, speculate
from vocablab.ui.common import HEAVY, cached_model, chosen, gpu, report_failures, user_errors
from vocablab.ui.token_html import CSS, visible

INTRO = """Speculative decoding across tokenizers: model **A** is the target, model **B** the draft. Both
are reduced to their maximal common vocabulary (or bytes), where the draft proposes symbols and the
target accepts each with probability min(1, p_A/p_B): the text has exactly the target's law (greedy:
exactly its reduced greedy text), whatever the two tokenizers are. **Fit** shows, along a text, the
chance alpha that a drafted symbol is accepted and the speed-up it predicts; **Run** generates, with
accepted symbols in green and the target's own (corrections, and the free symbol after a fully
accepted round) in orange, beside the target alone."""

ACCEPTED, OWN = "#c6e8c6", "#fde2a7"
SECONDS_EACH = 60  # a run stops here (both the speculative and the target-alone generation)


def alpha_chart(fit: DraftFit) -> go.Figure:
    row = fit.drafts[0]
    fig = go.Figure()
    fig.add_scatter(y=row.alphas, mode="lines+markers", name="alpha per position")
    fig.add_hline(y=row.alpha_mean, line_dash="dash", annotation_text=f"mean {row.alpha_mean:.2f}")
    fig.update_layout(
        title=f"{row.draft} drafting for {fit.target} over {row.route}",
        xaxis_title="symbol",
        yaxis_title="alpha = sum min(p_target, p_draft)",
        yaxis_range=[0, 1.02],
        height=320,
        margin=dict(l=50, r=20, t=50, b=40),
    )
    return fig


def fit_table(fit: DraftFit) -> str:
    row = fit.drafts[0]
    needed = "no alpha would do" if row.alpha_needed is None else f"{row.alpha_needed:.2f}"
    lines = [
        f"**mean alpha {row.alpha_mean:.2f}**, {row.bytes_per_symbol:.2f} bytes per symbol; one draft step "
        f"{row.draft_step_ms:.0f} ms, one target step {row.target_step_ms:.0f} ms (c = {row.cost_ratio:.2f}); "
        f"a speed-up needs a mean alpha of at least {needed}.",
        "",
        "| gamma | " + " | ".join(str(g) for g in row.speed_up) + " |",
        "|---|" + "---|" * len(row.speed_up),
        "| symbols per target call | " + " | ".join(f"{v:.2f}" for v in row.expected_symbols.values()) + " |",
        "| predicted speed-up | " + " | ".join(f"{v:.2f}" for v in row.speed_up.values()) + " |",
    ]
    return "\n".join(lines)


def render_run(result: Speculation) -> str:
    spans = []
    for piece, size, drafted in zip(result.pieces, result.piece_bytes, result.drafted_flags, strict=True):
        colour, kind = (ACCEPTED, "accepted") if drafted else (OWN, "own")
        tip = "drafted and accepted" if drafted else "the target's own"
        spans.append(f'<span class="vl-tok spec-{kind}" style="background:{colour}" title="{tip}, {size} bytes">')
        spans.append(f"{visible(piece.replace('·', ' '))}</span>")
    own = len(result.pieces) - result.accepted
    stats = (
        f'<span class="spec-counts">{len(result.pieces)} symbols: {result.accepted} drafted and accepted, {own} the '
        f"target's own</span> · {result.accepted}/{result.drafted} drafted symbols accepted · {result.target_calls} "
        f"target calls ({result.bytes_per_target_call:.2f} bytes each) · {result.draft_calls} draft calls · "
        f"{result.seconds:.1f} s · ended by {result.ended_by}"
    )
    head = (
        f"<b>speculative</b> · {escape(result.target)} drafted by {escape(result.draft)} over {escape(result.space)}, "
        f"gamma {result.gamma}<br><small>{stats}</small>"
    )
    cards = [_card("speculative", head, "".join(spans))]
    alone = result.alone
    if alone is not None:
        same = "the same text" if result.same_as_alone else "another text (sampling draws differently)"
        head = (
            f"<b>the target alone</b> · {escape(result.target)}<br><small>{alone.target_calls} target calls "
            f"({alone.bytes_per_target_call:.2f} bytes each) · {alone.seconds:.1f} s · {same}</small>"
        )
        cards.append(_card("alone", head, visible(alone.text)))
    grid = '<div class="vl-grid" style="grid-template-columns: repeat(2, minmax(0, 1fr))">'
    return f"<style>{CSS}</style>{grid}{''.join(cards)}</div>"


def _card(run: str, head: str, body: str) -> str:
    body = f'<div class="vl-body">{body}</div>'
    return f'<div class="vl-col" data-run="{run}"><div class="vl-head">{head}</div>{body}</div>'


def _pair(a, b) -> tuple[str, str]:
    models = chosen(a, b)
    if len(models) != 2:
        raise VocabLabError("pick two different models: A, the target, and B, the draft")
    return models[0], models[1]


@user_errors
def fit(a, b, text, space, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
    target, draft = _pair(a, b)
    check_length(text or "", MAX_PROMPT_CHARS, "text")
    for spec in (target, draft):
        cached_model(spec)
    result = fit_on_gpu(target, draft, text or "", space, getattr(request, "session_hash", None))
    return alpha_chart(result), fit_table(result)


@gpu(SECONDS_EACH)
def fit_on_gpu(target, draft, text, space, session) -> DraftFit:
    with outputs.serving(session):
        return draft_fit(
            target, [draft], text, space=space, target_model=cached_model(target), draft_models=[cached_model(draft)]
        )


@user_errors
def run(a, b, prompt, gamma, space, sample, temperature, top_p, seed, max_bytes, request: gr.Request):
    target, draft = _pair(a, b)
    if not prompt:
        raise VocabLabError("type a prompt")
    check_length(prompt, MAX_PROMPT_CHARS, "prompt")
    decoding = Decoding(
        greedy=not sample, temperature=temperature, top_p=top_p, seed=int(seed or 0), max_new_bytes=int(max_bytes)
    )
    for spec in (target, draft):
        cached_model(spec)
    session = getattr(request, "session_hash", None)
    return render_run(run_on_gpu(target, draft, prompt, int(gamma), space, decoding, session))


@gpu(2 * SECONDS_EACH)
def run_on_gpu(target, draft, prompt, gamma, space, decoding, session) -> Speculation:
    with outputs.serving(session), time_limit(SECONDS_EACH):
        models = {"target_model": cached_model(target), "draft_model": cached_model(draft)}
        return speculate(target, draft, prompt, gamma=gamma, space=space, decoding=decoding, **models)


def build(pickers) -> dict[str, gr.Component]:
    """The tab's components and events, inside an open ``gr.Tab``; A is the target, B the draft."""
    gr.Markdown(INTRO)
    with gr.Row():
        space = gr.Radio(["mcv", "bytes"], value="mcv", label="shared space", elem_id="spec-space")
        gamma = gr.Slider(1, MAX_GAMMA, value=SPECULATE_GAMMA, step=1, label="gamma (symbols drafted per round)")
    text = gr.Textbox(
        "The capital of France is Paris. It is known for the Eiffel Tower.",
        label="Text to fit the draft along",
        lines=2,
        elem_id="spec-text",
    )
    fit_button = gr.Button("Fit the draft", elem_id="spec-fit")
    chart = gr.Plot(label="alpha along the text", elem_id="spec-alpha")
    table = gr.Markdown(elem_id="spec-table")
    prompt = gr.Textbox("The capital of France is", label="Prompt", lines=2, elem_id="spec-prompt")
    with gr.Row():
        sample = gr.Checkbox(False, label="sample (else greedy)")
        temperature = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="temperature")
        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="top-p")
        seed = gr.Number(0, label="seed", precision=0)
        max_bytes = gr.Slider(4, 200, value=32, step=4, label="new bytes")
    run_button = gr.Button("Run", variant="primary", elem_id="spec-run")
    failed = gr.Markdown(elem_id="spec-failed")
    generated = gr.HTML(elem_id="spec-outputs")
    fitted = fit_button.click(fit, [pickers[0], pickers[1], text, space], [chart, table], **HEAVY)
    ran = run_button.click(
        run,
        [pickers[0], pickers[1], prompt, gamma, space, sample, temperature, top_p, seed, max_bytes],
        [generated],
        **HEAVY,
    )
    report_failures(failed, fitted, ran)
    decoding = {"sample": sample, "temperature": temperature, "top_p": top_p, "seed": seed, "bytes": max_bytes}
    return {"text": prompt, "fit": text, "space": space, "gamma": gamma, **decoding}
