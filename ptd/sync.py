"""What every pull sync shares: its SyncState row (resumable cursor, last success, last error), the
credential check that ends a command with one clear line, and a progress bar on terminals."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from ptd.credentials import credential_get
from ptd.models import SyncState, Workspace


class SyncFailed(CommandError):
    """A sync stopped: the message is one line that says what to fix."""


def require_credential(*, workspace: Workspace, kind: str, what: str) -> str:
    value = credential_get(workspace=workspace, kind=kind)
    if not value:
        raise SyncFailed(f"{what} is not configured for workspace {workspace.slug}: set {kind} "
                         f"(environment) or add it in Settings → Integrations")
    return value


def sync_state(*, workspace: Workspace, source: str) -> SyncState:
    state, _ = SyncState.objects.get_or_create(workspace=workspace, source=source)
    return state


def cursor_save(*, state: SyncState, cursor: dict, records: int = 0) -> None:
    """Persist progress as it is made, so an interrupted sync resumes where it stopped."""
    state.cursor = cursor
    state.records_synced += records
    state.save(update_fields=["cursor", "records_synced"])


@contextmanager
def sync_run(*, workspace: Workspace, source: str):
    """Record the start, then success or the one-line error, of one sync run."""
    state = sync_state(workspace=workspace, source=source)
    state.last_started_at = timezone.now()
    state.save(update_fields=["last_started_at"])
    try:
        yield state
    except Exception as exc:
        with transaction.atomic():
            SyncState.objects.filter(pk=state.pk).update(last_error=str(exc)[:2000], last_error_at=timezone.now())
        raise
    SyncState.objects.filter(pk=state.pk).update(last_success_at=timezone.now(), last_error="")


def progress(total: int | None, desc: str):
    """A tqdm bar on a terminal; a silent stand-in elsewhere (worker logs, tests)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" records", disable=not sys.stderr.isatty())


@dataclass(frozen=True)
class PullSource:
    key: str  # SyncState.source
    label: str
    func: str  # "module.function(*, workspace)" running one sync
    credentials: tuple[str, ...]
    cadence: str


PULL_SOURCES = [
    PullSource("hubspot", "HubSpot", "clients.hubspot_sync.hubspot_sync", ("HUBSPOT_ACCESS_TOKEN",), "every 2 minutes"),
    PullSource("callgear", "CallGear", "clients.calls.calls_sync_callgear", ("CALLGEAR_ACCESS_TOKEN",), "every 5 minutes"),
    PullSource("meta", "Meta Ads insights", "marketing.services.meta_insights_sync",
               ("META_ACCESS_TOKEN", "META_AD_ACCOUNT_ID"), "hourly"),
    PullSource("stripe", "Stripe", "finance.management.commands.sync_stripe.stripe_sync", ("STRIPE_SECRET_KEY",),
               "daily at 01:30"),
]


def pull_source(key: str) -> PullSource:
    for source in PULL_SOURCES:
        if source.key == key:
            return source
    raise KeyError(key)


def _run(source: PullSource, workspace: Workspace):
    from importlib import import_module

    module, func = source.func.rsplit(".", 1)
    return getattr(import_module(module), func)(workspace=workspace)


def _summary(result) -> str:
    if isinstance(result, dict):
        return ", ".join(f"{n} {k}" for k, n in result.items() if n) or "nothing new"
    return str(result)


def sync_now(workspace_id: int, source_key: str) -> str:
    """Worker task behind Settings → "Sync now": one source, one workspace (errors land on SyncState)."""
    source = pull_source(source_key)
    workspace = Workspace.objects.get(pk=workspace_id)
    try:
        return f"{source.label} sync of {workspace.slug}: {_summary(_run(source, workspace))}"
    except SyncFailed as exc:
        return f"{source.label} sync of {workspace.slug} failed: {exc}"


def sync_every_workspace(source_key: str) -> str:
    """Scheduled syncs: every workspace that has the source's credentials; one workspace's failure (kept on
    its SyncState and logged) does not stop the others."""
    import logging

    source = pull_source(source_key)
    done = []
    for workspace in Workspace.objects.order_by("pk"):
        if not all(credential_get(workspace=workspace, kind=kind) for kind in source.credentials):
            continue
        try:
            done.append(f"{workspace.slug}: {_summary(_run(source, workspace))}")
        except SyncFailed as exc:
            logging.getLogger(__name__).warning("%s sync of %s failed: %s", source.label, workspace.slug, exc)
            done.append(f"{workspace.slug}: failed ({exc})")
    return "; ".join(done) or f"no workspace has {source.label} configured"
