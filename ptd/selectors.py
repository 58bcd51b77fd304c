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
