"""Plotly figures of the marketing pages, built server-side as figure dicts (pure: no ORM, no I/O). The
question a chart answers is the heading above it in the page."""

from __future__ import annotations

import json
from datetime import date

import plotly.graph_objects as go

from finance.charts import CURRENT_COLOUR, PRIOR_COLOUR, UNTITLED

OTHER_LEADS_COLOUR = "#93c5fd"


def new_leads_per_day(current: list[tuple[date, int, int]], prior: list[tuple[date, int, int]]) -> dict:
    """New leads per day of the period, stacked ad leads / other leads, and the prior period's daily total
    (its first day under the period's first day) as a dashed line."""
    days = [d.isoformat() for d, _, _ in current]
    fig = go.Figure()
    fig.add_bar(name="From ads", x=days, y=[ad for _, _, ad in current], marker_color=CURRENT_COLOUR,
                hovertemplate="%{y}")
    fig.add_bar(name="Other sources", x=days, y=[leads - ad for _, leads, ad in current],
                marker_color=OTHER_LEADS_COLOUR, hovertemplate="%{y}")
    fig.add_scatter(name="Prior period (all)", x=days[:len(prior)], y=[leads for _, leads, _ in prior], mode="lines",
                    line=dict(color=PRIOR_COLOUR, dash="dash", width=2), customdata=[d.strftime("%a %d %b") for d, _, _ in prior],
                    hovertemplate="%{y} on %{customdata}")
    peak = max((leads for _, leads, _ in current + prior), default=0)
    # Counts are whole: with few leads, one tick per lead (else Plotly labels 0.5 steps as "1, 1, 2").
    fig.update_layout(barmode="stack", yaxis=dict(title="new leads", rangemode="tozero", tickformat=",d",
                                                  dtick=1 if peak <= 5 else None),
                      xaxis=dict(tickformat="%d %b"), legend=dict(orientation="h", y=-0.2), hovermode="x unified",
                      **UNTITLED)
    return json.loads(fig.to_json())
