"""Writes of the platform app (workspaces, memberships)."""

from django.apps import apps
from django.db import transaction

from ptd.defaults import seed_workspace_defaults
from ptd.models import Membership, User, Workspace


@transaction.atomic
def workspace_create(*, name: str, slug: str, timezone: str = "Asia/Dubai", currency: str = "AED") -> Workspace:
    workspace = Workspace.objects.create(name=name, slug=slug, timezone=timezone, currency=currency)
    workspace_ensure_defaults(workspace=workspace)
    return workspace


def workspace_ensure_defaults(*, workspace: Workspace) -> None:
    seed_workspace_defaults(
        workspace,
        PipelineStage=apps.get_model("clients", "PipelineStage"),
        FunnelThreshold=apps.get_model("ptd", "FunnelThreshold"),
        Benchmark=apps.get_model("ptd", "Benchmark"),
        HealthConfig=apps.get_model("clients", "HealthConfig"),
    )


@transaction.atomic
def membership_set(*, user: User, workspace: Workspace, role: str, staff=None, actor: User | None = None) -> Membership:
    """Give `user` a role in `workspace` (audit-logged by ptd.signals)."""
    membership = Membership.objects.filter(user=user, workspace=workspace).first() or Membership(
        user=user, workspace=workspace
    )
    membership.role, membership.staff, membership._actor = role, staff, actor
    membership.full_clean(validate_unique=False)
    membership.save()
    return membership
