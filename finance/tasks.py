"""django-q2 entry points of the finance app."""

import logging

from finance.enrichment import hubspot_enrichment_push
from finance.forensics import fraud_alerts_scan
from ptd.credentials import credential_get
from ptd.models import CredentialKind, Workspace
from ptd.sync import SyncFailed, sync_every_workspace

log = logging.getLogger(__name__)


def sync_stripe() -> str:
    """Daily at 01:30 (Asia/Dubai): the Stripe backfill."""
    return sync_every_workspace("stripe")


def _found(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {rule}" for rule, n in counts.items() if n) or "nothing new"


def stripe_forensics() -> str:
    """Daily at 02:00 (Asia/Dubai): the forensics rules over every workspace."""
    return "; ".join(f"{workspace.slug}: {_found(fraud_alerts_scan(workspace=workspace))}"
                     for workspace in Workspace.objects.order_by("pk")) or "no workspace"


def stripe_forensics_workspace(workspace_id: int) -> str:
    """Soon after new Stripe events (finance.forensics.fraud_alerts_scan_soon): one workspace."""
    workspace = Workspace.objects.get(pk=workspace_id)
    return f"{workspace.slug}: {_found(fraud_alerts_scan(workspace=workspace))}"


def hubspot_enrichment() -> str:
    """Daily at 02:30 (Asia/Dubai): Stripe values onto the HubSpot contacts of every workspace connected to
    HubSpot; one workspace's failure (kept on its SyncState and logged) does not stop the others."""
    done = []
    for workspace in Workspace.objects.order_by("pk"):
        if not credential_get(workspace=workspace, kind=CredentialKind.HUBSPOT_ACCESS_TOKEN):
            continue
        try:
            done.append(f"{workspace.slug}: {hubspot_enrichment_push(workspace=workspace)} contacts updated")
        except SyncFailed as exc:
            log.warning("HubSpot enrichment of %s failed: %s", workspace.slug, exc)
            done.append(f"{workspace.slug}: failed ({exc})")
    return "; ".join(done) or "no workspace has HubSpot configured"
