"""KPIs of the finance app (DESIGN §7a), in AED; only roles that may see finance get a value."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum

from clients.attendance import attended_in_sql
from clients.models import SessionStatus, TrainingSession
from finance.models import Interval, Payment, Subscription, SubscriptionStatus
from ptd import rollups
from ptd.metrics import metric
from ptd.periods import Period
from ptd.scoping import Scope, per_request, role_may_see, scoped


def finance_hidden(access: Scope) -> str:
    return "" if role_may_see(Payment, access) else "finance figures are not shown to your role"


@per_request
def finance_unavailable(access: Scope) -> str:
    """Why revenue cannot be shown: the role, or no Stripe payment stored yet (a zero would read as "no
    sales" when the truth is "not connected")."""
    if hidden := finance_hidden(access):
        return hidden
    if not Payment.objects.filter(workspace=access.workspace).exists():
        return "Stripe not connected — add the secret key in Settings"
    return ""


def _aed(minor) -> Decimal:
    return (Decimal(minor or 0) / 100).quantize(Decimal("0.01"))


def _net(sums: dict) -> Decimal:
    return _aed(sums["collected_minor"] - sums["refunded_minor"])


# The sums come from the daily measures collected_minor and refunded_minor (finance.measures): payments whose
# money was collected, refunds that succeeded, AED, by the local day of their Stripe time.

@metric("gross_volume", label="Gross volume", unit="AED", source="Stripe payments", unavailable=finance_unavailable,
        formula="Σ successful payment amounts in the period (before refunds)")
def gross_volume(period: Period, access: Scope):
    return _aed(rollups.total("collected_minor", period, access))


@metric("cash_collected", label="Net revenue", unit="AED", source="Stripe payments and refunds",
        unavailable=finance_unavailable,
        formula="Σ successful payments with payment time in the period − Σ refunds with refund time in the period")
def cash_collected(period: Period, access: Scope):
    return _net(rollups.totals(["collected_minor", "refunded_minor"], period, access))


@metric("lifetime_revenue", label="Lifetime revenue", unit="AED", source="Stripe payments and refunds",
        unavailable=finance_unavailable,
        formula="Σ successful payments − Σ refunds, all time up to period end")
def lifetime_revenue(period: Period, access: Scope):
    return _net(rollups.totals(["collected_minor", "refunded_minor"], period, access, first_day=rollups.ALL_TIME))


def net_revenue_by_day(period: Period, access: Scope) -> list[tuple[date, Decimal]]:
    """Net revenue (the cash_collected definition) of each day of the period, days in the workspace's
    timezone, zero-filled."""
    paid, refunded = rollups.by_day("collected_minor", period, access), rollups.by_day("refunded_minor", period, access)
    days = (period.first_day + timedelta(days=i) for i in range(period.days))
    return [(day, _aed(paid.get(day, 0) - refunded.get(day, 0))) for day in days]


@metric("refunds", label="Refunds", unit="AED", source="Stripe refunds", higher_is_better=False,
        unavailable=finance_unavailable, formula="Σ succeeded refunds with refund time in the period")
def refunds(period: Period, access: Scope):
    return _aed(rollups.total("refunded_minor", period, access))


@metric("failed_payments", label="Failed payments", unit="count", source="Stripe charges", higher_is_better=False,
        unavailable=finance_unavailable, formula="payment attempts that failed, attempt time in the period")
def failed_payments(period: Period, access: Scope):
    return rollups.total("failed_payments", period, access)


@metric("disputes", label="Disputes", unit="count", source="Stripe disputes", higher_is_better=False,
        unavailable=finance_unavailable,
        formula="disputes (chargebacks and card-issuer inquiries) opened in the period")
def disputes(period: Period, access: Scope):
    return rollups.total("disputes_opened", period, access)


# --- subscriptions at the end of the period --------------------------------------------------------

LIVE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
BILLED_PER_YEAR = {Interval.DAY: 365, Interval.WEEK: 52, Interval.MONTH: 12, Interval.YEAR: 1}


def monthly_minor(amount_minor: int, interval: str, interval_count: int) -> Decimal:
    """What a plan charging `amount_minor` every `interval_count` × `interval` brings in a month (a year's
    charges ÷ 12): 1,200 a year → 100; 100 every 2 weeks → 216.67."""
    if interval not in BILLED_PER_YEAR or interval_count < 1:
        raise ValueError(f"unknown billing interval {interval_count} × {interval!r}")
    return Decimal(amount_minor) * BILLED_PER_YEAR[interval] / (12 * interval_count)


def _in_force_at_end(period: Period) -> Q:
    return Q(created__lt=period.end) & (Q(status__in=LIVE_STATUSES) | Q(ended_at__gte=period.end))


def _subscriptions(access: Scope) -> QuerySet:
    return scoped(Subscription, access).exclude(
        status__in=[SubscriptionStatus.INCOMPLETE, SubscriptionStatus.INCOMPLETE_EXPIRED])


def subscriptions_live_at_end(period: Period, access: Scope) -> QuerySet:
    """Subscriptions in force at the end of the period: created before it, and active or trialing now (Stripe's
    current status, as in active_members) or ended after it (cancelled since)."""
    return _subscriptions(access).filter(_in_force_at_end(period))


def _subscription_sums(access: Scope, periods: list[Period]) -> list[tuple[int, Decimal]]:
    """(active_subscriptions, MRR in minor units) at the end of each period, from one grouped read of the
    subscriptions in force at any of the ends, each counted for the ends it was in force at."""
    paying = Q(currency="AED") & ~Q(status=SubscriptionStatus.TRIALING)
    in_force = [_in_force_at_end(period) for period in periods]
    sums = {}
    for i, rows in enumerate(in_force):
        sums |= {f"live_{i}": Count("pk", filter=rows), f"mrr_{i}": Sum("amount_minor", filter=rows & paying)}
    plans = list(_subscriptions(access).filter(reduce(or_, in_force)).values("interval", "interval_count").order_by()
                 .annotate(**sums))
    # A plan of only trials or other currencies (at that end) has no MRR part (None): it is left out, as it always
    # was.
    return [(sum(p[f"live_{i}"] for p in plans),
             sum((monthly_minor(p[f"mrr_{i}"], p["interval"], p["interval_count"]) for p in plans
                  if p[f"mrr_{i}"] is not None), Decimal(0)))
            for i in range(len(periods))]


@per_request
def subscription_figures(access: Scope, period: Period) -> tuple[int, Decimal]:
    """(active_subscriptions, MRR in minor units) at the end of the period, from one grouped read of the
    subscriptions in force: the two cards read the same rows."""
    return _subscription_sums(access, [period])[0]


def subscription_figures_with_prior(period: Period, access: Scope) -> None:
    """The subscription figures of the period and of its prior period from one read of the subscriptions (a scan of
    them all at 100,000 clients), remembered for the request. Nothing to do outside a request, or once the
    period's figures are held."""
    if access.memo is None or subscription_figures.known(access, period):
        return
    prior = period.prior()
    for which, figures in zip((period, prior), _subscription_sums(access, [period, prior]), strict=True):
        subscription_figures.remember(access, which, value=figures)


@metric("active_subscriptions", label="Active subscriptions", unit="count", source="Stripe subscriptions",
        unavailable=finance_unavailable, with_prior=subscription_figures_with_prior,
        formula="subscriptions in force at period end: created before it, and active or trialing now or ended "
                "after it")
def active_subscriptions(period: Period, access: Scope):
    return subscription_figures(access, period)[0]


@metric("mrr", label="MRR", unit="AED", source="Stripe subscriptions", unavailable=finance_unavailable,
        with_prior=subscription_figures_with_prior,
        formula="Σ monthly amount (a year's charges ÷ 12) of the AED subscriptions in force at period end, "
                "trials excluded")
def mrr(period: Period, access: Scope):
    return _aed(subscription_figures(access, period)[1])


# --- trained but unpaid ----------------------------------------------------------------------------

UNPAID_LOOKBACK = timedelta(days=90)


def _paid_in_lookback(period: Period, access: Scope) -> Exists:
    """Whether the row's contact has a collected Stripe payment in the 90 days before the period end."""
    return Exists(scoped(Payment, access).filter(contact_id=OuterRef("contact_id"),
                                                 status__in=Payment.COLLECTED_STATUSES,
                                                 created__gte=period.end - UNPAID_LOOKBACK, created__lt=period.end))


def trained_but_unpaid_contacts(period: Period, access: Scope) -> QuerySet:
    """One row per contact (contact_id, sessions, last_session) with ≥ 1 attended session in the period and no
    collected Stripe payment linked to them in the 90 days before the period end.

    Each attended session (read from its covering index) is tested against a hash of the window's paying
    contacts before the rows are grouped, so only the unpaid ones are grouped: at 100,000 clients a month has
    500,000 sessions of 67,000 contacts, and grouping them all first took 1.5 to 3 times as long as the probes
    (60,000 sessions of 8,900 contacts are left to group)."""
    return (scoped(TrainingSession, access)
            .filter(status=SessionStatus.ATTENDED, starts_at__gte=period.start, starts_at__lt=period.end)
            .filter(~_paid_in_lookback(period, access)).values("contact_id").order_by()
            .annotate(sessions=Count("*"), last_session=Max("starts_at")))  # "*": read from the index alone


@per_request
def trained_unpaid_sessions(access: Scope, period: Period) -> dict[int, tuple[int, datetime]]:
    """Contact id → (sessions, last_session) of trained_but_unpaid_contacts, read once per request: the KPI card
    and the table of /stripe/ show the same contacts, and each read of them scans the period's sessions."""
    return {contact_id: (sessions, last) for contact_id, sessions, last in
            trained_but_unpaid_contacts(period, access).values_list("contact_id", "sessions", "last_session")}


def trained_unpaid_count(period: Period, access: Scope) -> int:
    """How many contacts trained_but_unpaid_contacts holds, without their sessions: who attended in the period is
    read from the AttendedMonth rollup (clients.attendance: a row per client and month, 105,000 rows for a 30-day
    period at 100,000 clients instead of 500,000 sessions), each row tested against the window's paying contacts
    before the contacts are counted (counting the attenders first, then testing them, took half as long again)."""
    attended, params = attended_in_sql(access, period)
    paid, paid_params = (scoped(Payment, access).filter(status__in=Payment.COLLECTED_STATUSES,
                                                        created__gte=period.end - UNPAID_LOOKBACK, created__lt=period.end)
                         .values("contact_id").order_by().query.sql_with_params())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT a.contact_id) FROM ({attended}) a "
                       f"WHERE NOT EXISTS (SELECT 1 FROM ({paid}) p WHERE p.contact_id = a.contact_id)",
                       [*params, *paid_params])
        return cursor.fetchone()[0]


@metric("trained_but_unpaid", label="Trained but unpaid", unit="count", higher_is_better=False,
        source="Sessions feed, Stripe payments", unavailable=finance_unavailable,
        formula="clients with ≥ 1 attended session in the period and no successful Stripe payment in the 90 days "
                "before period end")
def trained_but_unpaid(period: Period, access: Scope):
    if trained_unpaid_sessions.known(access, period):  # the table's contacts, read in this request already
        return len(trained_unpaid_sessions(access, period))
    return trained_unpaid_count(period, access)
