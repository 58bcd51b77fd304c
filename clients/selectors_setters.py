"""Reads of the setter activity page (DESIGN §7 row 6, §7a): calls grouped by the setter who made them
(Call.staff), leads and bookings grouped by the setter who owns the lead (Contact.owner). Every query is
scoped and set-based: one grouped query per figure family, never a query per setter or per lead.

Definitions (§7a): reach_rate, speed_to_first_call, sla_compliance and show_rate; the metrics in
clients/metrics_setters.py call the same functions without the per-setter grouping.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from django.db import connection
from django.db.models import (Case, CharField, Count, DecimalField, F, Func, OuterRef, Q, QuerySet, Subquery, Sum, Value, When)
from django.db.models.functions import Cast, Coalesce, Concat, ExtractHour, Now, NullIf, Trim
from django.utils import timezone

from clients import funnel
from clients.models import Call, CallDirection, CallOutcome, Contact, Deal, FunnelStep, Staff, StaffKind
from ptd.metrics import ratio
from ptd.models import Benchmark, FunnelThreshold, Role
from ptd.periods import Period
from ptd.scoping import Scope, per_request, scoped

DEFAULT_SLA_MINUTES = Decimal(5)
# A lead has had its first call when we rang it or it rang us and was answered (a missed inbound call is
# the lead waiting for us, not us reaching it).
def setter_sla_minutes(workspace) -> tuple[Decimal, Benchmark | None]:
    """The SLA in force (Benchmark `setter_sla_minutes`, admin-editable) and its row, if there is one."""
    row = Benchmark.objects.filter(workspace=workspace, key="setter_sla_minutes").first()
    return (row.value if row else DEFAULT_SLA_MINUTES), row


def team_scope(access: Scope) -> Scope:
    """The whole workspace seen as a viewer sees it (no PII): the setter leaderboard shows every setter's
    names and counts to every role that opens the page, setters included (DESIGN §1)."""
    return replace(access, role=Role.VIEWER, staff_id=None)


def calls_in(access: Scope, period: Period) -> QuerySet:
    return scoped(Call, access).filter(started_at__gte=period.start, started_at__lt=period.end).order_by()


def _call_counts() -> dict:
    """Call aggregates; unmatched calls (no contact) count in calls and talk time, never in leads."""
    answered = Q(outcome=CallOutcome.ANSWERED)
    return dict(calls=Count("pk"), answered=Count("pk", filter=answered), talk_seconds=Coalesce(Sum("talk_seconds"), 0),
                leads_touched=Count("contact_id", distinct=True),
                leads_reached=Count("contact_id", distinct=True, filter=answered))


def call_totals(access: Scope, period: Period) -> dict:
    return calls_in(access, period).aggregate(**_call_counts())


def call_stats_by_staff(access: Scope, period: Period) -> dict[int | None, dict]:
    """Who made the call (Call.staff) → calls, answered, talk seconds, leads touched and reached."""
    return {row.pop("staff_id"): row for row in calls_in(access, period).values("staff_id").annotate(**_call_counts())}


def calls_by_hour(access: Scope, period: Period) -> list[dict]:
    """Calls per hour of day in the workspace's timezone: [{hour, answered, not_answered}] for hours 0–23."""
    rows = (calls_in(access, period).annotate(hour=ExtractHour("started_at", tzinfo=period.tz)).values("hour")
            .annotate(answered=Count("pk", filter=Q(outcome=CallOutcome.ANSWERED)),
                      not_answered=Count("pk", filter=~Q(outcome=CallOutcome.ANSWERED))))
    by_hour = {r["hour"]: r for r in rows}
    return [by_hour.get(h, {"hour": h, "answered": 0, "not_answered": 0}) for h in range(24)]


def calls_any(access: Scope) -> bool:
    """Whether the workspace has any call at all (to tell "none this period" from "never connected")."""
    return scoped(Call, team_scope(access)).exists()


# ---- leads: speed to first call and SLA ----


@dataclass(frozen=True)
class LeadResponse:
    leads: int  # created in the period
    with_deal: int  # of those, with a deal by now
    called: int  # of those, with a first call by now
    decided: int  # called, or not called and past the SLA (a breach); the SLA denominator
    within_sla: int
    median_minutes: Decimal | None

    @property
    def sla_pct(self) -> Decimal | None:
        return ratio(self.within_sla, self.decided, 100)

    @property
    def lead_to_deal_pct(self) -> Decimal | None:
        return ratio(self.with_deal, self.leads, 100)


def leads_created_in(access: Scope, period: Period) -> QuerySet:
    return scoped(Contact, access).filter(created_at__gte=period.start, created_at__lt=period.end).order_by()


def _with_first_call(access: Scope, period: Period) -> QuerySet:
    """Leads created in the period, one row each: owner, creation time, first call time, the contact id of one of
    its deals (None without). A correlated LIMIT 1 rather than EXISTS: PostgreSQL may turn an EXISTS into a hash of
    every deal (half a million at 100,000 clients) even for a day's few thousand leads; this looks up each lead's
    deals. It reads the deal's contact_id, not its id, so the lookup is an index-only scan of the contact_id index
    (a month is 100,000 lookups)."""
    return (leads_created_in(access, period)
            .values("owner_id", "created_at")
            .annotate(first_call=F("first_call_at"), a_deal=Subquery(
                Deal.objects.filter(contact_id=OuterRef("pk")).order_by().values("contact_id")[:1])))


# Minutes from lead creation to first call; a call logged before the CRM saw the lead counts as 0.
_MINUTES_TO_FIRST_CALL = "greatest(0, extract(epoch FROM first_call - created_at) / 60)"

# Upper edges (minutes) of the speed-to-lead buckets after the SLA's own.
SPEED_EDGES = [15, 60, 240, 1440]


def _speed_edges(sla_minutes: Decimal) -> list[Decimal]:
    """Upper edges (minutes, ascending) of the speed-to-lead buckets: the SLA's, then the fixed ones above it."""
    return [sla_minutes, *(Decimal(m) for m in SPEED_EDGES if m > sla_minutes)]


@dataclass(frozen=True)
class LeadFigures:
    """One pass over the period's leads (as far as this person may see them): their LeadResponse, each owner's,
    and the leads by time to first call (speed_buckets[i]: first called within _speed_edges(sla)[i] minutes and
    not within the edge before; the last entry: called later than every edge)."""
    total: LeadResponse
    owners: dict[int | None, LeadResponse]
    speed_buckets: tuple[int, ...]


def lead_response(access: Scope, period: Period, sla_minutes: Decimal, *, by_owner: bool = False,
                  now: datetime | None = None) -> LeadResponse | dict[int | None, LeadResponse]:
    """Speed to first call and SLA compliance of the leads created in the period (the median is PostgreSQL's
    percentile_cont); with by_owner a dict of lead owner → LeadResponse.

    A lead not called yet counts as a breach once its SLA has passed; until then it is still undecided."""
    figures = _lead_figures(access, period, sla_minutes, now=now)
    return figures.owners if by_owner else figures.total


@per_request
def _lead_figures(access: Scope, period: Period, sla_minutes: Decimal, *, now: datetime | None = None) -> LeadFigures:
    """The period's LeadFigures in one query (grouping sets), once per request: the setter page's KPIs (median
    and SLA), its per-setter table and its speed-to-lead chart read the same month of leads (at 100,000
    clients a month is 100,000 leads, and each pass over them costs the same ~200 ms)."""
    inner, inner_params = _with_first_call(access, period).query.sql_with_params()
    decided_before = (now or timezone.now()) - timedelta(minutes=float(sla_minutes))
    edges = _speed_edges(sla_minutes)
    # Cumulative counts (called within each edge); the buckets are their differences. The leads are a
    # materialised CTE, else PostgreSQL inlines them and looks up each lead's deal once per aggregate; their
    # minutes are computed there once per lead, not once per aggregate (greatest() ignores a null: a lead not
    # called has minutes 0, hence the first_call test).
    within_edges = "".join(",\n               count(*) FILTER (WHERE first_call IS NOT NULL AND minutes <= %s)"
                           for _ in edges)
    sql = f"""
        WITH leads AS MATERIALIZED (SELECT q.*, {_MINUTES_TO_FIRST_CALL} AS minutes FROM ({inner}) q)
        SELECT GROUPING(owner_id) = 1, owner_id,
               count(*),
               count(a_deal),
               count(first_call),
               count(*) FILTER (WHERE first_call IS NOT NULL OR created_at <= %s::timestamptz),
               count(*) FILTER (WHERE first_call <= created_at + %s::numeric * interval '1 minute'),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) FILTER (WHERE first_call IS NOT NULL){within_edges}
        FROM leads
        GROUP BY GROUPING SETS ((owner_id), ())"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*inner_params, decided_before, sla_minutes, *edges])
        rows = cursor.fetchall()
    total, owners, buckets = LeadResponse(0, 0, 0, 0, 0, None), {}, (0,) * (len(edges) + 1)
    for is_total, owner, leads, with_deal, called, decided, within, median, *cumulative in rows:
        response = LeadResponse(leads, with_deal, called, decided, within,
                                None if median is None else Decimal(str(median)).quantize(Decimal("0.1")))
        if is_total:
            total = response
            buckets = tuple(b - a for a, b in zip([0, *cumulative], [*cumulative, called]))
        else:
            owners[owner] = response
    return LeadFigures(total, owners, buckets)


def _minutes_label(minutes: Decimal) -> str:
    if minutes < 60:
        return f"{minutes.normalize():f} min"
    if minutes < 1440:
        return f"{(minutes / 60).normalize():f} h"
    days = (minutes / 1440).normalize()
    return f"{days:f} day" + ("" if days == 1 else "s")


def speed_to_lead_distribution(access: Scope, period: Period, sla_minutes: Decimal) -> list[tuple[str, int, str]]:
    """Leads created in the period by time to first call: [(label, leads, kind)] where kind is "sla" (within
    the SLA), "late" or "waiting" (not called yet). Read from the request's lead pass (no query of its own)."""
    figures = _lead_figures(access, period, sla_minutes, now=None)
    edges, counts = _speed_edges(sla_minutes), figures.speed_buckets
    out = [(f"≤ {_minutes_label(sla_minutes)} (SLA)", counts[0], "sla")]
    out += [(f"{_minutes_label(low)}–{_minutes_label(high)}", counts[i], "late")
            for i, (low, high) in enumerate(zip(edges, edges[1:]), 1)]
    out.append((f"> {_minutes_label(edges[-1])}", counts[len(edges)], "late"))
    out.append(("Not called yet", figures.total.leads - figures.total.called, "waiting"))
    return out


def leads_waiting(access: Scope, period: Period, *, client_url_prefix: str = "") -> QuerySet:
    """Leads created in the period with no first call yet, as table rows (oldest first is the view's sort):
    name, phone (and a tel: link), owner, source, created, time waited so far. `client_url_prefix` links the
    name."""
    rows = (leads_created_in(access, period)
            .filter(first_call_at__isnull=True, created_at__lte=Now())  # a lead dated in the future is not waiting yet
            .values("pk", "created_at")
            .annotate(name=_contact_name(""), phone=F("phone_e164"), tel=_tel_url("phone_e164"),
                      owner_name=F("owner__name"), lead_source=F("source"), waiting=WaitedSince("created_at")))
    if client_url_prefix:
        rows = rows.annotate(url=_client_url(client_url_prefix, "pk"))
    return rows


def calls_list(access: Scope, period: Period, *, client_url_prefix: str = "") -> QuerySet:
    """The calls of the period as table rows: when, who was called (and a tel: link), by whom, outcome, talk
    minutes."""
    rows = (calls_in(access, period)
            .values("pk", "started_at")
            .annotate(direction_label=_label("direction", CallDirection), outcome_label=_label("outcome", CallOutcome),
                      lead=_contact_name("contact__"), phone=F("contact_phone_e164"),
                      tel=_tel_url("contact_phone_e164"), setter=F("staff__name"),
                      talk_minutes=SecondsAsMinutes("talk_seconds")))
    if client_url_prefix:
        rows = rows.annotate(url=_client_url(client_url_prefix, "contact_id"))
    return rows


_MINUTES_SINCE = "(extract(epoch FROM statement_timestamp() - %(expressions)s) / 60)"


class WaitedSince(Func):
    """How long ago a moment was, as people read it: "12 min", "3 h 05 min", "4 d 2 h"."""
    template = (f"CASE WHEN {_MINUTES_SINCE} < 60 THEN floor({_MINUTES_SINCE})::int || ' min' "
                f"WHEN {_MINUTES_SINCE} < 1440 THEN floor({_MINUTES_SINCE} / 60)::int || ' h ' "
                f"|| lpad(floor(mod({_MINUTES_SINCE}, 60))::int::text, 2, '0') || ' min' "
                f"ELSE floor({_MINUTES_SINCE} / 1440)::int || ' d ' "
                f"|| floor(mod({_MINUTES_SINCE}, 1440) / 60)::int || ' h' END")
    output_field = CharField()


class SecondsAsMinutes(Func):
    template = "round(%(expressions)s / 60.0, 1)"
    output_field = DecimalField(max_digits=14, decimal_places=1)


def _label(field: str, choices) -> Case:
    """A choice field's label ("Answered") rather than its stored value ("answered")."""
    return Case(*(When(**{field: value}, then=Value(label)) for value, label in choices.choices), default=F(field),
                output_field=CharField())


def _tel_url(phone_field: str) -> Case:
    """A tap-to-call link for an E.164 number (setters work from their phones)."""
    return Case(When(**{phone_field: ""}, then=None), default=Concat(Value("tel:"), F(phone_field)),
                output_field=CharField())


def _client_url(prefix: str, contact_field: str):
    """The client page of the row's contact (no link for a call not matched to a lead)."""
    url = Concat(Value(prefix), Cast(contact_field, CharField()), Value("/"), output_field=CharField())
    return Case(When(**{f"{contact_field}__isnull": False}, then=url))


def _contact_name(prefix: str):
    """A contact's name as people read it; else its email or phone; null for an unmatched call."""
    full = Trim(Concat(F(f"{prefix}first_name"), Value(" "), F(f"{prefix}last_name")))
    return Coalesce(NullIf(full, Value("")), NullIf(F(f"{prefix}email_normalized"), Value("")),
                    NullIf(F(f"{prefix}phone_e164"), Value("")))


# ---- bookings (the setter's leads' deals) ----


@per_request
def _bookings(access: Scope, period: Period) -> dict[int | None, dict]:
    """Lead owner → the counts of the deals of their leads, in one pass over the deals that entered booked or held
    in the period (two index ranges of the DealFunnel rollup, each deal joined to its lead once), once per
    request: the show-rate KPI and the per-setter tables read the same deals. Per owner: whether they are a
    setter; of the deals booked in the period, booked, held / won / lost by now and Σ cash collected (AED); of
    the deals held in the period, held_in and held_won (won by now). Called with the person's own scope only
    (the request's memo does not tell scopes apart)."""
    booked, held = funnel.entered(FunnelStep.BOOKED, period), funnel.entered(FunnelStep.HELD, period)
    rows = (funnel.deals_of(access).filter(booked | held).order_by()
            .values("contact__owner_id", "contact__owner__kind")
            .annotate(booked=Count("pk", filter=booked),
                      held=Count("pk", filter=booked & funnel.reached(FunnelStep.HELD)),
                      won=Count("pk", filter=booked & funnel.reached(FunnelStep.CLOSED_WON)),
                      lost=Count("pk", filter=booked & funnel.reached(FunnelStep.CLOSED_LOST)),
                      cash=Coalesce(Sum("cash_collected", filter=booked), Decimal(0)),
                      held_in=Count("pk", filter=held),
                      held_won=Count("pk", filter=held & funnel.reached(FunnelStep.CLOSED_WON))))
    return {row.pop("contact__owner_id"): {**row, "is_setter": row.pop("contact__owner__kind") == StaffKind.SETTER}
            for row in rows}


def setter_show(access: Scope, period: Period) -> funnel.Conversion:
    """Booked → held (§7a cohort) of the deals of leads owned by a setter: the show_rate KPI."""
    setters = [row for row in _bookings(access, period).values() if row["is_setter"]]
    return funnel.Conversion(sum(row["booked"] for row in setters), sum(row["held"] for row in setters))


def bookings_by_owner(access: Scope, period: Period) -> dict[int | None, dict]:
    """Lead owner → the deals of their leads booked in the period (§7a cohort): booked, held / won / lost by
    now, Σ cash collected on them (AED); and the held→won conversion of deals held in the period."""
    out = {}
    for owner, row in _bookings(access, period).items():
        show = funnel.Conversion(row["booked"], row["held"])
        out[owner] = {"booked": row["booked"], "held": row["held"], "show_rate": show.rate,
                      "ghost_rate": None if show.rate is None else 100 - show.rate,
                      "held_won_rate": funnel.Conversion(row["held_in"], row["held_won"]).rate,
                      "won": row["won"], "lost": row["lost"], "cash": row["cash"]}
    return out


# ---- the page's per-setter rows ----


NO_SETTER = "No setter assigned"


class SetterBoard:
    """Per-setter figures of one period for one person, computed lazily (a partial asks only for what it
    shows) and each in one grouped query."""

    def __init__(self, access: Scope, period: Period, sla_minutes: Decimal):
        self.access, self.period, self.sla_minutes = access, period, sla_minutes

    @cached_property
    def calls(self) -> dict[int | None, dict]:
        return call_stats_by_staff(self.access, self.period)

    @cached_property
    def leads(self) -> dict[int | None, LeadResponse]:
        return lead_response(self.access, self.period, self.sla_minutes, by_owner=True)

    @cached_property
    def bookings(self) -> dict[int | None, dict]:
        return bookings_by_owner(self.access, self.period)

    def _names(self, ids) -> dict[int, tuple[str, str]]:
        """Active setters plus whoever else made calls or owns leads in the period: id → (name, kind)."""
        staff = scoped(Staff, self.access).filter(Q(kind=StaffKind.SETTER, is_active=True) | Q(pk__in=ids))
        return {pk: (name, kind) for pk, name, kind in staff.values_list("pk", "name", "kind")}

    def _row(self, key, names) -> dict:
        name, kind = names.get(key, (NO_SETTER, ""))
        return {"setter": name if kind in ("", StaffKind.SETTER) else f"{name} ({kind})", "staff_id": key}

    @cached_property
    def activity(self) -> list[dict]:
        """One row per setter: calls, reach, talk time, leads touched, speed to first call, SLA, bookings."""
        ids = {k for k in (*self.calls, *self.leads, *self.bookings) if k is not None}
        names = self._names(ids)
        keys = sorted({*names, *self.calls, *self.leads, *self.bookings},
                      key=lambda k: (k is None, names.get(k, ("",))[0]))
        rows = []
        for key in keys:
            c = self.calls.get(key, {})
            lead = self.leads.get(key)
            b = self.bookings.get(key, {})
            rows.append({
                **self._row(key, names),
                "calls": c.get("calls", 0), "answered": c.get("answered", 0),
                "reach_rate": ratio(c.get("leads_reached", 0), c.get("leads_touched", 0), 100),
                "talk_minutes": Decimal(c.get("talk_seconds", 0)) / 60, "leads_touched": c.get("leads_touched", 0),
                "leads_reached": c.get("leads_reached", 0),
                "leads": lead.leads if lead else 0, "speed_minutes": lead.median_minutes if lead else None,
                "sla_pct": lead.sla_pct if lead else None,
                "lead_to_deal_pct": lead.lead_to_deal_pct if lead else None,
                "booked": b.get("booked", 0), "held": b.get("held", 0), "won": b.get("won", 0),
                "lost": b.get("lost", 0), "show_rate": b.get("show_rate"), "ghost_rate": b.get("ghost_rate"),
                "held_won_rate": b.get("held_won_rate"), "cash": b.get("cash", Decimal(0)),
            })
        return rows


def with_verdicts(rows: list[dict], workspace) -> list[dict]:
    """Each row with its booked → held verdict against the setter thresholds (DESIGN §6, admin-set)."""
    threshold = FunnelThreshold.objects.filter(workspace=workspace, from_step=FunnelStep.BOOKED,
                                               to_step=FunnelStep.HELD).first()
    return [{**row, "verdict": threshold.verdict(row["show_rate"]).capitalize()
             if threshold and row["show_rate"] is not None else None} for row in rows]


def leaderboard(access: Scope, period: Period, board: SetterBoard | None = None) -> list[dict]:
    """Every setter of the workspace with names and counts only: calls, leads reached, booked, ranked by
    booked, then reached, then calls. Reuses `board` when it already covers the whole workspace."""
    team = team_scope(access)
    if board is not None and access.role in (Role.ADMIN, Role.VIEWER):
        calls, booked = board.calls, {owner: b["booked"] for owner, b in board.bookings.items()}
    else:
        calls = call_stats_by_staff(team, period)
        booked = {owner: c.entered for owner, c in funnel.conversion(
            funnel.deals_of(team), period, FunnelStep.BOOKED, FunnelStep.HELD, group_by="contact__owner_id").items()}
    setters = scoped(Staff, team).filter(kind=StaffKind.SETTER).filter(
        Q(is_active=True) | Q(pk__in=[k for k in (*calls, *booked) if k is not None]))
    rows = [{"staff_id": pk, "setter": name, "calls": calls.get(pk, {}).get("calls", 0),
             "reached": calls.get(pk, {}).get("leads_reached", 0), "booked": booked.get(pk, 0)}
            for pk, name in setters.values_list("pk", "name")]
    rows.sort(key=lambda r: (-r["booked"], -r["reached"], -r["calls"], r["setter"].casefold()))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        if row["staff_id"] == access.staff_id:
            row["setter"] = f"{row['setter']} (you)"
    return rows
