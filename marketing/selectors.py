"""Reads of the Attribution War Room (DESIGN §7 row 9) and the Campaign Money Map (row 4): the KPIs on the chosen
basis, the truth triangle with its gaps, the records behind each gap as table rows, and the money map per
campaign, ad set or ad from marketing.attribution. Scoped through the functions they call."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from django.db.models import Case, CharField, DecimalField, ExpressionWrapper, F, QuerySet, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, Trim
from django.urls import reverse

from finance.models import PaymentStatus
from marketing import truth
from marketing.attribution import AttributedRow, attributed, attributed_net_revenue
from marketing.metrics import ad_spend
from marketing.models import AdSet, Campaign
from ptd.metrics import KPI, kpis, ratio
from ptd.periods import Period
from ptd.scoping import Scope, scoped

ATTRIBUTION_KPIS = ["true_roas", "meta_roas", "integrity_score", "crm_won_value", "stripe_cash", "attributed_value"]


# ---- KPIs on the chosen basis ----

def _cohort_true_roas(period: Period, access: Scope):
    return ratio(attributed_net_revenue(access=access, period=period, basis="cohort"), ad_spend(period, access))


def _cohort_integrity(period: Period, access: Scope):
    return truth.integrity(attributed_net_revenue(access=access, period=period, basis="cohort"),
                           truth.meta_claimed_value(period, access))


# The KPIs whose numerator is attributed revenue, and how they read on the cohort basis (the model moves credit
# between ads, never the total: every converted contact's weights sum to 1).
ON_COHORT_BASIS = {
    "true_roas": (_cohort_true_roas, "Stripe cash to date (− refunds and disputes) of the leads created in the period "
                                     "whose first paid touch is an ad ÷ ad spend of the period (cohort basis)"),
    "integrity_score": (_cohort_integrity, "Stripe cash to date credited to ads, leads created in the period ÷ "
                                           "Meta-reported purchase value of the period (cohort basis)"),
}


def _as_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def attribution_kpis_for(access: Scope, period: Period, *, basis: str) -> list[KPI]:
    """The war room's KPIs (the registered metrics); on the cohort basis, true ROAS and integrity are recomputed
    from the period's leads and everything they paid to date."""
    found = kpis(ATTRIBUTION_KPIS, period, access)
    if basis == "cash":
        return found
    out = []
    for k in found:
        if k.name in ON_COHORT_BASIS and not k.empty_reason:
            func, formula = ON_COHORT_BASIS[k.name]
            value, prior = _as_decimal(func(period, access)), _as_decimal(func(period.prior(), access))
            k = replace(k, label=f"{k.label} (cohort)", formula=formula, value=value, prior=prior,
                        empty_reason="" if value is not None else "no data in this period")
        out.append(k)
    return out


# ---- the truth triangle ----

@dataclass(frozen=True)
class Gap:
    label: str
    value: Decimal | None
    meaning: str

    @property
    def display(self) -> str:
        if self.value is None:
            return "—"
        return f"{'−' if self.value < 0 else ''}AED {abs(self.value):,.0f}"


@dataclass(frozen=True)
class TriangleView:
    triangle: truth.TruthTriangle
    gaps: list[Gap]


def _gap(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a - b


def truth_triangle_for(access: Scope, period: Period) -> TriangleView:
    """The three values side by side and the differences between each pair."""
    t = truth.truth_triangle(access=access, period=period)
    return TriangleView(t, [
        Gap("CRM won − Stripe cash", _gap(t.crm_won_value, t.stripe_cash),
            "won in HubSpot but not (yet) collected in Stripe; negative: cash without a won deal in the period"),
        Gap("Stripe cash − attribution-claimed", _gap(t.stripe_cash, t.attributed_value),
            "collected but not claimed by the attribution tool; negative: claims Stripe never collected"),
        Gap("CRM won − attribution-claimed", _gap(t.crm_won_value, t.attributed_value),
            "won in HubSpot but not claimed as a conversion; negative: claims beyond the won deals"),
    ])


# ---- the records behind each gap ----

def _client_url(field: str = "contact_id"):
    prefix, suffix = reverse("client-detail", args=[0]).rsplit("0", 1)
    return Case(When(**{f"{field}__isnull": False}, then=Concat(Value(prefix), Cast(field, CharField()), Value(suffix))),
                default=Value(""), output_field=CharField())


def _client_name(prefix: str = "contact__"):
    return NullIf(Trim(Concat(f"{prefix}first_name", Value(" "), f"{prefix}last_name")), Value(""))


def _ref(field: str = "contact_id"):
    return Case(When(**{f"{field}__isnull": False}, then=Concat(Value("#"), Cast(field, CharField()))),
                default=Value(""), output_field=CharField())


def won_without_payment_rows(access: Scope, period: Period) -> QuerySet:
    """Deals entering closed won in the period with no collected payment linked (marketing.truth)."""
    return truth.won_deals_without_payment(access=access, period=period).annotate(
        deal=Coalesce("hubspot_id", Concat(Value("#"), Cast("pk", CharField()))), client=_client_name(),
        client_ref=_ref(), url=_client_url(), owner_name=F("owner__name"), won_at=F("funnel__closed_won_at"),
    ).values("pk", "deal", "client", "client_ref", "url", "owner_name", "won_at", "amount")


def payments_without_deal_rows(access: Scope, period: Period) -> QuerySet:
    """Collected payments of the period linked to no deal (marketing.truth)."""
    return truth.payments_without_deal(access=access, period=period).annotate(
        client=_client_name(), client_ref=_ref(), url=_client_url(),
        customer_name=NullIf("customer__name", Value("")),
        amount=ExpressionWrapper(Cast("amount_minor", DecimalField(max_digits=20, decimal_places=2)) / Value(Decimal(100)),
                                 output_field=DecimalField(max_digits=20, decimal_places=2)),
        status_label=Case(*(When(status=v, then=Value(str(label))) for v, label in PaymentStatus.choices),
                          default=F("status"), output_field=CharField()),
    ).values("pk", "stripe_id", "created", "client", "client_ref", "url", "customer_name", "currency", "amount",
             "status_label")


def claims_without_payment_rows(access: Scope, period: Period) -> QuerySet:
    """Attribution purchase events of the period that no collected payment matches (marketing.truth)."""
    return truth.claimed_conversions_without_payment(access=access, period=period).annotate(
        client=_client_name(), client_ref=_ref(), url=_client_url(),
        transaction=NullIf("transaction_id", Value("")),
    ).values("pk", "source", "external_id", "transaction", "occurred_at", "client", "client_ref", "url", "value")


# ---- the money map ----

@dataclass(frozen=True)
class MoneyMap:
    level: str  # the level of the rows: campaign, adset or ad
    rows: list[dict]
    totals: dict | None  # over every row, None with fewer than two rows
    campaign: Campaign | None  # the campaign drilled into (its ad sets, or the ad set's campaign)
    adset: AdSet | None  # the ad set drilled into (its ads)


def money_map_row(row: AttributedRow) -> dict:
    """A money map table row: cash is the credited net revenue (payments − refunds − lost disputes)."""
    return {"key": row.key or "", "name": row.name, "spend": row.spend, "leads": row.leads, "booked": row.booked,
            "held": row.held, "deals": row.deals, "cash": row.net, "cpl": row.cpl, "cost_per_booked": row.cost_per_booked,
            "cost_per_held": row.cost_per_held, "cost_per_deal": row.cost_per_deal, "roas": row.roas,
            "status": row.status}


def money_map_totals(rows: list[dict]) -> dict:
    """Sums over every row and the ratios of the sums (not means of the rows' ratios)."""
    def total(key):
        values = [r[key] for r in rows if r[key] is not None]
        return sum(values, Decimal(0)) if values else None

    sums = {key: total(key) for key in ("spend", "leads", "booked", "held", "deals", "cash")}
    spend = sums["spend"]

    def per(count):
        value = None if spend is None else ratio(spend, count)
        return None if value is None else value.quantize(Decimal("0.01"))

    return {**sums, "cpl": per(sums["leads"]), "cost_per_booked": per(sums["booked"]),
            "cost_per_held": per(sums["held"]), "cost_per_deal": per(sums["deals"]),
            "roas": None if spend is None or sums["cash"] is None else ratio(sums["cash"], spend)}


def campaign_for(access: Scope, meta_id: str) -> Campaign:
    """The campaign with this Meta id in the person's workspace (Campaign.DoesNotExist otherwise)."""
    return scoped(Campaign, access).get(meta_id=meta_id)


def adset_for(access: Scope, meta_id: str) -> AdSet:
    return scoped(AdSet, access).select_related("campaign").get(meta_id=meta_id)


def money_map_for(access: Scope, period: Period, *, model: str, basis: str, level: str = "campaign",
                  campaign: Campaign | None = None, adset: AdSet | None = None) -> MoneyMap:
    """The money map rows at `level` (every key with spend or credit), or the ad sets of `campaign`, or the ads of
    `adset`: a child shows when the synced Meta structure puts it under the parent."""
    if adset is not None:
        level, campaign = "ad", adset.campaign
        children = set(adset.ads.values_list("meta_id", flat=True))
    elif campaign is not None:
        level = "adset"
        children = set(campaign.adsets.values_list("meta_id", flat=True))
    else:
        children = None
    rows = [money_map_row(r) for r in attributed(access=access, period=period, model=model, basis=basis, level=level)
            if children is None or r.key in children]
    return MoneyMap(level, rows, money_map_totals(rows) if len(rows) > 1 else None, campaign, adset)
