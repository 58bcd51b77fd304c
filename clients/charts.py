"""Plotly figures of the clients pages, built server-side as figure dicts (pure: no ORM, no I/O)."""

from __future__ import annotations

import json

import plotly.graph_objects as go

ZONE_COLOURS = {"purple": "#7c3aed", "green": "#16a34a", "yellow": "#ca8a04", "red": "#dc2626"}
LAYOUT = dict(margin=dict(l=48, r=16, t=48, b=40), height=320, paper_bgcolor="white", plot_bgcolor="white",
              font=dict(family="system-ui, sans-serif", size=13))


def zone_distribution(zones) -> dict:
    """How many clients are in each zone, today and a week ago."""
    fig = go.Figure()
    if any(z.week_ago is not None for z in zones):
        fig.add_bar(name="7 days ago", x=[z.label for z in zones], y=[z.week_ago or 0 for z in zones],
                    marker_color="#cbd5e1", hovertemplate="%{x}, 7 days ago: %{y} clients<extra></extra>")
    fig.add_bar(name="Today", x=[z.label for z in zones], y=[z.count for z in zones],
                marker_color=[ZONE_COLOURS[z.zone] for z in zones],
                hovertemplate="%{x}: %{y} clients<extra></extra>")
    fig.update_layout(title="How many clients are in each zone?", barmode="group", yaxis_title="clients", **LAYOUT)
    return json.loads(fig.to_json())


def health_trend(points) -> dict:
    """Average health score per day."""
    fig = go.Figure(go.Scatter(x=[d.isoformat() for d, _ in points], y=[v for _, v in points], mode="lines+markers",
                               line=dict(color="#1d4ed8"), hovertemplate="%{x|%d %b}: %{y:.1f}<extra></extra>"))
    fig.update_layout(title="Is average client health rising or falling?", yaxis=dict(title="average score",
                      range=[0, 100]), xaxis=dict(tickformat="%d %b"), **LAYOUT)
    return json.loads(fig.to_json())
