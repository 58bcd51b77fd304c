"""POST /webhooks/[<workspace>/]stripe/ — verify Stripe-Signature, store the event, answer 2xx."""

from datetime import UTC, datetime

import stripe
from django.contrib.auth.decorators import login_not_required
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ptd.credentials import credential_get
from ptd.inbox import webhook_store
from ptd.models import CredentialKind
from ptd.webhooks import Rejected, accepted, json_body, raw_body, rejection, workspace_for

TOLERANCE_SECONDS = 300


@csrf_exempt
@login_not_required
@require_POST
def stripe_webhook(request, workspace_slug="ptd"):
    workspace = workspace_for(workspace_slug)
    try:
        body = raw_body(request)
        secret = credential_get(workspace=workspace, kind=CredentialKind.STRIPE_WEBHOOK_SECRET)
        if not secret:
            raise Rejected(400, "no Stripe webhook secret is configured for this workspace")
        signature = request.headers.get("Stripe-Signature", "")
        if not signature:
            raise Rejected(400, "missing Stripe-Signature header")
        try:
            # The SDK's verification (construct_event without building a StripeObject we would not use).
            stripe.WebhookSignature.verify_header(body.decode("utf-8"), signature, secret, TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            raise Rejected(400, f"invalid signature: {exc.user_message or exc}") from exc
        except UnicodeDecodeError as exc:
            raise Rejected(400, "body is not UTF-8") from exc
        event = json_body(body)
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise Rejected(400, "not a Stripe event (id and type are required)")
    except Rejected as exc:
        return rejection("stripe", exc)
    created_at = event.get("created")
    _, created = webhook_store(
        workspace=workspace, source="stripe", dedup_key=event["id"], event_type=event["type"],
        headers={"Stripe-Signature": signature}, body=body,
        source_timestamp=datetime.fromtimestamp(created_at, UTC) if isinstance(created_at, int) else None,
    )
    return accepted(created=created)
