"""Reads of platform data, scoped (see ptd.scoping)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max
from django.urls import reverse

from ptd.credentials import env_override
from ptd.crypto import UndecryptableCredential, decrypt, mask
from ptd.models import CredentialKind, IntegrationCredential, SyncState, WebhookEvent
from ptd.scoping import Scope, role_may_see, scoped


@dataclass
class DataSource:
    label: str
    source: str
    count: int
    connected: bool
    last_synced: datetime | None
    href: str


def _source_specs():
    from clients.models import Call, Contact, Deal, TrainingSession
    from finance.models import Payment
    from marketing.models import AdInsight, AttributionEvent

    # (label, system, model, sync source keys, credential that connects it)
    return [
        ("Contacts", "HubSpot", Contact, ("hubspot",), CredentialKind.HUBSPOT_ACCESS_TOKEN),
        ("Deals", "HubSpot", Deal, ("hubspot",), CredentialKind.HUBSPOT_ACCESS_TOKEN),
        ("Calls", "CallGear", Call, ("callgear",), CredentialKind.CALLGEAR_ACCESS_TOKEN),
        ("Training sessions", "Sessions feed", TrainingSession, ("sessions",), None),
        ("Payments", "Stripe", Payment, ("stripe",), CredentialKind.STRIPE_SECRET_KEY),
        ("Daily ad insights", "Meta Ads", AdInsight, ("meta",), CredentialKind.META_ACCESS_TOKEN),
        ("Attribution events", "AnyTrack", AttributionEvent, ("anytrack",), CredentialKind.ANYTRACK_WEBHOOK_TOKEN),
    ]


def data_sources_for(scope: Scope) -> list[DataSource]:
    """What is stored per source, counted within the person's scope, with when it last arrived."""
    ws = scope.workspace
    synced = dict(SyncState.objects.filter(workspace=ws).values_list("source").annotate(Max("last_success_at")))
    received = dict(
        WebhookEvent.objects.filter(workspace=ws, processed_at__isnull=False)
        .values_list("source").annotate(Max("processed_at"))
    )
    configured = configured_credentials(ws)
    sources = []
    for label, system, model, keys, credential in _source_specs():
        if not role_may_see(model, scope):
            continue  # e.g. coaches see no finance or ad spend: no card rather than a misleading zero
        count = scoped(model, scope).count()
        times = [t for k in keys for t in (synced.get(k), received.get(k)) if t]
        # A feed without a credential (the sessions feed) counts as connected once it has delivered.
        connected = credential in configured if credential else bool(times)
        href = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") if scope.is_admin else ""
        sources.append(DataSource(label, system, count, connected, max(times) if times else None, href))
    return sources


@dataclass
class CredentialRow:
    kind: str
    label: str
    source: str  # "environment", "stored" or ""
    masked: str
    mode: str


def configured_credentials(workspace) -> set[str]:
    """Kinds of credential that have a value in force for this workspace (environment or stored)."""
    stored = set(IntegrationCredential.objects.filter(workspace=workspace).values_list("kind", flat=True))
    return stored | {k for k in CredentialKind.values if env_override(workspace=workspace, kind=k)}


def credentials_for(scope: Scope) -> list[CredentialRow]:
    """Every credential kind with where its value comes from, masked. Admins only."""
    if not scope.is_admin:
        return []
    stored = {c.kind: c for c in IntegrationCredential.objects.filter(workspace=scope.workspace)}
    rows = []
    for kind, label in CredentialKind.choices:
        source, masked, mode = "", "", ""
        if env_value := env_override(workspace=scope.workspace, kind=kind):
            source, masked = "environment", mask(env_value)
        elif kind in stored:
            source = "stored"
            mode = stored[kind].mode
            try:
                masked = mask(decrypt(stored[kind].value_encrypted))
            except UndecryptableCredential:
                masked = "unreadable — enter it again"
        rows.append(CredentialRow(kind, label, source, masked, mode))
    return rows


@dataclass
class IntegrationStatus:
    key: str
    label: str
    connected: bool
    missing: list[str]
    cadence: str
    last_success: datetime | None
    last_error: str
    last_error_at: datetime | None
    records_synced: int
    webhooks_24h: int
    webhooks_failing: int
    can_sync: bool


def integration_status_for(scope: Scope) -> list[IntegrationStatus]:
    """Each source of the workspace: connected or not, last success and error, volumes (admins only)."""
    from datetime import timedelta

    from django.db.models import Count, Q
    from django.utils import timezone

    from ptd.models import WebhookStatus
    from ptd.sync import PULL_SOURCES

    if not scope.is_admin:
        return []
    ws = scope.workspace
    configured = configured_credentials(ws)
    states = {s.source: s for s in SyncState.objects.filter(workspace=ws)}
    since = timezone.now() - timedelta(hours=24)
    hooks = {row["source"]: row for row in WebhookEvent.objects.filter(workspace=ws).values("source").annotate(
        recent=Count("id", filter=Q(received_at__gte=since)),
        failing=Count("id", filter=Q(status__in=[WebhookStatus.FAILED, WebhookStatus.DEAD])))}
    webhook_only = [("anytrack", "AnyTrack conversions", ("ANYTRACK_WEBHOOK_TOKEN",), "webhook"),
                    ("whatsapp", "WhatsApp messages", ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"), "webhook")]
    rows = []
    for key, label, credentials, cadence, can_sync in (
            [(p.key, p.label, p.credentials, p.cadence, True) for p in PULL_SOURCES]
            + [(k, lbl, c, cad, False) for k, lbl, c, cad in webhook_only]):
        state = states.get(key)
        hook = hooks.get(key, {})
        missing = [c for c in credentials if c not in configured]
        rows.append(IntegrationStatus(
            key=key, label=label, connected=not missing, missing=missing, cadence=cadence,
            last_success=state.last_success_at if state else None, last_error=state.last_error if state else "",
            last_error_at=state.last_error_at if state else None,
            records_synced=state.records_synced if state else 0, webhooks_24h=hook.get("recent", 0),
            webhooks_failing=hook.get("failing", 0), can_sync=can_sync and not missing))
    return rows


def webhook_urls_for(scope: Scope, base_url: str) -> list[tuple[str, str]]:
    """Where each system posts for this workspace; the default workspace also answers on short paths."""
    from django.conf import settings

    prefix = "" if scope.workspace.slug == settings.DEFAULT_WORKSPACE_SLUG else f"{scope.workspace.slug}/"
    return [(system, f"{base_url}/webhooks/{prefix}{path}") for system, path in (
        ("Stripe", "stripe/"), ("HubSpot", "hubspot/"), ("AnyTrack", "anytrack/<ANYTRACK_WEBHOOK_TOKEN>/"),
        ("CallGear", "callgear/<CALLGEAR_WEBHOOK_TOKEN>/"), ("WhatsApp", "whatsapp/"))]


def unmatched_counts_for(scope: Scope) -> list[tuple[str, int, str]]:
    """Records no contact matched yet (they link themselves when one appears), with their admin review list."""
    from clients.models import Call
    from finance.models import Customer, Payment
    from marketing.models import AttributionEvent

    if not scope.is_admin:
        return []
    rows = []
    for label, model in (("Stripe payments", Payment), ("Stripe customers", Customer), ("Calls", Call),
                         ("Attribution events", AttributionEvent)):
        count = model.objects.filter(workspace=scope.workspace, contact__isnull=True).count()
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") + "?matched=no"
        rows.append((label, count, url))
    return rows
