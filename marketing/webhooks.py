"""POST /webhooks/[<workspace>/]anytrack/<token>/ — AnyTrack's outgoing conversion webhook.

AnyTrack documents no signature, so the secret is the path token (compared in constant time)."""

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_not_required
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ptd.inbox import webhook_store
from ptd.models import CredentialKind
from ptd.webhooks import Rejected, accepted, json_body, raw_body, rejection, require_path_token, workspace_for


def anytrack_dedup_key(payload: dict) -> str:
    """clickId + eventName + transaction id (integrations.md §4), falling back to the event time."""
    txn = payload.get("transactionId") or payload.get("transaction_id") or payload.get("eventTimestamp") or ""
    return f"at:{payload.get('clickId', '')}:{payload.get('eventName', '')}:{txn}"


@csrf_exempt
@login_not_required
@require_POST
def anytrack_webhook(request, token, workspace_slug="ptd"):
    workspace = workspace_for(workspace_slug)
    require_path_token(workspace=workspace, credential=CredentialKind.ANYTRACK_WEBHOOK_TOKEN, token=token)
    try:
        body = raw_body(request)
        payload = json_body(body)
        if not isinstance(payload, dict) or not payload.get("eventName"):
            raise Rejected(400, "body must be an AnyTrack event object with eventName")
        if not (payload.get("clickId") or payload.get("email")):
            raise Rejected(400, "event has neither clickId nor email")
    except Rejected as exc:
        return rejection("anytrack", exc)
    ts = payload.get("eventTimestamp")
    _, created = webhook_store(
        workspace=workspace, source="anytrack", dedup_key=anytrack_dedup_key(payload),
        event_type=str(payload["eventName"]), headers={}, body=body,
        source_timestamp=datetime.fromtimestamp(ts, UTC) if isinstance(ts, (int, float)) else None,
    )
    return accepted(created=created)
