"""The client health score, as a pure function of one client's aggregates (no ORM, no I/O).

Five dimensions, each 0–100, or None when the client has no data for it (never a silent zero); the total
re-weights over the dimensions present. Defaults (admin-configurable in Health weights and zone bands):

- engagement (30 %): 35 % attended sessions vs the package plan over 14 days, 25 % over 28 days, 20 % booking
  consistency (weeks of the last four with an attended session), 20 % recency (100 within 3 days of the
  last attended session, falling to 0 at 21 days).
- financial (20 %): 100, minus 25 per failed payment in the last 30 days (at most 50), minus 20 when money
  was refunded in the last 90 days, minus up to 30 for the unpaid share of the current package, minus up
  to 30 for an outstanding invoice balance relative to the package value.
- relationship (15 %): 35 % recency of the last interaction (100 within 7 days, 0 at 45), 35 % average
  sentiment of the last 28 days (−1…1 → 0…100), 15 % responsiveness (median reply ≤ 60 min → 100, ≥ 24 h → 0),
  15 % the latest survey score (NPS 0–10 → 0–100); a coach change in the last 8 weeks takes 15 off.
- package health (20 %): whether the sessions left fit the weeks left at the plan's pace, and whether the
  recent burn rate keeps up: 100 × min(1, weekly attended / weekly needed) blended 50/50 with the room
  left; an expired package with sessions unused scores 10.
- momentum (15 %): attendance of the last 4 weeks vs the 4 before (50 = unchanged, 100 = doubled or more,
  0 = stopped), blended 50/50 with the change of the total score over 28 days when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

DIMENSIONS = ("engagement", "financial", "relationship", "package_health", "momentum")
DEFAULT_WEIGHTS = {"engagement": 0.30, "financial": 0.20, "relationship": 0.15, "package_health": 0.20,
                   "momentum": 0.15}
DEFAULT_BANDS = (85, 70, 50)  # purple ≥ 85, green ≥ 70, yellow ≥ 50, else red
TREND_POINTS = 5  # a 7-day change of at least this many points is a trend


@dataclass
class ClientFacts:
    """What the database knows about one client on the scoring day (all counts as of that day)."""

    day: date
    # sessions
    attended_14: int = 0
    attended_28: int = 0
    attended_prev_28: int = 0  # days 29–56 before the day
    weeks_active_4: int = 0  # of the last four weeks, those with an attended session
    days_since_attended: int | None = None
    coaches_56: int = 0  # distinct coaches of sessions in the last 8 weeks
    # current package (in date on the day, else the latest one)
    package_sessions: int | None = None
    package_used: int = 0
    package_value: Decimal | None = None
    package_starts: date | None = None
    package_expires: date | None = None
    # money
    payments_30_failed: int = 0
    last_failed_on: date | None = None
    refunded_90: Decimal = Decimal(0)
    paid_toward_package: Decimal | None = None
    outstanding: Decimal = Decimal(0)
    has_money_records: bool = False
    # relationship
    days_since_interaction: int | None = None
    sentiment_28: float | None = None
    last3_negative: int = 0
    last3_count: int = 0
    response_minutes_median: float | None = None
    survey_score: int | None = None  # 0–10
    # history
    total_7_days_ago: float | None = None
    total_28_days_ago: float | None = None


@dataclass
class Score:
    total: float
    dimensions: dict[str, float | None]
    zone: str
    trend: str
    week_over_week: float | None
    churn_risk: float
    flags: list[dict] = field(default_factory=list)


def _clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return max(low, min(high, value))


def _linear(value: float, full_at: float, zero_at: float) -> float:
    """100 at `full_at` or better, 0 at `zero_at` or worse, straight line between."""
    if full_at < zero_at:
        return _clamp(100 * (zero_at - value) / (zero_at - full_at))
    return _clamp(100 * (value - zero_at) / (full_at - zero_at))


def _weekly_plan(f: ClientFacts) -> float | None:
    """Sessions a week the package plans: its sessions over its length (less the 4 weeks of slack)."""
    if not f.package_sessions or not f.package_starts or not f.package_expires:
        return None
    weeks = max(1.0, ((f.package_expires - f.package_starts).days / 7) - 4)
    return f.package_sessions / weeks


def engagement(f: ClientFacts) -> float | None:
    plan = _weekly_plan(f)
    if plan is None and f.days_since_attended is None:
        return None
    plan = plan or 2.0
    att14 = min(1.0, f.attended_14 / (plan * 2))
    att28 = min(1.0, f.attended_28 / (plan * 4))
    consistency = f.weeks_active_4 / 4
    recency = 0.0 if f.days_since_attended is None else _linear(f.days_since_attended, 3, 21) / 100
    return round(100 * (0.35 * att14 + 0.25 * att28 + 0.2 * consistency + 0.2 * recency), 2)


def financial(f: ClientFacts) -> float | None:
    if not f.has_money_records and f.package_value is None:
        return None
    score = 100.0 - min(50, 25 * f.payments_30_failed)
    if f.refunded_90 > 0:
        score -= 20
    if f.package_value and f.paid_toward_package is not None:
        unpaid_share = max(0.0, 1 - float(f.paid_toward_package / f.package_value))
        score -= 30 * min(1.0, unpaid_share)
    if f.package_value and f.outstanding > 0:
        score -= 30 * min(1.0, float(f.outstanding / f.package_value))
    return round(_clamp(score), 2)


def relationship(f: ClientFacts) -> float | None:
    parts = []  # (weight, score)
    if f.days_since_interaction is not None:
        parts.append((0.35, _linear(f.days_since_interaction, 7, 45)))
    if f.sentiment_28 is not None:
        parts.append((0.35, _clamp(50 * (f.sentiment_28 + 1))))
    if f.response_minutes_median is not None:
        parts.append((0.15, _linear(f.response_minutes_median, 60, 1440)))
    if f.survey_score is not None:
        parts.append((0.15, _clamp(10 * f.survey_score)))
    if not parts:
        return None
    score = sum(w * s for w, s in parts) / sum(w for w, _ in parts)
    if f.coaches_56 > 1:
        score -= 15
    return round(_clamp(score), 2)


def package_health(f: ClientFacts) -> float | None:
    if not f.package_sessions or not f.package_expires:
        return None
    remaining = max(0, f.package_sessions - f.package_used)
    days_left = (f.package_expires - f.day).days
    if remaining == 0:
        return 100.0  # used up: a renewal conversation, not a risk in itself
    if days_left < 0:
        return 10.0  # expired with sessions unused
    plan = _weekly_plan(f) or 2.0
    weeks_left = max(days_left / 7, 0.5)
    needed = remaining / weeks_left  # sessions a week to use what is left in time
    room = _clamp(100 * (plan * weeks_left) / remaining) / 100  # can the plan's pace still use it all?
    burn = (f.attended_28 / 4) / needed if needed else 1.0
    return round(100 * (0.5 * min(1.0, room) + 0.5 * min(1.0, burn)), 2)


def momentum_parts(f: ClientFacts) -> list[float]:
    """The attendance part of momentum (the score's own 28-day change is added by score())."""
    part = attendance_momentum(f)
    return [] if part is None else [part]


def attendance_momentum(f: ClientFacts) -> float | None:
    """Attendance of the last 4 weeks vs the 4 before: 50 unchanged, 100 doubled or more, 0 stopped."""
    if not (f.attended_28 or f.attended_prev_28):
        return None
    change = (f.attended_28 - f.attended_prev_28) / max(f.attended_prev_28, 1)
    return _clamp(50 + 50 * max(-1.0, min(1.0, change)))


def zone_for(total: float, bands: tuple[int, int, int] = DEFAULT_BANDS) -> str:
    purple, green, yellow = bands
    if total >= purple:
        return "purple"
    if total >= green:
        return "green"
    return "yellow" if total >= yellow else "red"


def _weighted_total(dims: dict[str, float | None], weights: dict[str, float]) -> float:
    present = {k: v for k, v in dims.items() if v is not None}
    if not present:
        return 0.0
    weight_sum = sum(weights[k] for k in present)
    return round(sum(weights[k] * v for k, v in present.items()) / weight_sum, 2)


def flags_for(f: ClientFacts) -> list[dict]:
    """Named early warnings, each with the evidence behind it."""
    flags = []
    in_package = f.package_expires is not None and f.package_expires >= f.day
    if in_package and (f.days_since_attended is None or f.days_since_attended >= 14):
        days = "ever" if f.days_since_attended is None else f"{f.days_since_attended} days"
        flags.append({"code": "no_recent_session", "severity": "critical",
                      "text": "no attended session in 14 days", "evidence": {"since_last_attended": days}})
    if f.payments_30_failed:
        flags.append({"code": "payment_failed", "severity": "critical",
                      "text": f"payment failed on {f.last_failed_on:%Y-%m-%d}" if f.last_failed_on else "payment failed",
                      "evidence": {"failed_payments_30d": f.payments_30_failed}})
    if in_package and f.package_sessions:
        remaining = max(0, f.package_sessions - f.package_used)
        days_left = (f.package_expires - f.day).days
        plan = _weekly_plan(f) or 2.0
        if days_left <= 14 and remaining > plan * max(days_left, 0) / 7 + 1:
            flags.append({"code": "package_expiring_unused", "severity": "warning",
                          "text": f"package expires in {days_left} days with {remaining} sessions unused",
                          "evidence": {"days_left": days_left, "sessions_unused": remaining}})
    if f.last3_count >= 3 and f.last3_negative == 3:
        flags.append({"code": "negative_sentiment", "severity": "warning",
                      "text": "negative sentiment in the last 3 interactions", "evidence": {"negative": 3}})
    if f.coaches_56 > 1:
        flags.append({"code": "coach_changed", "severity": "info", "text": "coach changed",
                      "evidence": {"coaches_last_8_weeks": f.coaches_56}})
    if f.outstanding > 0:
        flags.append({"code": "outstanding_balance", "severity": "warning",
                      "text": f"outstanding balance AED {f.outstanding:,.0f}", "evidence": {"aed": str(f.outstanding)}})
    if f.attended_prev_28 >= 4 and f.attended_28 <= f.attended_prev_28 / 2:
        drop = round(100 * (1 - f.attended_28 / f.attended_prev_28))
        flags.append({"code": "attendance_drop", "severity": "warning",
                      "text": f"attendance down {drop}% vs the prior 4 weeks",
                      "evidence": {"last_28": f.attended_28, "prior_28": f.attended_prev_28}})
    return flags


def rule_based_churn_risk(total: float, flags: list[dict]) -> float:
    """Used until a churn model is trained: the inverse of health, raised by critical warnings."""
    critical = sum(1 for fl in flags if fl["severity"] == "critical")
    return round(_clamp(100 - total + 12 * critical), 2)


def score(f: ClientFacts, *, weights: dict[str, float] | None = None,
          bands: tuple[int, int, int] = DEFAULT_BANDS) -> Score:
    weights = weights or DEFAULT_WEIGHTS
    dims = {"engagement": engagement(f), "financial": financial(f), "relationship": relationship(f),
            "package_health": package_health(f), "momentum": None}
    parts = momentum_parts(f)
    if f.total_28_days_ago is not None:  # the score's own change over 28 days: ±20 points → 0 / 100
        parts.append(_clamp(50 + 2.5 * (_weighted_total(dims, weights) - f.total_28_days_ago)))
    dims["momentum"] = round(sum(parts) / len(parts), 2) if parts else None
    total = _weighted_total(dims, weights)
    flags = flags_for(f)
    wow = None if f.total_7_days_ago is None else round(total - f.total_7_days_ago, 2)
    trend = "stable" if wow is None or abs(wow) < TREND_POINTS else ("improving" if wow > 0 else "declining")
    missing = [k for k, v in dims.items() if v is None]
    if missing:
        flags.append({"code": "dimensions_missing", "severity": "info",
                      "text": f"no data for {', '.join(m.replace('_', ' ') for m in missing)}: total re-weighted",
                      "evidence": {"missing": missing}})
    return Score(total=total, dimensions=dims, zone=zone_for(total, bands), trend=trend, week_over_week=wow,
                 churn_risk=rule_based_churn_risk(total, flags), flags=flags)
