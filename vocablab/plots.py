"""Plotly figures built from result dataclasses; the UI only places them."""

from __future__ import annotations

import plotly.graph_objects as go

from vocablab.numbers import NumberComparison
from vocablab.vocab import VocabOverlap


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
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker_color=["#2f7d4f" if v >= 0 else "#c0392b"
                                                                              for v in values]))  # fmt: skip
    fig.update_layout(title=title, xaxis_title="coefficient", height=max(300, 18 * len(rows) + 80),
                      yaxis=dict(autorange="reversed"), margin=dict(l=160, r=20, t=50, b=40))  # fmt: skip
    return fig


def embedding_map_figure(points: dict) -> go.Figure:
    """Shared and new tokens on a 2-D map of the transplanted embeddings; hover shows the token."""
    fig = go.Figure()
    for kind, colour in (("shared (base row)", "#8fa9d6"), ("new (transplanted)", "#e0a030")):
        chosen = [i for i, k in enumerate(points["kind"]) if k == kind]
        fig.add_scattergl(x=[points["x"][i] for i in chosen], y=[points["y"][i] for i in chosen], mode="markers",
                          name=kind, text=[points["text"][i] for i in chosen], hovertemplate="%{text}<extra></extra>",
                          marker=dict(size=5, color=colour, opacity=0.75))  # fmt: skip
    fig.update_layout(title="Transplanted input embeddings (UMAP, cosine)", height=520,
                      margin=dict(l=20, r=20, t=50, b=20))  # fmt: skip
    return fig
