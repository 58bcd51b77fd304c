"""django-q2 entry points of the finance app."""

from ptd.sync import sync_every_workspace


def sync_stripe() -> str:
    """Daily at 01:30 (Asia/Dubai): the Stripe backfill."""
    return sync_every_workspace("stripe")
