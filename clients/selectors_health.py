"""Reads behind the Overview page (DESIGN §7 row 10), scoped: a coach sees their own clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Avg, Count

from clients.models import HealthScore, Zone
from ptd.scoping import Scope, scoped

ZONES = [Zone.PURPLE, Zone.GREEN, Zone.YELLOW, Zone.RED]


@dataclass
class ZoneCount:
    zone: str
    label: str
    count: int
    week_ago: int | None

    @property
    def change(self) -> int | None:
        return None if self.week_ago is None else self.count - self.week_ago


def latest_scored_day(access: Scope) -> date | None:
    # ORDER BY … LIMIT 1 walks the (workspace, date) index from its end; MAX() over a coach's join scans.
    return scoped(HealthScore, access).order_by("-date").values_list("date", flat=True).first()


def zone_counts_for(access: Scope, day: date) -> list[ZoneCount]:
    """Clients per zone on `day` and 7 days earlier (one query)."""
    week_ago = day - timedelta(days=7)
    rows = (scoped(HealthScore, access).filter(date__in=[day, week_ago]).values_list("date", "zone")
            .annotate(n=Count("id")).order_by())
    counts = {(d, z): n for d, z, n in rows}
    had_week_ago = any(d == week_ago for d, _ in counts)
    return [ZoneCount(z.value, z.label, counts.get((day, z.value), 0),
                      counts.get((week_ago, z.value), 0) if had_week_ago else None) for z in ZONES]


def average_health_trend_for(access: Scope, day: date, days: int = 30) -> list[tuple[date, float]]:
    rows = (scoped(HealthScore, access).filter(date__gt=day - timedelta(days=days), date__lte=day)
            .values("date").annotate(avg=Avg("total")).order_by("date"))
    return [(r["date"], round(float(r["avg"]), 1)) for r in rows]
