"""The stored member figures (PeriodMemberFigures): the Executive page's member KPIs of every named period of today
and of its prior, workspace-wide, so a page reads a row where it would join 80,000 members to their scores and
attended months per period.

A day table of ptd.rollups, kept by the same dirty marks: the scores' and sessions' own triggers mark their days,
and the membership spans' triggers (clients.membership) the earliest day a package or subscription write changed.
Until the refresh, readers compute live what those marks make stale (clients.metrics: a whole period, its scores'
figures or its trained count); rollups_refresh replaces every stored period ending on or after the first marked
day, the 03:15 rebuild all of them."""

from datetime import date
from zoneinfo import ZoneInfo

from django.utils import timezone

from clients.metrics import MEMBER_FIGURE_SOURCES, live_member_figures
from clients.models import PeriodMemberFigures
from ptd.models import Role, Workspace
from ptd.periods import PERIOD_KEYS, Period, resolve_period
from ptd.rollups import day_table
from ptd.scoping import Scope


def named_periods(workspace: Workspace, today: date) -> list[Period]:
    """Every named period of `today` (the period menu, without custom ranges) and each one's prior."""
    tz = ZoneInfo(workspace.timezone)
    periods = [resolve_period(key, today=today, tz=tz) for key in PERIOD_KEYS if key != "custom"]
    return [*periods, *(period.prior() for period in periods)]


def member_periods_store(*, workspace: Workspace, runs: list[tuple[date, date]] | None, today: date | None = None) -> int:
    """Drop the stored periods ending on or after the first dirty day (every one when runs is None) and those no
    longer named, then compute the named periods of today (the workspace's, unless given) that are missing, in one
    statement; returns the rows written."""
    stored = PeriodMemberFigures.objects.filter(workspace=workspace)
    (stored if runs is None else stored.filter(last_day__gte=min(first for first, _ in runs))).delete()
    today = today or timezone.localdate(timezone=ZoneInfo(workspace.timezone))
    named = {(p.first_day, p.last_day): p for p in named_periods(workspace, today)}
    kept = {(first, last): pk for pk, first, last in stored.values_list("pk", "first_day", "last_day")}
    stored.filter(pk__in=[pk for days, pk in kept.items() if days not in named]).delete()
    missing = [period for days, period in named.items() if days not in kept]
    if not missing:
        return 0
    whole_workspace = Scope(user_id=0, workspace=workspace, role=Role.ADMIN, staff_id=None)
    rows = [PeriodMemberFigures(workspace=workspace, first_day=p.first_day, last_day=p.last_day, members=f.members,
                                trained=f.trained, avg_health=f.avg_health, at_risk_revenue=f.at_risk_revenue)
            for p, f in zip(missing, live_member_figures(whole_workspace, missing), strict=True)]
    return len(PeriodMemberFigures.objects.bulk_create(rows))


day_table(PeriodMemberFigures._meta.db_table, sources=MEMBER_FIGURE_SOURCES, store=member_periods_store)
