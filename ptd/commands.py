"""Shared bits of management commands."""

from django.core.management.base import CommandError

from ptd.models import Workspace


def workspace_arg(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        existing = ", ".join(Workspace.objects.values_list("slug", flat=True)) or "none"
        raise CommandError(f"no workspace {slug!r}; existing: {existing}")
    return workspace


def day_arg(value: str, option: str = "--date"):
    """A YYYY-MM-DD option as a date, or a CommandError that says the expected form (call_command may
    already pass a date)."""
    from datetime import date

    from django.utils.dateparse import parse_date

    if isinstance(value, date):
        return value
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise CommandError(f"{option} must be a date like 2026-11-25")
    return day
