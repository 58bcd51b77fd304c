"""The charts built as plain figure dicts (go.Figure's validation is too slow for a 300 ms page) are valid Plotly
figures carrying their data: calls by hour and speed to lead (setter page), revenue and new leads per day
(executive page)."""

from datetime import date
from decimal import Decimal

import plotly.graph_objects as go

from clients.charts import calls_by_hour, speed_to_lead
from finance.charts import revenue_trend
from marketing.charts import new_leads_per_day

DAYS = [date(2026, 10, 1), date(2026, 10, 2)]


def test_setter_charts_are_valid_figures():
    hours = go.Figure(calls_by_hour([{"hour": 9, "answered": 3, "not_answered": 1}], "Asia/Dubai"))
    assert [t.name for t in hours.data] == ["Answered", "Not answered"] and hours.data[0].y == (3,)
    assert hours.layout.xaxis.title.text == "hour of day (Dubai time)" and hours.layout.barmode == "stack"
    speed = go.Figure(speed_to_lead([("≤ 5 min", 4, "sla"), ("not called yet", 2, "waiting")]))
    assert speed.data[0].x == (4, 2) and speed.data[0].marker.color == ("#16a34a", "#dc2626")


def test_trend_charts_are_valid_figures():
    revenue = go.Figure(revenue_trend([(d, Decimal("100.50")) for d in DAYS], [(date(2026, 9, 1), Decimal(7))]))
    assert revenue.data[0].y == (100.5, 100.5) and revenue.data[1].x == ("2026-10-01",)
    assert revenue.data[1].customdata == ("Tue 01 Sep",) and revenue.data[1].line.dash == "dash"
    leads = go.Figure(new_leads_per_day([(d, 5, 2) for d in DAYS], []))
    assert [t.y for t in leads.data[:2]] == [(2, 2), (3, 3)] and leads.layout.yaxis.dtick == 1
    many = go.Figure(new_leads_per_day([(d, 50, 20) for d in DAYS], []))
    assert many.layout.yaxis.dtick is None
