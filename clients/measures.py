"""Daily measures of the clients app (ptd.rollups): the additive parts of the lead, deal and funnel KPIs, stored
per day and staff member so workspace-wide pages sum a few hundred rows. Each is the one definition of what it
counts; clients.metrics, clients.metrics_sales, marketing.metrics and the sales selectors read them."""

from clients.funnel import STEP_ORDER, reached, step_field
from django.db.models import Q

from clients.models import (Call, CallOutcome, Contact, Deal, DealFunnel, FunnelStep, HealthScore, SessionStatus,
                            TrainingSession, Zone)
from marketing.metrics import paid_touch
from ptd.rollups import measure

FUNNEL_STEPS = [*STEP_ORDER, FunnelStep.CLOSED_LOST]
# Every deal write refreshes the deal's DealFunnel row (clients.funnel), so its triggers mark the deal's days.
FUNNEL_SOURCES = {"clients_dealfunnel": [*(step_field(s) for s in FUNNEL_STEPS), "deal_created_at"]}

measure("leads", model=Contact, day="created_at")
# One score per client and day: the zone counts and the average health of a day (Overview) are sums of these.
measure("scored", model=HealthScore, day="date")
measure("health_total", model=HealthScore, day="date", total="total")
for _zone in Zone:
    measure(f"scored_{_zone.value}", model=HealthScore, day="date", where=lambda zone=_zone: Q(zone=zone))
measure("calls", model=Call, day="started_at")
measure("calls_answered", model=Call, day="started_at", where=lambda: Q(outcome=CallOutcome.ANSWERED))
# About fifteen sessions per coach and day: worth a cell per coach (the coaches leaderboard reads them).
measure("sessions_attended", model=TrainingSession, day="starts_at", staff="coach_id", store_per_staff=True,
        where=lambda: Q(status=SessionStatus.ATTENDED))
measure("ad_leads", model=Contact, day="created_at", where=paid_touch)
measure("ad_deals", model=Deal, day="created_at", where=lambda: paid_touch("contact__"))
# The sales coach tracker shows these per deal owner (a closer); the rest are read as workspace totals.
BY_OWNER = {f"entered_{FunnelStep.HELD}", f"entered_{FunnelStep.CLOSED_WON}", f"entered_{FunnelStep.CLOSED_LOST}",
            "won_value", "won_cash"}


def _funnel(name: str, day: str, **kwargs):
    """A deal measure counted on the day the deal first entered a step (or was created), read from the DealFunnel
    rollup alone (it carries the deal's owner, amount and cash)."""
    measure(name, model=DealFunnel, day=day, staff="owner_id" if name in BY_OWNER else None, sources=FUNNEL_SOURCES,
            **kwargs)


for _step in FUNNEL_STEPS:
    _funnel(f"entered_{_step}", step_field(_step))  # stage volume
for _from, _to in zip(STEP_ORDER, STEP_ORDER[1:]):
    # Cohort conversion: of the deals entering _from that day, those that have reached _to by now.
    _funnel(f"converted_{_from}_{_to}", step_field(_from), where=lambda to=_to: reached(to, funnel=""))
_funnel("won_value", step_field(FunnelStep.CLOSED_WON), total="amount")
_funnel("won_cash", step_field(FunnelStep.CLOSED_WON), total="cash_collected")
# The ad funnel (marketing intelligence): the deals of ad leads entering booked, held and won. A contact's first
# touch arriving later marks its deals' days (marketing.first_touch).
for _step in (FunnelStep.BOOKED, FunnelStep.HELD, FunnelStep.CLOSED_WON):
    _funnel(f"ad_entered_{_step}", step_field(_step), where=lambda: paid_touch("contact__"))
_funnel("created", "deal_created_at")
_funnel("created_won", "deal_created_at", where=lambda: reached(FunnelStep.CLOSED_WON, funnel=""))
