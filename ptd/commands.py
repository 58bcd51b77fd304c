"""Shared bits of management commands."""

from django.core.management.base import CommandError

from ptd.models import Workspace


def workspace_arg(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        existing = ", ".join(Workspace.objects.values_list("slug", flat=True)) or "none"
        raise CommandError(f"no workspace {slug!r}; existing: {existing}")
    return workspace
