"""Pages of the clients app (thin: parse → selectors → render; `request.htmx` renders one partial)."""

from django.shortcuts import render

from clients import charts
from clients.selectors_coach import coach_leaderboard_for
from clients.selectors_health import (at_risk_clients_for, average_health_trend_for, latest_scored_day,
                                      zone_counts_for)
from ptd.views import require_page

PARTIALS = {"zones", "at-risk", "coaches", "churn-model"}


def overview(request):
    """Overview (DESIGN §7 row 10): zones and their week-over-week change, average health and its trend,
    at-risk clients, the coach table and the churn model's backtest."""
    require_page(request, "overview")
    access = request.access
    day = latest_scored_day(access)
    context = {"day": day, "period": None, "can_see_pii": access.can_see_pii}
    if day is not None:
        zones = zone_counts_for(access, day)
        trend = average_health_trend_for(access, day)
        total = sum(z.count for z in zones)
        context.update(
            zones=zones, clients=total, average=trend[-1][1] if trend else None,
            healthy_share=round(100 * sum(z.count for z in zones[:2]) / total) if total else None,
            zone_chart=charts.zone_distribution(zones), trend_chart=charts.health_trend(trend),
            at_risk=at_risk_clients_for(access, day), coaches=coach_leaderboard_for(access),
        )
    if access.role in ("admin", "viewer"):
        from clients.churn import latest_model

        model = latest_model(access.workspace)
        context["churn_model"] = model.meta if model else None
    partial = request.GET.get("partial")
    if request.htmx and partial in PARTIALS:
        return render(request, f"clients/overview.html#{partial}", context)
    return render(request, "clients/overview.html", context)
