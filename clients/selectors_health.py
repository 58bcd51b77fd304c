"""Reads behind the Overview page (DESIGN §7 row 10), scoped: a coach sees their own clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from decimal import Decimal
from zoneinfo import ZoneInfo

from clients.models import HealthScore, Zone
from ptd import rollups
from ptd.periods import Period
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


def _days(access: Scope, first: date, last: date) -> Period:
    return Period(key="custom", label="", first_day=first, last_day=last, tz=ZoneInfo(access.workspace.timezone))


def zone_counts_for(access: Scope, day: date) -> list[ZoneCount]:
    """Clients per zone on `day` and 7 days earlier (the daily scored_<zone> measures)."""
    week_ago = day - timedelta(days=7)
    counts = rollups.read([f"scored_{z.value}" for z in ZONES], _days(access, week_ago, day), access, by="day")
    had_week_ago = any(week_ago in by_day for by_day in counts.values())
    return [ZoneCount(z.value, z.label, int(counts[f"scored_{z.value}"].get(day, 0)),
                      int(counts[f"scored_{z.value}"].get(week_ago, 0)) if had_week_ago else None) for z in ZONES]


def average_health_trend_for(access: Scope, day: date, days: int = 30) -> list[tuple[date, Decimal]]:
    """Mean health total of the clients scored on each scored day of the `days` up to `day`, oldest first
    (Σ totals ÷ clients scored, the daily health_total and scored measures)."""
    sums = rollups.read(["health_total", "scored"], _days(access, day - timedelta(days=days - 1), day), access,
                        by="day")
    return [(d, (sums["health_total"][d] / n).quantize(Decimal("0.1"))) for d, n in sorted(sums["scored"].items()) if n]
