"""Store first, then process (DESIGN §2.3): the webhook inbox.

A receiver verifies the signature, calls `webhook_store` (one row per event, unique dedup key, in
the request) and answers 2xx. Processing runs in the worker: `webhook_process` calls the source's
processor; a failure is retried with exponential backoff and jitter (`webhook_retry_due`, every
minute), and after MAX_ATTEMPTS the event is dead until an admin replays it.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from importlib import import_module

from django.db import IntegrityError, transaction
from django.utils import timezone

from ptd.models import WebhookEvent, WebhookStatus, Workspace

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 6 * 3600

# source → "module.function(event) -> str" returning WebhookStatus.PROCESSED or IGNORED
PROCESSORS = {
    "stripe": "finance.ingest.process_stripe_event",
    "hubspot": "clients.ingest.process_hubspot_event",
    "anytrack": "marketing.ingest.process_anytrack_event",
    "callgear": "clients.ingest.process_callgear_notification",
}


class Ignored(Exception):
    """Raised by a processor for an event it stores but does not act on (unknown type)."""


def webhook_store(*, workspace: Workspace, source: str, dedup_key: str, event_type: str, headers: dict,
                  body: bytes, source_timestamp: datetime | None = None) -> tuple[WebhookEvent | None, bool]:
    """Store an inbound event once; returns (event, created). A duplicate returns (None, False)."""
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                workspace=workspace, source=source, dedup_key=dedup_key[:255], event_type=event_type[:100],
                headers=headers, body=body, source_timestamp=source_timestamp,
            )
    except IntegrityError:
        return None, False
    transaction.on_commit(lambda: enqueue(event.pk))
    return event, True


def enqueue(event_id: int) -> None:
    from django_q.tasks import async_task

    async_task("ptd.inbox.webhook_process", event_id, task_name=f"webhook {event_id}", group="webhooks")


def backoff_seconds(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: uniform(½, 1) × min(cap, base × 2^(attempts−1)) seconds."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def _processor(source: str):
    module, func = PROCESSORS[source].rsplit(".", 1)
    return getattr(import_module(module), func)


def webhook_process(event_id: int) -> str:
    """Process one stored event (worker entry point). Never raises: the outcome is on the row."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.status in (WebhookStatus.PROCESSED, WebhookStatus.IGNORED, WebhookStatus.DEAD):
            return "skipped"
        event.attempts += 1
        try:
            with transaction.atomic():
                _processor(event.source)(event)
            event.status, event.last_error, event.next_attempt_at = WebhookStatus.PROCESSED, "", None
        except Ignored as reason:
            event.status, event.last_error, event.next_attempt_at = WebhookStatus.IGNORED, str(reason)[:500], None
        except Exception as exc:  # any processing error is retried, then dead
            log.warning("webhook %s (%s) attempt %s failed: %s", event.pk, event.source, event.attempts, exc)
            event.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if event.attempts >= MAX_ATTEMPTS:
                event.status, event.next_attempt_at = WebhookStatus.DEAD, None
            else:
                event.status = WebhookStatus.FAILED
                event.next_attempt_at = timezone.now() + timedelta(seconds=backoff_seconds(event.attempts))
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "processed_at"])
    return event.status


def webhook_retry_due() -> int:
    """Re-enqueue failed events whose backoff has passed (scheduled every minute)."""
    due = list(WebhookEvent.objects.filter(status=WebhookStatus.FAILED, next_attempt_at__lte=timezone.now())
               .values_list("pk", flat=True)[:1000])
    for event_id in due:
        enqueue(event_id)
    return len(due)


def webhook_replay(*, events) -> int:
    """Admin action: give failed, dead or ignored events a fresh start."""
    ids = list(events.values_list("pk", flat=True))
    WebhookEvent.objects.filter(pk__in=ids).update(status=WebhookStatus.PENDING, attempts=0, next_attempt_at=None,
                                                   last_error="")
    for event_id in ids:
        transaction.on_commit(lambda event_id=event_id: enqueue(event_id))
    return len(ids)
