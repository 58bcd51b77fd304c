"""django-q2 entry points of the interventions (clients.interventions); each runs every workspace and
returns a short summary. Schedules: ptd/schedules.py."""

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Max
from django.utils import timezone

from ptd.models import Workspace

log = logging.getLogger(__name__)


def open_interventions() -> str:
    """Every 5 minutes: open interventions for the changes of each workspace's latest scored day, so a zone
    downgrade or a new critical flag becomes an intervention within 5 minutes of being scored."""
    from clients.interventions import interventions_open_for_changes
    from clients.models import HealthScore

    done = []
    for workspace in Workspace.objects.order_by("pk"):
        day = HealthScore.objects.filter(workspace=workspace).aggregate(day=Max("date"))["day"]
        if day is None:
            continue
        counts = interventions_open_for_changes(workspace=workspace, day=day)
        done.append(f"{workspace.slug} {day}: {counts['opened']} opened of {counts['changes']} changes")
    return "; ".join(done) or "no workspace has health scores"


def measure_intervention_outcomes() -> str:
    """Daily, after the 09:00 scoring: 7- and 30-day outcomes of interventions due for them today."""
    from clients.interventions import interventions_measure_outcomes

    done = []
    for workspace in Workspace.objects.order_by("pk"):
        today = datetime.now(ZoneInfo(workspace.timezone)).date()
        counts = interventions_measure_outcomes(workspace=workspace, day=today)
        done.append(f"{workspace.slug}: {counts['measured_7d']} at 7 days, {counts['measured_30d']} at 30 days")
    return "; ".join(done) or "no workspace"


def intervention_reminders() -> str:
    """Hourly: an alert for the assignee of every overdue intervention (once a day per intervention)."""
    from clients.interventions import interventions_reminders_due

    now = timezone.now()
    done = []
    for workspace in Workspace.objects.order_by("pk"):
        counts = interventions_reminders_due(workspace=workspace, now=now)
        if counts["overdue"]:
            done.append(f"{workspace.slug}: {counts['alerts']} reminders for {counts['overdue']} overdue")
    return "; ".join(done) or "nothing overdue"
