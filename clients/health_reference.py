"""The health facts of ONE client through plain ORM queries: the readable reference that the set-based
SQL of clients.health.collect_facts must agree with (tests), and the naive per-client baseline that
bench/health_scoring.py measures it against. Not used by the product's scoring path."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from statistics import median
from zoneinfo import ZoneInfo

from django.db.models import Max, Q, Sum

from clients.health import RECENT_CLIENT_DAYS
from clients.health_formula import ClientFacts
from clients.models import Contact, HealthScore, Interaction, Package, SurveyResponse, TrainingSession


def facts_for_client(contact: Contact, day: date) -> ClientFacts | None:
    from finance.models import Invoice, Payment, Refund

    tz = ZoneInfo(contact.workspace.timezone)
    end = datetime.combine(day + timedelta(days=1), time.min, tz)
    package = (Package.objects.filter(contact=contact, starts_on__lte=day,
                                      expires_on__gte=day - timedelta(days=RECENT_CLIENT_DAYS))
               .order_by("-starts_on", "-pk").first())
    if package is None:
        return None
    f = ClientFacts(day=day, package_sessions=package.sessions_purchased, package_value=package.value,
                    package_starts=package.starts_on, package_expires=package.expires_on)
    sessions = list(TrainingSession.objects.filter(contact=contact, starts_at__lt=end))
    attended = [s for s in sessions if s.status == "attended"]
    f.attended_14 = sum(1 for s in attended if s.starts_at >= end - timedelta(days=14))
    f.attended_28 = sum(1 for s in attended if s.starts_at >= end - timedelta(days=28))
    f.attended_prev_28 = sum(1 for s in attended if end - timedelta(days=56) <= s.starts_at < end - timedelta(days=28))
    f.weeks_active_4 = len({(end - s.starts_at) // timedelta(days=7) for s in attended
                            if s.starts_at >= end - timedelta(days=28)})
    last = max((s.starts_at for s in attended), default=None)
    f.days_since_attended = (day - last.astimezone(tz).date()).days if last else None
    f.coaches_56 = len({s.coach_id for s in sessions if s.starts_at >= end - timedelta(days=56) and s.coach_id})
    f.package_used = sum(1 for s in sessions if s.package_id == package.pk and s.status in ("attended", "late_cancel"))
    payments = Payment.objects.filter(contact=contact, created__lt=end)
    if payments.exists():
        f.has_money_records = True
        failed = payments.filter(status="failed", created__gte=end - timedelta(days=30))
        f.payments_30_failed = failed.count()
        last_failed = failed.aggregate(m=Max("created"))["m"]
        f.last_failed_on = last_failed.astimezone(tz).date() if last_failed else None
        since = datetime.combine(package.starts_on, time.min, tz) - timedelta(days=7)
        paid = payments.filter(status__in=["succeeded", "refunded", "partially_refunded"],
                               created__gte=since).aggregate(s=Sum("amount_minor"))["s"] or 0
        f.paid_toward_package = Decimal(paid) / 100
    refunded = Refund.objects.filter(payment__contact=contact, status="succeeded", created__lt=end,
                                     created__gte=end - timedelta(days=90)).aggregate(s=Sum("amount_minor"))["s"]
    if refunded:
        f.refunded_90 = Decimal(refunded) / 100
    open_invoices = Invoice.objects.filter(contact=contact, status__in=["open", "uncollectible"], created__lt=end)
    if open_invoices.exists():
        due = sum(i.amount_due_minor - i.amount_paid_minor for i in open_invoices)
        f.outstanding = max(Decimal(0), Decimal(due) / 100)
        f.has_money_records = True
    interactions = list(Interaction.objects.filter(contact=contact, occurred_at__lt=end).order_by("-occurred_at"))
    if interactions:
        f.days_since_interaction = (day - interactions[0].occurred_at.astimezone(tz).date()).days
        recent = [i for i in interactions if i.occurred_at >= end - timedelta(days=28)]
        scores = [float(i.sentiment_score) for i in recent if i.sentiment_score is not None]
        f.sentiment_28 = round(sum(scores) / len(scores), 4) if scores else None
        replies = [i.response_minutes for i in recent if i.response_minutes is not None]
        f.response_minutes_median = float(median(replies)) if replies else None
        f.last3_count = min(3, len(interactions))
        f.last3_negative = sum(1 for i in interactions[:3] if i.sentiment == "negative")
    survey = (SurveyResponse.objects.filter(contact=contact, responded_at__lt=end,
                                            responded_at__gte=end - timedelta(days=90))
              .order_by("-responded_at").first())
    f.survey_score = survey.score if survey else None
    for row in HealthScore.objects.filter(contact=contact).filter(
            Q(date=day - timedelta(days=7)) | Q(date=day - timedelta(days=28))):
        if row.date == day - timedelta(days=7):
            f.total_7_days_ago = float(row.total)
        else:
            f.total_28_days_ago = float(row.total)
    return f
