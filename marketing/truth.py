"""The truth triangle (DESIGN §7 row 9, §7a): three values of a period computed from three independent sources —
what the CRM says was won, what Stripe collected, what the attribution tool claims — plus the integrity of
Meta's claim, and the records behind every gap between them:

- a won deal without payment: a deal entering closed won in the period with no collected payment linked to it;
- a payment without deal: a collected payment of the period linked to no deal (the finance ingest links each
  payment to its contact's won or payment-pending deal nearest in time, so this is a payment whose contact is
  unknown or has no such deal);
- a claimed conversion without payment: an attribution purchase event with a value, in the period, matched by
  no collected payment — neither by its transaction id (charge or payment-intent id) nor by a payment of the
  same contact within MATCH_WINDOW of the event.

The lists hold finance records, so roles that do not see finance get empty lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum

from clients.funnel import deals_of, entered_in
from clients.models import Deal, FunnelStep
from finance.metrics import cash_collected
from finance.models import Payment
from marketing.attribution import CURRENCY, attributed_net_revenue
from marketing.models import AdInsight, AttributionEvent
from ptd import rollups
from ptd.metrics import ratio
from ptd.periods import Period
from ptd.scoping import Scope, role_may_see, scoped

# AnyTrack's standard name of a sale (a conversion with a value and no type is sent as one, integrations.md §4).
PURCHASE_EVENTS = ("Purchase",)
# How far apart a claimed conversion and the Stripe payment of the same contact may be and still be the same sale:
# AnyTrack reports the purchase when the checkout or CRM fires it, the charge can settle days later.
MATCH_WINDOW = timedelta(days=7)


def _collected(access: Scope) -> QuerySet:
    return scoped(Payment, access).filter(status__in=Payment.COLLECTED_STATUSES)


def crm_won_value(period: Period, access: Scope) -> Decimal:
    """Σ amount of the deals entering closed won in the period (CRM truth): the won_value daily measure."""
    return Decimal(rollups.total("won_value", period, access))


def purchase_events(period: Period, access: Scope) -> QuerySet:
    """The attribution tool's purchase events in the period, in the workspace currency."""
    return scoped(AttributionEvent, access).filter(event_name__in=PURCHASE_EVENTS, currency=CURRENCY,
                                                   occurred_at__gte=period.start, occurred_at__lt=period.end)


def attributed_value(period: Period, access: Scope) -> Decimal:
    """Σ value of the attribution purchase events in the period (what the attribution tool claims)."""
    return purchase_events(period, access).aggregate(s=Sum("value"))["s"] or Decimal(0)


def meta_claimed_value(period: Period, access: Scope) -> Decimal:
    """Σ Meta-reported purchase value of the insight days in the period."""
    total = scoped(AdInsight, access).filter(date__gte=period.first_day, date__lte=period.last_day).aggregate(
        s=Sum("purchase_value"))["s"]
    return total or Decimal(0)


def integrity(verified: Decimal | None, claimed: Decimal) -> Decimal | None:
    """Verified revenue as a % of Meta's claim; None when Meta claims nothing or the revenue is not shown."""
    return None if verified is None else ratio(verified, claimed, 100)


def integrity_score(period: Period, access: Scope) -> Decimal | None:
    """The true ROAS numerator (first touch, cash basis, net of refunds and disputes) ÷ Meta-reported purchase
    value, in %."""
    return integrity(attributed_net_revenue(access=access, period=period), meta_claimed_value(period, access))


@dataclass(frozen=True)
class TruthTriangle:
    crm_won_value: Decimal
    stripe_cash: Decimal | None  # None for roles that do not see finance
    attributed_value: Decimal | None
    verified_value: Decimal | None  # Stripe cash credited to ads: the true ROAS numerator
    meta_claimed_value: Decimal | None  # None for roles that do not see spend
    integrity_score: Decimal | None


def truth_triangle(*, access: Scope, period: Period) -> TruthTriangle:
    """The three values of the period, each from its own source, and Meta's integrity."""
    sees_money, sees_spend = role_may_see(Payment, access), role_may_see(AdInsight, access)
    verified = attributed_net_revenue(access=access, period=period)
    claimed = meta_claimed_value(period, access) if sees_spend else None
    return TruthTriangle(
        crm_won_value=crm_won_value(period, access),
        stripe_cash=cash_collected(period, access) if sees_money else None,
        attributed_value=attributed_value(period, access) if sees_money else None,
        verified_value=verified,
        meta_claimed_value=claimed,
        integrity_score=None if claimed is None else integrity(verified, claimed),
    )


# --- drill-downs: the records behind each gap --------------------------------------------------------

def won_deals_without_payment(*, access: Scope, period: Period) -> QuerySet:
    """Deals entering closed won in the period with no collected payment linked, first won first."""
    if not role_may_see(Payment, access):
        return Deal.objects.none()
    paid = _collected(access).filter(deal_id=OuterRef("pk"))
    return (entered_in(deals_of(access), FunnelStep.CLOSED_WON, period).filter(~Exists(paid))
            .select_related("contact", "owner").order_by("funnel__closed_won_at", "pk"))


def payments_without_deal(*, access: Scope, period: Period) -> QuerySet:
    """Collected payments of the period linked to no deal, oldest first."""
    if not role_may_see(Payment, access):
        return Payment.objects.none()
    return (_collected(access).filter(deal__isnull=True, created__gte=period.start, created__lt=period.end)
            .select_related("contact", "customer").order_by("created", "pk"))


def claimed_conversions_without_payment(*, access: Scope, period: Period) -> QuerySet:
    """Purchase events with a value in the period that no collected payment matches (by transaction id, or by
    contact within MATCH_WINDOW), oldest first."""
    if not role_may_see(Payment, access):
        return AttributionEvent.objects.none()
    by_transaction = _collected(access).filter(Q(stripe_id=OuterRef("transaction_id"))
                                               | Q(payment_intent_id=OuterRef("transaction_id")))
    by_contact = _collected(access).filter(contact_id=OuterRef("contact_id"),
                                           created__gte=OuterRef("occurred_at") - MATCH_WINDOW,
                                           created__lte=OuterRef("occurred_at") + MATCH_WINDOW)
    return (purchase_events(period, access).filter(value__gt=0)
            .alias(paid_by_transaction=Exists(by_transaction), paid_by_contact=Exists(by_contact))
            .filter(paid_by_contact=False).exclude(transaction_id__gt="", paid_by_transaction=True)
            .select_related("contact").order_by("occurred_at", "pk"))
