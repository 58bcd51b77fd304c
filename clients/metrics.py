"""KPIs of the clients app (definitions: DESIGN §7a). Each is scoped: a coach counts own clients."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Avg, Count, DecimalField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum

from clients.models import Call, Contact, HealthScore, Package, Zone
from ptd.metrics import metric, ratio
from ptd.periods import Period
from ptd.scoping import Scope, scoped


@metric("new_leads", label="New leads", unit="count", source="HubSpot contacts",
        formula="contacts whose source creation time is in the period")
def new_leads(period: Period, access: Scope):
    return scoped(Contact, access).filter(created_at__gte=period.start, created_at__lt=period.end).count()


def _active_member_ids(period: Period, access: Scope) -> set[int]:
    """Contacts who, at the end of the period, hold a package in date with sessions remaining or an
    active/trialing subscription (package sessions_used is today's count)."""
    from finance.models import Subscription

    last = period.last_day
    packages = scoped(Package, access).filter(starts_on__lte=last, expires_on__gte=last,
                                              sessions_used__lt=F("sessions_purchased")).order_by()
    subscribed = (Subscription.objects.filter(workspace=access.workspace, status__in=["active", "trialing"],
                                              created__lt=period.end, contact__isnull=False)
                  .filter(contact_id__in=scoped(Contact, access).values("pk")).order_by())
    return set(packages.values_list("contact_id", flat=True)) | set(subscribed.values_list("contact_id", flat=True))


@metric("active_members", label="Active members", unit="count", source="Packages, Stripe subscriptions",
        formula="distinct contacts with, at period end, a package in date with sessions remaining or an "
                "active/trialing subscription")
def active_members(period: Period, access: Scope):
    return len(_active_member_ids(period, access))


def _latest_scores(period: Period, access: Scope):
    """Each active member's latest health score on or before the period's last day."""
    members = _active_member_ids(period, access)
    latest_day = (HealthScore.objects.filter(contact_id=OuterRef("contact_id"), date__lte=period.last_day)
                  .order_by("-date").values("date")[:1])
    return scoped(HealthScore, access).filter(contact_id__in=members, date=Subquery(latest_day))


@metric("avg_health", label="Average health", unit="score", source="Health scores",
        formula="mean of each active member's latest health score on or before period end")
def avg_health(period: Period, access: Scope):
    value = _latest_scores(period, access).aggregate(a=Avg("total"))["a"]
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


@metric("at_risk_revenue", label="At-risk revenue", unit="AED", source="Packages, health scores",
        higher_is_better=False,
        formula="Σ remaining package value (value × sessions left ÷ sessions bought) of active members in the "
                "yellow or red zone")
def at_risk_revenue(period: Period, access: Scope):
    at_risk = _latest_scores(period, access).filter(zone__in=[Zone.YELLOW, Zone.RED]).values("contact_id")
    remaining = ExpressionWrapper(F("value") * (F("sessions_purchased") - F("sessions_used")) / F("sessions_purchased"),
                                  output_field=DecimalField(max_digits=14, decimal_places=2))
    total = (scoped(Package, access).filter(contact_id__in=at_risk, starts_on__lte=period.last_day,
                                            expires_on__gte=period.last_day)
             .aggregate(s=Sum(remaining))["s"])
    return Decimal(total or 0).quantize(Decimal("1"))


@metric("active_client_rate", label="Active clients", unit="%", source="Sessions feed",
        formula="active members with ≥ 1 attended session in the period ÷ active members")
def active_client_rate(period: Period, access: Scope):
    from clients.models import TrainingSession

    members = _active_member_ids(period, access)
    attended = (scoped(TrainingSession, access).filter(contact_id__in=members, status="attended",
                                                       starts_at__gte=period.start, starts_at__lt=period.end)
                .values("contact_id").distinct().count())
    return ratio(attended, len(members), 100)


@metric("answer_rate", label="Answer rate", unit="%", source="CallGear / HubSpot calls",
        formula="answered calls ÷ all calls, calls started in the period")
def answer_rate(period: Period, access: Scope):
    counts = scoped(Call, access).filter(started_at__gte=period.start, started_at__lt=period.end).aggregate(
        total=Count("id"), answered=Count("id", filter=Q(outcome="answered")))
    return ratio(counts["answered"], counts["total"], 100)


