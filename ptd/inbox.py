"""Store first, then process (DESIGN §2.3): the webhook inbox.

A receiver verifies the signature, calls `webhook_store` (one row per event, unique dedup key, in
the request) and answers 2xx. The stored rows are the queue: a django-q2 task `webhook_drain` takes
pending rows (FOR UPDATE SKIP LOCKED, so several workers share the work) and calls each source's
processor. A server process enqueues at most one drain task per DRAIN_INTERVAL however many events
arrive, which keeps a burst of deliveries cheap; `webhook_retry_due` (every minute) also sweeps any
pending row left behind. A failure is retried with exponential backoff and jitter, and after
MAX_ATTEMPTS the event is dead until an admin replays it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from datetime import datetime, timedelta
from importlib import import_module

from django.db import connection, transaction
from django.utils import timezone

from ptd.models import WebhookEvent, WebhookStatus, Workspace

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
DRAIN_INTERVAL = 0.25  # seconds between drain tasks enqueued by one process (each costs a queue insert)
DRAIN_BATCH = 50
STRANDED_AFTER = timedelta(seconds=30)
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 6 * 3600

# source → "module.function(event) -> str" returning WebhookStatus.PROCESSED or IGNORED
PROCESSORS = {
    "stripe": "finance.ingest.process_stripe_event",
    "hubspot": "clients.ingest.process_hubspot_event",
    "anytrack": "marketing.ingest.process_anytrack_event",
    "callgear": "clients.ingest.process_callgear_notification",
    "whatsapp": "clients.whatsapp.process_whatsapp_event",
}


class Ignored(Exception):
    """Raised by a processor for an event it stores but does not act on (unknown type)."""


def webhook_store(*, workspace: Workspace, source: str, dedup_key: str, event_type: str, headers: dict,
                  body: bytes, source_timestamp: datetime | None = None) -> tuple[WebhookEvent | None, bool]:
    """Store an inbound event once; returns (event, created). A duplicate returns (None, False).

    One INSERT … ON CONFLICT DO NOTHING: this runs on every delivery, so no savepoint and no ORM
    instance (the receivers answer hundreds of deliveries a second)."""
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (workspace_id, source, dedup_key, event_type, headers, body, source_timestamp, "
            "received_at, status, attempts, last_error) VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s, 0, '') "
            "ON CONFLICT (workspace_id, source, dedup_key) DO NOTHING RETURNING id",
            [workspace.pk, source, dedup_key[:255], event_type[:100], json.dumps(headers), body, source_timestamp,
             WebhookStatus.PENDING],
        )
        row = cursor.fetchone()
    if row is None:
        return None, False
    transaction.on_commit(request_drain)
    event = WebhookEvent(pk=row[0], workspace=workspace, source=source, dedup_key=dedup_key[:255],
                         event_type=event_type[:100], headers=headers, body=body, source_timestamp=source_timestamp)
    event._state.adding = False
    return event, True


_last_drain_request = 0.0
_drain_lock = threading.Lock()


def request_drain(*, force: bool = False) -> bool:
    """Enqueue a drain task unless this process enqueued one within DRAIN_INTERVAL."""
    global _last_drain_request
    from django_q.conf import Conf
    from django_q.tasks import async_task

    with _drain_lock:
        now = time.monotonic()
        # Tasks that run inline (sync mode) cost nothing to enqueue: never skip one then.
        if not (force or Conf.SYNC) and now - _last_drain_request < DRAIN_INTERVAL:
            return False
        _last_drain_request = now
    async_task("ptd.inbox.webhook_drain", task_name="webhook drain", group="webhooks")
    return True


def webhook_drain(max_seconds: float = 50.0) -> int:
    """Process pending events until none is left (or time is up); returns how many were handled."""
    handled = 0
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        with transaction.atomic():
            batch = list(WebhookEvent.objects.select_for_update(skip_locked=True)
                         .filter(status=WebhookStatus.PENDING).order_by("pk").values_list("pk", flat=True)[:DRAIN_BATCH])
            if not batch:
                return handled
            for event_id in batch:
                _process_locked(event_id)
        handled += len(batch)
    request_drain(force=True)  # more remain: hand over to a fresh task
    return handled


def backoff_seconds(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: uniform(½, 1) × min(cap, base × 2^(attempts−1)) seconds."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def _processor(source: str):
    module, func = PROCESSORS[source].rsplit(".", 1)
    return getattr(import_module(module), func)


def webhook_process(event_id: int) -> str:
    """Process one stored event now. Never raises: the outcome is on the row."""
    with transaction.atomic():
        if not WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).exists():
            return "skipped"  # another worker holds it
        return _process_locked(event_id)


def _process_locked(event_id: int) -> str:
    """Process an event whose row lock the caller holds (inside its transaction)."""
    event = WebhookEvent.objects.select_related("workspace").get(pk=event_id)
    if event.status in (WebhookStatus.PROCESSED, WebhookStatus.IGNORED, WebhookStatus.DEAD):
        return "skipped"
    with transaction.atomic():  # a savepoint: a failing processor rolls back only its own writes
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
    """Every minute: failed events whose backoff has passed go back to pending, and a drain is
    requested if anything is pending (including rows a finished drain missed)."""
    now = timezone.now()
    due = WebhookEvent.objects.filter(status=WebhookStatus.FAILED, next_attempt_at__lte=now).update(
        status=WebhookStatus.PENDING, next_attempt_at=None)
    if due or WebhookEvent.objects.filter(status=WebhookStatus.PENDING, received_at__lte=now - STRANDED_AFTER).exists():
        request_drain(force=True)
    return due


def webhook_replay(*, events) -> int:
    """Admin action: give failed, dead or ignored events a fresh start."""
    count = WebhookEvent.objects.filter(pk__in=list(events.values_list("pk", flat=True))).update(
        status=WebhookStatus.PENDING, attempts=0, next_attempt_at=None, last_error="")
    transaction.on_commit(lambda: request_drain(force=True))
    return count
