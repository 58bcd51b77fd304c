"""Reads behind the executive page (DESIGN §7 row 1): KPIs from each app's metrics, with a link to the
records behind them, and the daily series of its charts. Scoped through the metrics themselves."""

from __future__ import annotations

from dataclasses import dataclass, fields

from django.urls import reverse

from finance.metrics import finance_hidden, finance_unavailable, net_revenue_by_day
from marketing.metrics import new_leads_by_day
from ptd.metrics import KPI, kpis
from ptd.navigation import can_open
from ptd.periods import Period
from ptd.scoping import Scope

# KPI name → (page listing the records behind it, what to add to its URL). Only pages that exist; the link
# is shown to a role only when that role may open the page.
RECORDS = {
    "active_members": ("clients", ""),
    "active_client_rate": ("clients", ""),
    "avg_health": ("overview", ""),
    "at_risk_revenue": ("overview", "#at-risk"),  # the yellow and red clients, riskiest first
    "pending_critical_interventions": ("interventions", "?priority=critical"),
}


@dataclass(frozen=True)
class LinkedKPI(KPI):
    href: str = ""


@dataclass(frozen=True)
class KPIGroup:
    kpis: list[LinkedKPI]

    @property
    def empty_reason(self) -> str:
        """The one reason when no card of the group has a value for the same reason (a coach and revenue):
        said once for the group rather than on every card."""
        reasons = {k.empty_reason for k in self.kpis}
        return reasons.pop() if len(reasons) == 1 else ""


def executive_kpis_for(access: Scope, names: list[str], period: Period) -> KPIGroup:
    out = []
    for k in kpis(names, period, access):
        page, suffix = RECORDS.get(k.name, ("", ""))
        href = reverse(page) + suffix if page and can_open(access.role, page) else ""
        out.append(LinkedKPI(**{f.name: getattr(k, f.name) for f in fields(k)}, href=href))
    return KPIGroup(out)


@dataclass(frozen=True)
class Comparison:
    """A daily series of the period beside the prior period's, or why there is nothing to draw."""
    current: list
    prior: list
    empty_reason: str = ""
    hidden: bool = False  # the role may not see this at all: no chart, not even an empty one


def revenue_by_day_for(access: Scope, period: Period) -> Comparison:
    if reason := finance_unavailable(access):
        return Comparison([], [], reason, hidden=bool(finance_hidden(access)))
    current, prior = net_revenue_by_day(period, access), net_revenue_by_day(period.prior(), access)
    if not any(value for _, value in current + prior):
        return Comparison([], [], "No payments or refunds in this period or the prior one.")
    return Comparison(current, prior)


def leads_by_day_for(access: Scope, period: Period) -> Comparison:
    current, prior = new_leads_by_day(period, access), new_leads_by_day(period.prior(), access)
    if not any(leads for _, leads, _ in current + prior):
        return Comparison([], [], "No new leads in this period or the prior one.")
    return Comparison(current, prior)
