"""Pages of the clients app (thin: parse → selectors → render; `request.htmx` renders one partial)."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from clients import charts
from clients.selectors_coach import coach_leaderboard_rows_for
from clients.selectors_health import latest_scored_day, zone_counts_for
from clients.selectors_overview import at_risk_rows_for, average_health_on, daily_summary_for, health_trend_for
from clients.views_coaches import OVERVIEW_COACH_KEYS, at_risk_table, leaderboard_table
from ptd.models import Role
from ptd.tables import export_csv
from ptd.views import render_page, require_page

PARTIALS = ["zones", "trend", "summary", "at-risk", "coaches", "churn-model"]


def overview(request):
    """Overview (DESIGN §7 row 10): zones and their week-over-week change, average health and its trend, the
    daily summary, at-risk clients, the coach table and the churn model's backtest."""
    require_page(request, "overview")
    access = request.access
    day = latest_scored_day(access)
    # The trend chart is asked for once the page has loaded (hx-trigger="load"): the page's first paint does not
    # wait for a second figure.
    trend_requested = request.htmx and request.GET.get("partial") == "trend"
    context = {"day": day, "period": None, "trend_requested": trend_requested}
    if day is not None:
        at_risk = at_risk_table(request, at_risk_rows_for(access, day),
                                empty_message="No client is in the yellow or red zone on this day.")
        # The coach table (1,400 coaches at 100,000 clients) only for the page, its own partial or its CSV, not
        # for the other partials' refreshes.
        partial, export = (request.GET.get("partial") if request.htmx else None), request.GET.get("export")
        coaches = None
        if (partial is None and export in (None, "coaches")) or partial == "coaches":
            _, coach_rows = coach_leaderboard_rows_for(access)
            coaches = leaderboard_table(request, coach_rows, name="coaches", keys=OVERVIEW_COACH_KEYS)
        if (response := export_csv(request, at_risk, *([coaches] if coaches else []))):
            return response
        if trend_requested:
            context["trend_chart"] = charts.health_trend(health_trend_for(access, day))
        context.update(
            # Lazy: each is computed only when the page or its own partial is rendered, not for the other partials.
            health=SimpleLazyObject(lambda: _zone_figures(access, day)),
            summary=SimpleLazyObject(lambda: daily_summary_for(access, day)), summary_links=_summary_links(access),
            at_risk=at_risk, coaches=coaches,
        )
    if access.role in (Role.ADMIN, Role.VIEWER):
        from clients.churn import latest_model

        model = latest_model(access.workspace)
        context["churn_model"] = model.meta if model else None
    return render_page(request, "clients/overview.html", context, PARTIALS)


def _zone_figures(access, day) -> dict:
    """The zone cards and chart: clients per zone on `day` and 7 days before, the day's average and healthy share."""
    zones = zone_counts_for(access, day)
    total = sum(z.count for z in zones)
    return {"zones": zones, "clients": total, "average": average_health_on(access, day),
            "healthy_share": round(100 * sum(z.count for z in zones[:2]) / total) if total else None,
            "zone_chart": charts.zone_distribution(zones)}


def _summary_links(access) -> dict:
    """Where the daily summary's numbers lead: the intervention queue, the red clients, and the sessions of a
    day (a coach's own page, else the leaderboard's sessions column; the template adds the day)."""
    queue = reverse("interventions")
    sessions_page = (reverse("coach-detail", args=[access.staff_id]) if access.role == Role.COACH and access.staff_id
                     else reverse("coaches"))
    return {"opened": f"{queue}?{urlencode({'status': 'open'})}", "completed": f"{queue}?{urlencode({'status': 'done'})}",
            "red": f"{reverse('clients')}?{urlencode({'zone': 'red'})}",
            "sessions": f"{sessions_page}?{urlencode({'period': 'custom'})}"}
