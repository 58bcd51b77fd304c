"""Processing stored webhook events of the clients app's sources (worker side)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from clients import services
from clients.integrations import hubspot as hubspot_api
from ptd.credentials import credential_get
from ptd.inbox import Ignored
from ptd.models import CredentialKind, WebhookEvent


def _hubspot_fetch(event: WebhookEvent, object_type: str, object_id: str) -> dict | None:
    """Creation events carry only an id: read the object (an error is retried by the inbox)."""
    token = credential_get(workspace=event.workspace, kind=CredentialKind.HUBSPOT_ACCESS_TOKEN)
    api = hubspot_api.client(token)
    stage_ids = services.pipeline_stage_ids(event.workspace) if object_type == "deals" else []
    return hubspot_api.get_object(api, object_type, object_id,
                                  hubspot_api.object_properties(object_type, stage_ids))


def process_hubspot_event(event: WebhookEvent) -> None:
    n = json.loads(bytes(event.body))
    kind = str(n.get("subscriptionType") or n.get("eventType") or "")
    workspace = event.workspace
    object_id = str(n.get("objectId") or "")
    occurred = datetime.fromtimestamp(n["occurredAt"] / 1000, UTC) if isinstance(n.get("occurredAt"), int) else event.received_at
    object_name, _, action = kind.partition(".")
    if object_name not in ("contact", "deal"):
        raise Ignored(f"{kind or 'untyped'} notifications are not used")
    if action == "creation" or action == "restore":
        plural = object_name + "s"
        if not credential_get(workspace=workspace, kind=CredentialKind.HUBSPOT_ACCESS_TOKEN):
            # Webhook-only set-up (no API token): the object exists from now on, and the property-change
            # notifications HubSpot sends with a creation fill in its fields.
            services.hubspot_object_stub_create(workspace=workspace, object_type=plural, hubspot_id=object_id,
                                                created_at=occurred)
            return
        obj = _hubspot_fetch(event, plural, object_id)
        if obj is None:
            raise Ignored(f"{object_name} {object_id} no longer exists in HubSpot")
        upsert = services.contacts_upsert_from_hubspot if plural == "contacts" else services.deals_upsert_from_hubspot
        upsert(workspace=workspace, objects=[obj])
    elif action == "propertyChange":
        setter = services.contact_property_set if object_name == "contact" else services.deal_property_set
        if not setter(workspace=workspace, hubspot_id=object_id, prop=str(n.get("propertyName") or ""),
                      value=n.get("propertyValue"), occurred_at=occurred):
            raise Ignored("property not stored, or a newer version is already stored")
    elif action in ("deletion", "privacyDeletion"):
        delete = services.contacts_delete if object_name == "contact" else services.deals_delete
        delete(workspace=workspace, hubspot_ids=[object_id])
    elif action == "merge":
        if object_name != "contact":
            raise Ignored("deal merges are applied by the next sync")
        services.contacts_merge(workspace=workspace, primary_hubspot_id=str(n.get("primaryObjectId") or object_id),
                                merged_hubspot_ids=[str(m) for m in n.get("mergedObjectIds") or []])
    elif action == "associationChange":
        association = str(n.get("associationType") or "")
        if association not in ("CONTACT_TO_DEAL", "DEAL_TO_CONTACT"):
            raise Ignored(f"{association} associations are not used")
        contact_id, deal_id = (n.get("fromObjectId"), n.get("toObjectId"))
        if association == "DEAL_TO_CONTACT":
            contact_id, deal_id = deal_id, contact_id
        services.deal_contact_associate(workspace=workspace, deal_hubspot_id=str(deal_id),
                                        contact_hubspot_id=str(contact_id), removed=bool(n.get("associationRemoved")))
    else:
        raise Ignored(f"{kind} notifications are not used")


def process_callgear_notification(event: WebhookEvent) -> None:
    """A CallGear notification only names a call: fetch that call through get.calls_report and upsert it
    (clients.calls). A call not in the report yet raises, and the inbox retries with backoff."""
    from clients.calls import call_fetch_and_upsert
    from clients.webhooks import callgear_call_id

    try:
        payload = json.loads(bytes(event.body))
    except ValueError as exc:
        raise Ignored("notification body is not JSON") from exc
    call_id = callgear_call_id(payload)
    if not call_id:
        raise Ignored("notification names no call")
    if not credential_get(workspace=event.workspace, kind=CredentialKind.CALLGEAR_ACCESS_TOKEN):
        # Without a Data API token, a notification template that carries the report's fields is the call.
        from clients.calls import calls_upsert_from_callgear

        if not (payload.get("start_time") and "contact_phone_number" in payload):
            raise RuntimeError("CallGear Data API token is not configured and the notification has no call fields")
        calls_upsert_from_callgear(workspace=event.workspace, rows=[{**payload, "id": call_id}])
        return
    call_fetch_and_upsert(workspace=event.workspace, call_id=call_id, payload=payload)
