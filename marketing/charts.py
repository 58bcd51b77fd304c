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


# ---------- attribution war room and money map ----------
# Plain figure dicts like the sales charts (go.Figure's validation is too slow for a 300 ms page); the tests
# validate them with go.Figure. Money is sent as floats: json_script writes a Decimal as a string.

TRIANGLE_COLOURS = {"crm": "#7c8db5", "stripe": CURRENT_COLOUR, "claimed": "#d97706", "verified": "#0d9488"}
SPEND_COLOUR = PRIOR_COLOUR
MONEY_MAP_BARS = 12  # the biggest spenders; the table has every row


def _money(value) -> float | None:
    return None if value is None else float(value)


def truth_triangle(triangle) -> dict:
    """The three independently computed values of the period side by side (marketing.truth.TruthTriangle), and
    the Stripe cash credited to ads when known, first on top; a value the role may not see is left out."""
    bars = [("CRM won value", triangle.crm_won_value, "crm"), ("Stripe cash", triangle.stripe_cash, "stripe"),
            ("Attribution-claimed", triangle.attributed_value, "claimed"),
            ("Credited to ads", triangle.verified_value, "verified")]
    bars = [(label, value, colour) for label, value, colour in bars if value is not None][::-1]  # drawn bottom-up
    data = [{"type": "bar", "orientation": "h", "y": [label for label, _, _ in bars],
             "x": [_money(value) for _, value, _ in bars], "marker": {"color": [TRIANGLE_COLOURS[c] for _, _, c in bars]},
             "text": [f"AED {value:,.0f}" for _, value, _ in bars], "textposition": "auto",
             "hovertemplate": "%{y}: AED %{x:,.2f}<extra></extra>"}]
    return {"data": data, "layout": {**UNTITLED, "margin": dict(l=16, r=16, t=16, b=40), "showlegend": False,
                                     "yaxis": {"automargin": True},
                                     "xaxis": {"tickprefix": "AED ", "tickformat": "~s", "rangemode": "tozero"}}}


def money_map(rows: list[dict], level_label: str) -> dict:
    """Spend beside the credited net cash of the biggest spenders (money map rows), the biggest on top, with the
    ROAS and verdict on hover."""
    shown = sorted((r for r in rows if r["spend"]), key=lambda r: r["spend"])[-MONEY_MAP_BARS:]
    names = [r["name"] for r in shown]
    hover = [[("—" if r["roas"] is None else f"{r['roas']:.2f}×"), r["status"] or "—"] for r in shown]
    data = [{"type": "bar", "orientation": "h", "name": "Spend", "y": names, "x": [_money(r["spend"]) for r in shown],
             "marker": {"color": SPEND_COLOUR}, "customdata": hover,
             "hovertemplate": "%{y}: AED %{x:,.0f} spent · ROAS %{customdata[0]} · %{customdata[1]}<extra></extra>"},
            {"type": "bar", "orientation": "h", "name": "Net cash", "y": names,
             "x": [_money(r["cash"]) for r in shown], "marker": {"color": CURRENT_COLOUR}, "customdata": hover,
             "hovertemplate": "%{y}: AED %{x:,.0f} net cash · ROAS %{customdata[0]} · %{customdata[1]}<extra></extra>"}]
    return {"data": data, "layout": {**UNTITLED, "barmode": "group", "height": max(UNTITLED["height"], 120 + 44 * len(shown)),
                                     "margin": dict(l=16, r=16, t=16, b=40), "yaxis": {"automargin": True},
                                     "xaxis": {"title": {"text": f"AED per {level_label}"}, "tickprefix": "AED ",
                                               "tickformat": "~s", "rangemode": "tozero"},
                                     "legend": {"orientation": "h", "y": -0.2, "traceorder": "reversed"}}}
