"""Reads of coach performance, scoped (ptd.scoping).

Admins and viewers see every coach's snapshot (viewers without client names). A coach sees the whole
leaderboard — every coach's name, rank, rank change and score, for peer benchmarking — but the detail
(portfolio figures, red flags, best and worst clients) only of their own snapshot. Setters see nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Avg, Count, F, Max

from clients.models_coach import CoachSnapshot
from ptd.models import Role
from ptd.scoping import Scope, role_may_see, scoped

HISTORY_DAYS = 84


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
    history: list[dict] = field(default_factory=list)  # oldest first: date, avg_health, score, rank, active
    peers: dict = field(default_factory=dict)  # workspace averages of the day and the number of coaches ranked


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
    rows = (CoachSnapshot.objects.filter(workspace_id=scope.workspace.pk, date=day).select_related("coach")
            .order_by(F("rank").asc(nulls_last=True), "coach__name", "coach_id"))
    board = []
    for snap in rows:
        is_own = own is not None and snap.coach_id == own
        detail = _for_viewer(snap, scope) if _sees_all_details(scope) or is_own else None
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
                   .values("date", "avg_health", "performance_score", "rank", "active_clients", "zone_red"))
    peers = CoachSnapshot.objects.filter(workspace_id=scope.workspace.pk, date=day).aggregate(
        avg_score=Avg("performance_score"), avg_health=Avg("avg_health"), ranked=Count("rank"))
    peers = {"avg_score": _round(peers["avg_score"]), "avg_health": _round(peers["avg_health"]),
             "ranked": peers["ranked"]}
    return CoachDetail(snapshot=_for_viewer(snapshot, scope), history=history, peers=peers)


def _round(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
