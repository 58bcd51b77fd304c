"""Sales KPIs (DESIGN §7a) from deals and their stage history; a coach counts own deals. "Won / lost / held
in the period" is a deal's first entry into that funnel step in the period (clients.funnel); the counts and sums
are the daily deal measures of clients.measures."""

from __future__ import annotations

from decimal import Decimal

from clients.models import FunnelStep
from clients.selectors_sales import month_of
from ptd import rollups
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope

SOURCE = "HubSpot deals and their stage history"


def _total(name: str, period: Period, access: Scope) -> Decimal:
    return rollups.total(name, period, access)


@metric("conversion_rate", label="Conversion rate", unit="%", source=SOURCE,
        formula="of the deals created in the period, the share won by now")
def conversion_rate(period: Period, access: Scope):
    sums = rollups.totals(["created_won", "created"], period, access)
    return ratio(sums["created_won"], sums["created"], 100)


@metric("close_rate", label="Close rate", unit="%", source=SOURCE,
        formula="deals won in the period ÷ (deals won + deals lost in the period)")
def close_rate(period: Period, access: Scope):
    won, lost = f"entered_{FunnelStep.CLOSED_WON}", f"entered_{FunnelStep.CLOSED_LOST}"
    sums = rollups.totals([won, lost], period, access)
    return ratio(sums[won], sums[won] + sums[lost], 100)


@metric("ghost_rate", label="Ghost rate", unit="%", source=SOURCE, higher_is_better=False,
        formula="1 − of the deals booked in the period, the share held by now (booked but never held)")
def ghost_rate(period: Period, access: Scope):
    held, booked = f"converted_{FunnelStep.BOOKED}_{FunnelStep.HELD}", f"entered_{FunnelStep.BOOKED}"
    sums = rollups.totals([held, booked], period, access)
    held = ratio(sums[held], sums[booked], 100)
    return None if held is None else 100 - held


@metric("collection_rate", label="Collection rate", unit="%", source=SOURCE + ", Stripe payments linked to deals",
        formula="Σ cash collected on the deals won in the period ÷ Σ amount of those deals")
def collection_rate(period: Period, access: Scope):
    sums = rollups.totals(["won_cash", "won_value"], period, access)
    return ratio(sums["won_cash"], sums["won_value"], 100)


@metric("deals_won", label="Deals won", unit="count", source=SOURCE,
        formula="deals entering closed won in the period")
def deals_won(period: Period, access: Scope):
    return _total(f"entered_{FunnelStep.CLOSED_WON}", period, access)


@metric("assessments_held", label="Assessments held", unit="count", source=SOURCE,
        formula="deals entering assessment held in the period")
def assessments_held(period: Period, access: Scope):
    return _total(f"entered_{FunnelStep.HELD}", period, access)


@metric("monthly_sales", label="Monthly sales", unit="AED", source=SOURCE,
        formula="Σ amount of the deals won in the whole calendar month containing the period's last day — "
                "every deal, no limit")
def monthly_sales(period: Period, access: Scope):
    return _total("won_value", month_of(period.last_day, period.tz), access)
