"""django-q2 entry points of the marketing app; they call services and return a short summary."""

import logging

from ptd.credentials import credential_get
from ptd.models import CredentialKind, Workspace

log = logging.getLogger(__name__)


def sync_meta_insights() -> str:
    """Hourly: Meta insights for every workspace with a Meta token and ad account; others are skipped."""
    from marketing.services import meta_insights_sync
    from ptd.sync import SyncFailed

    done = []
    for workspace in Workspace.objects.order_by("pk"):
        if not (credential_get(workspace=workspace, kind=CredentialKind.META_ACCESS_TOKEN)
                and credential_get(workspace=workspace, kind=CredentialKind.META_AD_ACCOUNT_ID)):
            continue
        try:
            totals = meta_insights_sync(workspace=workspace)
        except SyncFailed as exc:  # recorded on SyncState; the other workspaces still sync
            log.warning("Meta insights sync of %s failed: %s", workspace.slug, exc)
            done.append(f"{workspace.slug}: failed ({exc})")
        else:
            done.append(f"{workspace.slug}: {totals['rows']} ad-days")
    return "; ".join(done) or "no workspace has Meta configured"
