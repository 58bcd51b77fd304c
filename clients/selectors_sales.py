"""Reads of the sales pages (DESIGN §7 rows 5 and 7): the pipeline by funnel step, the aging of open deals
and the results of each coach/closer. Deals come from clients.funnel.deals_of (a coach sees own deals) and
every "entered / won / lost in the period" is clients.funnel's definition, so these numbers add up to the
KPIs of clients.metrics_sales."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (Case, CharField, Count, DurationField, ExpressionWrapper, F, FilteredRelation,
                              IntegerField, Q, QuerySet, Sum, Value, When)
from django.db.models.functions import Cast, Coalesce, Concat, Extract, Trim
from django.urls import reverse
from django.utils import timezone

from clients.funnel import STEP_ORDER, deals_of, stage_ids
from clients.models import FunnelStep, PipelineStage, Staff, StaffKind
from ptd import rollups
from ptd.metrics import ratio
from ptd.periods import Period
from ptd.scoping import Scope, scoped

OPEN_STEPS = STEP_ORDER[:-1]  # closed won and closed lost are the exits
STEP_LABELS = dict(FunnelStep.choices)
CLOSER_KINDS = [StaffKind.COACH, StaffKind.ADMIN]  # who closes assessments (DESIGN §7 row 7)
# The closers table's figures of the period, per deal owner (beside the month's won value)
RESULT_MEASURES = [f"entered_{FunnelStep.HELD}", f"entered_{FunnelStep.CLOSED_LOST}",
                   f"entered_{FunnelStep.CLOSED_WON}", "won_value", "won_cash"]
OTHER_OWNER = "Not owned by a coach"  # deals with no owner or a setter as owner: still counted in the totals
# (label, the most days since entering the current stage; None = no upper bound)
AGING_BUCKETS = [("0–7 days", 7), ("8–14 days", 14), ("15–30 days", 30), ("31–60 days", 60), ("over 60 days", None)]


# ---- periods ----

def month_of(day: date, tz: ZoneInfo) -> Period:
    """The whole calendar month containing `day` (its prior period is then the month before)."""
    first = day.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return Period(key="month", label=first.strftime("%B %Y"), first_day=first, last_day=last, tz=tz)


def months_up_to(month: Period, count: int) -> list[Period]:
    """`count` calendar months ending with `month`, oldest first."""
    months = [month]
    while len(months) < count:
        months.insert(0, month_of(months[0].first_day - timedelta(days=1), month.tz))
    return months


# ---- page 5: the pipeline by funnel step ----

@dataclass(frozen=True)
class StageRow:
    step: str
    label: str
    entered: int  # stage volume: deals entering the step in the period
    next_label: str
    to_next: Decimal | None  # cohort conversion to the next step, in %
    open_deals: int | None  # deals in the step now (None for the closed exits)
    open_value: Decimal | None  # Σ amount of those deals, AED

    def as_row(self, order: int) -> dict:
        return {"order": order, "label": self.label, "entered": self.entered, "to_next": self.to_next,
                "next_label": self.next_label, "open_deals": self.open_deals, "open_value": self.open_value}


def pipeline_stages_for(access: Scope, period: Period) -> list[StageRow]:
    """Each funnel step in order, then closed lost: stage volume in the period, cohort conversion to the next
    step (of the deals entering it in the period, the share that reached the next by now), and the deals
    sitting in it now with their value. Steps before the first one any deal entered are left out (a pipeline
    whose deals start at "assessment booked" has no "lead" step)."""
    steps = [*STEP_ORDER, FunnelStep.CLOSED_LOST]
    pairs = list(zip(STEP_ORDER, STEP_ORDER[1:]))
    sums = rollups.totals([*(f"entered_{s}" for s in steps), *(f"converted_{a}_{b}" for a, b in pairs)], period, access)
    open_now = _open_by_step(access)
    rows = []
    for index, step in enumerate(steps):
        next_step = STEP_ORDER[index + 1] if index + 1 < len(STEP_ORDER) else None
        entered = int(sums[f"entered_{step}"])
        to_next = ratio(sums[f"converted_{step}_{next_step}"], entered, 100) if next_step else None
        count, value = open_now.get(step, (0, Decimal(0))) if step in OPEN_STEPS else (None, None)
        rows.append(StageRow(step, STEP_LABELS[step], entered, STEP_LABELS.get(next_step, ""), to_next, count, value))
    while len(rows) > 1 and rows[0].entered == 0 and not rows[0].open_deals:
        rows.pop(0)
    return rows


def _open_by_step(access: Scope) -> dict[str, tuple[int, Decimal]]:
    """Funnel step → (deals in it now, Σ their amount), from the deals' current stage."""
    step_of = {sid: step for step, ids in stage_ids(access.workspace.pk).items() for sid in ids}
    out: dict[str, tuple[int, Decimal]] = {}
    rows = (deals_of(access).filter(stage_id__in=[s for s, step in step_of.items() if step in OPEN_STEPS])
            .values("stage_id").annotate(n=Count("pk"), value=Sum("amount", default=Decimal(0))).order_by())
    for row in rows:
        count, value = out.get(step_of[row["stage_id"]], (0, Decimal(0)))
        out[step_of[row["stage_id"]]] = (count + row["n"], value + row["value"])
    return out


# ---- page 5: aging of open deals ----

def _open_deals(access: Scope) -> QuerySet:
    """Deals in an open step now, with when they entered their current stage (the deal's creation when
    the history lacks that entry)."""
    steps = stage_ids(access.workspace.pk)
    return (deals_of(access).filter(stage_id__in=[sid for step in OPEN_STEPS for sid in steps.get(step, [])])
            .annotate(current=FilteredRelation("stage_history", condition=Q(stage_history__stage_id=F("stage_id"))))
            .annotate(in_stage_since=Coalesce("current__entered_at", "created_at")))


@dataclass(frozen=True)
class AgingBucket:
    label: str
    deals: int
    value: Decimal


def aging_for(access: Scope) -> list[AgingBucket]:
    """Open deals now by whole days since they entered their current stage, with their Σ amount (AED)."""
    now = timezone.now()
    # `days ≤ upper` ⇔ entered after now − (upper + 1) days: compares the stored time, no per-row arithmetic
    bucket = Case(*(When(in_stage_since__gt=now - timedelta(days=upper + 1), then=Value(i))
                    for i, (_, upper) in enumerate(AGING_BUCKETS[:-1])),
                  default=Value(len(AGING_BUCKETS) - 1), output_field=IntegerField())
    counts = {row["bucket"]: row for row in _open_deals(access).annotate(bucket=bucket).values("bucket")
              .annotate(n=Count("pk"), value=Sum("amount", default=Decimal(0))).order_by()}
    return [AgingBucket(label, counts.get(i, {}).get("n", 0), counts.get(i, {}).get("value", Decimal(0)))
            for i, (label, _) in enumerate(AGING_BUCKETS)]


def open_deal_rows_for(access: Scope) -> QuerySet:
    """Open deals as table rows (dicts, sorted in SQL by the table): client, deal id, owner, stage, days in it."""
    labels = dict(scoped(PipelineStage, access).values_list("stage_id", "label"))
    prefix, suffix = reverse("client-detail", args=[0]).rsplit("0", 1)
    return _open_deals(access).annotate(
        ref=Coalesce("hubspot_id", Concat(Value("#"), Cast("pk", CharField()))),
        client=Trim(Concat("contact__first_name", Value(" "), "contact__last_name")),
        url=Case(When(contact_id__isnull=False, then=Concat(Value(prefix), Cast("contact_id", CharField()), Value(suffix))),
                 default=Value(""), output_field=CharField()),
        owner_name=F("owner__name"),
        stage=Case(*(When(stage_id=sid, then=Value(label)) for sid, label in labels.items()), default=F("stage_id"),
                   output_field=CharField()),
        days_in_stage=Extract(ExpressionWrapper(Value(timezone.now()) - F("in_stage_since"),
                                                output_field=DurationField()), "day"),
    ).values("pk", "ref", "client", "url", "owner_name", "stage", "in_stage_since", "days_in_stage", "amount",
             "cash_collected")


# ---- page 7: results per coach/closer ----

def _sums_by_owner(access: Scope, wanted: list[tuple[str, str, Period]]) -> dict[str, dict[int | None, Decimal]]:
    """key → deal owner (None: no owner) → the measure summed over its period, for each (key, measure name,
    period). The same sums as rollups.by_staff (which reads these per-owner measures from the raw DealFunnel rows)
    from the same definitions (the measure registry's rows, day, filter and field), but one query per day field
    instead of one per period and field: each index range is read once, and rows are counted by their day
    (never null in the range), which the covering index answers without the table."""
    registry = rollups.measures()
    by_day: dict[str, list[tuple[str, rollups.Measure, Period]]] = defaultdict(list)
    for key, name, within in wanted:
        by_day[registry[name].day_field].append((key, registry[name], within))
    out: dict[str, dict[int | None, Decimal]] = {key: {} for key, _, _ in wanted}
    for day, group in by_day.items():
        aggregates = {}
        for key, spec, within in group:
            where = spec.where() & Q(**{f"{day}__gte": within.start, f"{day}__lt": within.end})
            aggregates[key] = Count(day, filter=where) if spec.kind == "count" else Sum(spec.field, filter=where)
        spec = group[0][1]
        rows = (scoped(spec.model, access)
                .filter(**{f"{day}__gte": min(w.start for *_, w in group), f"{day}__lt": max(w.end for *_, w in group)})
                .values(spec.staff).annotate(**aggregates).order_by())
        try:
            sql, params = rows.query.sql_with_params()
        except EmptyResultSet:  # a role that sees none of these deals
            continue
        with connection.cursor() as cursor:  # plain tuples: 1,400 owners × a dozen sums skip the ORM's converters
            cursor.execute(sql, params)
            for owner, *values in cursor.fetchall():
                for key, value in zip(aggregates, values):
                    if value:
                        out[key][owner] = Decimal(value)
    return out


def _closers_and_sums(access: Scope, wanted: list[tuple[str, str, Period]]) -> tuple[list[tuple], dict]:
    """The coaches/closers the person may see as (pk, name, url, monthly target, active), then (None, OTHER_OWNER, …)
    for the deals not owned by one; and _sums_by_owner(access, wanted) per closer, the other owners' sums added up
    under None, so every table's rows add up to the whole."""
    staff = scoped(Staff, access).filter(kind__in=CLOSER_KINDS).values_list("pk", "name", "monthly_target", "is_active")
    url_prefix, url_suffix = reverse("coach-detail", args=[0]).rsplit("0", 1)  # one reverse, not one per closer
    people = [(pk, name, f"{url_prefix}{pk}{url_suffix}", target, active) for pk, name, target, active in staff]
    closers = {pk for pk, *_ in people}
    people.append((None, OTHER_OWNER, "", None, False))  # left out by _kept when none of its deals is in the numbers
    sums = {}
    for key, by_owner in _sums_by_owner(access, wanted).items():
        sums[key] = {owner: value for owner, value in by_owner.items() if owner in closers}
        if others := [value for owner, value in by_owner.items() if owner not in closers]:
            sums[key][None] = sum(others, Decimal(0))
    return people, sums


def _kept(active: bool, numbers: Iterable) -> bool:
    """The one rule for the rows of both tracker tables: an active closer has a row; a departed one (and the deals
    not owned by a closer) only while their deals are in the numbers that table shows — the closers table the
    period's held, won and lost and the month's sales, the sales history the months' sales."""
    return active or any(numbers)


def _sales_key(month: Period) -> str:
    """The key (an SQL alias) of a month's won value among the sums: one per month, so the closers' month and the
    same month of the history are one sum when read together."""
    return f"sales_{month.first_day:%Y_%m}"


def _results_wanted(period: Period, month: Period) -> list[tuple[str, str, Period]]:
    return [(name, name, period) for name in RESULT_MEASURES] + [(_sales_key(month), "won_value", month)]


def _sales_wanted(months: list[Period]) -> list[tuple[str, str, Period]]:
    return [(_sales_key(month), "won_value", month) for month in months]


def _results_rows(people: list[tuple], sums: dict, month: Period) -> list[dict]:
    """closer_results_for's rows from _closers_and_sums(access, _results_wanted(period, month) + …)."""
    held, lost, won = (sums[f"entered_{s}"] for s in (FunnelStep.HELD, FunnelStep.CLOSED_LOST, FunnelStep.CLOSED_WON))
    won_value, cash, month_sales = sums["won_value"], sums["won_cash"], sums[_sales_key(month)]
    rows = []
    for pk, name, url, target, active in people:
        row = {"pk": pk, "name": name, "url": url, "held": int(held.get(pk, 0)), "won": int(won.get(pk, 0)),
               "lost": int(lost.get(pk, 0)), "won_value": won_value.get(pk, Decimal(0)),
               "cash": cash.get(pk, Decimal(0)), "month_sales": month_sales.get(pk, Decimal(0)), "target": target}
        if _kept(active, (row["held"], row["won"], row["lost"], row["month_sales"])):
            rows.append(_with_rates(row))
    return rows


def _sales_rows(people: list[tuple], sums: dict, months: list[Period]) -> list[dict]:
    """closer_sales_by_month_for's rows from _closers_and_sums(access, _sales_wanted(months) + …)."""
    monthly = [sums[_sales_key(month)] for month in months]
    rows = []
    for pk, name, url, _target, active in people:
        sales = [by_owner.get(pk, Decimal(0)) for by_owner in monthly]
        if _kept(active, sales):
            rows.append({"pk": pk, "name": name, "url": url, "sales": sales})
    return rows


def closer_results_for(access: Scope, period: Period, month: Period) -> list[dict]:
    """One row per coach/closer the person may see (plus deals not owned by one, if any): in the period,
    assessments held, deals won and lost, close rate, won value, cash collected on the won deals and the
    collection rate; Σ amount of deals won in `month` (`month_sales`), the target and % of target. From the deal
    measures, in a query per day field whatever the rows."""
    return _results_rows(*_closers_and_sums(access, _results_wanted(period, month)), month)


def closer_sales_by_month_for(access: Scope, months: list[Period]) -> list[dict]:
    """The sales history: one row per coach/closer the person may see (plus deals not owned by one, if any) with
    Σ amount of their deals won in each of `months` (`sales`, oldest first). Only the wins are read (one query),
    not the period's held and lost."""
    return _sales_rows(*_closers_and_sums(access, _sales_wanted(months)), months)


def closer_results_and_sales_for(access: Scope, period: Period, months: list[Period]) -> tuple[list[dict], list[dict]]:
    """closer_results_for(access, period, months[-1]) and closer_sales_by_month_for(access, months) from one read
    of the closers and their wins (a query per day field), for a page showing both."""
    people, sums = _closers_and_sums(access, _results_wanted(period, months[-1]) + _sales_wanted(months))
    return _results_rows(people, sums, months[-1]), _sales_rows(people, sums, months)


def _with_rates(row: dict) -> dict:
    return {**row, "close_rate": ratio(row["won"], row["won"] + row["lost"], 100),
            "collection_rate": ratio(row["cash"], row["won_value"], 100),
            "target_pct": ratio(row["month_sales"], row["target"], 100)}


def totals_of(rows: list[dict]) -> dict:
    """The totals row of closer_results_for: every row summed (the seed summed only the top 3); rates recomputed
    from the sums, % of target = all sales of the month ÷ Σ targets."""
    total = {"name": "All", "held": 0, "won": 0, "lost": 0, "won_value": Decimal(0), "cash": Decimal(0),
             "month_sales": Decimal(0), "target": None}
    for r in rows:
        for key in ("held", "won", "lost", "won_value", "cash", "month_sales"):
            total[key] += r[key]
        if r["target"] is not None:
            total["target"] = (total["target"] or Decimal(0)) + r["target"]
    return _with_rates(total)


def monthly_totals_of(rows: list[dict]) -> list[Decimal]:
    """Each month's sales summed over every row of closer_sales_by_month_for."""
    return [sum(month, Decimal(0)) for month in zip(*(r["sales"] for r in rows))]
