"""Processing a stored Stripe webhook event (ptd.inbox PROCESSORS["stripe"]).

The event's body is the raw JSON Stripe signed. Its `data.object` is the object as it was when the event
happened, and its `created` is the source time every write is compared with, so a late or replayed event
never overwrites a newer state. Event types we store but do not use raise `Ignored`.
"""

from __future__ import annotations

import json

from finance import forensics, services
from ptd.inbox import Ignored
from ptd.models import WebhookEvent

CHARGE_EVENTS = {"charge.succeeded", "charge.failed", "charge.refunded", "charge.captured", "charge.updated",
                 "charge.pending", "charge.expired"}
INTENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
                 "payment_intent.processing", "payment_intent.requires_action", "payment_intent.created",
                 "payment_intent.amount_capturable_updated", "payment_intent.partially_funded"}
REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
INVOICE_EVENTS = {"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed", "invoice.finalized",
                  "invoice.updated", "invoice.created", "invoice.voided", "invoice.marked_uncollectible",
                  "invoice.overdue", "invoice.sent", "invoice.finalization_failed", "invoice.payment_action_required"}
CUSTOMER_EVENTS = {"customer.created", "customer.updated", "customer.deleted"}
SUBSCRIPTION_EVENTS = {"customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted", "customer.subscription.trial_will_end",
                       "customer.subscription.paused", "customer.subscription.resumed",
                       "customer.subscription.pending_update_applied", "customer.subscription.pending_update_expired"}
DISPUTE_EVENTS = {"charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
                  "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"}
PAYOUT_EVENTS = {"payout.created", "payout.updated", "payout.paid", "payout.failed", "payout.canceled",
                 "payout.reconciliation_completed"}
FRAUD_EVENTS = {"radar.early_fraud_warning.created"}


STATUS_OF_TYPE = {"charge.succeeded": "succeeded", "charge.captured": "succeeded", "charge.refunded": "succeeded",
                  "charge.failed": "failed", "charge.pending": "pending"}


def _charge(workspace, obj, when, livemode, event_type=""):
    if not obj.get("status") and event_type in STATUS_OF_TYPE:  # a trimmed object (as in test vectors)
        obj = {**obj, "status": STATUS_OF_TYPE[event_type]}
    services.charges_upsert(workspace=workspace, objects=[obj], source_time=when, livemode=livemode)
    refunds = ((obj.get("refunds") or {}).get("data")) or []  # charge.refunded lists them on older API versions
    if refunds:
        services.refunds_upsert(workspace=workspace, objects=refunds, source_time=when, livemode=livemode)


def _customer(workspace, obj, when, livemode, *, deleted=False):
    services.customers_upsert(workspace=workspace, objects=[{"livemode": livemode, **obj}], source_time=when,
                              deleted=deleted)


def _writer(name):
    def write(workspace, obj, when, livemode):
        getattr(services, name)(workspace=workspace, objects=[obj], source_time=when, livemode=livemode)
    return write


def _fraud(workspace, obj, when, livemode):
    services.early_fraud_warnings_record(workspace=workspace, objects=[obj])


def handler_for(event_type: str):
    """The function that applies an event of this type, or None for types we do not use."""
    if event_type in CHARGE_EVENTS:
        return lambda ws, obj, when, livemode: _charge(ws, obj, when, livemode, event_type)
    if event_type in INTENT_EVENTS:
        return _writer("payment_intents_upsert")
    if event_type in REFUND_EVENTS:
        return _writer("refunds_upsert")
    if event_type in INVOICE_EVENTS:
        return _writer("invoices_upsert")
    if event_type == "customer.deleted":
        return lambda ws, obj, when, livemode: _customer(ws, obj, when, livemode, deleted=True)
    if event_type in CUSTOMER_EVENTS:
        return _customer
    if event_type in SUBSCRIPTION_EVENTS:
        return _writer("subscriptions_upsert")
    if event_type in DISPUTE_EVENTS:
        return _writer("disputes_upsert")
    if event_type in PAYOUT_EVENTS:
        return _writer("payouts_upsert")
    if event_type in FRAUD_EVENTS:
        return _fraud
    return None


def process_stripe_event(event: WebhookEvent) -> None:
    """Apply one stored Stripe event; raises Ignored for types we keep but do not act on."""
    try:
        payload = json.loads(bytes(event.body))
    except ValueError as exc:  # the receiver parsed it already; a hand-inserted row might not parse
        raise Ignored(f"body is not JSON: {exc}") from exc
    event_type = str(payload.get("type") or "")
    handler = handler_for(event_type)
    if handler is None:
        raise Ignored(f"Stripe event type {event_type or '(none)'} is not used")
    obj = (payload.get("data") or {}).get("object")
    if not isinstance(obj, dict) or not obj.get("id"):
        raise Ignored(f"{event_type} carries no object with an id")
    when = services.stripe_time(payload.get("created")) or event.source_timestamp or event.received_at
    services.stripe_event_record(workspace=event.workspace, event=payload)
    handler(event.workspace, obj, when, bool(payload.get("livemode")))
    forensics.fraud_alerts_scan_soon(workspace_id=event.workspace_id)  # debounced: a burst costs one scan
