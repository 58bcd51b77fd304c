"""django-q2 entry points of the finance app; they call services and return a short summary."""

import logging

from ptd.credentials import credential_get
from ptd.models import CredentialKind, Workspace

log = logging.getLogger(__name__)


def sync_stripe() -> str:
    """Daily at 01:30 (Asia/Dubai): the Stripe backfill for every workspace with a Stripe key; the others
    are skipped quietly, and one workspace's failure (recorded on its SyncState) does not stop the rest."""
    from finance.management.commands.sync_stripe import stripe_sync
    from ptd.sync import SyncFailed

    done = []
    for workspace in Workspace.objects.order_by("pk"):
        if not credential_get(workspace=workspace, kind=CredentialKind.STRIPE_SECRET_KEY):
            continue
        try:
            counts = stripe_sync(workspace=workspace)
        except SyncFailed as exc:
            log.warning("Stripe sync of %s failed: %s", workspace.slug, exc)
            done.append(f"{workspace.slug}: failed ({exc})")
        else:
            done.append(f"{workspace.slug}: {sum(counts.values())} objects")
    return "; ".join(done) or "no workspace has Stripe configured"
