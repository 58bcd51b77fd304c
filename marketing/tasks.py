"""django-q2 entry points of the marketing app."""

from ptd.sync import sync_every_workspace


def sync_meta_insights() -> str:
    """Hourly: Meta ads insights."""
    return sync_every_workspace("meta")
