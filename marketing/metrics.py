"""KPIs of the marketing app (DESIGN §7a); spend is shown only to roles that may see it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from clients.metrics import new_leads_in
from clients.models import Deal
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


def paid_touch(contact: str = "") -> Q:
    """The contact (at the path `contact`, e.g. "contact__") is an ad lead: its first paid touch is known.
    Positive lookups (a non-empty id sorts after ""): a negated one across a nullable link would also match
    rows with no contact at all."""
    return Q(**{f"{contact}fb_ad_id__gt": ""}) | Q(**{f"{contact}fb_adset_id__gt": ""}) | Q(
        **{f"{contact}fb_campaign_id__gt": ""})


@metric("ad_spend", label="Ad spend", unit="AED", source="Meta Ads insights", higher_is_better=None,
        unavailable=spend_hidden, formula="Σ daily ad spend for insight dates in the period")
def ad_spend(period: Period, access: Scope):
    total = scoped(AdInsight, access).filter(date__gte=period.first_day, date__lte=period.last_day).aggregate(
        s=Sum("spend"))["s"]
    return Decimal(total or 0)


@metric("ad_leads", label="Ad leads", unit="count", source="HubSpot contacts (first paid touch)",
        formula="new leads whose first paid touch (ad / ad set / campaign id) is known")
def ad_leads(period: Period, access: Scope):
    return new_leads_in(period, access).filter(paid_touch()).count()


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
    deals = scoped(Deal, access).filter(paid_touch("contact__"), created_at__gte=period.start,
                                        created_at__lt=period.end).count()
    return _per_unit(ad_spend(period, access), deals)


def new_leads_by_day(period: Period, access: Scope) -> list[tuple[date, int, int]]:
    """(day, new leads, of which ad leads) for each day of the period in the workspace's timezone,
    zero-filled, in one grouped query."""
    rows = (new_leads_in(period, access).annotate(day=TruncDate("created_at", tzinfo=period.tz)).values("day")
            .annotate(leads=Count("pk"), ad=Count("pk", filter=paid_touch())).order_by())
    counts = {row["day"]: (row["leads"], row["ad"]) for row in rows}
    days = (period.first_day + timedelta(days=i) for i in range(period.days))
    return [(day, *counts.get(day, (0, 0))) for day in days]
