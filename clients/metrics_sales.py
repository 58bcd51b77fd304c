"""Sales KPIs (DESIGN §7a) from deals and their stage history; a coach counts own deals. "Won / lost / held
in the period" is a deal's first entry into that funnel step in the period (clients.funnel)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Sum

from clients.funnel import conversion, deals_of, entered_in, reached
from clients.models import FunnelStep
from clients.selectors_sales import month_of
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope

SOURCE = "HubSpot deals and their stage history"


def _entered(step: str, period: Period, access: Scope):
    return entered_in(deals_of(access), step, period)


@metric("conversion_rate", label="Conversion rate", unit="%", source=SOURCE,
        formula="of the deals created in the period, the share won by now")
def conversion_rate(period: Period, access: Scope):
    won = reached(FunnelStep.CLOSED_WON)
    counts = deals_of(access).filter(created_at__gte=period.start, created_at__lt=period.end).aggregate(
        total=Count("pk"), won=Count("pk", filter=won))
    return ratio(counts["won"], counts["total"], 100)


@metric("close_rate", label="Close rate", unit="%", source=SOURCE,
        formula="deals won in the period ÷ (deals won + deals lost in the period)")
def close_rate(period: Period, access: Scope):
    won = _entered(FunnelStep.CLOSED_WON, period, access).count()
    return ratio(won, won + _entered(FunnelStep.CLOSED_LOST, period, access).count(), 100)


@metric("ghost_rate", label="Ghost rate", unit="%", source=SOURCE, higher_is_better=False,
        formula="1 − of the deals booked in the period, the share held by now (booked but never held)")
def ghost_rate(period: Period, access: Scope):
    held = conversion(deals_of(access), period, FunnelStep.BOOKED, FunnelStep.HELD).rate
    return None if held is None else 100 - held


@metric("collection_rate", label="Collection rate", unit="%", source=SOURCE + ", Stripe payments linked to deals",
        formula="Σ cash collected on the deals won in the period ÷ Σ amount of those deals")
def collection_rate(period: Period, access: Scope):
    sums = _entered(FunnelStep.CLOSED_WON, period, access).aggregate(cash=Sum("cash_collected"), value=Sum("amount"))
    return ratio(sums["cash"] or 0, sums["value"], 100)


@metric("deals_won", label="Deals won", unit="count", source=SOURCE,
        formula="deals entering closed won in the period")
def deals_won(period: Period, access: Scope):
    return _entered(FunnelStep.CLOSED_WON, period, access).count()


@metric("assessments_held", label="Assessments held", unit="count", source=SOURCE,
        formula="deals entering assessment held in the period")
def assessments_held(period: Period, access: Scope):
    return _entered(FunnelStep.HELD, period, access).count()


@metric("monthly_sales", label="Monthly sales", unit="AED", source=SOURCE,
        formula="Σ amount of the deals won in the whole calendar month containing the period's last day — "
                "every deal, no limit")
def monthly_sales(period: Period, access: Scope):
    month = month_of(period.last_day, period.tz)
    won = _entered(FunnelStep.CLOSED_WON, month, access).aggregate(s=Sum("amount"))["s"]
    return won or Decimal(0)
