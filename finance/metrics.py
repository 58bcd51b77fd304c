"""KPIs of the finance app (DESIGN §7a), in AED; only roles that may see finance get a value."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate

from finance.models import Payment, Refund
from ptd.metrics import metric
from ptd.periods import Period
from ptd.scoping import Scope, role_may_see, scoped

COLLECTED = ["succeeded", "refunded", "partially_refunded"]  # refunds are subtracted at their own time


def finance_hidden(access: Scope) -> str:
    return "" if role_may_see(Payment, access) else "finance figures are not shown to your role"


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


def _collected(access: Scope) -> QuerySet:
    """Payments whose money was collected (cash basis), in AED."""
    return scoped(Payment, access).filter(status__in=COLLECTED, currency="AED")


def _refunds(access: Scope) -> QuerySet:
    return scoped(Refund, access).filter(status="succeeded", currency="AED")


def _minor_total(rows: QuerySet) -> int:
    return rows.aggregate(s=Sum("amount_minor"))["s"] or 0


def _in(rows: QuerySet, period: Period) -> QuerySet:
    return rows.filter(created__gte=period.start, created__lt=period.end)


@metric("gross_volume", label="Gross volume", unit="AED", source="Stripe payments", unavailable=finance_unavailable,
        formula="Σ successful payment amounts in the period (before refunds)")
def gross_volume(period: Period, access: Scope):
    return _aed(_minor_total(_in(_collected(access), period)))


@metric("cash_collected", label="Net revenue", unit="AED", source="Stripe payments and refunds",
        unavailable=finance_unavailable,
        formula="Σ successful payments with payment time in the period − Σ refunds with refund time in the period")
def cash_collected(period: Period, access: Scope):
    return _aed(_minor_total(_in(_collected(access), period)) - _minor_total(_in(_refunds(access), period)))


@metric("lifetime_revenue", label="Lifetime revenue", unit="AED", source="Stripe payments and refunds",
        unavailable=finance_unavailable,
        formula="Σ successful payments − Σ refunds, all time up to period end")
def lifetime_revenue(period: Period, access: Scope):
    return _aed(_minor_total(_collected(access).filter(created__lt=period.end))
                - _minor_total(_refunds(access).filter(created__lt=period.end)))


def net_revenue_by_day(period: Period, access: Scope) -> list[tuple[date, Decimal]]:
    """Net revenue (the cash_collected definition) of each day of the period, days in the workspace's
    timezone, zero-filled: two grouped queries, whatever the period's length."""
    def by_day(rows: QuerySet) -> dict[date, int]:
        grouped = (_in(rows, period).annotate(day=TruncDate("created", tzinfo=period.tz)).values("day")
                   .annotate(s=Sum("amount_minor")).order_by())
        return {row["day"]: row["s"] for row in grouped}

    paid, refunded = by_day(_collected(access)), by_day(_refunds(access))
    days = (period.first_day + timedelta(days=i) for i in range(period.days))
    return [(day, _aed(paid.get(day, 0) - refunded.get(day, 0))) for day in days]
