"""Reporting periods with Asia/Dubai (workspace timezone) day boundaries: [start, end) and the prior
period of equal length. Pure: no ORM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIOD_CHOICES = [
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("last_7_days", "Last 7 days"),
    ("last_30_days", "Last 30 days"),
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("custom", "Custom range"),
]
PERIOD_KEYS = [key for key, _ in PERIOD_CHOICES]


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    first_day: date
    last_day: date  # inclusive
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive end: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, self.tz)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def custom_from(self) -> str:
        return self.first_day.isoformat() if self.key == "custom" else ""

    @property
    def custom_to(self) -> str:
        return self.last_day.isoformat() if self.key == "custom" else ""

    def prior(self) -> Period:
        """The equal-length period just before this one."""
        last = self.first_day - timedelta(days=1)
        return Period(key="prior", label=f"prior {self.days} days", first_day=last - timedelta(days=self.days - 1),
                      last_day=last, tz=self.tz)


def _month_start(d: date) -> date:
    return d.replace(day=1)


def resolve_period(key: str | None, *, today: date, tz: ZoneInfo, date_from: str = "", date_to: str = "",
                   default: str = "last_30_days") -> Period:
    """The period a request asks for; PeriodError names the valid choices when it is not one."""
    key = key or default
    labels = dict(PERIOD_CHOICES)
    if key not in labels:
        raise PeriodError(f"unknown period {key!r}; valid periods: {', '.join(PERIOD_KEYS)}")
    match key:
        case "today":
            first = last = today
        case "yesterday":
            first = last = today - timedelta(days=1)
        case "last_7_days":
            first, last = today - timedelta(days=6), today
        case "last_30_days":
            first, last = today - timedelta(days=29), today
        case "this_month":
            first, last = _month_start(today), today
        case "last_month":
            last = _month_start(today) - timedelta(days=1)
            first = _month_start(last)
        case _:
            try:
                first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
            except ValueError as exc:
                raise PeriodError("a custom period needs from and to as YYYY-MM-DD dates") from exc
            if last < first:
                raise PeriodError("a custom period's 'to' date must not be before its 'from' date")
            if (last - first).days > 366 * 5:
                raise PeriodError("a custom period may span at most five years")
    return Period(key=key, label=labels[key], first_day=first, last_day=last, tz=tz)
