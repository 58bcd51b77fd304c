"""Plotly figures of the marketing pages, built server-side as figure dicts (pure: no ORM, no I/O). The
question a chart answers is the heading above it in the page."""

from __future__ import annotations

import math
from datetime import date


from finance.charts import CURRENT_COLOUR, PRIOR_COLOUR, UNTITLED, prior_line

OTHER_LEADS_COLOUR = "#93c5fd"


def new_leads_per_day(current: list[tuple[date, int, int]], prior: list[tuple[date, int, int]]) -> dict:
    """New leads per day of the period, stacked ad leads / other leads, and the prior period's daily total
    (its first day under the period's first day) as a dashed line."""
    days = [d.isoformat() for d, _, _ in current]
    data = [{"type": "bar", "name": "From ads", "x": days, "y": [ad for _, _, ad in current],
             "marker": {"color": CURRENT_COLOUR}, "hovertemplate": "%{y}"},
            {"type": "bar", "name": "Other sources", "x": days, "y": [leads - ad for _, leads, ad in current],
             "marker": {"color": OTHER_LEADS_COLOUR}, "hovertemplate": "%{y}"},
            prior_line("Prior period (all)", days, [leads for _, leads, _ in prior], [d for d, _, _ in prior], "%{y}")]
    peak = max((leads for _, leads, _ in current + prior), default=0)
    # Counts are whole: with few leads, one tick per lead (else Plotly labels 0.5 steps as "1, 1, 2").
    yaxis = {"title": {"text": "new leads"}, "rangemode": "tozero", "tickformat": ",d", **({"dtick": 1} if peak <= 5 else {})}
    return {"data": data, "layout": {**UNTITLED, "barmode": "stack", "yaxis": yaxis, "xaxis": {"tickformat": "%d %b"},
                                     "legend": {"orientation": "h", "y": -0.2}, "hovermode": "x unified"}}


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


# ---------- marketing intelligence ----------

INTEL_ROAS_BARS = 10  # the biggest spenders; the table has every ad


def ad_funnel(steps) -> dict:
    """The ad funnel of the period (marketing.selectors_intel.FunnelStep, the steps shown), each bar with its count
    and its share of the step before. Impressions outnumber payments ten-thousandfold, so the widths are
    log10(1 + count) (else every step after clicks is a hairline); the text and hover give the exact counts."""
    text = [f"{s.count:,}" + ("" if s.from_before is None else f" · {s.from_before:.1f} %") for s in steps]
    data = [{"type": "funnel", "y": [s.label for s in steps], "x": [round(math.log10(1 + s.count), 4) for s in steps],
             "text": text, "textinfo": "text", "textposition": "auto", "marker": {"color": CURRENT_COLOUR},
             "connector": {"fillcolor": "#dbeafe"},
             "customdata": [[f"{s.count:,}", s.source, "—" if s.from_before is None else f"{s.from_before:.1f} %"]
                            for s in steps],
             "hovertemplate": "%{y}: %{customdata[0]} (%{customdata[1]})<br>of the step before: %{customdata[2]}"
                              "<extra></extra>"}]
    return {"data": data, "layout": {**UNTITLED, "margin": dict(l=96, r=16, t=16, b=24), "showlegend": False}}


def ad_roas(rows: list[dict]) -> dict:
    """Meta's ROAS beside the true ROAS of the biggest spending ads (marketing.selectors_intel.ad_roas_rows), the
    biggest on top, spend and the gap on hover."""
    shown = sorted((r for r in rows if r["spend"]), key=lambda r: r["spend"])[-INTEL_ROAS_BARS:]
    # Ads are often copied between campaigns under the same name: Plotly would draw equal labels as one bar.
    names = [f"{r['name']}<br>{r['campaign']}" if r["campaign"] else r["name"] for r in shown]
    names = [f"{n} ({r['key']})" if names.count(n) > 1 else n for n, r in zip(names, shown)]
    hover = [[f"AED {r['spend']:,.0f}", "—" if r["gap"] is None else f"{r['gap']:+.2f}×"] for r in shown]

    def bars(name, key, colour):
        return {"type": "bar", "orientation": "h", "name": name, "y": names, "x": [_money(r[key]) for r in shown],
                "marker": {"color": colour}, "customdata": hover, "textposition": "outside", "cliponaxis": False,
                "text": ["—" if r[key] is None else f"{r[key]:.2f}×" for r in shown],  # a zero has no bar to see
                "hovertemplate": f"%{{y}}: {name} %{{x:.2f}}× · spent %{{customdata[0]}} · "
                                 "gap %{customdata[1]}<extra></extra>"}

    data = [bars("Meta ROAS", "meta_roas", TRIANGLE_COLOURS["claimed"]), bars("True ROAS", "roas", CURRENT_COLOUR)]
    return {"data": data, "layout": {**UNTITLED, "barmode": "group", "height": max(UNTITLED["height"], 120 + 44 * len(shown)),
                                     "margin": dict(l=16, r=16, t=16, b=40), "yaxis": {"automargin": True},
                                     "xaxis": {"title": {"text": "return on ad spend (×)"}, "ticksuffix": "×",
                                               "rangemode": "tozero"},
                                     "legend": {"orientation": "h", "y": -0.2, "traceorder": "reversed"}}}


# ---------- deep intelligence ----------

LOSS_COLOUR = "#dc2626"


def loss_reasons(rows: list[dict]) -> dict:
    """Deals lost in the period per loss reason (marketing.selectors_deep.loss_reason_rows), the most common on
    top, their value on hover."""
    shown = sorted(rows, key=lambda r: (r["deals"], r["reason"]))
    data = [{"type": "bar", "orientation": "h", "y": [r["reason"] for r in shown], "x": [r["deals"] for r in shown],
             "marker": {"color": LOSS_COLOUR}, "customdata": [_money(r["value"]) for r in shown],
             "text": [f"{r['deals']:,}" for r in shown], "textposition": "auto",
             "hovertemplate": "%{y}: %{x:,} deals · AED %{customdata:,.0f}<extra></extra>"}]
    return {"data": data, "layout": {**UNTITLED, "height": max(UNTITLED["height"], 120 + 36 * len(shown)),
                                     "margin": dict(l=16, r=16, t=16, b=40), "showlegend": False,
                                     "yaxis": {"automargin": True},
                                     "xaxis": {"title": {"text": "deals lost"}, "rangemode": "tozero", "tickformat": ",d"}}}


def deep_funnel(steps) -> dict:
    """The 12-stage funnel of Deep Intelligence: the ad funnel's figure with room for the longer stage names."""
    figure = ad_funnel(steps)
    figure["layout"]["yaxis"] = {"automargin": True}
    return figure


# ---------- meta dashboard ----------

LEADS_COLOUR = "#0d9488"


def _meta_days_layout(left: dict, right: dict) -> dict:
    # Each axis picks its own round ticks ("auto"): synced to the left axis' grid, the right one reads 6.66, 13.3.
    return {**UNTITLED, "margin": dict(l=72, r=72, t=16, b=40), "hovermode": "x unified",
            "xaxis": {"tickformat": "%d %b"}, "yaxis": {"rangemode": "tozero", "tickmode": "auto", **left},
            "yaxis2": {"overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False,
                       "tickmode": "auto", "automargin": True, **right},
            "legend": {"orientation": "h", "y": -0.2}}


def meta_spend_leads(days: list[dict]) -> dict:
    """Daily spend (bars, AED) and the leads Meta reports (line, right axis) of the period's days
    (marketing.selectors_meta.insights_by_day)."""
    x = [d["date"].isoformat() for d in days]
    data = [{"type": "bar", "name": "Spend", "x": x, "y": [_money(d["spend"]) for d in days],
             "marker": {"color": SPEND_COLOUR}, "hovertemplate": "AED %{y:,.2f}"},
            {"type": "scatter", "mode": "lines+markers", "name": "Leads (Meta)", "x": x, "y": [d["leads"] for d in days],
             "yaxis": "y2", "line": {"color": LEADS_COLOUR, "width": 2}, "hovertemplate": "%{y:,} leads"}]
    return {"data": data, "layout": _meta_days_layout({"title": {"text": "spend (AED)"}, "tickprefix": "AED ",
                                                        "tickformat": "~s"},
                                                       {"title": {"text": "leads"}, "tickformat": ",d"})}


def meta_ctr_cpm(days: list[dict]) -> dict:
    """Each day's CTR (%) and CPM (AED, right axis), both from the day's sums; a day without impressions is a
    gap, not a zero."""
    x = [d["date"].isoformat() for d in days]
    data = [{"type": "scatter", "mode": "lines+markers", "name": "CTR", "x": x, "y": [_money(d["ctr"]) for d in days],
             "line": {"color": CURRENT_COLOUR, "width": 2}, "hovertemplate": "CTR %{y:.2f} %"},
            {"type": "scatter", "mode": "lines+markers", "name": "CPM", "x": x, "y": [_money(d["cpm"]) for d in days],
             "yaxis": "y2", "line": {"color": TRIANGLE_COLOURS["claimed"], "width": 2, "dash": "dot"},
             "hovertemplate": "CPM AED %{y:,.2f}"}]
    return {"data": data, "layout": _meta_days_layout({"title": {"text": "CTR (%)"}, "ticksuffix": " %"},
                                                       {"title": {"text": "CPM (AED)"}, "tickprefix": "AED ",
                                                        "tickformat": ",.0f"})}
