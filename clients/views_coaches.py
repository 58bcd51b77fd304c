"""Coach pages: the leaderboard (/coaches/) and one coach (/coaches/<id>/), thin (parse → selectors → render).

The table builders here are shared with the Overview (clients.views), which shows the same coach and at-risk
tables, so each column has one definition.
"""

from functools import cached_property

from django.http import Http404

from clients import charts
from clients.selectors_coach import (SCORE_FORMULA, coach_comparison_rows_for, coach_detail_for, coach_for,
                                     coach_kpis, coach_leaderboard_rows_for, coach_open_interventions_for,
                                     coach_sessions_for, coach_zone_counts_for, latest_snapshot_day)
from clients.selectors_health import latest_scored_day
from clients.selectors_overview import at_risk_rows_for, at_risk_sort_keys
from ptd.models import Role
from ptd.tables import Column, Table, display, export_csv
from ptd.views import page_period, render_page, require_page

LEADERBOARD_COLUMNS = [
    Column("rank", "Rank", kind="count", help="1 = highest score that day; equal scores share a rank"),
    Column("rank_change", "Rank change", kind="count", help="places gained since 7 days earlier (negative: lost)"),
    Column("coach", "Coach", link="coach_url"),
    Column("score", "Score", kind="score", help=SCORE_FORMULA),
    Column("active_clients", "Active clients", kind="count",
           help="clients scored that day with a package in date or a session attended in the last 30 days"),
    Column("avg_health", "Average health", kind="score", help="mean health total of active clients (40 % of the score)"),
    Column("green_share", "Green share", kind="%", help="purple + green clients ÷ active clients (20 % of the score)"),
    Column("retention", "Retention", kind="%", help="1 − clients lost in 30 days ÷ (active + lost) (15 % of the score)"),
    Column("intervention_success", "Intervention success", kind="%",
           help="done interventions (90 days) with a positive 30-day health change ÷ those measured (15 % of the score)"),
    Column("balance", "Balance", kind="score",
           help="50 + 50 × (improving − declining) ÷ active clients (10 % of the score)"),
    Column("purple", "Purple", kind="count", help="active clients in the purple zone"),
    Column("green", "Green", kind="count", help="active clients in the green zone"),
    Column("yellow", "Yellow", kind="count", help="active clients in the yellow zone"),
    Column("red", "Red", kind="count", help="active clients in the red zone"),
    Column("at_risk_revenue", "At-risk revenue", kind="AED",
           help="Σ remaining package value of active clients in yellow or red"),
    Column("sessions_delivered", "Sessions delivered", kind="count",
           help="attended sessions the coach ran in the period"),
]
# The Overview's shorter coach table (no period there, so no sessions column).
OVERVIEW_COACH_KEYS = ["rank", "rank_change", "coach", "score", "active_clients", "avg_health", "red",
                       "at_risk_revenue"]

COACHES_PARTIALS = ["comparison", "leaderboard"]
NO_SNAPSHOT = "No coach snapshot yet: they are built every day at 09:30 from that day's health scores."


def leaderboard_table(request, rows, *, name: str, keys: list[str] | None = None) -> Table:
    """The leaderboard's rows (clients.selectors_coach.coach_leaderboard_rows_for), equal values in board order."""
    columns = [c for c in LEADERBOARD_COLUMNS if keys is None or c.key in keys]
    return Table(request, name=name, columns=columns, rows=rows, default_sort="rank", tiebreak="position",
                 empty_message=NO_SNAPSHOT)


def at_risk_table(request, rows, *, with_coach: bool = True, empty_message: str) -> Table:
    """Yellow and red clients (clients.selectors_overview.at_risk_rows_for), riskiest first."""
    sort_by = at_risk_sort_keys(request.access)
    columns = [
        Column("client", "Client", link="client_url", sort_by=sort_by["client"]),
        *([Column("coach", "Coach", link="coach_url", sort_by=sort_by["coach"])] if with_coach else []),
        Column("total", "Health", kind="score", help="health score total (0–100) that day"),
        Column("zone", "Zone", kind="zone"),
        Column("churn_risk", "Churn risk", kind="%", help="estimated chance of leaving in the next 30 days"),
        Column("trend_label", "Trend", help="health compared with the week before"),
        Column("warnings", "Warnings", sortable=False, help="the health engine's warnings behind the score"),
    ]
    return Table(request, name="at-risk", columns=columns, rows=rows, default_sort="-churn_risk", tiebreak="pk",
                 empty_message=empty_message)


class CoachesPage:
    """What /coaches/ shows; each part is computed on first read, so a partial computes only its own."""

    def __init__(self, request, period):
        self.request, self.access, self.period = request, request.access, period

    @cached_property
    def day(self):
        return latest_snapshot_day(self.access)

    @cached_property
    def table(self) -> Table:
        _, rows = coach_leaderboard_rows_for(self.access, sessions_period=self.period)
        return leaderboard_table(self.request, rows, name="leaderboard")

    @cached_property
    def _compared(self) -> tuple[list[dict], int]:
        return coach_comparison_rows_for(self.access, self.day, best=charts.CHART_BARS)

    @property
    def comparison(self) -> list[dict]:
        return self._compared[0]

    @property
    def comparison_note(self) -> str:
        """Whom the charts leave out, said above them."""
        coaches = self._compared[1]
        if coaches <= charts.CHART_BARS:
            return ""
        own = " and you" if len(self.comparison) > charts.CHART_BARS else ""
        return f"The {charts.CHART_BARS} best coaches of {coaches:,}{own}; the leaderboard below has every one."

    @cached_property
    def score_chart(self) -> dict:
        return charts.coach_scores(self.comparison)

    @cached_property
    def zone_chart(self) -> dict | None:
        detailed = sum(r["parts"] is not None for r in self.comparison)
        return charts.coach_zone_mix(self.comparison) if detailed > 1 else None  # one coach's zones compare nothing

    @cached_property
    def own(self) -> dict | None:
        """A coach's own leaderboard row (None for other roles)."""
        return self.table.rows.filter(is_own=True).first() if self.access.role == Role.COACH else None


def coach_list(request):
    """The coach leaderboard: the latest snapshot's ranks, scores and their parts, with the sessions each coach
    delivered in the period."""
    require_page(request, "coaches")
    page = CoachesPage(request, page_period(request))
    if "export" in request.GET and (response := export_csv(request, page.table)):
        return response
    # The parts the response renders: the whole page, or the one partial htmx asks for.
    partial = request.GET.get("partial") if request.htmx else None
    shown = {partial} if partial in COACHES_PARTIALS else {*COACHES_PARTIALS, "head"}
    context = {"period": page.period, "day": page.day, "score_formula": SCORE_FORMULA}
    if "comparison" in shown:
        context.update(score_chart=page.score_chart, zone_chart=page.zone_chart, comparison_note=page.comparison_note)
    if "leaderboard" in shown:
        context["table"] = page.table
    if "head" in shown:
        context.update(table=page.table, own=page.own,
                       own_score=display(page.own["score"], "score") if page.own else "")
    return render_page(request, "clients/coaches.html", context, COACHES_PARTIALS)


def coach_detail(request, staff_id: int):
    """One coach: snapshot KPIs against the previous snapshot, score history, clients by zone, at-risk clients,
    open interventions and the sessions delivered in the period. A coach may open only their own page."""
    require_page(request, "coaches")
    access = request.access
    coach = coach_for(access, staff_id)
    if coach is None:
        raise Http404("No such coach, or not yours to see.")
    period = page_period(request)
    detail = coach_detail_for(access, coach.pk)
    scored_day = detail.snapshot.date if detail else latest_scored_day(access)
    at_risk = at_risk_table(request, rows=at_risk_rows_for(access, scored_day, coach.pk) if scored_day else [],
                            with_coach=False,
                            empty_message=f"None of {coach.name}'s clients is in the yellow or red zone."
                            if scored_day else "No health scores yet: they are computed every day at 09:00.")
    interventions = Table(request, name="interventions", rows=coach_open_interventions_for(access, coach.pk),
                          columns=[Column("client", "Client", link="client_url"), Column("kind_label", "Kind"),
                                   Column("priority_label", "Priority", sortable=False),
                                   Column("status_label", "Status"), Column("due_at", "Due", kind="datetime"),
                                   Column("created_at", "Opened", kind="datetime")],
                          default_sort="due_at", tiebreak="pk",
                          empty_message=f"No open intervention is assigned to {coach.name}.")
    sessions_kpi, session_rows = coach_sessions_for(access, coach.pk, period)
    sessions = Table(request, name="sessions", rows=session_rows,
                     columns=[Column("starts_at", "When", kind="datetime"), Column("client", "Client", link="client_url"),
                              Column("status_label", "Status")],
                     default_sort="-starts_at", tiebreak="pk",
                     empty_message=f"{coach.name} ran no session in this period ({period.label.lower()}).")
    if (response := export_csv(request, at_risk, interventions, sessions)):
        return response
    context = {"period": period, "coach": coach, "detail": detail, "snapshot": detail.snapshot if detail else None,
               "scored_day": scored_day, "zones": coach_zone_counts_for(access, coach.pk, scored_day) if scored_day else [],
               "kpis": coach_kpis(detail) if detail else [], "at_risk": at_risk, "interventions": interventions,
               "sessions": sessions, "sessions_kpi": sessions_kpi, "no_snapshot": NO_SNAPSHOT}
    if detail:
        context.update(peer_score=display(detail.peers["avg_score"], "score"),
                       history_chart=charts.coach_score_history(detail.history),
                       parts_chart=charts.coach_score_parts(detail.parts))
    return render_page(request, "clients/coach_detail.html", context,
                       ["kpis", "history", "zones", "at-risk", "interventions", "sessions"])
