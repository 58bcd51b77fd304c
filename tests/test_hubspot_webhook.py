"""HubSpot webhooks: signature vectors H1–H5 through the SDK and our endpoint, dedup, processing."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from hubspot.utils.signature import Signature

from clients.webhooks import hubspot_dedup_key, hubspot_signature_uri
from ptd.models import WebhookEvent, WebhookStatus

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
OFFICIAL_BODY = ('[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
                 '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
                 '"changeFlag":"NEW","appId":54321}]')
H4_BODY = ('[{"eventId":100,"subscriptionId":200,"portalId":300,"appId":400,"occurredAt":1700000000000,'
           '"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":123,'
           '"propertyName":"lifecyclestage","propertyValue":"customer","changeSource":"CRM"}]')


def test_vector_h1_v1():
    assert hashlib.sha256((SECRET + OFFICIAL_BODY).encode()).hexdigest() == \
        "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    assert Signature.is_valid("232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de", SECRET,
                              OFFICIAL_BODY, signature_version="v1")


def test_vector_h2_v2():
    uri = "https://www.example.com/webhook_uri"
    assert Signature.is_valid("eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e", SECRET, "", uri,
                              "GET", signature_version="v2")
    assert Signature.is_valid("9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900", SECRET,
                              '{"example_field":"example_value"}', uri, "POST", signature_version="v2")


def test_vector_h3_and_h4_v3():
    h3 = base64.b64encode(hmac.new(SECRET.encode(), ("POST" + "https://www.example.com/webhook_uri" + OFFICIAL_BODY
                                                     + "1564113600000").encode(), hashlib.sha256).digest()).decode()
    assert h3 == "DxmVAjFNa2xfF3YgQjdZP6TNcok9k1oaH7UXombPtvw="
    h4 = base64.b64encode(hmac.new(b"hs-client-secret-123", ("POST" + "https://example.com/hubspot/webhook" + H4_BODY
                                                             + "1700000000000").encode(), hashlib.sha256).digest())
    assert h4.decode() == "REtQxPbyIai/526YfnE1iUcPHqh9cRR8fQMcOzGZfzk="


def test_vector_h5_uri_decoding():
    raw = "https://example.com/hs/webhook?portal=62515&next=%2Fdeals%3Aopen"
    decoded = hubspot_signature_uri(raw)
    assert decoded == "https://example.com/hs/webhook?portal=62515&next=/deals:open"
    sig = base64.b64encode(hmac.new(SECRET.encode(), ("POST" + decoded + OFFICIAL_BODY + "1564113600000").encode(),
                                    hashlib.sha256).digest()).decode()
    assert sig == "glSsh8FB87uc7FeJSvuDWzE/pfpHDpWNfBz9h5//glE="


def sign_v3(body: str, uri: str, secret: str = SECRET, ts: int | None = None) -> dict:
    ts = ts if ts is not None else int(time.time() * 1000)
    sig = base64.b64encode(hmac.new(secret.encode(), ("POST" + uri + body + str(ts)).encode(),
                                    hashlib.sha256).digest()).decode()
    return {"HTTP_X_HUBSPOT_SIGNATURE_V3": sig, "HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": str(ts)}


@pytest.fixture
def hubspot_secret(monkeypatch):
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", SECRET)


def post(client, body: str, headers: dict, path="/webhooks/hubspot/"):
    return client.post(path, data=body, content_type="application/json", **headers)


URI = "http://testserver/webhooks/hubspot/"


@pytest.mark.django_db
def test_signed_batch_is_stored_once_per_notification(client, workspace, hubspot_secret,
                                                      django_capture_on_commit_callbacks):
    notifications = [json.loads(H4_BODY)[0], {**json.loads(H4_BODY)[0], "eventId": 101, "propertyValue": "lead"}]
    body = json.dumps(notifications)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, body, sign_v3(body, URI))
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.filter(source="hubspot").count() == 2
    assert len(callbacks) == 2  # one processing task per notification
    again = post(client, body, sign_v3(body, URI))  # HubSpot re-delivers: nothing new stored
    assert again.json() == {"received": True, "duplicate": True}
    assert WebhookEvent.objects.filter(source="hubspot").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("mutate, reason", [
    (lambda h: {**h, "HTTP_X_HUBSPOT_SIGNATURE_V3": "AAAA"}, "invalid signature"),
    (lambda h: {k: v for k, v in h.items() if k != "HTTP_X_HUBSPOT_SIGNATURE_V3"}, "missing X-HubSpot-Signature-v3"),
])
def test_bad_signature_stores_nothing(client, workspace, hubspot_secret, mutate, reason):
    response = post(client, H4_BODY, mutate(sign_v3(H4_BODY, URI)))
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_stale_timestamp_rejected(client, workspace, hubspot_secret):
    old = int((time.time() - 600) * 1000)
    response = post(client, H4_BODY, sign_v3(H4_BODY, URI, ts=old))
    assert response.status_code == 400 and "stale" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_v1_legacy_signature_accepted(client, workspace, hubspot_secret):
    sig = hashlib.sha256((SECRET + OFFICIAL_BODY).encode()).hexdigest()
    response = post(client, OFFICIAL_BODY, {"HTTP_X_HUBSPOT_SIGNATURE": sig, "HTTP_X_HUBSPOT_SIGNATURE_VERSION": "v1"})
    assert response.status_code == 200


@pytest.mark.django_db
def test_malformed_and_oversized_bodies(client, workspace, hubspot_secret):
    bad = "{not json"
    assert post(client, bad, sign_v3(bad, URI)).status_code == 400
    not_array = '{"objectId": 1}'
    assert "JSON array" in post(client, not_array, sign_v3(not_array, URI)).json()["error"]
    huge = "[" + ",".join(['{"objectId": 1, "pad": "' + "x" * 1000 + '"}'] * 1100) + "]"
    assert post(client, huge, sign_v3(huge, URI)).status_code == 413
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_workspace_path_uses_that_workspace(client, other_workspace, workspace, monkeypatch):
    from ptd.credentials import credential_set

    credential_set(workspace=other_workspace, kind="HUBSPOT_CLIENT_SECRET", value="abu-dhabi-secret", actor=None)
    uri = "http://testserver/webhooks/abu-dhabi/hubspot/"
    ok = post(client, H4_BODY, sign_v3(H4_BODY, uri, secret="abu-dhabi-secret"), path="/webhooks/abu-dhabi/hubspot/")
    assert ok.status_code == 200
    assert WebhookEvent.objects.get().workspace == other_workspace
    # The default workspace's secret does not open another workspace's endpoint.
    wrong = post(client, H4_BODY, sign_v3(H4_BODY, uri), path="/webhooks/abu-dhabi/hubspot/")
    assert wrong.status_code == 400


def test_dedup_key_uses_the_composite():
    n = json.loads(H4_BODY)[0]
    assert hubspot_dedup_key(n) == hubspot_dedup_key(dict(n, attemptNumber=3))  # a retry is the same event
    assert hubspot_dedup_key(n) != hubspot_dedup_key(dict(n, propertyValue="lead"))  # eventId is not unique


# --- processing -----------------------------------------------------------------------------------

def store(workspace, notification: dict) -> WebhookEvent:
    return WebhookEvent.objects.create(workspace=workspace, source="hubspot", dedup_key=hubspot_dedup_key(notification),
                                       event_type=notification["subscriptionType"],
                                       body=json.dumps(notification).encode())


@pytest.mark.django_db
def test_property_changes_out_of_order_keep_the_newest(workspace):
    from datetime import UTC, datetime

    from clients.models import Contact
    from ptd.inbox import webhook_process

    contact = Contact.objects.create(workspace=workspace, hubspot_id="123", created_at=datetime(2026, 1, 1, tzinfo=UTC),
                                     updated_at=datetime(2026, 1, 1, tzinfo=UTC), lifecycle_stage="lead")
    base = {"portalId": 1, "subscriptionId": 2, "objectId": 123, "subscriptionType": "contact.propertyChange",
            "propertyName": "lifecyclestage"}
    newer = store(workspace, {**base, "eventId": 2, "occurredAt": 1_780_000_000_000, "propertyValue": "customer"})
    older = store(workspace, {**base, "eventId": 1, "occurredAt": 1_770_000_000_000, "propertyValue": "opportunity"})
    assert webhook_process(newer.pk) == WebhookStatus.PROCESSED
    assert webhook_process(older.pk) == WebhookStatus.IGNORED  # older: stored, not applied
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "customer"


@pytest.mark.django_db
def test_deal_stage_change_records_history(workspace):
    from datetime import UTC, datetime

    from clients.models import Deal
    from ptd.inbox import webhook_process

    deal = Deal.objects.create(workspace=workspace, hubspot_id="77", stage_id="122237508",
                               created_at=datetime(2026, 1, 1, tzinfo=UTC), updated_at=datetime(2026, 1, 1, tzinfo=UTC))
    event = store(workspace, {"portalId": 1, "subscriptionId": 2, "eventId": 9, "objectId": 77,
                              "subscriptionType": "deal.propertyChange", "propertyName": "dealstage",
                              "propertyValue": "122237276", "occurredAt": 1_780_000_000_000})
    assert webhook_process(event.pk) == WebhookStatus.PROCESSED
    deal.refresh_from_db()
    assert deal.stage_id == "122237276"
    assert deal.stage_history.get(stage_id="122237276").entered_at == datetime.fromtimestamp(1_780_000_000, UTC)


@pytest.mark.django_db
def test_unknown_type_is_stored_and_ignored(workspace):
    from ptd.inbox import webhook_process

    event = store(workspace, {"portalId": 1, "subscriptionId": 2, "eventId": 9, "objectId": 1,
                              "subscriptionType": "ticket.creation", "occurredAt": 1})
    assert webhook_process(event.pk) == WebhookStatus.IGNORED
    assert WebhookEvent.objects.get(pk=event.pk).last_error


@pytest.mark.django_db
def test_creation_without_api_token_creates_the_contact_and_properties_fill_it(workspace, monkeypatch):
    from clients.models import Contact
    from ptd.inbox import webhook_process

    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    created = store(workspace, {"portalId": 1, "subscriptionId": 2, "eventId": 9, "objectId": 5,
                                "subscriptionType": "contact.creation", "occurredAt": 1_780_000_000_000})
    email = store(workspace, {"portalId": 1, "subscriptionId": 3, "eventId": 10, "objectId": 5,
                              "subscriptionType": "contact.propertyChange", "propertyName": "email",
                              "propertyValue": " New.Lead@Example.com", "occurredAt": 1_780_000_000_500})
    assert webhook_process(created.pk) == WebhookStatus.PROCESSED
    assert webhook_process(email.pk) == WebhookStatus.PROCESSED
    contact = Contact.objects.get(hubspot_id="5")
    assert contact.email_normalized == "new.lead@example.com"
    assert contact.created_at.timestamp() == 1_780_000_000


@pytest.mark.django_db
def test_unreachable_hubspot_retries_then_dies(workspace, monkeypatch):
    from ptd import inbox

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-test")
    monkeypatch.setenv("HUBSPOT_API_BASE", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setattr("clients.integrations.hubspot.RETRIES", 0)
    event = store(workspace, {"portalId": 1, "subscriptionId": 2, "eventId": 9, "objectId": 5,
                              "subscriptionType": "contact.creation", "occurredAt": 1})
    for attempt in range(1, inbox.MAX_ATTEMPTS + 1):
        status = inbox.webhook_process(event.pk)
        row = WebhookEvent.objects.get(pk=event.pk)
        assert row.attempts == attempt
        if attempt < inbox.MAX_ATTEMPTS:
            assert status == WebhookStatus.FAILED and row.next_attempt_at is not None
            WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookStatus.PENDING)  # as the retry sweep does
    assert status == WebhookStatus.DEAD
    assert row.last_error
    # An admin replay gives it a fresh start.
    assert inbox.webhook_replay(events=WebhookEvent.objects.filter(pk=event.pk)) == 1
    assert WebhookEvent.objects.get(pk=event.pk).status == WebhookStatus.PENDING


@pytest.mark.django_db
def test_merge_moves_records_to_the_primary(workspace):
    from datetime import UTC, datetime

    from clients.models import Call, Contact
    from ptd.inbox import webhook_process

    when = datetime(2026, 1, 1, tzinfo=UTC)
    primary = Contact.objects.create(workspace=workspace, hubspot_id="1", created_at=when)
    merged = Contact.objects.create(workspace=workspace, hubspot_id="2", created_at=when)
    Call.objects.create(workspace=workspace, source_id="c1", contact=merged, started_at=when, outcome="answered")
    event = store(workspace, {"portalId": 1, "subscriptionId": 2, "eventId": 3, "objectId": 1, "occurredAt": 5,
                              "subscriptionType": "contact.merge", "primaryObjectId": 1, "mergedObjectIds": [2]})
    assert webhook_process(event.pk) == WebhookStatus.PROCESSED
    assert not Contact.objects.filter(pk=merged.pk).exists()
    assert Call.objects.get(source_id="c1").contact == primary


@pytest.mark.django_db
def test_email_change_links_waiting_payment_and_call(workspace):
    """Identity back-fill: a payment and a call that arrived before the contact had an email/phone."""
    from datetime import UTC, datetime

    from clients.models import Call, Contact
    from finance.models import Payment
    from ptd.inbox import webhook_process

    when = datetime(2026, 11, 1, tzinfo=UTC)
    Contact.objects.create(workspace=workspace, hubspot_id="42", created_at=when, updated_at=when)
    payment = Payment.objects.create(workspace=workspace, stripe_id="ch_wait", amount_minor=50000, currency="AED",
                                     status="succeeded", created=when, email="late@example.com")
    call = Call.objects.create(workspace=workspace, source_id="cg1", started_at=when, outcome="answered",
                               contact_phone_e164="+971501112233")
    base = {"portalId": 1, "subscriptionId": 2, "objectId": 42, "subscriptionType": "contact.propertyChange"}
    for i, (prop, value) in enumerate([("email", "Late@Example.com"), ("phone", "050 111 2233")]):
        event = store(workspace, {**base, "eventId": 50 + i, "propertyName": prop, "propertyValue": value,
                                  "occurredAt": 1_800_000_000_000 + i})
        assert webhook_process(event.pk) == WebhookStatus.PROCESSED
    contact = Contact.objects.get(hubspot_id="42")
    assert Payment.objects.get(pk=payment.pk).contact == contact
    assert Call.objects.get(pk=call.pk).contact == contact
