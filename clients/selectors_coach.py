"""Reads of coach performance, scoped (ptd.scoping).

Admins and viewers see every coach's snapshot (viewers without client names). A coach sees the whole
leaderboard — every coach's name, rank, rank change and score, for peer benchmarking — but the detail
(portfolio figures, red flags, best and worst clients, sessions delivered) only of their own snapshot and
only their own coach page. Setters see nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (Avg, BooleanField, Case, Count, Exists, ExpressionWrapper, F, FloatField, IntegerField,
                              Max, OuterRef, Q, QuerySet, Value, When, Window)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, RowNumber

from clients.coach_performance import WEIGHTS
from clients.models import (HealthScore, Intervention, InterventionStatus, Priority, SessionStatus, Staff,
                            StaffKind, TrainingSession)
from clients.models_coach import CoachSnapshot
from clients.selectors_health import ZONES
from clients.selectors_interventions import interventions_queue_for
from clients.selectors_overview import choice_label, client_label, of_contact, url_of
from ptd import rollups
from ptd.metrics import KPI
from ptd.models import Role
from ptd.periods import Period
from ptd.scoping import Scope, role_may_see, scoped

HISTORY_DAYS = 84
SNAPSHOT_SOURCE = "Coach snapshots (built daily from health scores, packages, sessions and interventions)"

# The parts of the performance score (clients.coach_performance), in the order of their weight.
PART_LABELS = {"health": "Average health", "green_share": "Green share", "retention": "Retention",
               "interventions": "Intervention success", "balance": "Balance"}
PART_NOTES = {"green_share": " (purple + green clients)", "retention": " (clients kept over 30 days)",
              "balance": " (improving vs declining clients)"}
SCORE_PARTS = [(key, PART_LABELS[key], WEIGHTS[key]) for key in WEIGHTS]
SCORE_FORMULA = ("0–100, weighted: " + ", ".join(f"{weight} % {label.lower()}{PART_NOTES.get(key, '')}"
                                                 for key, label, weight in SCORE_PARTS)
                 + "; a part without data is left out and the other weights scaled up")

# A coach page's snapshot KPIs: (field, label, unit, higher is better, formula, why it can be empty).
NO_ACTIVE_CLIENTS = "no active client on this snapshot"
SNAPSHOT_KPIS = [
    ("performance_score", "Performance score", "score", True, SCORE_FORMULA, "no part of the score has data yet"),
    ("avg_health", "Average health", "score", True, "mean health total of the coach's active clients that day",
     NO_ACTIVE_CLIENTS),
    ("active_clients", "Active clients", "count", True,
     "the coach's clients scored that day with a package in date or a session attended in the last 30 days", ""),
    ("zone_red", "Active clients in red", "count", False, "active clients in the red zone", ""),
    ("at_risk_revenue", "At-risk revenue", "AED", False,
     "Σ remaining package value (value × sessions left ÷ sessions bought) of active clients in yellow or red", ""),
    ("intervention_success_rate", "Intervention success", "%", True,
     ("interventions assigned to the coach and done in the last 90 days with a positive 30-day health change "
      "÷ those with a 30-day change measured"), "no intervention of the last 90 days has its 30-day result yet"),
    ("churned_clients", "Clients lost (30 days)", "count", False,
     "clients whose last package ended in the last 30 days with no renewal and no attended session since", ""),
]


@dataclass
class LeaderboardRow:
    coach_id: int
    coach_name: str
    rank: int | None
    rank_change: int | None
    performance_score: Decimal | None
    is_own: bool
    snapshot: CoachSnapshot | None  # the full figures, only when the person may see this coach's detail


@dataclass
class CoachDetail:
    snapshot: CoachSnapshot
    history: list[dict] = field(default_factory=list)  # oldest first: date, rank and the SNAPSHOT_KPIS fields
    peers: dict = field(default_factory=dict)  # workspace averages of the day and the number of coaches ranked

    @property
    def previous(self) -> dict | None:
        """The coach's snapshot before this one (within the history window): what the KPIs compare with."""
        return self.history[-2] if len(self.history) > 1 else None

    @property
    def parts(self) -> list[dict]:
        return score_parts(self.snapshot.score_parts)


def score_parts(stored: dict) -> list[dict]:
    """The score's parts in weight order: key, label, value (0–100, None without data), effective weight (0–1)."""
    return [{"key": key, "label": label, "value": stored.get(key, {}).get("value"),
             "weight": stored.get(key, {}).get("weight") or 0} for key, label, _ in SCORE_PARTS]


def coach_for(scope: Scope, staff_id: int) -> Staff | None:
    """The coach (a coach, or any staff member with snapshots) if the person may open their page: admins and
    viewers any of the workspace, a coach only themself."""
    has_snapshots = Exists(CoachSnapshot.objects.filter(coach_id=OuterRef("pk")))
    return scoped(Staff, scope).filter(Q(kind=StaffKind.COACH) | has_snapshots, pk=staff_id).first()


def latest_snapshot_day(scope: Scope) -> date | None:
    return CoachSnapshot.objects.filter(workspace_id=scope.workspace.pk).aggregate(d=Max("date"))["d"]


def _sees_all_details(scope: Scope) -> bool:
    return scope.role in CoachSnapshot.ROLE_SCOPE_ALL


def _for_viewer(snapshot: CoachSnapshot, scope: Scope) -> CoachSnapshot:
    """Viewers read dashboards without client names (ptd.scoping.Scope.can_see_pii)."""
    if not scope.can_see_pii:
        for attr in ("best_clients", "worst_clients"):
            setattr(snapshot, attr, [{**c, "name": f"Client {c['contact_id']}"} for c in getattr(snapshot, attr)])
    return snapshot


def coach_leaderboard_for(scope: Scope, day: date | None = None) -> list[LeaderboardRow]:
    """The coaches of the active workspace on `day` (default: the latest snapshot day), best first;
    coaches without a score last, by name."""
    if not role_may_see(CoachSnapshot, scope):
        return []
    day = day or latest_snapshot_day(scope)
    if day is None:
        return []
    own = scope.staff_id if scope.role == Role.COACH else None
    # The client lists (names) are the coach page's, not the board's: not read here (1,400 coaches' JSON).
    rows = (CoachSnapshot.objects.filter(workspace_id=scope.workspace.pk, date=day).select_related("coach")
            .defer("best_clients", "worst_clients", "red_flags")
            .order_by(F("rank").asc(nulls_last=True), "coach__name", "coach_id"))
    board = []
    for snap in rows:
        is_own = own is not None and snap.coach_id == own
        detail = snap if _sees_all_details(scope) or is_own else None
        board.append(LeaderboardRow(coach_id=snap.coach_id, coach_name=snap.coach.name, rank=snap.rank,
                                    rank_change=snap.rank_change, performance_score=snap.performance_score,
                                    is_own=is_own, snapshot=detail))
    return board


def coach_detail_for(scope: Scope, coach_id: int, day: date | None = None) -> CoachDetail | None:
    """One coach's snapshot on `day` (default: the latest), with 12 weeks of history and the peer averages;
    None when it does not exist or is outside the person's scope (a coach asking about another coach)."""
    mine = scoped(CoachSnapshot, scope).filter(coach_id=coach_id)
    day = day or mine.aggregate(d=Max("date"))["d"]
    if day is None:
        return None
    snapshot = mine.filter(date=day).select_related("coach").first()
    if snapshot is None:
        return None
    history = list(mine.filter(date__gt=day - timedelta(days=HISTORY_DAYS), date__lte=day).order_by("date")
                   .values("date", "rank", *(kpi[0] for kpi in SNAPSHOT_KPIS)))
    peers = CoachSnapshot.objects.filter(workspace_id=scope.workspace.pk, date=day).aggregate(
        avg_score=Avg("performance_score"), avg_health=Avg("avg_health"), ranked=Count("rank"))
    peers = {"avg_score": _round(peers["avg_score"]), "avg_health": _round(peers["avg_health"]),
             "ranked": peers["ranked"]}
    return CoachDetail(snapshot=_for_viewer(snapshot, scope), history=history, peers=peers)


def _round(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def coach_kpis(detail: CoachDetail) -> list[KPI]:
    """The snapshot's KPIs, each compared with the coach's previous snapshot (the one before it in the history)."""
    previous = detail.previous or {}
    kpis = []
    for name, label, unit, higher_is_better, formula, empty_reason in SNAPSHOT_KPIS:
        value = getattr(detail.snapshot, name)
        prior = previous.get(name)
        kpis.append(KPI(name, label, unit, formula, SNAPSHOT_SOURCE, None if value is None else Decimal(value),
                        None if prior is None else Decimal(prior), higher_is_better,
                        "" if value is not None else empty_reason))
    return kpis


def sessions_delivered_by_coach(scope: Scope, period: Period) -> dict[int, int]:
    """{coach id: attended sessions they ran in the period} (the sessions_attended measure). A coach's scope
    holds the sessions of their own clients, so only their own count is complete (the leaderboard shows only that)."""
    sessions = rollups.by_staff(["sessions_attended"], period, scope)["sessions_attended"]
    return {coach: int(n) for coach, n in sessions.items() if coach is not None}


# The board's order: best first, coaches without a rank last, then by name.
BOARD_ORDER = [F("rank").asc(nulls_last=True), F("coach__name").asc(), F("coach_id").asc()]


def _board(scope: Scope, day: date | None) -> tuple[QuerySet, Callable]:
    """The snapshots of `day` the leaderboard lists, and a wrapper that keeps an expression's value only on the
    rows whose detail the person may see (every row for admins and viewers, their own row for a coach)."""
    board = CoachSnapshot.objects.filter(workspace_id=scope.workspace.pk, date=day)
    if day is None or not role_may_see(CoachSnapshot, scope):
        return board.none(), lambda expression, default=None: expression
    if _sees_all_details(scope):
        return board, lambda expression, default=None: expression

    def detail(expression, default=None):
        return Case(When(coach_id=scope.staff_id, then=expression), default=Value(default),
                    output_field=getattr(expression, "output_field", None))
    return board, detail


def coach_leaderboard_rows_for(scope: Scope, sessions_period: Period | None = None) -> tuple[date | None, QuerySet]:
    """The latest leaderboard as table rows that sort and page in SQL (only the page shown is read; `position`
    is the board's order, the tables' tiebreak), and its day. Figures beyond name, rank and score (and the link
    to the coach page) are None where the person may not see that coach's detail. With `sessions_period`, each
    row also counts the sessions the coach delivered in it."""
    day = latest_snapshot_day(scope)
    board, detail = _board(scope, day)
    sessions = Value(0)
    if sessions_period is not None and day is not None and role_may_see(CoachSnapshot, scope):
        # The measure's per-coach counts (one read of the daily rollup) go back into SQL as one JSON object, so
        # the column sorts there too; a coach without sessions counts 0.
        counts = json.dumps({str(coach): n for coach, n in sessions_delivered_by_coach(scope, sessions_period).items()})
        sessions = RawSQL(f'COALESCE((%s::jsonb ->> "{CoachSnapshot._meta.db_table}"."coach_id"::text)::integer, 0)',
                          [counts], output_field=IntegerField())

    def part(key):
        return detail(Cast(KT(f"score_parts__{key}__value"), FloatField()))

    own = scope.staff_id if scope.role == Role.COACH else None
    # The board's order before `coach` names the coach's name rather than the relation.
    rows = board.annotate(position=Window(RowNumber(), order_by=BOARD_ORDER)).values(
        "coach_id", "rank", "rank_change", "position").annotate(
        coach=F("coach__name"), score=F("performance_score"),
        is_own=ExpressionWrapper(Q(coach_id=own) if own else Q(pk__in=[]), output_field=BooleanField()),
        coach_url=detail(url_of("coach-detail", "coach_id"), ""),
        active_clients=detail(F("active_clients")), avg_health=detail(F("avg_health")),
        green_share=part("green_share"), retention=part("retention"),
        intervention_success=detail(F("intervention_success_rate")), balance=part("balance"),
        purple=detail(F("zone_purple")), green=detail(F("zone_green")), yellow=detail(F("zone_yellow")),
        red=detail(F("zone_red")), at_risk_revenue=detail(F("at_risk_revenue")),
        sessions_delivered=detail(sessions))
    return day, rows


def coach_comparison_rows_for(scope: Scope, day: date | None, best: int) -> tuple[list[dict], int]:
    """The `best` first coaches of the board on `day` (and a coach's own row when it is not among them), best first, as
    the comparison charts draw them: coach id and name, score and, where the person may see that coach's detail (else
    None), the score's parts and the zone counts; and how many coaches the board has. One query of plain values, the
    parts read out of their JSON in SQL."""
    board, detail = _board(scope, day)
    zones = [zone.value for zone in ZONES]
    parts = [(key, attr) for key, _, _ in SCORE_PARTS for attr in ("value", "weight")]
    ranked = board.annotate(position=Window(RowNumber(), order_by=BOARD_ORDER), coaches=Window(Count("pk")))
    rows = ranked.filter(Q(position__lte=best) | Q(coach_id=scope.staff_id)).order_by("position").values_list(
        "coaches", "coach_id", "coach__name", "performance_score", detail(Value(True), False),
        *(detail(Cast(KT(f"score_parts__{key}__{attr}"), FloatField())) for key, attr in parts),
        *(f"zone_{zone}" for zone in zones))
    out, coaches = [], 0
    for coaches, coach_id, name, score, shown, *values in rows:
        stored, counts = values[:len(parts)], values[len(parts):]
        out.append({"coach_id": coach_id, "coach": name, "score": score,
                    "parts": score_parts({key: {"value": v, "weight": w} for (key, _), v, w
                                          in zip(parts[::2], stored[::2], stored[1::2])}) if shown else None,
                    **dict(zip(zones, counts if shown else [None] * len(zones)))})
    return out, coaches


def coach_zone_counts_for(scope: Scope, coach_id: int, day: date) -> list[dict]:
    """The coach's clients scored on `day` per zone: every scored client, as the at-risk table, the Overview and
    the client list count them (the snapshot's zone counts cover active clients only). One grouped query."""
    counts = dict(scoped(HealthScore, scope).filter(date=day, contact__coach_id=coach_id)
                  .values_list("zone").annotate(n=Count("pk")).order_by())
    return [{"zone": zone.value, "label": zone.label, "count": counts.get(zone.value, 0)} for zone in ZONES]


def coach_sessions_for(scope: Scope, coach_id: int, period: Period) -> tuple[KPI, QuerySet]:
    """Sessions the coach ran in the period: the "sessions delivered" KPI (attended, with the prior period) and
    every session of the period as table rows (starts_at, client, client_url, status_label)."""
    theirs = scoped(TrainingSession, scope).filter(coach_id=coach_id)
    prior = period.prior()
    attended = Q(status=SessionStatus.ATTENDED)
    counts = theirs.filter(starts_at__gte=prior.start, starts_at__lt=period.end).aggregate(
        now=Count("pk", filter=attended & Q(starts_at__gte=period.start)),
        before=Count("pk", filter=attended & Q(starts_at__lt=period.start)))
    kpi = KPI("sessions_delivered", "Sessions delivered", "count",
              "training sessions this coach ran with status attended, start time in the period",
              "Sessions feed", Decimal(counts["now"]), Decimal(counts["before"]), True)
    rows = (theirs.filter(starts_at__gte=period.start, starts_at__lt=period.end)
            .values("pk", "starts_at", "contact_id")
            .annotate(client=of_contact(scope, label=client_label(scope)),
                      client_url=url_of("client-detail", "contact_id"),
                      status_label=choice_label("status", SessionStatus.choices)))
    return kpi, rows


def coach_open_interventions_for(scope: Scope, coach_id: int) -> QuerySet:
    """Open and in-progress interventions assigned to the coach, as table rows."""
    return (interventions_queue_for(access=scope).filter(assigned_to_id=coach_id)
            .values("pk", "contact_id", "due_at", "created_at")
            .annotate(client=of_contact(scope, label=client_label(scope)),
                      client_url=url_of("client-detail", "contact_id"),
                      kind_label=choice_label("kind", Intervention.KINDS),
                      priority_label=choice_label("priority", Priority.choices),
                      status_label=choice_label("status", InterventionStatus.choices)))
