"""Plotly figures of money pages, built server-side as figure dicts (pure: no ORM, no I/O). The question a
chart answers is the heading above it in the page, where it wraps on a phone (a Plotly title is clipped)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import plotly.graph_objects as go

from clients.charts import LAYOUT

CURRENT_COLOUR, PRIOR_COLOUR = "#1d4ed8", "#94a3b8"
UNTITLED = {**LAYOUT, "margin": dict(l=56, r=16, t=16, b=40)}


def revenue_trend(current: list[tuple[date, Decimal]], prior: list[tuple[date, Decimal]]) -> dict:
    """Daily net revenue of the period as bars, and the prior period's day by day (its first day under the
    period's first day) as a dashed line, both in AED."""
    days = [d.isoformat() for d, _ in current]
    fig = go.Figure()
    fig.add_bar(name="This period", x=days, y=[float(v) for _, v in current], marker_color=CURRENT_COLOUR,
                hovertemplate="AED %{y:,.0f}")
    fig.add_scatter(name="Prior period", x=days[:len(prior)], y=[float(v) for _, v in prior], mode="lines",
                    line=dict(color=PRIOR_COLOUR, dash="dash", width=2), customdata=[d.strftime("%a %d %b") for d, _ in prior],
                    hovertemplate="AED %{y:,.0f} on %{customdata}")
    fig.update_layout(yaxis=dict(title="net revenue (AED)", tickprefix="AED ", tickformat=",.0f", rangemode="tozero"),
                      xaxis=dict(tickformat="%d %b"), legend=dict(orientation="h", y=-0.2), hovermode="x unified",
                      **UNTITLED)
    return json.loads(fig.to_json())
