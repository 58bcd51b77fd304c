"""django-q2 entry point of coach performance: snapshots of every workspace's latest scored day."""

import logging

from django.db.models import Max

from ptd.models import Workspace

log = logging.getLogger(__name__)


def build_coach_snapshots() -> str:
    """Daily, after health scoring: every workspace's coach snapshots for its latest health-score day."""
    from clients.coach_performance import coach_snapshots_build
    from clients.models import HealthScore

    latest = dict(HealthScore.objects.values_list("workspace_id").annotate(Max("date")))
    done = []
    for workspace in Workspace.objects.filter(pk__in=list(latest)).order_by("pk"):
        day = latest[workspace.pk]
        result = coach_snapshots_build(workspace=workspace, day=day)
        done.append(f"{workspace.slug} {day}: {result['coaches']} coaches, {result['red_flags']} red flags")
    return "; ".join(done) or "no workspace has health scores yet"
