"""Plotly figures built from result dataclasses; the UI only places them."""

from __future__ import annotations

import plotly.graph_objects as go

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
