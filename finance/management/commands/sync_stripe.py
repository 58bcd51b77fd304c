"""`python manage.py sync_stripe [--workspace ptd] [--since YYYY-MM-DD]`: the Stripe backfill.

Customers, charges, payment intents, refunds, subscriptions, invoices, disputes and payouts are read with
the SDK's auto-paging (newest first, `created[gte]`) and written a page at a time, set-based. The cursor
in SyncState("stripe") holds, per resource, the latest `created` seen by a finished pass (the next run
starts there) and, while a pass runs, where it stands (so an interrupted run resumes after the last
page written). Writes carry the fetch time as their source time: a webhook event older than the fetch
does not undo it, a newer one does.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import stripe
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from finance import services
from finance.integrations import stripe_api
from ptd.models import CredentialKind, Workspace
from ptd.sync import SyncFailed, cursor_save, progress, require_credential, sync_run

WRITERS = {
    "customers": services.customers_upsert,
    "charges": services.charges_upsert,
    "payment_intents": services.payment_intents_upsert,
    "refunds": services.refunds_upsert,
    "subscriptions": services.subscriptions_upsert,
    "invoices": services.invoices_upsert,
    "disputes": services.disputes_upsert,
    "payouts": services.payouts_upsert,
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


def stripe_sync(*, workspace: Workspace, since: datetime | None = None, resources=stripe_api.RESOURCES,
                sleep=None) -> dict[str, int]:
    """Pull every resource into the mirror; returns objects read per resource. Raises SyncFailed (one
    line) when the key is missing or rejected, or Stripe cannot be read; progress made is kept."""
    api_key = require_credential(workspace=workspace, kind=CredentialKind.STRIPE_SECRET_KEY, what="Stripe secret key")
    client = stripe_api.make_client(api_key)
    since_ts = int(since.timestamp()) if since else None
    counts: dict[str, int] = {}
    with sync_run(workspace=workspace, source="stripe") as state, services.topics_held():
        cursor = dict(state.cursor or {})
        resource = ""
        try:
            for resource in resources:
                counts[resource] = _sync_resource(client, workspace, state, cursor, resource, since_ts, sleep)
        except stripe.AuthenticationError as exc:
            raise SyncFailed(f"Stripe rejected the key for workspace {workspace.slug} (HTTP {exc.http_status}): "
                             "check STRIPE_SECRET_KEY in the environment or Settings → Integrations") from exc
        except stripe.PermissionError as exc:
            raise SyncFailed(f"Stripe refused access to {resource} (HTTP 403): the key lacks read permission "
                             "for it; use a secret key or grant it") from exc
        except stripe.RateLimitError as exc:
            raise SyncFailed(f"Stripe kept rate-limiting {resource} (HTTP 429) after "
                             f"{stripe_api.RATE_LIMIT_RETRIES} waits; the next run resumes") from exc
        except stripe.APIConnectionError as exc:
            raise SyncFailed(f"could not reach Stripe at {stripe_api.api_base()}: "
                             f"{_one_line(exc.user_message or exc)}") from exc
        except stripe.StripeError as exc:
            raise SyncFailed(f"Stripe error while reading {resource} (HTTP {exc.http_status}): "
                             f"{_one_line(exc.user_message or exc)}") from exc
    return counts


def _sync_resource(client, workspace: Workspace, state, cursor: dict, resource: str, since_override: int | None,
                   sleep) -> int:
    entry = dict(cursor.get(resource) or {})
    since = since_override if since_override is not None else entry.get("created")
    resume = entry.get("resume") or {}
    after, newest = None, None
    if resume and resume.get("since") == since:  # an interrupted pass over the same window: continue it
        after, newest = resume.get("after"), resume.get("newest")
    write = WRITERS[resource]
    read = 0
    bar = progress(None, f"Stripe {resource}")
    try:
        for page in stripe_api.iter_pages(client, resource, since=since, starting_after=after, sleep=sleep):
            write(workspace=workspace, objects=page, source_time=timezone.now())
            newest = max([newest or 0, *(int(o.get("created") or 0) for o in page)])
            entry["resume"] = {"since": since, "after": page[-1]["id"], "newest": newest}
            cursor[resource] = entry
            cursor_save(state=state, cursor=cursor, records=len(page))
            read += len(page)
            bar.update(len(page))
    finally:
        bar.close()
    entry.pop("resume", None)
    if newest:
        entry["created"] = max(entry.get("created") or 0, newest)
    cursor[resource] = entry
    cursor_save(state=state, cursor=cursor)
    return read


class Command(BaseCommand):
    help = ("Pull customers, charges, payment intents, refunds, subscriptions, invoices, disputes and payouts "
            "from Stripe (resumable; incremental after the first run).")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="ptd", help="workspace slug (default: ptd)")
        parser.add_argument("--since", help="read objects created on or after this day (YYYY-MM-DD, workspace "
                                            "time) instead of continuing from the cursor")

    def handle(self, *args, workspace, since, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            existing = ", ".join(Workspace.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"no workspace {workspace!r}; existing: {existing}")
        since_at = None
        if since:
            try:
                day = datetime.strptime(since, "%Y-%m-%d").date()
            except ValueError:
                raise CommandError(f"--since must be a day as YYYY-MM-DD, not {since!r}") from None
            since_at = datetime.combine(day, time.min, tzinfo=ZoneInfo(ws.timezone))
        counts = stripe_sync(workspace=ws, since=since_at)
        self.stdout.write("synced from Stripe: " + ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in counts.items()))
