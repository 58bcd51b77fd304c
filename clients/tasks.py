"""django-q2 entry points of the clients app; they call services and return a short summary."""

import logging

from ptd.credentials import credential_get
from ptd.models import CredentialKind, Workspace

log = logging.getLogger(__name__)


def sync_callgear() -> str:
    """Every 5 minutes: CallGear calls for every workspace with a CallGear token; others are skipped."""
    from clients.calls import calls_sync_callgear
    from ptd.sync import SyncFailed

    done = []
    for workspace in Workspace.objects.order_by("pk"):
        if not credential_get(workspace=workspace, kind=CredentialKind.CALLGEAR_ACCESS_TOKEN):
            continue
        try:
            totals = calls_sync_callgear(workspace=workspace)
        except SyncFailed as exc:  # recorded on SyncState; the other workspaces still sync
            log.warning("CallGear sync of %s failed: %s", workspace.slug, exc)
            done.append(f"{workspace.slug}: failed ({exc})")
        else:
            done.append(f"{workspace.slug}: {totals['calls']} calls")
    return "; ".join(done) or "no workspace has CallGear configured"


def sync_hubspot() -> str:
    """Every 2 minutes: HubSpot changes for every workspace with a HubSpot token; others are skipped."""
    from clients.hubspot_sync import hubspot_sync
    from ptd.sync import SyncFailed

    done = []
    for workspace in Workspace.objects.order_by("pk"):
        if not credential_get(workspace=workspace, kind=CredentialKind.HUBSPOT_ACCESS_TOKEN):
            continue
        try:
            counts = hubspot_sync(workspace=workspace)
        except SyncFailed as exc:  # recorded on SyncState; the other workspaces still sync
            log.warning("HubSpot sync of %s failed: %s", workspace.slug, exc)
            done.append(f"{workspace.slug}: failed ({exc})")
        else:
            done.append(f"{workspace.slug}: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    return "; ".join(done) or "no workspace has HubSpot configured"
