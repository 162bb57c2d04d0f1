"""Plotly figures built from result dataclasses; the UI only places them."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vocablab.align.engine import AlignResult, PositionReport
from vocablab.numbers import NumberComparison
from vocablab.vocab import VocabOverlap


def shared_by_content(key: Callable[[object], Hashable], size: int = 64):
    """Build a figure once per content (``key`` of the builder's argument) and hand every caller
    the same one: the charts of a pair of tokenizers do not depend on a visitor's text, and
    building a Plotly figure (its validation) costs more than the rest of a light view's answer.
    Callers must not change a figure they get."""

    def decorate(builder):
        figures: OrderedDict[Hashable, go.Figure] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(builder)
        def cached(value):
            wanted = key(value)
            with lock:
                if wanted in figures:
                    figures.move_to_end(wanted)
                    return figures[wanted]
            figure = builder(value)
            with lock:
                figures[wanted] = figure
                while len(figures) > size:
                    figures.popitem(last=False)
            return figure

        return cached

    return decorate


def _overlap_key(overlap: VocabOverlap) -> Hashable:
    return tuple(
        (p.a, p.b, p.only_a_by_bytes, p.shared_by_string, p.shared_by_bytes, p.mcv_size, p.only_b_by_bytes)
        for p in overlap.pairs
    )


def _lengths_key(comparison: NumberComparison) -> Hashable:
    return (
        comparison.a,
        comparison.b,
        tuple(comparison.digit_lengths),
        tuple(comparison.tokens_per_length_a),
        tuple(comparison.tokens_per_length_b),
    )


def _rates_key(comparison: NumberComparison) -> Hashable:
    rows = comparison.category_rates
    return (comparison.a, comparison.b, tuple(tuple(sorted(r.items())) for r in rows))


@shared_by_content(_overlap_key)
def overlap_chart(overlap: VocabOverlap) -> go.Figure:
    """For each pair: tokens only in A, shared by bytes (of which by string), only in B."""
    fig = go.Figure()
    labels = [f"{p.a} vs {p.b}" for p in overlap.pairs]
    series = [
        ("only in first", [p.only_a_by_bytes for p in overlap.pairs], "#8fa9d6"),
        ("shared by string", [p.shared_by_string for p in overlap.pairs], "#2f7d4f"),
        ("shared by bytes", [p.shared_by_bytes for p in overlap.pairs], "#63c18a"),
        ("maximal common vocabulary", [p.mcv_size for p in overlap.pairs], "#e0a030"),
        ("only in second", [p.only_b_by_bytes for p in overlap.pairs], "#d68f8f"),
    ]
    for name, values, colour in series:
        fig.add_bar(name=name, x=labels, y=values, marker_color=colour, text=values)
    fig.update_layout(
        barmode="group",
        title="Vocabulary overlap (special tokens excluded; bytes: the same UTF-8 bytes)",
        yaxis_title="tokens",
        height=380,
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


def _pair_labels(a: str, b: str) -> tuple[str, str]:
    """Legend names for the two sides of a comparison, distinct even when the names are equal."""
    return (f"A: {a}", f"B: {b}") if a == b else (a, b)


@shared_by_content(_lengths_key)
def tokens_per_number_chart(comparison: NumberComparison) -> go.Figure:
    """Mean tokens per integer against its number of digits, one line per tokenizer."""
    label_a, label_b = _pair_labels(comparison.a, comparison.b)
    fig = go.Figure()
    for label, values, colour in (
        (label_a, comparison.tokens_per_length_a, "#3b6fb6"),
        (label_b, comparison.tokens_per_length_b, "#c0504d"),
    ):
        fig.add_scatter(x=comparison.digit_lengths, y=values, name=label, mode="lines+markers", line_color=colour)
    fig.update_layout(
        title="Tokens per integer by number of digits (no leading space)",
        xaxis=dict(title="digits", dtick=1),
        yaxis=dict(title="mean tokens", rangemode="tozero"),
        height=360,
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


@shared_by_content(_rates_key)
def number_mismatch_heatmap(comparison: NumberComparison) -> go.Figure:
    """Fraction of sample numbers the two tokenizers split differently, by category and by
    whether the number follows a space."""
    categories = list(dict.fromkeys(r["category"] for r in comparison.category_rates))
    columns = [(False, "no space"), (True, "leading space")]
    by_key = {(r["category"], r["leading_space"]): r for r in comparison.category_rates}
    rates, notes = [], []
    for category in categories:
        row_rates, row_notes = [], []
        for space, _ in columns:
            row = by_key.get((category, space))
            row_rates.append(row["rate"] if row else None)
            row_notes.append(f"{row['rate']:.1%}<br>{row['mismatches']:,}/{row['samples']:,}" if row else "")
        rates.append(row_rates)
        notes.append(row_notes)
    fig = go.Figure(
        go.Heatmap(
            z=rates,
            x=[name for _, name in columns],
            y=categories,
            text=notes,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            colorscale="Reds",
            colorbar=dict(title="differ", tickformat=".0%"),
            hovertemplate="%{y}, %{x}: %{z:.1%} split differently<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Numbers split differently: {comparison.a} vs {comparison.b}",
        yaxis=dict(autorange="reversed"),
        height=80 + 40 * len(categories),
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


def anchor_chart(rows: list[dict], title: str) -> go.Figure:
    """Coefficients of one new token's anchors, labelled with the anchor tokens' text."""
    labels = [f"{r['anchor']} ({r['id']})" for r in rows]
    values = [r["coefficient"] for r in rows]
    fig = go.Figure(
        go.Bar(x=values, y=labels, orientation="h", marker_color=["#2f7d4f" if v >= 0 else "#c0392b" for v in values])
    )
    fig.update_layout(
        title=title,
        xaxis_title="coefficient",
        height=max(300, 18 * len(rows) + 80),
        yaxis=dict(autorange="reversed"),
        margin=dict(l=160, r=20, t=50, b=40),
    )
    return fig


def embedding_map_figure(points: dict) -> go.Figure:
    """Shared and new tokens on a 2-D map of the transplanted embeddings; hover shows the token."""
    fig = go.Figure()
    for kind, colour in (("shared (base row)", "#8fa9d6"), ("new (transplanted)", "#e0a030")):
        chosen = [i for i, k in enumerate(points["kind"]) if k == kind]
        fig.add_scattergl(
            x=[points["x"][i] for i in chosen],
            y=[points["y"][i] for i in chosen],
            mode="markers",
            name=kind,
            text=[points["text"][i] for i in chosen],
            hovertemplate="%{text}<extra></extra>",
            marker=dict(size=5, color=colour, opacity=0.75),
        )
    note = f"<br><sup>{points['note']}</sup>" if points.get("note") else ""
    fig.update_layout(
        title=f"Transplanted input embeddings ({points.get('projection', 'UMAP, cosine')}){note}",
        height=520,
        margin=dict(l=20, r=20, t=60, b=20),
    )
    return fig


def uld_line_chart(result: AlignResult) -> go.Figure:
    """ULD at every paired position, along the text (by byte offset read by A)."""
    positions = result.positions
    hover = [
        f"#{n} · byte {p.byte_a}/{p.byte_b}<br>A predicts {p.predicted_a} · B predicts {p.predicted_b}"
        for n, p in enumerate(positions)
    ]
    fig = go.Figure(
        go.Scatter(
            x=[p.byte_a for p in positions],
            y=[p.uld for p in positions],
            mode="lines+markers",
            text=hover,
            hovertemplate="%{text}<br>ULD %{y:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"ULD along the text ({result.alignment} alignment; mean {result.mean_uld:.4f})",
        xaxis_title="bytes of text read by A",
        yaxis_title="ULD",
        height=320,
        margin=dict(l=50, r=20, t=50, b=40),
    )
    return fig


def top_k_bars(position: PositionReport, a: str, b: str) -> go.Figure:
    """The two top-k next-token distributions at one position, side by side."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"A {a}", f"B {b}"), horizontal_spacing=0.18)
    for col, top in ((1, position.top_a), (2, position.top_b)):
        fig.add_bar(
            x=[t.prob for t in top],
            y=list(range(len(top))),
            orientation="h",
            row=1,
            col=col,
            text=[t.token for t in top],
            textposition="none",
            hovertemplate="%{text}: %{x:.4f}<extra></extra>",
            showlegend=False,
            marker_color="#4c78a8" if col == 1 else "#f58518",
        )
        fig.update_yaxes(
            tickvals=list(range(len(top))), ticktext=[t.token for t in top], autorange="reversed", row=1, col=col
        )
    fig.update_xaxes(title_text="probability")
    fig.update_layout(
        title="Top-k next-token distributions",
        height=max(300, 18 * len(position.top_a) + 110),
        margin=dict(l=110, r=20, t=70, b=40),
    )
    return fig


def _plan_heatmap(z, hover, labels_a, labels_b, title, colour_title) -> go.Figure:
    k_a, k_b = len(labels_a), len(labels_b)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=hover,
            hovertemplate="%{text}<extra></extra>",
            colorscale="Blues",
            colorbar=dict(title=colour_title),
            hoverongaps=False,
        )
    )
    # numeric axes with token labels: two tokens that print alike still get their own row
    fig.update_xaxes(tickvals=list(range(k_b)), ticktext=labels_b, title="token of B", tickangle=-60)
    fig.update_yaxes(tickvals=list(range(k_a)), ticktext=labels_a, title="token of A", autorange="reversed")
    fig.update_layout(title=title, height=max(360, 20 * k_a + 160), margin=dict(l=110, r=20, t=60, b=110))
    return fig


def rank_plan_heatmap(position: PositionReport) -> go.Figure:
    """ULD's plan on the top-k ranks: rank r of A to rank r of B, mass 1/n each, cost |p - q|."""
    k = len(position.rank_cost)
    labels_a, labels_b = [t.token for t in position.top_a], [t.token for t in position.top_b]
    z = [[position.rank_cost[r] if r == c else None for c in range(k)] for r in range(k)]
    mass = 1 / position.n_padded
    hover = [
        [
            (
                f"rank {r}: A {labels_a[r]} (p {position.top_a[r].prob:.4f}) → B {labels_b[c]}<br>"
                f"mass 1/{position.n_padded:,} = {mass:.2e} · cost |p−q| = {position.rank_cost[r]:.4f}"
            )
            if r == c
            else ""
            for c in range(k)
        ]
        for r in range(k)
    ]
    title = f"ULD rank plan: rank r → rank r (ULD {position.uld:.4f} over {position.n_padded:,} ranks)"
    return _plan_heatmap(z, hover, labels_a, labels_b, title, "|p−q|")


PLAN_NAMES = {"sinkhorn": "Sinkhorn", "exact": "Exact (Sinkhorn did not converge)"}


def sinkhorn_heatmap(position: PositionReport, cost_kind: str) -> go.Figure:
    """The Sinkhorn plan between the two top-k distributions; hover shows each cell's mass and cost."""
    labels_a, labels_b = [t.token for t in position.top_a], [t.token for t in position.top_b]
    hover = [
        [
            f"A {labels_a[r]} → B {labels_b[c]}<br>mass {position.plan[r][c]:.4f} · cost {position.cost[r][c]:.3f}"
            for c in range(len(labels_b))
        ]
        for r in range(len(labels_a))
    ]
    title = (
        f"{PLAN_NAMES[position.solver]} plan ({cost_kind} cost): transport cost {position.transport_cost:.4f} "
        f"(exact optimum {position.exact_cost:.4f})"
    )
    return _plan_heatmap(position.plan, hover, labels_a, labels_b, title, "mass")
