"""Reads of interventions: the priority queue, the outcome history behind success probabilities, and
effectiveness by kind, coach and segment. Every read is scoped (ptd.scoping) when given an access scope.

Definitions (shared by the queue, the success probability and the coach pages):

- zone at creation ("segment"): the zone of the client's latest HealthScore on or before the local day the
  intervention was created (workspace time zone).
- measured: a done intervention whose 30-day health delta has been recorded (clients.interventions.
  interventions_measure_outcomes); successful: that delta is above zero.
- success rate: successful / measured (no measured intervention: no rate, shown as "no history yet").
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import (Avg, Case, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value,
                              When)
from django.db.models.functions import TruncDate
from zoneinfo import ZoneInfo

from clients.models import HealthScore, Intervention, InterventionStatus, Priority, Staff
from ptd.models import Workspace
from ptd.scoping import Scope, scoped

OPEN_STATUSES = (InterventionStatus.OPEN, InterventionStatus.IN_PROGRESS)
PRIORITY_ORDER = (Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW)
MIN_OUTCOMES = 5  # fewer measured outcomes than this: no success probability ("no history yet")
NO_HISTORY_TEXT = "no history yet"

def _base(workspace: Workspace, access: Scope | None) -> QuerySet:
    if access is not None:
        if access.workspace.pk != workspace.pk:
            return Intervention.objects.none()
        return scoped(Intervention, access)
    return Intervention.objects.filter(workspace=workspace)


def priority_rank() -> Case:
    """critical 0, high 1, medium 2, low 3 (the stored values do not sort in this order)."""
    return Case(*(When(priority=p, then=Value(i)) for i, p in enumerate(PRIORITY_ORDER)),
                default=Value(len(PRIORITY_ORDER)), output_field=IntegerField())


def interventions_queue_for(*, access: Scope, include_closed: bool = False) -> QuerySet:
    """The priority queue a person may see: open and in-progress interventions, most urgent first
    (priority level, then urgency × revenue at risk where stored, then due time, then age)."""
    rows = scoped(Intervention, access).select_related("contact", "assigned_to")
    if not include_closed:
        rows = rows.filter(status__in=OPEN_STATUSES)
    order = ["priority_rank", F("priority_score").desc(nulls_last=True), "due_at", "created_at", "pk"]
    return rows.annotate(priority_rank=priority_rank()).order_by(*order)


def _with_zone_at_open(rows: QuerySet, workspace: Workspace) -> QuerySet:
    tz = ZoneInfo(workspace.timezone)
    zone = (HealthScore.objects.filter(contact_id=OuterRef("contact_id"), date__lte=OuterRef("opened_on"))
            .order_by("-date").values("zone")[:1])
    return rows.annotate(opened_on=TruncDate("created_at", tzinfo=tz)).annotate(zone_at_open=Subquery(zone))


def outcome_history(*, workspace: Workspace) -> dict[tuple[str, str], tuple[int, int]]:
    """{(kind, zone at creation): (measured, successful)} over the workspace's done interventions."""
    rows = (_with_zone_at_open(Intervention.objects.filter(workspace=workspace, status=InterventionStatus.DONE,
                                                           health_delta_30d__isnull=False), workspace)
            .values("kind", "zone_at_open")
            .annotate(measured=Count("pk"), successful=Count("pk", filter=Q(health_delta_30d__gt=0)))
            .order_by())
    return {(r["kind"], r["zone_at_open"]): (r["measured"], r["successful"]) for r in rows}


def success_probability(history: dict[tuple[str, str], tuple[int, int]], *, kind: str, zone: str) -> Decimal | None:
    """Share (%) of measured done interventions of `kind` for clients in `zone` that succeeded; None when
    fewer than MIN_OUTCOMES were measured (the UI shows NO_HISTORY_TEXT)."""
    measured, successful = history.get((kind, zone), (0, 0))
    if measured < MIN_OUTCOMES:
        return None
    return (Decimal(100) * successful / measured).quantize(Decimal("0.01"))


def success_probability_text(value: Decimal | None) -> str:
    return NO_HISTORY_TEXT if value is None else f"{value:.0f} %"


def _blank() -> dict:
    return {"total": 0, "open": 0, "done": 0, "dismissed": 0, "measured": 0, "successful": 0,
            "_d7_sum": Decimal(0), "_d7_n": 0, "_d30_sum": Decimal(0), "sessions_recovered": 0,
            "revenue_protected": Decimal(0)}


def _finish(key, label: str, acc: dict) -> dict:
    measured = acc["measured"]
    return {
        "key": key, "label": label, "total": acc["total"], "open": acc["open"], "done": acc["done"],
        "dismissed": acc["dismissed"], "measured": measured, "successful": acc["successful"],
        "success_rate": (Decimal(100) * acc["successful"] / measured).quantize(Decimal("0.1")) if measured else None,
        "avg_health_delta_7d": (acc["_d7_sum"] / acc["_d7_n"]).quantize(Decimal("0.01")) if acc["_d7_n"] else None,
        "avg_health_delta_30d": (acc["_d30_sum"] / measured).quantize(Decimal("0.01")) if measured else None,
        "sessions_recovered": acc["sessions_recovered"],
        "revenue_protected": acc["revenue_protected"].quantize(Decimal("0.01")),
    }


def intervention_effectiveness(*, workspace: Workspace, access: Scope | None = None) -> dict:
    """Success rate and average health change of done interventions by kind, by coach (the assignee) and
    by segment (zone at creation); counts of all interventions per group too. One query.

    Each group: total, open (open or in progress), done, dismissed, measured, successful, success_rate (%, None
    without a measured one), avg_health_delta_7d and avg_health_delta_30d (done interventions with that
    delta), sessions_recovered and revenue_protected (AED, sums over done interventions)."""
    rows = (_with_zone_at_open(_base(workspace, access), workspace)
            .values("kind", "assigned_to_id", "zone_at_open")
            .annotate(
                total=Count("pk"),
                open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
                done=Count("pk", filter=Q(status=InterventionStatus.DONE)),
                dismissed=Count("pk", filter=Q(status=InterventionStatus.DISMISSED)),
                measured=Count("pk", filter=Q(status=InterventionStatus.DONE, health_delta_30d__isnull=False)),
                successful=Count("pk", filter=Q(status=InterventionStatus.DONE, health_delta_30d__gt=0)),
                d7_n=Count("pk", filter=Q(status=InterventionStatus.DONE, health_delta_7d__isnull=False)),
                d7_avg=Avg("health_delta_7d", filter=Q(status=InterventionStatus.DONE)),
                d30_avg=Avg("health_delta_30d", filter=Q(status=InterventionStatus.DONE)),
                sessions=Sum("sessions_recovered", filter=Q(status=InterventionStatus.DONE)),
                revenue=Sum("revenue_protected", filter=Q(status=InterventionStatus.DONE)),
            ).order_by())
    groups = {"kind": defaultdict(_blank), "coach": defaultdict(_blank), "segment": defaultdict(_blank)}
    for r in rows:
        for dimension, key in (("kind", r["kind"]), ("coach", r["assigned_to_id"]), ("segment", r["zone_at_open"])):
            acc = groups[dimension][key]
            for field in ("total", "open", "done", "dismissed", "measured", "successful"):
                acc[field] += r[field]
            if r["d7_n"]:
                acc["_d7_sum"] += Decimal(r["d7_avg"]) * r["d7_n"]
                acc["_d7_n"] += r["d7_n"]
            if r["measured"]:
                acc["_d30_sum"] += Decimal(r["d30_avg"]) * r["measured"]
            acc["sessions_recovered"] += r["sessions"] or 0
            acc["revenue_protected"] += r["revenue"] or Decimal(0)
    kinds = dict(Intervention.KINDS)
    coach_ids = [k for k in groups["coach"] if k is not None]
    names = dict(Staff.objects.filter(workspace=workspace, pk__in=coach_ids).values_list("pk", "name"))
    zone_order = {"purple": 0, "green": 1, "yellow": 2, "red": 3}
    by_kind = [_finish(k, kinds.get(k, k), acc) for k, acc in groups["kind"].items()]
    by_coach = [_finish(k, names.get(k, "Unassigned") if k else "Unassigned", acc) for k, acc in groups["coach"].items()]
    by_segment = [_finish(k, k.capitalize() if k else "Not scored", acc) for k, acc in groups["segment"].items()]
    by_kind.sort(key=lambda g: [k for k, _ in Intervention.KINDS].index(g["key"]) if g["key"] in kinds else 99)
    by_coach.sort(key=lambda g: (g["key"] is None, g["label"]))
    by_segment.sort(key=lambda g: zone_order.get(g["key"], 9))
    return {"by_kind": by_kind, "by_coach": by_coach, "by_segment": by_segment}
