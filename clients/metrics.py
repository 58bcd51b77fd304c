"""KPIs of the clients app (definitions: DESIGN §7a). Each is scoped: a coach counts own clients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import reduce
from operator import or_

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q, QuerySet

from clients.attendance import attended_in_sql
from clients.models import (Contact, HealthScore, Intervention, InterventionStatus, MemberSpan, Package,
                            PeriodMemberFigures, Priority, TrainingSession, Zone)
from ptd import rollups
from ptd.metrics import metric, ratio
from ptd.models import RollupDirty
from ptd.periods import Period
from ptd.scoping import Scope, per_request, scoped


def new_leads_in(period: Period, access: Scope) -> QuerySet:
    """The contacts counted as new leads: source creation time in the period (DESIGN §7a)."""
    return scoped(Contact, access).filter(created_at__gte=period.start, created_at__lt=period.end)


@metric("new_leads", label="New leads", unit="count", source="HubSpot contacts",
        formula="contacts whose source creation time is in the period")
def new_leads(period: Period, access: Scope):
    return rollups.total("leads", period, access)


def member_spans(period: Period, access: Scope) -> QuerySet:
    """The membership spans (clients.membership) of the members at the end of the period: a package in date with
    sessions remaining or an active/trialing subscription (package sessions_used is today's count). One index range,
    one span per member, to nest in other queries (never 100,000 ids in Python)."""
    last = period.last_day
    spans = MemberSpan.objects.filter(workspace_id=access.workspace.pk, starts_on__lte=last, ends_on__gte=last)
    if access.role in Contact.ROLE_SCOPE_ALL:
        return spans
    # Being a member is client state, limited through the contact; a role that may not see packages (a setter) sees
    # the members its contacts are through a subscription.
    spans = spans.filter(contact__in=scoped(Contact, access))
    return spans if access.role in Package.ROLE_SCOPE else spans.filter(subscribed=True)


@dataclass(frozen=True)
class MemberFigures:
    members: int
    trained: int  # members with an attended session in the period
    avg_health: Decimal | None
    at_risk_revenue: Decimal


NO_MEMBERS = MemberFigures(members=0, trained=0, avg_health=None, at_risk_revenue=Decimal(0))
AT_RISK_ZONES = (Zone.YELLOW, Zone.RED)


def _member_figures_sql(access: Scope, period: Period, *, scores: bool = True, trained: bool = True
                        ) -> tuple[str, list] | None:
    """SELECT members, trained, average health, at-risk revenue of a period (None: a role that sees no clients). The
    members at the period's end (their spans), each with its score on the latest scored day by then (hashed against
    that day's scores), whether it trained in the period (tested against one hash of the period's attended months),
    and its span's remaining package value when it is in the yellow or red zone. A member without a score on that day
    (rare: scoring runs daily for every client with a package) has its latest one before looked up on its own.
    Without `scores` the last two are NULL, without `trained` the second: what is not asked for is not read."""
    try:
        members, params = member_spans(period, access).values("contact_id", "remaining").order_by().query.sql_with_params()
    except EmptyResultSet:
        return None
    who_trained, trained_params = attended_in_sql(access, period) if trained else ("", [])
    trained_count = f"count(*) FILTER (WHERE m.contact_id IN ({who_trained}))" if trained else "NULL::bigint"
    score_rows = HealthScore._meta.db_table
    zones = ", ".join(["%s"] * len(AT_RISK_ZONES))
    day = scoped(HealthScore, access).filter(date__lte=period.last_day).aggregate(d=Max("date"))["d"] if scores else None
    if day is None:  # nothing scored by then (or not asked): no average, nothing at risk
        return f"SELECT count(*), {trained_count}, NULL::numeric, NULL::numeric FROM ({members}) m", [*trained_params,
                                                                                                     *params]
    # The members are scoped, so their scores are too.
    latest = f"FROM {score_rows} h WHERE h.contact_id = m.contact_id AND h.date <= %s ORDER BY h.date DESC LIMIT 1"
    return (f"""
        SELECT count(*), {trained_count},
               avg(COALESCE(d.total, (SELECT h.total {latest}))),
               sum(m.remaining) FILTER (WHERE d.zone IN ({zones})
                                        OR d.contact_id IS NULL AND (SELECT h.zone IN ({zones}) {latest}))
        FROM ({members}) m
        LEFT JOIN {score_rows} d ON d.workspace_id = %s AND d.date = %s AND d.contact_id = m.contact_id""",
            [*trained_params, period.last_day, *AT_RISK_ZONES, *AT_RISK_ZONES, period.last_day,
             *params, access.workspace.pk, day])


def live_member_figures(access: Scope, periods: Sequence[Period],
                        parts: Sequence[tuple[bool, bool]] | None = None) -> list[MemberFigures]:
    """The member figures of each period computed from the spans, scores and attended months, all in one statement;
    `parts` says per period whether to read the scores and who trained (both by default; what is not read is None)."""
    parts = parts or [(True, True)] * len(periods)
    queries = [_member_figures_sql(access, period, scores=scores, trained=trained)
               for period, (scores, trained) in zip(periods, parts, strict=True)]
    read = [query for query in queries if query is not None]
    if not read:
        return [NO_MEMBERS] * len(periods)
    sql = " CROSS JOIN ".join(f"({query}) p{i}" for i, (query, _) in enumerate(read))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {sql}", [p for _, params in read for p in params])
        row = cursor.fetchone()
    values = iter(row)
    return [NO_MEMBERS if query is None else _figures_from(*(next(values) for _ in range(4))) for query in queries]


# What the member figures of a period read, and what a dirty mark makes stale: who is a member at its end (the spans,
# marked from the earliest day a package or subscription write changed; a mark up to its last day: all four figures),
# the latest scores by then (a mark up to its last day: average health and at-risk revenue) and who trained in it (a
# session mark within it: the trained count).
SPANS, SCORES, SESSIONS = MemberSpan._meta.db_table, HealthScore._meta.db_table, TrainingSession._meta.db_table
MEMBER_FIGURE_SOURCES = (SPANS, SCORES, SESSIONS)


def _stored_member_figures(access: Scope, periods: Sequence[Period]
                           ) -> dict[tuple[date, date], tuple[MemberFigures, bool, bool]]:
    """(first day, last day) → (the stored figures, whether their scores' figures are stale, whether their trained
    count is) of those of the periods that are stored and whose membership is clean (clients.member_periods).
    Workspace-wide figures: for admins and viewers only."""
    if access.role not in Contact.ROLE_SCOPE_ALL:
        return {}
    wanted = reduce(or_, (Q(first_day=p.first_day, last_day=p.last_day) for p in periods))
    marks = RollupDirty.objects.filter(workspace_id=access.workspace.pk, day__lte=OuterRef("last_day"))
    rows = (PeriodMemberFigures.objects.filter(wanted, workspace_id=access.workspace.pk)
            .filter(~Exists(marks.filter(source=SPANS)))
            .annotate(scores_stale=Exists(marks.filter(source=SCORES)),
                      trained_stale=Exists(marks.filter(source=SESSIONS, day__gte=OuterRef("first_day"))))
            .values_list("first_day", "last_day", "members", "trained", "avg_health", "at_risk_revenue",
                         "scores_stale", "trained_stale"))
    return {(first, last): (MemberFigures(members, trained, avg, at_risk), scores_stale, trained_stale)
            for first, last, members, trained, avg, at_risk, scores_stale, trained_stale in rows}


def _member_figures(access: Scope, periods: tuple[Period, ...]) -> list[MemberFigures]:
    """The member figures of each period: stored where clean; the stale parts of a stored period (its scores' figures,
    its trained count) and the periods not stored computed, in one statement."""
    stored = _stored_member_figures(access, periods)
    found = {period: stored.get((period.first_day, period.last_day), (None, True, True)) for period in periods}
    stale = {period: (scores, trained) for period, (_, scores, trained) in found.items() if scores or trained}
    live = dict(zip(stale, live_member_figures(access, list(stale), list(stale.values())), strict=True))
    out = []
    for period, (figures, scores_stale, trained_stale) in found.items():
        figures = figures or live[period]
        if scores_stale:
            figures = replace(figures, avg_health=live[period].avg_health, at_risk_revenue=live[period].at_risk_revenue)
        if trained_stale:
            figures = replace(figures, trained=live[period].trained)
        out.append(figures)
    return out


def _figures_from(members: int, trained: int, average, at_risk) -> MemberFigures:
    """A period's figures from its four columns, rounded as the KPIs show them."""
    return MemberFigures(members=members, trained=trained,
                         avg_health=None if average is None else Decimal(average).quantize(Decimal("0.1")),
                         at_risk_revenue=Decimal(at_risk or 0).quantize(Decimal("1")))


@per_request
def member_figures(access: Scope, period: Period) -> MemberFigures:
    """The four member KPIs of a period, once per request (the Executive page shows them together)."""
    return _member_figures(access, (period,))[0]


def member_figures_with_prior(period: Period, access: Scope) -> None:
    """Read the member figures of the period and of its prior together (the stored ones in one query, the others in one
    statement), remembered for the request. Nothing to do outside a request or once held."""
    if access.memo is None or member_figures.known(access, period):
        return
    prior = period.prior()
    for which, figures in zip((period, prior), _member_figures(access, (period, prior)), strict=True):
        member_figures.remember(access, which, value=figures)


@metric("active_members", label="Active members", unit="count", source="Packages, Stripe subscriptions",
        formula="distinct contacts with, at period end, a package in date with sessions remaining or an "
                "active/trialing subscription",
        with_prior=member_figures_with_prior)
def active_members(period: Period, access: Scope):
    return member_figures(access, period).members


@metric("avg_health", label="Average health", unit="score", source="Health scores",
        formula="mean of each active member's latest health score on or before period end",
        with_prior=member_figures_with_prior)
def avg_health(period: Period, access: Scope):
    return member_figures(access, period).avg_health


@metric("at_risk_revenue", label="At-risk revenue", unit="AED", source="Packages, health scores",
        higher_is_better=False,
        formula="Σ remaining package value (value × sessions left ÷ sessions bought) of active members in the "
                "yellow or red zone",
        with_prior=member_figures_with_prior)
def at_risk_revenue(period: Period, access: Scope):
    return member_figures(access, period).at_risk_revenue


@metric("active_client_rate", label="Active clients", unit="%", source="Sessions feed",
        formula="active members with ≥ 1 attended session in the period ÷ active members",
        with_prior=member_figures_with_prior)
def active_client_rate(period: Period, access: Scope):
    figures = member_figures(access, period)
    return ratio(figures.trained, figures.members, 100)


@metric("pending_critical_interventions", label="Critical interventions pending", unit="count",
        source="Interventions", higher_is_better=False,
        formula="interventions of critical priority opened before period end and not yet done or dismissed "
                "at period end")
def pending_critical_interventions(period: Period, access: Scope):
    still_open = Q(status__in=[InterventionStatus.OPEN, InterventionStatus.IN_PROGRESS]) | Q(completed_at__gte=period.end)
    return (scoped(Intervention, access).filter(still_open, priority=Priority.CRITICAL, created_at__lt=period.end)
            .count())


@metric("answer_rate", label="Answer rate", unit="%", source="CallGear / HubSpot calls",
        formula="answered calls ÷ all calls, calls started in the period")
def answer_rate(period: Period, access: Scope):
    counts = rollups.totals(["calls_answered", "calls"], period, access)
    return ratio(counts["calls_answered"], counts["calls"], 100)
