"""KPIs of the marketing app (DESIGN §7a); spend is shown only to roles that may see it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from finance.metrics import cash_collected, finance_hidden, finance_unavailable
from marketing import truth
from marketing.attribution import attributed_net_revenue, net_revenue_with_prior
from marketing.models import AdInsight, AttributionEvent
from ptd import rollups
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope, per_request, role_may_see, scoped


@per_request
def spend_hidden(access: Scope) -> str:
    if not role_may_see(AdInsight, access):
        return "ad spend is not shown to your role"
    if not AdInsight.objects.filter(workspace=access.workspace).exists():
        return "Meta Ads not connected — add the token in Settings"
    return ""


def paid_touch(contact: str = "") -> Q:
    """The contact (at the path `contact`, e.g. "contact__") is an ad lead: its first paid touch is known — from
    any source attribution reads (its own ad ids or UTMs, AnyTrack and WhatsApp ad events, site visits from ads;
    stored by marketing.first_touch), so the ad KPIs and the credit tables count the same leads."""
    return Q(**{f"{contact}first_touch_at__isnull": False})


@metric("ad_spend", label="Ad spend", unit="AED", source="Meta Ads insights", higher_is_better=None,
        unavailable=spend_hidden, formula="Σ daily ad spend for insight dates in the period")
def ad_spend(period: Period, access: Scope):
    total = scoped(AdInsight, access).filter(date__gte=period.first_day, date__lte=period.last_day).aggregate(
        s=Sum("spend"))["s"]
    return Decimal(total or 0)


@metric("ad_leads", label="Ad leads", unit="count", source="HubSpot contacts (first paid touch)",
        formula="new leads whose first paid touch (ad / ad set / campaign id) is known")
def ad_leads(period: Period, access: Scope):
    return rollups.total("ad_leads", period, access)


def _per_unit(spend: Decimal, units: int) -> Decimal | None:
    value = ratio(spend, units)
    return None if value is None else value.quantize(Decimal("0.01"))


@metric("cpl", label="Cost per lead", unit="AED", source="Meta Ads insights, HubSpot contacts",
        higher_is_better=False, unavailable=spend_hidden, formula="ad spend ÷ ad leads")
def cpl(period: Period, access: Scope):
    return _per_unit(ad_spend(period, access), ad_leads(period, access))


@metric("cpo", label="Cost per deal", unit="AED", source="Meta Ads insights, HubSpot deals",
        higher_is_better=False, unavailable=spend_hidden,
        formula="ad spend ÷ deals created in the period whose contact is an ad lead")
def cpo(period: Period, access: Scope):
    return _per_unit(ad_spend(period, access), rollups.total("ad_deals", period, access))


def new_leads_by_day(period: Period, access: Scope) -> list[tuple[date, int, int]]:
    """(day, new leads, of which ad leads) for each day of the period in the workspace's timezone, zero-filled."""
    leads, ad = rollups.by_day("leads", period, access), rollups.by_day("ad_leads", period, access)
    days = (period.first_day + timedelta(days=i) for i in range(period.days))
    return [(day, int(leads.get(day, 0)), int(ad.get(day, 0))) for day in days]


# --- return on ad spend and the truth triangle (marketing.attribution, marketing.truth) -------------------

def spend_or_finance_hidden(access: Scope) -> str:
    return spend_hidden(access) or finance_unavailable(access)


@metric("true_roas", label="True ROAS", unit="×", source="Stripe payments, AnyTrack and HubSpot touches, Meta Ads",
        unavailable=spend_or_finance_hidden, with_prior=net_revenue_with_prior,
        formula="Stripe cash of the period (− refunds and disputes) from contacts whose first paid touch is an ad "
                "÷ ad spend (first touch, cash basis)")
def true_roas(period: Period, access: Scope):
    return ratio(attributed_net_revenue(access=access, period=period), ad_spend(period, access))


@metric("meta_roas", label="Meta ROAS", unit="×", source="Meta Ads insights", unavailable=spend_hidden,
        formula="Meta-reported purchase value ÷ ad spend, insight dates in the period")
def meta_roas(period: Period, access: Scope):
    return ratio(truth.meta_claimed_value(period, access), ad_spend(period, access))


@metric("integrity_score", label="Integrity score", unit="%", source="Stripe payments, Meta Ads insights",
        unavailable=spend_or_finance_hidden, with_prior=net_revenue_with_prior,
        formula="true ROAS numerator (Stripe cash credited to ads, first touch) ÷ Meta-reported purchase value")
def integrity_score(period: Period, access: Scope):
    return truth.integrity_score(period, access)


@metric("crm_won_value", label="CRM won value", unit="AED", source="HubSpot deals and their stage history",
        formula="Σ amount of the deals entering closed won in the period")
def crm_won_value(period: Period, access: Scope):
    return truth.crm_won_value(period, access)


@metric("stripe_cash", label="Stripe cash", unit="AED", source="Stripe payments and refunds",
        unavailable=finance_unavailable,
        formula="net revenue: Σ successful payments in the period − Σ refunds in the period")
def stripe_cash(period: Period, access: Scope):
    return cash_collected(period, access)


@per_request
def attribution_unavailable(access: Scope) -> str:
    if hidden := finance_hidden(access):
        return hidden
    if not AttributionEvent.objects.filter(workspace=access.workspace).exists():
        return "AnyTrack not connected — add its webhook in Settings"
    return ""


@metric("attributed_value", label="Attribution-claimed value", unit="AED", source="AnyTrack purchase events",
        unavailable=attribution_unavailable,
        formula="Σ value of the attribution tool's purchase events in the period")
def attributed_value(period: Period, access: Scope):
    return truth.attributed_value(period, access)


# --- Meta insights (meta dashboard) -----------------------------------------------------------------------
# Rates are the ratio of the period's sums (Σ clicks ÷ Σ impressions …), never a mean of Meta's per-row rates:
# a mean would weigh a 10-impression day like a 10,000-impression one.

INSIGHT_SUMS = ("spend", "impressions", "reach", "clicks", "leads", "purchases", "purchase_value")


def insight_sums_sql(fields: tuple[str, ...] = INSIGHT_SUMS) -> dict:
    """SQL sums of AdInsight columns for aggregate() / annotate(), named `<column>_sum` (an annotation may not
    take a column's own name)."""
    return {f"{f}_sum": Sum(f) for f in fields}


def insight_sums_of(row: dict, fields: tuple[str, ...] = INSIGHT_SUMS) -> dict:
    """The sums of a row from insight_sums_sql(), by column name; 0 when no insight row was summed."""
    return {f: row[f"{f}_sum"] or 0 for f in fields}


def insight_rates(sums: dict) -> dict:
    """CTR (%), CPC and CPM (AED), frequency and Meta ROAS (×) of summed insight columns; None where the
    denominator is 0."""
    def cents(value):
        return None if value is None else value.quantize(Decimal("0.01"))

    return {"ctr": ratio(sums["clicks"], sums["impressions"], 100), "cpc": _per_unit(sums["spend"], sums["clicks"]),
            "cpm": cents(ratio(sums["spend"], sums["impressions"], 1000)),
            "frequency": cents(ratio(sums["impressions"], sums["reach"])),
            "meta_roas": ratio(sums["purchase_value"], sums["spend"])}


@per_request
def insight_sums(access: Scope, period: Period) -> dict:
    """Every summed insight column of the period's insight days, in one query, once per request (the Meta
    dashboard shows eight of them, each for the period and its prior)."""
    rows = scoped(AdInsight, access).filter(date__gte=period.first_day, date__lte=period.last_day)
    return insight_sums_of(rows.aggregate(**insight_sums_sql()))


@metric("impressions", label="Impressions", unit="count", source="Meta Ads insights", unavailable=spend_hidden,
        formula="Σ impressions Meta reports, insight dates in the period")
def impressions(period: Period, access: Scope):
    return insight_sums(access, period)["impressions"]


@metric("reach", label="Reach (Σ daily)", unit="count", source="Meta Ads insights", unavailable=spend_hidden,
        formula="Σ each ad's daily reach, insight dates in the period: a person reached on several days or by several "
                "ads counts each time (Meta's deduplicated reach of a whole period does not add up from daily rows)")
def reach(period: Period, access: Scope):
    return insight_sums(access, period)["reach"]


@metric("ctr", label="CTR", unit="%", source="Meta Ads insights", unavailable=spend_hidden,
        formula="Σ clicks (all) ÷ Σ impressions × 100, insight dates in the period")
def ctr(period: Period, access: Scope):
    return insight_rates(insight_sums(access, period))["ctr"]


@metric("cpc", label="Cost per click", unit="AED", source="Meta Ads insights", higher_is_better=False,
        unavailable=spend_hidden, formula="Σ spend ÷ Σ clicks (all), insight dates in the period")
def cpc(period: Period, access: Scope):
    return insight_rates(insight_sums(access, period))["cpc"]


@metric("cpm", label="CPM", unit="AED", source="Meta Ads insights", higher_is_better=False, unavailable=spend_hidden,
        formula="Σ spend ÷ Σ impressions × 1,000, insight dates in the period")
def cpm(period: Period, access: Scope):
    return insight_rates(insight_sums(access, period))["cpm"]


@metric("frequency", label="Frequency (approx.)", unit="×", source="Meta Ads insights", higher_is_better=None,
        unavailable=spend_hidden,
        formula="Σ impressions ÷ Σ daily reach — an approximation: Meta divides by the people reached over the whole "
                "period, deduplicated, which daily rows cannot do; over more than a day this reads lower than Meta's")
def frequency(period: Period, access: Scope):
    return insight_rates(insight_sums(access, period))["frequency"]


@metric("meta_leads", label="Leads (Meta)", unit="count", source="Meta Ads insights", unavailable=spend_hidden,
        formula="Σ leads Meta reports, insight dates in the period")
def meta_leads(period: Period, access: Scope):
    return insight_sums(access, period)["leads"]


@metric("meta_purchases", label="Purchases (Meta)", unit="count", source="Meta Ads insights",
        unavailable=spend_hidden, formula="Σ purchases Meta reports (its attribution, view-through included), "
                                          "insight dates in the period")
def meta_purchases(period: Period, access: Scope):
    return insight_sums(access, period)["purchases"]
