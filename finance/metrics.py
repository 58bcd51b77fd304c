"""KPIs of the finance app (DESIGN §7a), in AED; only roles that may see finance get a value."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from finance.models import Payment
from ptd import rollups
from ptd.metrics import metric
from ptd.periods import Period
from ptd.scoping import Scope, role_may_see


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
