"""HubSpot (signed) and CallGear (path token) receivers: verify, store each notification, answer 2xx."""

import hashlib
import json
from datetime import UTC, datetime

from django.contrib.auth.decorators import login_not_required
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from hubspot.utils.signature import Signature
from hubspot.exceptions import InvalidSignatureTimestampError

from ptd.credentials import credential_get
from ptd.inbox import webhook_store
from ptd.models import CredentialKind
from ptd.webhooks import Rejected, accepted, json_body, raw_body, rejection, require_path_token, workspace_for

MAX_BATCH = 100
# HubSpot signs the URI with these characters decoded (integrations.md §2.1); the SDK does not decode them.
_URI_DECODES = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
                "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def hubspot_signature_uri(uri: str) -> str:
    for encoded, char in _URI_DECODES.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def verify_hubspot(request, body: bytes, secret: str) -> None:
    uri = hubspot_signature_uri(request.build_absolute_uri())
    text = body.decode("utf-8", errors="replace")
    if v3 := request.headers.get("X-HubSpot-Signature-v3"):
        timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
        if not timestamp.isdigit():
            raise Rejected(400, "missing or malformed X-HubSpot-Request-Timestamp")
        try:
            ok = Signature.is_valid(signature=v3, client_secret=secret, request_body=text, http_uri=uri,
                                    http_method=request.method, signature_version="v3", timestamp=int(timestamp))
        except InvalidSignatureTimestampError as exc:
            raise Rejected(400, "stale signature: timestamp older than 5 minutes") from exc
    elif legacy := request.headers.get("X-HubSpot-Signature"):
        version = request.headers.get("X-HubSpot-Signature-Version", "v1")
        if version not in ("v1", "v2"):
            raise Rejected(400, f"unsupported signature version {version!r}")
        ok = Signature.is_valid(signature=legacy, client_secret=secret, request_body=text, http_uri=uri,
                                http_method=request.method, signature_version=version)
    else:
        raise Rejected(400, "missing X-HubSpot-Signature-v3 header")
    if not ok:
        raise Rejected(400, "invalid signature")


def hubspot_dedup_key(n: dict) -> str:
    """eventId alone is not unique (integrations.md §2.2): hash the documented composite."""
    parts = [n.get(k) for k in ("portalId", "subscriptionId", "eventId", "objectId", "occurredAt", "propertyName",
                                 "propertyValue")]
    return "hs:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


@csrf_exempt
@login_not_required
@require_POST
def hubspot_webhook(request, workspace_slug="ptd"):
    workspace = workspace_for(workspace_slug)
    try:
        body = raw_body(request)
        secret = credential_get(workspace=workspace, kind=CredentialKind.HUBSPOT_CLIENT_SECRET)
        if not secret:
            raise Rejected(400, "no HubSpot client secret is configured for this workspace")
        verify_hubspot(request, body, secret)
        notifications = json_body(body)
        if not isinstance(notifications, list) or not all(isinstance(n, dict) for n in notifications):
            raise Rejected(400, "body must be a JSON array of notifications")
        if len(notifications) > MAX_BATCH:
            raise Rejected(400, f"at most {MAX_BATCH} notifications per request")
    except Rejected as exc:
        return rejection("hubspot", exc)
    created_any = False
    for n in notifications:
        occurred = n.get("occurredAt")
        _, created = webhook_store(
            workspace=workspace, source="hubspot", dedup_key=hubspot_dedup_key(n),
            event_type=str(n.get("subscriptionType") or n.get("eventType") or ""),
            headers={}, body=json.dumps(n).encode(),
            source_timestamp=datetime.fromtimestamp(occurred / 1000, UTC) if isinstance(occurred, int) else None,
        )
        created_any |= created
    return accepted(created=created_any)


@csrf_exempt
@login_not_required
@require_POST
def callgear_webhook(request, token, workspace_slug="ptd"):
    """A CallGear notification only says "look at call X": we store it and fetch the call report."""
    workspace = workspace_for(workspace_slug)
    require_path_token(workspace=workspace, credential=CredentialKind.CALLGEAR_WEBHOOK_TOKEN, token=token)
    try:
        body = raw_body(request)
        payload = json_body(body)
        call_id = callgear_call_id(payload)
        if not call_id:
            raise Rejected(400, "notification names no call (call_session_id or id)")
    except Rejected as exc:
        return rejection("callgear", exc)
    digest = hashlib.sha256(body).hexdigest()[:16]
    _, created = webhook_store(workspace=workspace, source="callgear", dedup_key=f"call:{call_id}:{digest}",
                               event_type=str(payload.get("event_type") or "call"), headers={}, body=body)
    return accepted(created=created)


def callgear_call_id(payload) -> str:
    if not isinstance(payload, dict):
        return ""
    for key in ("call_session_id", "call_id", "id", "communication_id"):
        if payload.get(key) not in (None, ""):
            return str(payload[key])
    return ""
