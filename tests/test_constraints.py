"""Identity and dedup constraints are enforced by PostgreSQL itself (not only by model validation):
a duplicate raises IntegrityError naming the constraint, and nothing of it is stored."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from clients.models import Contact, HealthScore, Package
from finance.models import Payment
from marketing.models import Ad, AdInsight, AdSet, Campaign, CapiEvent
from ptd.models import WebhookEvent

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _rejected(constraint: str, create) -> None:
    """`create()` must fail in the database with `constraint`; the surrounding transaction stays usable."""
    with pytest.raises(IntegrityError) as excinfo:
        with transaction.atomic():
            create()
    assert constraint in str(excinfo.value)


def _contact(workspace, **extra):
    return Contact.objects.create(workspace=workspace, created_at=NOW, **extra)


def _ad(workspace, meta_id="6001"):
    campaign = Campaign.objects.create(workspace=workspace, meta_id=f"c{meta_id}", name="Summer Shred")
    adset = AdSet.objects.create(workspace=workspace, meta_id=f"s{meta_id}", campaign=campaign, name="Women 25-40")
    return Ad.objects.create(workspace=workspace, meta_id=meta_id, adset=adset, campaign=campaign, name="Reel v1")


def _insight(ad, day, spend="120.50"):
    return AdInsight.objects.create(workspace=ad.workspace, ad=ad, adset=ad.adset, campaign=ad.campaign, date=day,
                                    spend=Decimal(spend))


def test_contact_hubspot_id_unique_per_workspace(workspace, other_workspace):
    _contact(workspace, hubspot_id="101", email_normalized="aisha@example.com")

    _rejected("contact_unique_hubspot_id", lambda: _contact(workspace, hubspot_id="101", email_normalized="x@example.com"))

    # The same HubSpot id in another workspace is another business's contact: allowed.
    other = _contact(other_workspace, hubspot_id="101")
    assert other.pk is not None
    # Contacts not (yet) in HubSpot have no id and never collide.
    _contact(workspace, hubspot_id=None)
    _contact(workspace, hubspot_id=None)
    assert Contact.objects.filter(workspace=workspace, hubspot_id="101").count() == 1
    assert Contact.objects.filter(workspace=workspace).count() == 3
    assert Contact.objects.filter(hubspot_id="101").count() == 2


def test_health_score_unique_per_contact_and_date(workspace):
    contact = _contact(workspace, hubspot_id="7")
    day = date(2026, 11, 1)
    HealthScore.objects.create(workspace=workspace, contact=contact, date=day, total=Decimal("72.5"), zone="green")

    _rejected("healthscore_unique_contact_date", lambda: HealthScore.objects.create(
        workspace=workspace, contact=contact, date=day, total=Decimal("40"), zone="red"))

    HealthScore.objects.create(workspace=workspace, contact=contact, date=day + timedelta(days=1), total=Decimal("70"),
                               zone="green")
    assert list(HealthScore.objects.filter(contact=contact).order_by("date").values_list("date", "total")) == [
        (day, Decimal("72.50")), (day + timedelta(days=1), Decimal("70.00"))]


def test_ad_insight_unique_per_ad_and_date(workspace):
    ad = _ad(workspace)
    other_ad = _ad(workspace, meta_id="6002")
    day = date(2026, 11, 2)
    _insight(ad, day)

    _rejected("adinsight_unique_ad_date", lambda: _insight(ad, day, spend="99"))

    _insight(other_ad, day)
    _insight(ad, day + timedelta(days=1))
    assert AdInsight.objects.filter(ad=ad, date=day).get().spend == Decimal("120.50")
    assert AdInsight.objects.count() == 3


def test_capi_event_unique_per_workspace_event_id_and_name(workspace, other_workspace):
    def event(ws, name="Purchase", event_id="ch_123"):
        return CapiEvent.objects.create(workspace=ws, event_id=event_id, event_name=name, event_time=NOW)

    event(workspace)

    _rejected("capievent_unique_event", lambda: event(workspace))

    # Meta deduplicates on id + name: the same id as another event name is a different event.
    event(workspace, name="Lead")
    event(other_workspace)
    assert CapiEvent.objects.filter(workspace=workspace).count() == 2
    assert CapiEvent.objects.filter(event_id="ch_123", event_name="Purchase").count() == 2


def test_webhook_event_unique_per_workspace_source_and_dedup_key(workspace, other_workspace):
    def receive(ws, source="stripe", key="evt_1"):
        return WebhookEvent.objects.create(workspace=ws, source=source, dedup_key=key, body=b'{"id": "evt_1"}')

    receive(workspace)

    _rejected("webhook_dedup_unique", lambda: receive(workspace))

    receive(workspace, source="hubspot")
    receive(other_workspace)
    assert WebhookEvent.objects.filter(workspace=workspace, dedup_key="evt_1").count() == 2
    assert WebhookEvent.objects.filter(dedup_key="evt_1").count() == 3


def test_payment_stripe_id_unique_per_workspace(workspace, other_workspace):
    def pay(ws, amount=120000):
        return Payment.objects.create(workspace=ws, stripe_id="ch_3Pq", created=NOW, amount_minor=amount,
                                      status="succeeded")

    pay(workspace)

    _rejected("payment_unique_stripe_id", lambda: pay(workspace, amount=5000))

    pay(other_workspace, amount=5000)
    assert Payment.objects.get(workspace=workspace, stripe_id="ch_3Pq").amount_minor == 120000
    assert Payment.objects.filter(stripe_id="ch_3Pq").count() == 2


def test_package_cannot_use_more_sessions_than_purchased(workspace):
    contact = _contact(workspace, hubspot_id="9")

    def package(used, source_id):
        return Package.objects.create(workspace=workspace, contact=contact, source_id=source_id, sessions_purchased=12,
                                      sessions_used=used, value=Decimal("3600"), starts_on=date(2026, 10, 1),
                                      expires_on=date(2026, 12, 31))

    _rejected("package_used_le_purchased", lambda: package(13, "pkg-1"))

    full = package(12, "pkg-1")  # all sessions used is fine
    assert Package.objects.get(pk=full.pk).sessions_remaining == 0

    # Raising usage past the purchase on an existing row is refused as well.
    _rejected("package_used_le_purchased", lambda: Package.objects.filter(pk=full.pk).update(sessions_used=13))
    assert Package.objects.get(pk=full.pk).sessions_used == 12
