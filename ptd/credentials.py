"""Reading and writing integration credentials. The environment variable named like the credential
overrides the stored value for the default workspace (single-business deployments configure by
environment); other workspaces use only what their admins stored."""

import os

from django.conf import settings
from django.db import transaction

from ptd.crypto import decrypt, encrypt
from ptd.models import AuditLog, CredentialKind, IntegrationCredential, Mode, User, Workspace


def env_override(*, workspace: Workspace, kind: str) -> str:
    """The environment's value for this credential when it applies to this workspace, else ""."""
    return os.environ.get(kind, "") if workspace.slug == settings.DEFAULT_WORKSPACE_SLUG else ""


def credential_get(*, workspace: Workspace, kind: str) -> str:
    """The secret to use, or "" when none is configured."""
    if kind not in CredentialKind.values:
        raise ValueError(f"unknown credential {kind!r}")
    if env_value := env_override(workspace=workspace, kind=kind):
        return env_value
    stored = IntegrationCredential.objects.filter(workspace=workspace, kind=kind).values_list(
        "value_encrypted", flat=True
    ).first()
    return decrypt(stored) if stored else ""


@transaction.atomic
def credential_set(*, workspace: Workspace, kind: str, value: str, mode: str = Mode.TEST, actor: User | None) -> IntegrationCredential:
    if kind not in CredentialKind.values:
        raise ValueError(f"unknown credential {kind!r}")
    if mode not in Mode.values:
        raise ValueError(f"mode must be one of {', '.join(Mode.values)}")
    value = value.strip()
    if not value:
        raise ValueError("a credential cannot be empty; delete it instead")
    credential, created = IntegrationCredential.objects.update_or_create(
        workspace=workspace, kind=kind,
        defaults={"value_encrypted": encrypt(value), "mode": mode, "updated_by": actor},
    )
    # The audit entry names the credential, never its value.
    AuditLog.objects.create(
        workspace=workspace, actor=actor, action="credential.created" if created else "credential.updated",
        object_type="IntegrationCredential", object_id=str(credential.pk), detail={"kind": kind, "mode": mode},
    )
    return credential


@transaction.atomic
def credential_delete(*, credential: IntegrationCredential, actor: User | None) -> None:
    AuditLog.objects.create(
        workspace=credential.workspace, actor=actor, action="credential.deleted",
        object_type="IntegrationCredential", object_id=str(credential.pk), detail={"kind": credential.kind},
    )
    credential.delete()
