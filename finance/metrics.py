"""KPIs of the finance app (DESIGN §7a), in AED; only roles that may see finance get a value."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from finance.models import Payment, Refund
from ptd.metrics import metric
from ptd.periods import Period
from ptd.scoping import Scope, role_may_see, scoped

COLLECTED = ["succeeded", "refunded", "partially_refunded"]  # refunds are subtracted at their own time


def finance_hidden(access: Scope) -> str:
    return "" if role_may_see(Payment, access) else "finance figures are not shown to your role"


def _aed(minor) -> Decimal:
    return (Decimal(minor or 0) / 100).quantize(Decimal("0.01"))


def _gross_minor(period: Period, access: Scope) -> int:
    return scoped(Payment, access).filter(status__in=COLLECTED, currency="AED", created__gte=period.start,
                                          created__lt=period.end).aggregate(s=Sum("amount_minor"))["s"] or 0


@metric("gross_volume", label="Gross volume", unit="AED", source="Stripe payments", unavailable=finance_hidden,
        formula="Σ successful payment amounts in the period (before refunds)")
def gross_volume(period: Period, access: Scope):
    return _aed(_gross_minor(period, access))


@metric("cash_collected", label="Net revenue", unit="AED", source="Stripe payments and refunds",
        unavailable=finance_hidden,
        formula="Σ successful payments with payment time in the period − Σ refunds with refund time in the period")
def cash_collected(period: Period, access: Scope):
    refunded = scoped(Refund, access).filter(status="succeeded", currency="AED", created__gte=period.start,
                                             created__lt=period.end).aggregate(s=Sum("amount_minor"))["s"] or 0
    return _aed(_gross_minor(period, access) - refunded)
