"""django-q2 entry points of the clients app's pull syncs."""

from ptd.sync import sync_every_workspace


def sync_callgear() -> str:
    """Every 5 minutes: CallGear calls."""
    return sync_every_workspace("callgear")


def sync_hubspot() -> str:
    """Every 2 minutes: HubSpot changes."""
    return sync_every_workspace("hubspot")
