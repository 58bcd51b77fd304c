"""Plotly figures of money pages, built server-side as plain figure dicts (pure: no ORM, no I/O; go.Figure's
validation is too slow for a 300 ms page, the tests validate them with it). The question a chart answers is the
heading above it in the page, where it wraps on a phone (a Plotly title is clipped)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from clients.charts import LAYOUT

CURRENT_COLOUR, PRIOR_COLOUR = "#1d4ed8", "#94a3b8"
UNTITLED = {**LAYOUT, "margin": dict(l=56, r=16, t=16, b=40)}


def revenue_trend(current: list[tuple[date, Decimal]], prior: list[tuple[date, Decimal]]) -> dict:
    """Daily net revenue of the period as bars, and the prior period's day by day (its first day under the
    period's first day) as a dashed line, both in AED."""
    days = [d.isoformat() for d, _ in current]
    data = [{"type": "bar", "name": "This period", "x": days, "y": [float(v) for _, v in current],
             "marker": {"color": CURRENT_COLOUR}, "hovertemplate": "AED %{y:,.0f}"},
            prior_line("Prior period", days, [float(v) for _, v in prior], [d for d, _ in prior], "AED %{y:,.0f}")]
    return {"data": data, "layout": {
        **UNTITLED, "yaxis": {"title": {"text": "net revenue (AED)"}, "tickprefix": "AED ", "tickformat": ",.0f",
                              "rangemode": "tozero"},
        "xaxis": {"tickformat": "%d %b"}, "legend": {"orientation": "h", "y": -0.2}, "hovermode": "x unified"}}


def prior_line(name: str, days: list[str], values: list, prior_days: list[date], value_hover: str) -> dict:
    """The prior period as a dashed line under the period's days, each point naming its own day on hover."""
    return {"type": "scatter", "mode": "lines", "name": name, "x": days[:len(values)], "y": values,
            "line": {"color": PRIOR_COLOUR, "dash": "dash", "width": 2},
            "customdata": [d.strftime("%a %d %b") for d in prior_days], "hovertemplate": f"{value_hover} on %{{customdata}}"}
