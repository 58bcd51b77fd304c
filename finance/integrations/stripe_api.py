"""Stripe HTTP client (stripe SDK; no ORM). The base URL comes from STRIPE_API_BASE so tests, staging and
the loopback fake use the same code path as production.

Listing uses the SDK's auto-paging (newest first, `created[gte]` = since). A 429 is not retried by the
SDK, so `iter_objects` waits and resumes after the last object it yielded, a bounded number of times.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator

import stripe

DEFAULT_API_BASE = "https://api.stripe.com"
PAGE_SIZE = 100
RATE_LIMIT_RETRIES = 5
RATE_LIMIT_WAIT_SECONDS = 2.0  # doubled per consecutive 429, with jitter; Stripe sends no Retry-After
RATE_LIMIT_WAIT_CAP_SECONDS = 30.0

# The resources a backfill reads, in the order that lets later ones link to earlier ones.
RESOURCES = ("customers", "charges", "payment_intents", "refunds", "subscriptions", "invoices", "disputes", "payouts")
# Extra list parameters per resource: subscriptions list only non-canceled ones unless asked for all;
# a charge's fee and net live on its balance transaction.
LIST_PARAMS = {"subscriptions": {"status": "all"}, "charges": {"expand": ["data.balance_transaction"]}}

def api_base() -> str:
    return os.environ.get("STRIPE_API_BASE", DEFAULT_API_BASE).rstrip("/")


def make_client(api_key: str, *, max_network_retries: int = 2) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": api_base()}, max_network_retries=max_network_retries)


def rate_limit_wait(attempt: int) -> float:
    ceiling = min(RATE_LIMIT_WAIT_CAP_SECONDS, RATE_LIMIT_WAIT_SECONDS * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def iter_objects(client: stripe.StripeClient, resource: str, *, since: int | None = None,
                 starting_after: str | None = None, retries: int = RATE_LIMIT_RETRIES,
                 sleep: Callable[[float], None] | None = None) -> Iterator[dict]:
    """Every object of `resource` created at or after `since` (Unix seconds), newest first, as plain
    dicts; `starting_after` resumes after an object id. Rate limits are waited out up to `retries` times
    in a row; other errors (and a 429 past the limit) propagate."""
    if resource not in RESOURCES:
        raise ValueError(f"unknown Stripe resource {resource!r}")
    sleep = sleep or time.sleep
    service = getattr(client.v1, resource)
    last, failures = starting_after, 0
    while True:
        params: dict = {"limit": PAGE_SIZE, **LIST_PARAMS.get(resource, {})}
        if since is not None:
            params["created"] = {"gte": int(since)}
        if last:
            params["starting_after"] = last
        try:
            for obj in service.list(params).auto_paging_iter():
                data = obj.to_dict()
                last, failures = data.get("id") or last, 0
                yield data
            return
        except stripe.RateLimitError:
            failures += 1
            if failures > retries:
                raise
            sleep(rate_limit_wait(failures))


def iter_pages(client: stripe.StripeClient, resource: str, *, since: int | None = None,
               starting_after: str | None = None, size: int | None = None, **kwargs) -> Iterator[list[dict]]:
    """`iter_objects` in batches of `size` (default: a page), for set-based writes and a resumable cursor."""
    size = size or PAGE_SIZE
    batch: list[dict] = []
    for obj in iter_objects(client, resource, since=since, starting_after=starting_after, **kwargs):
        batch.append(obj)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
