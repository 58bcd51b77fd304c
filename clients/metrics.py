"""KPIs of the clients app (definitions: DESIGN §7a). Each is scoped: a coach counts own clients."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, Max, Q, QuerySet

from clients.attendance import attended_in_sql
from clients.models import (Contact, HealthScore, Intervention, InterventionStatus, Package, Priority,
                            TrainingSession, Zone)
from ptd import rollups
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope, per_request, scoped


def new_leads_in(period: Period, access: Scope) -> QuerySet:
    """The contacts counted as new leads: source creation time in the period (DESIGN §7a)."""
    return scoped(Contact, access).filter(created_at__gte=period.start, created_at__lt=period.end)


@metric("new_leads", label="New leads", unit="count", source="HubSpot contacts",
        formula="contacts whose source creation time is in the period")
def new_leads(period: Period, access: Scope):
    return rollups.total("leads", period, access)


def active_member_ids(period: Period, access: Scope) -> QuerySet:
    """Contact ids of the members active at the end of the period: a package in date with sessions remaining
    or an active/trialing subscription (package sessions_used is today's count). A UNION to nest in other
    queries (never 100,000 ids in Python), read from the packages and subscriptions in force rather than by
    testing every contact."""
    from finance.models import Subscription

    last = period.last_day
    packages = scoped(Package, access).filter(starts_on__lte=last, expires_on__gte=last,
                                              sessions_used__lt=F("sessions_purchased"))
    # Subscriptions are finance rows (hidden from coaches), but being subscribed is client state: they are
    # limited through the contact. Admins and viewers see every contact, so that join (which would read
    # every contact) is left out for them.
    subscriptions = Subscription.objects.filter(workspace_id=access.workspace.pk, contact__isnull=False,
                                                status__in=["active", "trialing"], created__lt=period.end)
    if access.role not in Contact.ROLE_SCOPE_ALL:
        subscriptions = subscriptions.filter(contact__in=scoped(Contact, access))
    # No ORDER BY anywhere: the models' default orderings would sort each part for nothing.
    return packages.values("contact_id").order_by().union(subscriptions.values("contact_id").order_by()).order_by()


@dataclass(frozen=True)
class MemberFigures:
    members: int
    trained: int  # members with an attended session in the period
    avg_health: Decimal | None
    at_risk_revenue: Decimal


@per_request
def member_figures(access: Scope, period: Period) -> MemberFigures:
    """The four member KPIs of a period in one query, once per request (the Executive page shows them together):
    the active members at the period's end, each with its latest health score on or before the last day, whether
    it trained in the period (attended sessions, read from their own index and grouped by client), and the
    remaining value of its packages in date when it is in the yellow or red zone."""
    try:
        members, params = active_member_ids(period, access).query.sql_with_params()
    except EmptyResultSet:  # a role that sees no clients
        return MemberFigures(members=0, trained=0, avg_health=None, at_risk_revenue=Decimal(0))
    params = list(params)
    scores = HealthScore._meta.db_table
    day = scoped(HealthScore, access).filter(date__lte=period.last_day).aggregate(d=Max("date"))["d"]
    if day is None:  # nothing scored by then: no average, nothing at risk
        latest = f"SELECT m.contact_id, NULL::integer AS total, NULL AS zone FROM ({members}) m"
    else:
        # Scoring runs daily for every client with a package, so nearly every member has a score on the latest
        # scored day: one join on that date. Only a member without one is looked up on its own (contact, date)
        # index, in a LATERAL subquery gated on that. The members are scoped, so their scores are too.
        latest = f"""SELECT m.contact_id, COALESCE(d.total, l.total) AS total, COALESCE(d.zone, l.zone) AS zone
            FROM ({members}) m
            LEFT JOIN {scores} d ON d.workspace_id = %s AND d.date = %s AND d.contact_id = m.contact_id
            LEFT JOIN LATERAL (SELECT h.total, h.zone FROM {scores} h
                               WHERE d.id IS NULL AND h.contact_id = m.contact_id AND h.date <= %s
                               ORDER BY h.date DESC LIMIT 1) l ON TRUE"""
        params += [access.workspace.pk, day, period.last_day]
    packages, sessions = Package._meta.db_table, TrainingSession._meta.db_table
    if access.role in Contact.ROLE_SCOPE_ALL:
        # Tens of thousands of members: who trained is read from the attended-months rollup, a row per client and
        # month rather than every session.
        trained, trained_params = attended_in_sql(access, period)
        trained_join = f"LEFT JOIN ({trained}) t ON t.contact_id = l.contact_id"
    else:
        # A coach's few dozen members: each is looked up on the (contact, start) index rather than reading the
        # whole workspace's month of sessions.
        trained_join = f"""LEFT JOIN LATERAL (SELECT s.contact_id FROM {sessions} s
            WHERE s.contact_id = l.contact_id AND s.starts_at >= %s AND s.starts_at < %s AND s.status = 'attended'
            LIMIT 1) t ON TRUE"""
        trained_params = [period.start, period.end]
    sql = f"""
        WITH latest AS MATERIALIZED ({latest})
        SELECT count(*), count(t.contact_id), avg(l.total),
               (SELECT sum(p.value * (p.sessions_purchased - p.sessions_used) / p.sessions_purchased)
                FROM {packages} p JOIN latest r ON r.contact_id = p.contact_id AND r.zone IN (%s, %s)
                WHERE p.workspace_id = %s AND p.starts_on <= %s AND p.expires_on >= %s)
        FROM latest l {trained_join}"""
    params += [Zone.YELLOW, Zone.RED, access.workspace.pk, period.last_day, period.last_day, *trained_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        members_count, trained_count, average, at_risk = cursor.fetchone()
    return MemberFigures(members=members_count, trained=trained_count,
                         avg_health=None if average is None else Decimal(average).quantize(Decimal("0.1")),
                         at_risk_revenue=Decimal(at_risk or 0).quantize(Decimal("1")))


@metric("active_members", label="Active members", unit="count", source="Packages, Stripe subscriptions",
        formula="distinct contacts with, at period end, a package in date with sessions remaining or an "
                "active/trialing subscription")
def active_members(period: Period, access: Scope):
    return member_figures(access, period).members


@metric("avg_health", label="Average health", unit="score", source="Health scores",
        formula="mean of each active member's latest health score on or before period end")
def avg_health(period: Period, access: Scope):
    return member_figures(access, period).avg_health


@metric("at_risk_revenue", label="At-risk revenue", unit="AED", source="Packages, health scores",
        higher_is_better=False,
        formula="Σ remaining package value (value × sessions left ÷ sessions bought) of active members in the "
                "yellow or red zone")
def at_risk_revenue(period: Period, access: Scope):
    return member_figures(access, period).at_risk_revenue


@metric("active_client_rate", label="Active clients", unit="%", source="Sessions feed",
        formula="active members with ≥ 1 attended session in the period ÷ active members")
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
