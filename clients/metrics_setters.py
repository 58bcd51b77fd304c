"""Setter KPIs (definitions: DESIGN §7a). Scoped: a setter's figures are their own calls, leads and bookings;
admins and viewers see the team's. The per-setter breakdown on the page uses the same selectors."""

from __future__ import annotations

from clients.selectors_setters import call_totals, lead_response, setter_show, setter_sla_minutes
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope

SOURCE_CALLS = "CallGear / HubSpot calls"
SOURCE_LEADS = "HubSpot contacts, CallGear / HubSpot calls"


@metric("reach_rate", label="Reach rate", unit="%", source=SOURCE_CALLS,
        formula="distinct leads with an answered call ÷ distinct leads called, calls in the period "
                "(calls not yet matched to a lead are left out)")
def reach_rate(period: Period, access: Scope):
    totals = call_totals(access, period)
    return ratio(totals["leads_reached"], totals["leads_touched"], 100)


@metric("speed_to_first_call", label="Speed to first call", unit="minutes", source=SOURCE_LEADS,
        higher_is_better=False,
        formula="median minutes from lead creation to the first call with that lead (outbound, or inbound "
                "answered), leads created in the period")
def speed_to_first_call(period: Period, access: Scope):
    # With the SLA in force (which the median does not depend on): the SLA KPI beside it reads the same query.
    sla, _ = setter_sla_minutes(access.workspace)
    return lead_response(access, period, sla).median_minutes


@metric("sla_compliance", label="SLA compliance", unit="%", source=SOURCE_LEADS,
        formula="leads created in the period first called within the SLA (setter_sla_minutes, default 5 min) ÷ "
                "leads created in the period; a lead not called counts as a breach once its SLA has passed")
def sla_compliance(period: Period, access: Scope):
    sla, _ = setter_sla_minutes(access.workspace)
    return lead_response(access, period, sla).sla_pct


@metric("show_rate", label="Show rate", unit="%", source="HubSpot deal stage history",
        formula="of the deals of setters' leads that entered Assessment booked in the period, the share held "
                "by now (booked → held; ghost rate = 100 % − show rate)")
def show_rate(period: Period, access: Scope):
    return setter_show(access, period).rate
