"""WhatsApp Cloud API webhook (integrations.md §6): the verification handshake, the X-Hub-Signature-256
check, and processing — an inbound message becomes an Interaction of the contact with that number (a
number we do not know is a new lead, as HubSpot will see it too), and a click-to-WhatsApp ad referral
becomes an attribution event (the ad that started the conversation)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ptd.credentials import credential_get
from ptd.identity import normalize_phone
from ptd.inbox import Ignored, webhook_store
from ptd.live import publish
from ptd.models import CredentialKind, WebhookEvent
from ptd.webhooks import Rejected, accepted, json_body, raw_body, rejection, workspace_for


def valid_signature(body: bytes, header: str, app_secret: str) -> bool:
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request, workspace_slug="ptd"):
    workspace = workspace_for(workspace_slug)
    if request.method == "GET":  # Meta's subscription handshake: echo the challenge to the right token
        token = credential_get(workspace=workspace, kind=CredentialKind.WHATSAPP_VERIFY_TOKEN)
        given = request.GET.get("hub.verify_token", "")
        if request.GET.get("hub.mode") == "subscribe" and token and hmac.compare_digest(token, given):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return HttpResponse("verification failed", status=403, content_type="text/plain")
    try:
        body = raw_body(request)
        secret = credential_get(workspace=workspace, kind=CredentialKind.WHATSAPP_APP_SECRET)
        if not secret:
            raise Rejected(400, "no WhatsApp app secret is configured for this workspace")
        if not valid_signature(body, request.headers.get("X-Hub-Signature-256", ""), secret):
            raise Rejected(400, "invalid or missing X-Hub-Signature-256")
        payload = json_body(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            raise Rejected(400, "not a WhatsApp webhook (entry list expected)")
    except Rejected as exc:
        return rejection("whatsapp", exc)
    created_any = False
    for value in _values(payload):
        names = {c.get("wa_id"): (c.get("profile") or {}).get("name", "") for c in value.get("contacts") or []}
        for message in value.get("messages") or []:
            ts = message.get("timestamp")
            item = {"message": message, "name": names.get(message.get("from"), "")}
            _, created = webhook_store(
                workspace=workspace, source="whatsapp", dedup_key=f"wamid:{message.get('id')}",
                event_type=f"message.{message.get('type', '')}", headers={}, body=json.dumps(item).encode(),
                source_timestamp=datetime.fromtimestamp(int(ts), UTC) if str(ts).isdigit() else None)
            created_any |= created
        for status in value.get("statuses") or []:
            _, created = webhook_store(
                workspace=workspace, source="whatsapp", dedup_key=f"status:{status.get('id')}:{status.get('status')}",
                event_type=f"status.{status.get('status', '')}", headers={}, body=json.dumps({"status": status}).encode())
            created_any |= created
    return accepted(created=created_any)


def _values(payload: dict):
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            if (change or {}).get("field") == "messages" and isinstance(change.get("value"), dict):
                yield change["value"]


def process_whatsapp_event(event: WebhookEvent) -> None:
    from clients.identity import contact_match, identity_backfill
    from clients.models import Contact, Interaction
    from marketing.services import attribution_event_upsert

    item = json.loads(bytes(event.body))
    if "message" not in item:
        raise Ignored("delivery statuses are kept for the conversation log, not processed")
    message = item["message"]
    workspace = event.workspace
    phone = "+" + str(message.get("from", "")).lstrip("+")
    when = event.source_timestamp or event.received_at
    contact = contact_match(workspace=workspace, phone=phone)
    if contact is None:
        first, _, last = str(item.get("name") or "").partition(" ")
        contact = Contact.objects.create(workspace=workspace, phone_e164=normalize_phone(phone), created_at=when,
                                         updated_at=when, first_name=first[:80], last_name=last[:80],
                                         lifecycle_stage="lead", source="whatsapp")
        identity_backfill(contact=contact)
    referral = message.get("referral") or {}
    if referral.get("source_type") == "ad" and referral.get("source_id"):
        attribution_event_upsert(
            workspace=workspace, source="whatsapp", external_id=f"ctwa:{message.get('id')}", phone=phone,
            fields={"event_name": "Lead", "occurred_at": when, "ad_id": str(referral["source_id"]),
                    "click_id": referral.get("ctwa_clid", ""), "raw": referral})
    text = (message.get("text") or {}).get("body") or f"[{message.get('type', 'message')}]"
    _, created = Interaction.objects.get_or_create(
        workspace=workspace, source_id=f"wa:{message.get('id')}",
        defaults={"contact": contact, "channel": "whatsapp", "direction": "inbound", "occurred_at": when,
                  "summary": text[:2000]})
    if created:
        publish(workspace_id=workspace.pk, topics=["interactions", "contacts"], staff_ids=[contact.coach_id])
        from django.db import transaction

        from clients import health

        transaction.on_commit(lambda: health.health_rescore_soon(workspace_id=workspace.pk, contact_ids=[contact.pk]))
