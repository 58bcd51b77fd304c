"""AnyTrack's outgoing conversion webhook (integrations.md §4): a path token guards it, the raw event is
stored once per clickId + eventName + transaction, and the worker turns it into an AttributionEvent
linked to a contact by email (or by click id), or kept unmatched until a contact appears."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from clients.models import Contact
from marketing.models import AttributionEvent
from marketing.services import marketing_link_contact
from ptd.inbox import webhook_process
from ptd.models import WebhookEvent, WebhookStatus

TOKEN = "at-secret-3f9c"
URL = f"/webhooks/anytrack/{TOKEN}/"

# The documented fields, then the ones AnyTrack forwards from the click (names as in its parameter docs).
PAYLOAD = {
    "assetId": "TestAssetId", "clientId": "TestClientId",
    "externalClientIds": {"googleAnalytics": "99532458.1592848149"},
    "clickId": "CLICK_123", "externalClickId": "test123", "eventName": "Purchase",
    "eventTime": "2026-11-20T14:08:10.499Z", "eventTimestamp": 1795615690, "eventValue": 3150.5,
    "currency": "aed", "userAgent": "Mozilla/5.0", "transactionId": "INV-1001",
    "email": "  Sara.Haddad@Example.com ", "fbclid": "IwAR0abc", "fbp": "fb.1.1700000000000.123456789",
    "utm_source": "facebook", "utm_medium": "paid", "utm_campaign": "120210000000000001",
    "utm_term": "120210000000000002", "utm_content": "120210000000000003",
}


@pytest.fixture
def anytrack(monkeypatch, workspace):
    monkeypatch.setenv("ANYTRACK_WEBHOOK_TOKEN", TOKEN)
    return workspace


@pytest.fixture
def sync_worker(settings, monkeypatch):
    """django-q2 runs tasks in-process, so on_commit → enqueue → webhook_process happens in the test."""
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)


def _contact(workspace, **fields):
    return Contact.objects.create(workspace=workspace, created_at=timezone.now(), **fields)


def _post(client, payload, url=URL):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(url, data=body, content_type="application/json")


def test_wrong_token_is_404_and_stores_nothing(client, anytrack):
    response = _post(client, PAYLOAD, url="/webhooks/anytrack/not-the-token/")
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


def test_unset_token_is_404(client, workspace, monkeypatch):
    monkeypatch.delenv("ANYTRACK_WEBHOOK_TOKEN", raising=False)
    assert _post(client, PAYLOAD).status_code == 404


def test_malformed_json_is_400(client, anytrack):
    response = _post(client, b'{"clickId": "x", "eventName": ')
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


def test_event_without_name_is_400(client, anytrack):
    assert _post(client, {"clickId": "x"}).status_code == 400


def test_oversized_body_is_413(client, anytrack):
    body = json.dumps({**PAYLOAD, "padding": "x" * (1024 * 1024)}).encode()
    response = _post(client, body)
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_event_is_stored_processed_and_linked_by_email(client, anytrack, sync_worker,
                                                       django_capture_on_commit_callbacks):
    sara = _contact(anytrack, email_normalized="sara.haddad@example.com", first_name="Sara")

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, PAYLOAD)

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    stored = WebhookEvent.objects.get(source="anytrack")
    assert stored.status == WebhookStatus.PROCESSED, stored.last_error
    assert stored.dedup_key == "at:CLICK_123:Purchase:INV-1001"
    assert bytes(stored.body) == json.dumps(PAYLOAD).encode()

    event = AttributionEvent.objects.get()
    assert event.contact == sara
    assert (event.source, event.external_id) == ("anytrack", "at:CLICK_123:Purchase:INV-1001")
    assert event.event_name == "Purchase"
    assert event.value == Decimal("3150.50")
    assert event.currency == "AED"
    assert event.occurred_at == datetime(2026, 11, 20, 14, 8, 10, 499000, tzinfo=UTC)
    assert (event.click_id, event.transaction_id, event.fbclid, event.fbp) == (
        "CLICK_123", "INV-1001", "IwAR0abc", "fb.1.1700000000000.123456789")
    assert (event.utm_source, event.utm_medium) == ("facebook", "paid")
    # Meta's {{campaign.id}} / {{adset.id}} / {{ad.id}} URL macros arrive in the UTMs.
    assert (event.campaign_id, event.adset_id, event.ad_id) == (
        "120210000000000001", "120210000000000002", "120210000000000003")
    assert event.email_normalized == "sara.haddad@example.com"


def test_duplicate_delivery_is_collapsed(client, anytrack, sync_worker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, PAYLOAD)
    with django_capture_on_commit_callbacks(execute=True):
        second = _post(client, PAYLOAD)

    assert first.json()["duplicate"] is False
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert WebhookEvent.objects.filter(source="anytrack").count() == 1
    assert AttributionEvent.objects.count() == 1


def test_a_different_transaction_is_a_second_event(client, anytrack, sync_worker,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, PAYLOAD)
        _post(client, {**PAYLOAD, "transactionId": "INV-1002"})
    assert AttributionEvent.objects.count() == 2


def test_reprocessing_the_same_event_updates_one_row(anytrack):
    """The processor itself is idempotent (a replayed event): one row by (workspace, source, external id)."""
    from marketing.ingest import process_anytrack_event
    from ptd.inbox import webhook_store

    event, _ = webhook_store(workspace=anytrack, source="anytrack", dedup_key="k", event_type="Purchase",
                             headers={}, body=json.dumps(PAYLOAD).encode())
    process_anytrack_event(event)
    process_anytrack_event(event)
    assert AttributionEvent.objects.count() == 1


def test_unmatched_event_is_kept_then_linked_when_the_contact_appears(anytrack):
    from ptd.inbox import webhook_store

    payload = {**PAYLOAD, "email": "new.lead@example.com", "fbclid": "", "clickId": "CLICK_9"}
    event, _ = webhook_store(workspace=anytrack, source="anytrack", dedup_key="at:CLICK_9", event_type="Lead",
                             headers={}, body=json.dumps(payload).encode())
    assert webhook_process(event.pk) == WebhookStatus.PROCESSED
    stored = AttributionEvent.objects.get()
    assert stored.contact is None

    lead = _contact(anytrack, email_normalized="new.lead@example.com")
    assert marketing_link_contact(contact=lead) == {"attribution_events": 1}
    stored.refresh_from_db()
    assert stored.contact == lead
    assert marketing_link_contact(contact=lead) == {"attribution_events": 0}


def test_event_without_email_is_matched_by_the_contacts_fbclid(anytrack):
    from ptd.inbox import webhook_store

    clicked = _contact(anytrack, fbc="fb.1.1700000000000.IwAR_zz9")
    _contact(anytrack, email_normalized="someone.else@example.com")
    payload = {"clickId": "CLICK_7", "eventName": "Lead", "eventTimestamp": 1795615690,
               "fbc": "fb.1.1700000000000.IwAR_zz9"}
    event, _ = webhook_store(workspace=anytrack, source="anytrack", dedup_key="at:CLICK_7", event_type="Lead",
                             headers={}, body=json.dumps(payload).encode())
    assert webhook_process(event.pk) == WebhookStatus.PROCESSED

    stored = AttributionEvent.objects.get()
    assert stored.contact == clicked
    assert stored.fbclid == "IwAR_zz9"
    assert stored.value == 0
    assert stored.occurred_at == datetime.fromtimestamp(1795615690, UTC)


def test_other_workspaces_url_uses_its_own_stored_token(client, anytrack, other_workspace, monkeypatch):
    """The environment token belongs to the default workspace only."""
    from ptd.credentials import credential_set

    response = _post(client, PAYLOAD, url=f"/webhooks/{other_workspace.slug}/anytrack/{TOKEN}/")
    assert response.status_code == 404
    credential_set(workspace=other_workspace, kind="ANYTRACK_WEBHOOK_TOKEN", value="abu-dhabi-token", actor=None)
    response = _post(client, PAYLOAD, url=f"/webhooks/{other_workspace.slug}/anytrack/abu-dhabi-token/")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().workspace == other_workspace


def test_identity_backfill_links_unmatched_events_by_phone_and_fbclid(anytrack):
    """clients.identity.identity_backfill calls marketing_link_contact, which reports its count."""
    from clients.identity import identity_backfill
    from ptd.inbox import webhook_store

    for n, extra in enumerate([{"phone": "050 123 4567"}, {"fbclid": "IwAR_later"}, {"email": "x@example.com"}]):
        payload = {"clickId": f"C{n}", "eventName": "Lead", "eventTimestamp": 1795615690, **extra}
        event, _ = webhook_store(workspace=anytrack, source="anytrack", dedup_key=f"at:{n}", event_type="Lead",
                                 headers={}, body=json.dumps(payload).encode())
        assert webhook_process(event.pk) == WebhookStatus.PROCESSED
    assert not AttributionEvent.objects.filter(contact__isnull=False).exists()

    person = _contact(anytrack, phone_e164="+971501234567", fbclid="IwAR_later")
    linked = identity_backfill(contact=person)
    assert linked["attribution_events"] == 2
    assert set(AttributionEvent.objects.filter(contact=person).values_list("click_id", flat=True)) == {"C0", "C1"}


def test_workspace_backfill_links_by_email_and_phone_in_two_statements(anytrack, django_assert_max_num_queries):
    from marketing.services import marketing_link_contacts_workspace
    from ptd.inbox import webhook_store

    for n, extra in enumerate([{"email": "A@Example.com"}, {"phone": "+971 50 765 4321"}, {"email": "nobody@x.com"}]):
        payload = {"clickId": f"W{n}", "eventName": "Lead", **extra}
        event, _ = webhook_store(workspace=anytrack, source="anytrack", dedup_key=f"at:w{n}", event_type="Lead",
                                 headers={}, body=json.dumps(payload).encode())
        webhook_process(event.pk)
    a = _contact(anytrack, email_normalized="a@example.com")
    b = _contact(anytrack, phone_e164="+971507654321")

    with django_assert_max_num_queries(2):
        assert marketing_link_contacts_workspace(workspace=anytrack) == {"attribution_events": 2}
    assert AttributionEvent.objects.get(click_id="W0").contact == a
    assert AttributionEvent.objects.get(click_id="W1").contact == b
    assert AttributionEvent.objects.get(click_id="W2").contact is None
