"""KPIs of the clients app (definitions: DESIGN §7a). Each is scoped: a coach counts own clients."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import DecimalField, ExpressionWrapper, F, Max, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from clients.models import (Contact, HealthScore, Intervention, InterventionStatus, Package, Priority,
                            TrainingSession, Zone)
from ptd import rollups
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope, scoped


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


@metric("active_members", label="Active members", unit="count", source="Packages, Stripe subscriptions",
        formula="distinct contacts with, at period end, a package in date with sessions remaining or an "
                "active/trialing subscription")
def active_members(period: Period, access: Scope):
    return active_member_ids(period, access).count()


def _latest_scores_sql(period: Period, access: Scope) -> tuple[str, list] | None:
    """SQL of (contact_id, total, zone): each active member's latest health score on or before the period's
    last day (total and zone NULL when never scored); None when nothing was ever scored by then.

    Scoring runs daily for every client with a package, so nearly every member has a score on the latest
    scored day: those are one join on that date. Only a member without one is looked up on its own
    (contact, date) index, in a LATERAL subquery gated on that. The members are already scoped, so their
    scores are too."""
    day = scoped(HealthScore, access).filter(date__lte=period.last_day).aggregate(d=Max("date"))["d"]
    if day is None:
        return None
    members, params = active_member_ids(period, access).query.sql_with_params()
    table = HealthScore._meta.db_table
    sql = f"""SELECT m.contact_id, COALESCE(d.total, l.total) AS total, COALESCE(d.zone, l.zone) AS zone
        FROM ({members}) m
        LEFT JOIN {table} d ON d.workspace_id = %s AND d.date = %s AND d.contact_id = m.contact_id
        LEFT JOIN LATERAL (SELECT h.total, h.zone FROM {table} h
                           WHERE d.id IS NULL AND h.contact_id = m.contact_id AND h.date <= %s
                           ORDER BY h.date DESC LIMIT 1) l ON TRUE"""
    return sql, [*params, access.workspace.pk, day, period.last_day]


@metric("avg_health", label="Average health", unit="score", source="Health scores",
        formula="mean of each active member's latest health score on or before period end")
def avg_health(period: Period, access: Scope):
    if (latest := _latest_scores_sql(period, access)) is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT AVG(total) FROM ({latest[0]}) s", latest[1])
        value = cursor.fetchone()[0]
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


@metric("at_risk_revenue", label="At-risk revenue", unit="AED", source="Packages, health scores",
        higher_is_better=False,
        formula="Σ remaining package value (value × sessions left ÷ sessions bought) of active members in the "
                "yellow or red zone")
def at_risk_revenue(period: Period, access: Scope):
    if (latest := _latest_scores_sql(period, access)) is None:
        return Decimal(0)
    at_risk = RawSQL(f"SELECT contact_id FROM ({latest[0]}) s WHERE zone IN (%s, %s)",
                     [*latest[1], Zone.YELLOW, Zone.RED])
    remaining = ExpressionWrapper(F("value") * (F("sessions_purchased") - F("sessions_used")) / F("sessions_purchased"),
                                  output_field=DecimalField(max_digits=14, decimal_places=2))
    total = (scoped(Package, access).filter(contact_id__in=at_risk, starts_on__lte=period.last_day,
                                            expires_on__gte=period.last_day)
             .aggregate(s=Sum(remaining))["s"])
    return Decimal(total or 0).quantize(Decimal("1"))


@metric("active_client_rate", label="Active clients", unit="%", source="Sessions feed",
        formula="active members with ≥ 1 attended session in the period ÷ active members")
def active_client_rate(period: Period, access: Scope):
    members = active_member_ids(period, access)
    attended = (scoped(TrainingSession, access).filter(contact_id__in=members, status="attended",
                                                       starts_at__gte=period.start, starts_at__lt=period.end)
                .values("contact_id").distinct().count())
    return ratio(attended, members.count(), 100)


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
