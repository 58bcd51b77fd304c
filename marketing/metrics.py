"""KPIs of the marketing app (DESIGN §7a); spend is shown only to roles that may see it."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Q, Sum

from clients.models import Contact
from marketing.models import AdInsight
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope, role_may_see, scoped


def spend_hidden(access: Scope) -> str:
    if not role_may_see(AdInsight, access):
        return "ad spend is not shown to your role"
    if not AdInsight.objects.filter(workspace=access.workspace).exists():
        return "Meta Ads not connected — add the token in Settings"
    return ""


@metric("ad_spend", label="Ad spend", unit="AED", source="Meta Ads insights", higher_is_better=None,
        unavailable=spend_hidden, formula="Σ daily ad spend for insight dates in the period")
def ad_spend(period: Period, access: Scope):
    total = scoped(AdInsight, access).filter(date__gte=period.first_day, date__lte=period.last_day).aggregate(
        s=Sum("spend"))["s"]
    return Decimal(total or 0)


def _ad_lead_count(period: Period, access: Scope) -> int:
    paid = ~Q(fb_ad_id="") | ~Q(fb_adset_id="") | ~Q(fb_campaign_id="")
    return scoped(Contact, access).filter(paid, created_at__gte=period.start, created_at__lt=period.end).count()


@metric("ad_leads", label="Ad leads", unit="count", source="HubSpot contacts (first paid touch)",
        formula="new leads whose first paid touch (ad / ad set / campaign id) is known")
def ad_leads(period: Period, access: Scope):
    return _ad_lead_count(period, access)


@metric("cpl", label="Cost per lead", unit="AED", source="Meta Ads insights, HubSpot contacts",
        higher_is_better=False, unavailable=spend_hidden, formula="ad spend ÷ ad leads")
def cpl(period: Period, access: Scope):
    value = ratio(ad_spend(period, access), _ad_lead_count(period, access))
    return None if value is None else value.quantize(Decimal("0.01"))
