"""WhatsApp webhook: handshake and signature vector W1, dedup by wamid, messages become interactions."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from clients.whatsapp import valid_signature
from ptd.models import WebhookEvent

W1_BODY = ('{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":'
           '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":'
           '"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"971501234567"}],"messages":'
           '[{"from":"971501234567","id":"wamid.TEST1","timestamp":"1700000000","type":"text","text":{"body":"Hi"}}]},'
           '"field":"messages"}]}]}').encode()
W1_SIG = "sha256=1aed92fe5c71429e4e0af607623d961810496cccb3630ab9b4fdeedf4fd87d01"


def test_vector_w1():
    assert len(W1_BODY) == 422
    assert valid_signature(W1_BODY, W1_SIG, "wa-app-secret-123")
    assert not valid_signature(W1_BODY, W1_SIG, "another-secret")


@pytest.fixture
def wa(monkeypatch, workspace):
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "wa-app-secret-123")
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "vt-123")
    return workspace


@pytest.mark.django_db
def test_handshake(client, wa):
    ok = client.get("/webhooks/whatsapp/", {"hub.mode": "subscribe", "hub.verify_token": "vt-123",
                                            "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.content == b"1158201444"
    assert client.get("/webhooks/whatsapp/", {"hub.mode": "subscribe", "hub.verify_token": "nope",
                                              "hub.challenge": "1"}).status_code == 403


@pytest.mark.django_db
def test_message_becomes_interaction_once(client, wa, django_capture_on_commit_callbacks, settings, monkeypatch):
    from django_q.conf import Conf

    from clients.models import Contact, Interaction

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)
    contact = Contact.objects.create(workspace=wa, phone_e164="+971501234567",
                                     created_at=datetime(2023, 1, 1, tzinfo=UTC))
    for _ in range(2):  # Meta re-delivers: stored and processed once
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/webhooks/whatsapp/", data=W1_BODY, content_type="application/json",
                                   HTTP_X_HUB_SIGNATURE_256=W1_SIG)
        assert response.status_code == 200
    assert WebhookEvent.objects.filter(source="whatsapp").count() == 1
    interaction = Interaction.objects.get()
    assert (interaction.contact, interaction.channel, interaction.summary) == (contact, "whatsapp", "Hi")
    assert interaction.occurred_at == datetime.fromtimestamp(1700000000, UTC)


@pytest.mark.django_db
def test_bad_signature_and_ad_referral(client, wa, settings, monkeypatch, django_capture_on_commit_callbacks):
    from django_q.conf import Conf

    from marketing.models import AttributionEvent

    assert client.post("/webhooks/whatsapp/", data=W1_BODY, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256="sha256=00").status_code == 400
    assert not WebhookEvent.objects.exists()
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)
    payload = json.loads(W1_BODY)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(id="wamid.AD1", referral={"source_type": "ad", "source_id": "120200000000123", "ctwa_clid": "abc"})
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(b"wa-app-secret-123", body, hashlib.sha256).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/webhooks/whatsapp/", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=sig).status_code == 200
    # An unknown number is a new lead from the ad that started the chat.
    from clients.models import Contact

    lead = Contact.objects.get(phone_e164="+971501234567")
    assert (lead.first_name, lead.last_name, lead.source, lead.lifecycle_stage) == ("Sheena", "Nelson", "whatsapp", "lead")
    event = AttributionEvent.objects.get(source="whatsapp")
    assert (event.ad_id, event.click_id, event.contact) == ("120200000000123", "abc", lead)
    assert WebhookEvent.objects.get(source="whatsapp").status == "processed"
