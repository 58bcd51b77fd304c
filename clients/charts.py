"""Plotly figures of the clients pages, built server-side as figure dicts (pure: no ORM, no I/O)."""

from __future__ import annotations



ZONE_COLOURS = {"purple": "#7c3aed", "green": "#16a34a", "yellow": "#ca8a04", "red": "#dc2626"}
LAYOUT = dict(margin=dict(l=48, r=16, t=48, b=40), height=320, paper_bgcolor="white", plot_bgcolor="white",
              font=dict(family="system-ui, sans-serif", size=13))


def _figure(title: str, data: list[dict], **layout) -> dict:
    """A plain figure dict in the common layout."""
    return {"data": data, "layout": {**LAYOUT, "title": {"text": title}, **layout}}


def zone_distribution(zones) -> dict:
    """How many clients are in each zone, today and a week ago (a plain figure dict, like the coach charts)."""
    labels = [z.label for z in zones]
    data = [{"type": "bar", "name": "7 days ago", "x": labels, "y": [z.week_ago or 0 for z in zones],
             "marker": {"color": "#cbd5e1"}, "hovertemplate": "%{x}, 7 days ago: %{y} clients<extra></extra>"}
            ] if any(z.week_ago is not None for z in zones) else []
    data.append({"type": "bar", "name": "Today", "x": labels, "y": [z.count for z in zones],
                 "marker": {"color": [ZONE_COLOURS[z.zone] for z in zones]},
                 "hovertemplate": "%{x}: %{y} clients<extra></extra>"})
    return _figure("How many clients are in each zone?", data, barmode="group", yaxis={"title": {"text": "clients"}})


def health_trend(points) -> dict:
    """Average health score per day (a plain figure dict, like the coach charts)."""
    data = [{"type": "scatter", "mode": "lines+markers", "x": [d.isoformat() for d, _ in points],
             "y": [v for _, v in points], "line": {"color": "#1d4ed8"},
             "hovertemplate": "%{x|%d %b}: %{y:.1f}<extra></extra>"}]
    return _figure("Is average health rising or falling?", data,
                   yaxis={"title": {"text": "average score"}, "range": [0, 100]},
                   xaxis={"tickformat": "%d %b", "type": "date"})


# ---------- sales pages ----------
# Plain figure dicts like the coach charts below (go.Figure's validation is too slow for a 300 ms page);
# tests/test_sales_pages.py validates them with go.Figure. Money is sent as floats: json_script writes a
# Decimal as a string.

SALES_BLUE, TARGET_GREY = "#1d4ed8", "#94a3b8"
AED_AXIS = {"tickprefix": "AED ", "tickformat": "~s", "rangemode": "tozero", "nticks": 5}  # AED 50k; hover is exact


def _aed(value) -> float | None:
    return None if value is None else float(value)


def pipeline_funnel(stages) -> dict:
    """Deals entering each funnel step in the period, each bar with the cohort conversion from the step before
    (clients.selectors_sales.StageRow; closed lost, an exit, is not a funnel bar)."""
    steps = [s for s in stages if s.step != "closed_lost"]
    from_before = [None, *(s.to_next for s in steps[:-1])]
    data = [{"type": "funnel", "y": [s.label for s in steps], "x": [s.entered for s in steps],
             "text": [f"{s.entered:,}" + ("" if rate is None else f" · {rate:.0f} %") for s, rate in zip(steps, from_before)],
             "textinfo": "text", "textposition": "inside", "marker": {"color": SALES_BLUE},
             "connector": {"fillcolor": "#dbeafe"},
             "customdata": [["—" if s.to_next is None else f"{s.to_next:.1f} %"] for s in steps],
             "hovertemplate": "%{y}: %{x:,} deals entered in the period<br>"
                              "share that reached the next stage: %{customdata[0]}<extra></extra>"}]
    return _figure("Where do deals drop out?", data, margin=dict(l=130, r=16, t=48, b=24))


def open_pipeline_value(stages) -> dict:
    """Σ amount of the deals sitting in each open step now, first step on top."""
    steps = [s for s in stages if s.open_value is not None][::-1]  # horizontal bars draw bottom-up
    data = [{"type": "bar", "orientation": "h", "y": [s.label for s in steps], "x": [_aed(s.open_value) for s in steps],
             "marker": {"color": SALES_BLUE}, "customdata": [s.open_deals for s in steps],
             "hovertemplate": "%{y}: AED %{x:,.0f} in %{customdata:,} open deals<extra></extra>"}]
    return _figure("Where is the open value now?", data, xaxis=AED_AXIS, margin=dict(l=130, r=24, t=48, b=40))


# The most people a per-person bar chart draws, the best ones (the page says so above the chart): 1,400 coaches'
# bars would be a chart 60,000 px tall.
CHART_BARS = 15


def sales_vs_target(rows, month_label: str) -> dict:
    """The CHART_BARS best sellers' sales in the month beside their monthly target, best seller on top (rows
    of clients.selectors_sales.closer_results_for)."""
    rows = sorted(rows, key=lambda r: r["month_sales"], reverse=True)[:CHART_BARS][::-1]  # drawn bottom-up
    people = [str(r["pk"] or "other") for r in rows]
    names = [r["name"] for r in rows]
    data = [{"type": "bar", "orientation": "h", "name": "Target", "y": people, "x": [_aed(r["target"]) for r in rows],
             "marker": {"color": TARGET_GREY}, "customdata": [[name] for name in names],
             "hovertemplate": "%{customdata[0]}: target AED %{x:,.0f}<extra></extra>"},
            {"type": "bar", "orientation": "h", "name": "Sales", "y": people,
             "x": [_aed(r["month_sales"]) for r in rows], "marker": {"color": SALES_BLUE},
             "customdata": [[name, "no target" if r["target_pct"] is None else f"{r['target_pct']:.0f} % of target"]
                            for name, r in zip(names, rows)],
             "hovertemplate": "%{customdata[0]}: AED %{x:,.0f} sold, %{customdata[1]}<extra></extra>"}]
    return _legend_above(_figure(f"On track for {month_label}?", data, barmode="group", xaxis=AED_AXIS,
                                 yaxis=_people_axis(people, names),
                                 height=max(LAYOUT["height"], 120 + 44 * len(rows)),
                                 margin=dict(l=130, r=16, t=84, b=40)), traceorder="reversed")


def _people_axis(people: list[str], names: list[str]) -> dict:
    """A category axis of one category per person (their id), labelled with their names: two coaches of the same
    name would share one category otherwise, and their bars would stack."""
    return {"type": "category", "tickmode": "array", "tickvals": people, "ticktext": names, "automargin": True}


def _legend_above(figure: dict, traceorder: str = "normal") -> dict:
    """The title at the very top and the legend just above the bars: below them, it covered the axis title, and
    neither covers the other on a phone."""
    figure["layout"]["legend"] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom",
                                  "traceorder": traceorder}
    figure["layout"]["title"].update(y=0.99, yanchor="top")
    return figure


# ---------- coach pages ----------
# Built as plain figure dicts (so are zone_distribution and health_trend): go.Figure's validation costs tens of
# milliseconds a chart, too much for pages that must render in 300 ms; the tests validate the dicts with go.Figure.

PART_COLOURS = ["#1e40af", "#0d9488", "#7c8db5", "#d97706", "#64748b"]
SCORE_GREY = "#94a3b8"


def _hbar(title: str, data: list[dict], xaxis: dict, ordered: list[dict]) -> dict:
    """A horizontal stacked bar chart of the coaches `ordered` (bottom-up) that grows with them so names stay
    readable; its traces' y are the coaches' ids (_people_axis), their names the customdata's last element."""
    return _legend_above(_figure(title, data, xaxis=xaxis, height=max(LAYOUT["height"], 150 + 32 * len(ordered)),
                                 margin=dict(l=16, r=16, t=84, b=48), barmode="stack",
                                 yaxis=_people_axis([str(r["coach_id"]) for r in ordered], [r["coach"] for r in ordered])))


def coach_scores(rows) -> dict:
    """Each coach's performance score, best at the top, split into what each part adds (weight × part value)
    where the person may see the parts; other coaches show their score alone (leaderboard rows of
    clients.selectors_coach.coach_leaderboard_rows_for)."""
    ordered = [r for r in reversed(rows) if r["score"] is not None]
    people, names = [str(r["coach_id"]) for r in ordered], [r["coach"] for r in ordered]
    data = []
    labels = next((r["parts"] for r in ordered if r["parts"]), [])
    for i, part in enumerate(labels):
        points = [r["parts"][i] if r["parts"] else None for r in ordered]
        known = [p is not None and p["value"] is not None for p in points]
        data.append({
            "type": "bar", "orientation": "h", "name": part["label"], "y": people,
            "marker": {"color": PART_COLOURS[i % len(PART_COLOURS)]},
            "x": [round(p["value"] * p["weight"], 2) if ok else None for p, ok in zip(points, known)],
            "customdata": [[p["value"], 100 * p["weight"], name] if ok else [None, None, name]
                           for p, ok, name in zip(points, known, names)],
            "hovertemplate": f"%{{customdata[2]}}: %{{x:.1f}} points from {part['label'].lower()} "
                             "(%{customdata[0]:.1f} / 100 × %{customdata[1]:.0f} %)<extra></extra>"})
    if any(not r["parts"] for r in ordered):
        data.append({"type": "bar", "orientation": "h", "name": "Score (parts not shown)", "y": people,
                     "marker": {"color": SCORE_GREY}, "x": [None if r["parts"] else float(r["score"]) for r in ordered],
                     "customdata": [[name] for name in names],
                     "hovertemplate": "%{customdata[0]}: score %{x:.1f}<extra></extra>"})
    return _hbar("Who scores highest, and from what?", data,
                 {"title": {"text": "performance score (0–100)"}, "range": [0, 100]}, ordered)


def coach_zone_mix(rows) -> dict:
    """How each coach's active clients split across the zones (rows with the coach's detail only)."""
    ordered = [r for r in reversed(rows) if r["parts"] is not None]
    people, names = [str(r["coach_id"]) for r in ordered], [[r["coach"]] for r in ordered]
    data = [{"type": "bar", "orientation": "h", "name": zone.title(), "y": people, "x": [r[zone] for r in ordered],
             "marker": {"color": colour}, "customdata": names,
             "hovertemplate": f"%{{customdata[0]}}: %{{x}} clients in {zone}<extra></extra>"}
            for zone, colour in ZONE_COLOURS.items()]
    return _hbar("How healthy is each coach's client mix?", data,
                 {"title": {"text": "active clients"}, "rangemode": "tozero"}, ordered)


def coach_score_history(history) -> dict:
    """One coach's performance score and their clients' average health per snapshot day, with the rank on hover
    (CoachDetail.history: oldest first)."""
    dates = [h["date"].isoformat() for h in history]

    def line(name, key, colour, dash, hover, customdata=None):
        return {"type": "scatter", "mode": "lines+markers", "name": name, "x": dates,
                "y": [None if h[key] is None else float(h[key]) for h in history],
                "line": {"color": colour, "dash": dash}, "hovertemplate": hover,
                **({"customdata": customdata} if customdata else {})}

    data = [line("Performance score", "performance_score", "#1d4ed8", "solid",
                 "%{x|%d %b}: score %{y:.1f}, rank %{customdata[0]}<extra></extra>",
                 [["—" if h["rank"] is None else h["rank"]] for h in history]),
            line("Average health", "avg_health", "#0d9488", "dot", "%{x|%d %b}: average health %{y:.1f}<extra></extra>")]
    return _figure("Is this coach's score rising or falling?", data, yaxis={"title": {"text": "0–100"}, "range": [0, 100]},
                   xaxis={"tickformat": "%d %b", "type": "date"}, legend={"orientation": "h", "y": -0.2})


def coach_score_parts(parts) -> dict:
    """Each part of one coach's score (0–100) with its weight; parts without data are named, not drawn."""
    labels = [f"{p['label']} ({100 * p['weight']:.0f} %)" if p["value"] is not None else f"{p['label']} (no data)"
              for p in parts]
    data = [{"type": "bar", "orientation": "h", "y": labels, "x": [p["value"] for p in parts],
             "marker": {"color": [PART_COLOURS[i % len(PART_COLOURS)] for i in range(len(parts))]},
             "hovertemplate": "%{y}: %{x:.1f} / 100<extra></extra>"}]
    return _figure("Which parts are strong or weak?", data,
                   xaxis={"title": {"text": "part score (0–100)"}, "range": [0, 100]},
                   margin=dict(l=16, r=16, t=48, b=40), yaxis={"automargin": True, "autorange": "reversed"})


def calls_by_hour(hours, tz_name: str) -> dict:
    """Calls per hour of day in the workspace's timezone (`tz_name`, e.g. Asia/Dubai), answered stacked on not
    answered: when do leads pick up?"""
    x = [h["hour"] for h in hours]
    labels = [[f"{h:02d}:00–{h:02d}:59"] for h in x]
    data = [{"type": "bar", "name": "Answered", "x": x, "y": [h["answered"] for h in hours],
             "marker": {"color": "#16a34a"}, "customdata": labels,
             "hovertemplate": "%{customdata[0]}: %{y} answered<extra></extra>"},
            {"type": "bar", "name": "Not answered", "x": x, "y": [h["not_answered"] for h in hours],
             "marker": {"color": "#94a3b8"}, "customdata": labels,
             "hovertemplate": "%{customdata[0]}: %{y} not answered (missed, busy, voicemail, failed)<extra></extra>"}]
    city = tz_name.rsplit("/", 1)[-1].replace("_", " ")
    return _figure("When do calls get answered?", data, barmode="stack", bargap=0.15,
                   xaxis={"title": {"text": f"hour of day ({city} time)"}, "tickmode": "array",
                          "tickvals": list(range(0, 24, 3)), "ticktext": [f"{h:02d}h" for h in range(0, 24, 3)],
                          "tickangle": 0, "range": [-0.5, 23.5]},
                   yaxis={"title": {"text": "calls"}, "rangemode": "tozero"},
                   legend={"orientation": "h", "y": -0.3, "traceorder": "normal"})


def speed_to_lead(buckets) -> dict:
    """New leads by time to first call, fastest at the top: within the SLA in green, late in yellow, not called
    yet in red."""
    colours = {"sla": "#16a34a", "late": "#ca8a04", "waiting": "#dc2626"}
    data = [{"type": "bar", "orientation": "h", "y": [label for label, _, _ in buckets], "x": [n for _, n, _ in buckets],
             "marker": {"color": [colours[kind] for _, _, kind in buckets]}, "text": [n for _, n, _ in buckets],
             "textposition": "auto", "hovertemplate": "%{y}: %{x} leads<extra></extra>"}]
    return _figure("How fast are new leads called?", data,
                   xaxis={"title": {"text": "leads created in the period"}, "rangemode": "tozero"},
                   margin=dict(l=16, r=16, t=48, b=40), yaxis={"automargin": True, "autorange": "reversed"})


# ---------- client pages ----------

DIMENSION_LINES = [("engagement", "Engagement", "#1d4ed8"), ("financial", "Financial", "#0e7490"),
                   ("relationship", "Relationship", "#be185d"), ("package_health", "Package health", "#c2410c"),
                   ("momentum", "Momentum", "#4b5563")]


def client_score_history(points: list[dict], bands: tuple[int, int, int]) -> dict:
    """One client's total and five dimension scores per scored day, over the zone bands (purple, green and
    yellow minimums); a day without data for a dimension is a gap, not a zero. A plain figure dict."""
    purple, green, yellow = bands
    days = [p["date"].isoformat() for p in points]
    data = [{"type": "scatter", "mode": "lines", "name": label, "x": days,
             "y": [None if p[key] is None else float(p[key]) for p in points], "line": {"color": colour, "width": 1.5},
             "hovertemplate": f"{label}: %{{y:.1f}}<extra></extra>"} for key, label, colour in DIMENSION_LINES]
    data.append({"type": "scatter", "mode": "lines+markers", "name": "Total", "x": days,
                 "y": [float(p["total"]) for p in points], "line": {"color": "#111827", "width": 3},
                 "marker": {"size": 4}, "hovertemplate": "Total: %{y:.1f}<extra></extra>"})
    zones = [{"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": low, "y1": high, "layer": "below",
              "line": {"width": 0}, "fillcolor": ZONE_COLOURS[zone], "opacity": 0.08}
             for zone, low, high in (("red", 0, yellow), ("yellow", yellow, green), ("green", green, purple),
                                     ("purple", purple, 100))]
    return _figure("What is moving this client's health?", data, shapes=zones,
                   # a little headroom: lines at 100 (a full dimension) stay visible
                   yaxis={"title": {"text": "score (0–100)"}, "range": [0, 103], "dtick": 20},
                   xaxis={"type": "date", "tickformat": "%d %b", "hoverformat": "%d %b %Y"}, hovermode="x unified",
                   legend={"orientation": "h", "y": -0.2}, height=380)
