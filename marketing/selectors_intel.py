"""Reads of Marketing Intelligence (DESIGN §7 row 2): the registered ad KPIs, the ad funnel of the period from
impressions to paid, and Meta's ROAS per ad beside the true one (marketing.attribution). Scoped through the
functions they call and `scoped()`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


from finance.metrics import finance_unavailable
from finance.selectors import paying_contacts
from marketing.attribution import MONEY_OUTCOMES, STEP_COLUMNS, attributed
from marketing.metrics import ad_leads, insight_sums, paid_touch, spend_hidden
from marketing.models import Ad
from ptd import rollups
from ptd.metrics import KPI, kpis, ratio
from ptd.periods import Period
from ptd.scoping import Scope, scoped

INTEL_KPIS = ["true_roas", "meta_roas", "integrity_score", "cpl", "ad_spend", "ad_leads", "cpo"]


def intel_kpis_for(access: Scope, period: Period) -> list[KPI]:
    return kpis(INTEL_KPIS, period, access)


# ---- the ad funnel ----

@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int | None  # None: the source is not connected or not shown to the role (see `missing`)
    source: str
    from_before: Decimal | None = None  # count ÷ the previous shown step's count, in %

    @property
    def shown(self) -> bool:
        return self.count is not None


@dataclass(frozen=True)
class AdFunnel:
    steps: list[FunnelStep]
    missing: list[str]  # why a step is left out, one line per source

    @property
    def shown(self) -> list[FunnelStep]:
        return [s for s in self.steps if s.shown]

    @property
    def empty(self) -> bool:
        return not any(s.count for s in self.steps)


def ad_deal_steps(access: Scope, period: Period) -> dict[str, int]:
    """Deals of ad leads (clients.funnel's stage volume: the deal first entered the step in the period) for
    booked, held and won: the daily measures ad_entered_<step> (clients.measures)."""
    sums = rollups.totals([f"ad_entered_{step}" for step in STEP_COLUMNS.values()], period, access)
    return {name: int(sums[f"ad_entered_{step}"]) for name, step in STEP_COLUMNS.items()}


def ad_paid_contacts(access: Scope, period: Period) -> int:
    """Ad leads with at least one collected Stripe payment in the period (refunded later or not)."""
    return paying_contacts(access, period, paid_touch("contact__"))


def ad_funnel_for(access: Scope, period: Period) -> AdFunnel:
    """Impressions → clicks → leads → booked → held → won → paid of the period, each step's count beside its
    share of the step before. A flow of the period, not a cohort: each step counts what happened in it."""
    missing = []
    delivery: dict[str, int | None] = {"impressions": None, "clicks": None}
    if hidden := spend_hidden(access):
        missing.append(f"Impressions and clicks: {hidden}.")
    else:
        delivery = insight_sums(access, period)
    deals = ad_deal_steps(access, period)
    paid = None
    if unavailable := finance_unavailable(access):
        missing.append(f"Paid: {unavailable}.")
    else:
        paid = ad_paid_contacts(access, period)
    counts = [
        ("impressions", "Impressions", delivery["impressions"], "Meta insights"),
        ("clicks", "Clicks", delivery["clicks"], "Meta insights"),
        ("leads", "Leads", int(ad_leads(period, access)), "new contacts with a paid touch"),
        ("booked", "Booked", deals["booked"], "their deals entering assessment booked"),
        ("held", "Held", deals["held"], "their deals entering assessment held"),
        ("won", "Won", deals["won"], "their deals entering closed won"),
        ("paid", "Paid", paid, "ad leads with a collected Stripe payment"),
    ]
    return AdFunnel(funnel_steps(counts), missing)


def funnel_steps(counts: list[tuple[str, str, int | None, str]]) -> list[FunnelStep]:
    """(key, label, count, source) in funnel order → steps with each one's share of the previous shown step."""
    steps, before = [], None
    for key, label, count, source in counts:
        rate = None if count is None or before is None else ratio(count, before, 100)
        steps.append(FunnelStep(key, label, count, source, rate))
        before = count if count is not None else before
    return steps


# ---- Meta ROAS per ad beside the true one ----

def ad_roas_rows(access: Scope, period: Period, *, model: str, basis: str) -> list[dict]:
    """One row per ad with spend or credit (marketing.attribution at ad level): Meta's claimed purchase value and
    ROAS beside the net cash credited on `model` / `basis` and the true ROAS, and the gap true − Meta."""
    rows = attributed(access=access, period=period, model=model, basis=basis, level="ad",
                      outcomes=MONEY_OUTCOMES)  # the table and chart show money alone
    parents = {ad: (campaign, adset) for ad, campaign, adset in scoped(Ad, access).filter(
        meta_id__in=[r.key for r in rows if r.key]).values_list("meta_id", "campaign__name", "adset__meta_id")}
    return [{"key": r.key or "", "name": r.name, "campaign": parents.get(r.key, ("", ""))[0],
             "adset": parents.get(r.key, ("", ""))[1], "spend": r.spend,
             "meta_value": r.meta_value, "meta_roas": r.meta_roas, "cash": r.net, "roas": r.roas,
             "gap": None if r.roas is None or r.meta_roas is None else r.roas - r.meta_roas}
            for r in rows]
