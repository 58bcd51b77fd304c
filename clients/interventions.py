"""Interventions (seed 001 §4): opened automatically when a client's health changes for the worse, worked
through a small workflow, reminded when overdue, and measured 7 and 30 days later. Every write is set-based:
a fixed number of queries whatever the number of clients.

Opening (`interventions_open_for_changes`, every 5 minutes for the latest scored day)
------------------------------------------------------------------------------------
Each client's HealthScore on the day is compared with their previous scored day (the latest earlier row).
A change opens an intervention when

- the zone went down (purple > green > yellow > red), or
- a critical flag code (no_recent_session, payment_failed) is present that was not present the previous
  time (on a client's first scored day every critical flag counts as new; the zone alone does not).

The kind comes from the day's zone and flags, first matching rule wins:

    #  when                                                              kind                 variant
    1  zone red and (a critical flag, or the zone fell 2+ bands)         emergency
    2  no_recent_session                                                 re_engagement
    3  payment_failed                                                    proactive_checkin    billing
    4  package_expiring_unused                                           upgrade_opportunity  (renewal: use
                                                                                              the sessions left)
    5  negative_sentiment, and no coach change in the last 8 weeks       coach_reassignment
    6  coach_changed (with or without negative sentiment)                proactive_checkin    new coach
    7  outstanding_balance                                               proactive_checkin    billing
    8  no package in date on the day (the last one has ended)            special_promotion    (win-back offer)
    9  anything else (a downgrade from attendance_drop, or across        proactive_checkin
       dimensions without a named warning)

Never two open (open or in progress) interventions of the same kind for one client: a change whose kind is
already open for the client is skipped, and so is one whose kind was already opened for the client since the
start of the day (the 5-minute task re-reads the same day; an intervention closed in between is not reopened
for the same change). Runs of one workspace are serialised by an advisory lock.

- trigger: what changed ("zone green → yellow; new critical: payment failed on 2026-11-02").
- root cause: the score change and the texts of the day's flags (critical first), then the revenue at risk.
- recommended action: per kind (RECOMMENDED_ACTIONS); message draft: per kind and variant (TEMPLATES),
  personalised with the client's first name, the sender (the coach, or the business for coach reassignment),
  sessions left, the package's expiry date, days since the last session, the failed payment or balance due.
- success probability (%): of the done interventions of that kind for clients who were in the same zone at
  creation with a measured 30-day outcome, the share whose 30-day health delta was positive; None ("no
  history yet") with fewer than 5 such outcomes (clients.selectors_interventions).
- priority: urgency × revenue at risk.
    urgency = zone points (red 3, yellow 2, green 1, purple 1) + 1 per critical flag on the day  (1 … 5)
    revenue at risk (AED) = value left on the package in date (value × sessions left / sessions purchased,
        sessions used being the attended or late-cancelled sessions linked to it, as the health engine counts
        them) + expected renewal (the latest package's value × the renewal rate)
    renewal rate = of the packages that ended in the 365 days before the day, the share whose client started
        another package by 30 days after the end; 0.5 while fewer than 10 packages ended.
    score = urgency × max(revenue at risk, AED 1,000)   (a client without package value still matters)
    level: critical ≥ 20,000; high ≥ 10,000; medium ≥ 4,000; low below. An emergency is at least high.
  due: critical 24 h, high 48 h, medium 3 days, low 7 days after opening. The queue orders by level, then by
  score (when the model stores it), then due time (clients.selectors_interventions.interventions_queue_for).
- assignee: the client's coach when active; else the first active staff of kind admin; else nobody (admins
  see unassigned ones). A coach reassignment goes to an admin (else nobody), never to the coach in question.

Workflow (`intervention_update`)
--------------------------------
open → in_progress or dismissed; in_progress → done or dismissed; done and dismissed are final. Closing
(done or dismissed) needs an outcome note and sets completed_at. Admins may update any intervention of their
workspace; a coach only those assigned to their staff record; setters and viewers none.

Outcomes (`interventions_measure_outcomes`, daily after scoring), c = the local day of creation
------------------------------------------------------------------------------------------------
- health_delta_7d (from day c + 7): total of the latest score in (c + 3, c + 7] − total of the latest score in
  (c − 7, c]; left empty (and retried daily) while either is missing.
- at day c + 30, once: health_delta_30d likewise with (c + 23, c + 30]; sessions_recovered = attended
  sessions in the 30 days after the opening time − in the 30 days before, floor 0; revenue_protected (AED) =
  the value of packages starting in (c, c + 30] for the client, else — when the client still attends (an
  attended session in days 16–30 after opening) — the value left on their package in date on c + 30 (as for
  revenue at risk), else 0.
- Interventions older than 120 days are no longer looked at.

Reminders (`interventions_reminders_due`, hourly)
------------------------------------------------
Open or in-progress interventions past their due time raise an Alert (kind "intervention_overdue") for the
assignee, at most one per intervention per local day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from clients.models import (Alert, Contact, HealthScore, Intervention, InterventionStatus, Package, Priority,
                            Staff, StaffKind, TrainingSession)
from clients.selectors_interventions import OPEN_STATUSES, outcome_history, success_probability
from ptd.bulk import fetch_rows as _rows, table as _t
from ptd.live import publish
from ptd.models import AuditLog, Role, Workspace
from ptd.scoping import Scope

TOPIC = "interventions"
ZONE_RANK = {"red": 0, "yellow": 1, "green": 2, "purple": 3}
ZONE_URGENCY = {"red": 3, "yellow": 2, "green": 1, "purple": 1}
REVENUE_FLOOR = Decimal(1000)
PRIORITY_THRESHOLDS = ((Priority.CRITICAL, Decimal(20000)), (Priority.HIGH, Decimal(10000)),
                       (Priority.MEDIUM, Decimal(4000)))
DUE_AFTER = {Priority.CRITICAL: timedelta(hours=24), Priority.HIGH: timedelta(hours=48),
             Priority.MEDIUM: timedelta(days=3), Priority.LOW: timedelta(days=7)}
DEFAULT_RENEWAL_RATE = Decimal("0.5")
RENEWAL_MIN_PACKAGES = 10
RENEWAL_WINDOW_DAYS = 30
MEASURE_LOOKBACK_DAYS = 120
OVERDUE_ALERT_KIND = "intervention_overdue"
CRITICAL_CODES = ("no_recent_session", "payment_failed")
NOT_A_CAUSE = {"dimensions_missing"}

TRANSITIONS = {
    InterventionStatus.OPEN: {InterventionStatus.IN_PROGRESS, InterventionStatus.DISMISSED},
    InterventionStatus.IN_PROGRESS: {InterventionStatus.DONE, InterventionStatus.DISMISSED},
    InterventionStatus.DONE: set(),
    InterventionStatus.DISMISSED: set(),
}
CLOSED = {InterventionStatus.DONE, InterventionStatus.DISMISSED}

RECOMMENDED_ACTIONS = {
    "emergency": "Call the client today (a call, not a message): find out what has changed, agree one concrete "
                 "next session, and tell the manager if you cannot reach them within 24 hours.",
    "re_engagement": "Run the re-engagement sequence: send the message below now, call after 2 days if there is "
                     "no reply, and offer two concrete session slots this week. Log every touch.",
    "proactive_checkin:billing": "Contact the client about the failed payment or the balance due within 48 hours: "
                                 "confirm the card or arrange another way to pay. Keep it supportive, not a "
                                 "collection call.",
    "proactive_checkin:new_coach": "Check in on the coach change: ask how the first sessions with the new coach "
                                   "went and whether the schedule and style suit them.",
    "proactive_checkin": "Book a short wellness check-in call: ask how training feels, review goals and "
                         "schedule, and agree any change to the plan.",
    "upgrade_opportunity": "Book the remaining sessions before the expiry date, then open the renewal "
                           "conversation: propose the next package (or an extension) at the next session.",
    "coach_reassignment": "A manager reviews the fit: call the client for candid feedback, read the recent "
                          "interactions, and offer a trial session with another coach if the fit is poor.",
    "special_promotion": "Send a win-back offer (a returning-client incentive the manager approves) and follow "
                         "up by call within 3 days.",
}

TEMPLATES = {
    "emergency": "Hi {first_name}, it's {sender} from {business}. {concern}, and I wanted to reach out personally: "
                 "is everything okay? I'd like to call you today to help you get back on track. When suits you?",
    "re_engagement": "Hi {first_name}, {sender} here from {business}. We haven't seen you for {since_last} and we "
                     "miss you! You still have {sessions_left} on your package{until}. Shall I hold a slot for you "
                     "this week? Just reply with a day and time that suit you.",
    "proactive_checkin:billing": "Hi {first_name}, it's {sender} from {business}. {payment}. No worries, it "
                                 "happens: could you update your card or settle it, or tell me if another way to pay "
                                 "suits you better? Happy to help if anything has changed.",
    "proactive_checkin:new_coach": "Hi {first_name}, it's {sender} from {business}. How are your sessions going "
                                   "since the coach change? I want to make sure the schedule and style feel right "
                                   "for you. Anything you'd like us to adjust?",
    "proactive_checkin": "Hi {first_name}, it's {sender} from {business}. Just checking in: how are you feeling "
                         "about your training lately?{observation} If anything in your plan or schedule should "
                         "change, tell me and we'll sort it.",
    "upgrade_opportunity": "Hi {first_name}, {sender} here from {business}. Your package runs until {expires_on} "
                           "and you still have {sessions_left} left, so let's book them in so none go to waste. "
                           "I'd also love to plan your next block with you: shall we talk at your next session?",
    "coach_reassignment": "Hi {first_name}, this is the {business} team. We want every session to feel right for "
                          "you, and we'd value your honest view on how training with {coach} is going. Would you "
                          "be open to a quick call? If another coach's style would suit you better, we'll arrange it.",
    "special_promotion": "Hi {first_name}, it's {sender} from {business}. Your last package ended on {expired_on} "
                         "and we'd love to have you back: we're holding a returning-client offer for you this "
                         "month. Reply and I'll send you the details.",
}


# --- pure rules ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KindChoice:
    kind: str
    variant: str  # "" or a template/action variant ("billing", "new_coach")
    rule: int  # the number of the rule in the module docstring's table

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.variant}" if self.variant else self.kind


def choose_kind(*, zone: str, previous_zone: str | None, codes: set[str], package_in_date: bool) -> KindChoice:
    """The intervention kind for a change (the table in the module docstring)."""
    fell = ZONE_RANK[previous_zone] - ZONE_RANK[zone] if previous_zone else 0
    if zone == "red" and (codes & set(CRITICAL_CODES) or fell >= 2):
        return KindChoice("emergency", "", 1)
    if "no_recent_session" in codes:
        return KindChoice("re_engagement", "", 2)
    if "payment_failed" in codes:
        return KindChoice("proactive_checkin", "billing", 3)
    if "package_expiring_unused" in codes:
        return KindChoice("upgrade_opportunity", "", 4)
    if "negative_sentiment" in codes and "coach_changed" not in codes:
        return KindChoice("coach_reassignment", "", 5)
    if "coach_changed" in codes:
        return KindChoice("proactive_checkin", "new_coach", 6)
    if "outstanding_balance" in codes:
        return KindChoice("proactive_checkin", "billing", 7)
    if not package_in_date:
        return KindChoice("special_promotion", "", 8)
    return KindChoice("proactive_checkin", "", 9)


def urgency_for(*, zone: str, flags: list[dict]) -> int:
    return ZONE_URGENCY[zone] + sum(1 for f in flags if f.get("severity") == "critical")


def priority_for(*, urgency: int, revenue_at_risk: Decimal, kind: str) -> tuple[str, Decimal]:
    """(level, score) with score = urgency × max(revenue at risk, REVENUE_FLOOR)."""
    score = (urgency * max(revenue_at_risk, REVENUE_FLOOR)).quantize(Decimal("0.01"))
    level = next((level for level, floor in PRIORITY_THRESHOLDS if score >= floor), Priority.LOW)
    if kind == "emergency" and level in (Priority.MEDIUM, Priority.LOW):
        level = Priority.HIGH
    return level, score


def _aed(value: Decimal) -> str:
    return f"AED {value:,.0f}"


def _day_text(d: date | None) -> str:
    return f"{d.day} {d:%b %Y}" if d else ""


def _sessions_text(n: int | None) -> str:
    if n is None:
        return "sessions"
    return f"{n} session" if n == 1 else f"{n} sessions"


def _flag(flags: list[dict], code: str) -> dict | None:
    return next((f for f in flags if f.get("code") == code), None)


def message_draft(*, choice: KindChoice, first_name: str, sender: str, business: str, coach: str,
                  flags: list[dict], package: _Package | None) -> str:
    """The personalised message for the client, from TEMPLATES."""
    no_session = _flag(flags, "no_recent_session")
    since = (no_session or {}).get("evidence", {}).get("since_last_attended")
    since_last = "a while" if not since or since == "ever" else since
    payment = _flag(flags, "payment_failed")
    balance = _flag(flags, "outstanding_balance")
    if payment:
        text = payment.get("text") or "payment failed"  # "payment failed on 2026-11-02"
        if text.startswith("payment failed"):
            payment_sentence = "Your last payment didn't go through" + text[len("payment failed"):]
        else:
            payment_sentence = text[:1].upper() + text[1:]
    elif balance:
        aed = (balance.get("evidence") or {}).get("aed")
        payment_sentence = (f"I noticed a balance of {_aed(Decimal(aed))} due on your account" if aed
                            else "I noticed a balance due on your account")
    else:
        payment_sentence = "I wanted to check your payment details are up to date"
    expiring = _flag(flags, "package_expiring_unused")
    left = (expiring or {}).get("evidence", {}).get("sessions_unused")
    if left is None and package is not None:
        left = package.sessions_left
    in_date = package is not None and package.in_date
    if no_session:
        concern = f"We haven't seen you at a session for {since_last}"
    elif payment:
        concern = "Your last payment didn't go through"
    else:
        concern = "I noticed your training has slipped lately"
    attendance = _flag(flags, "attendance_drop")
    observation = " I noticed you've been in less often than usual." if attendance else ""
    values = {
        "first_name": first_name or "there", "sender": sender, "business": business, "coach": coach or "your coach",
        "since_last": since_last, "sessions_left": _sessions_text(left),
        "until": f" (valid until {_day_text(package.expires_on)})" if in_date else "",
        "expires_on": _day_text(package.expires_on) if package else "the end of your package",
        "expired_on": _day_text(package.expires_on) if package else "a while ago",
        "payment": payment_sentence, "concern": concern, "observation": observation,
    }
    return TEMPLATES.get(choice.key, TEMPLATES[choice.kind]).format(**values)


# --- data for one run --------------------------------------------------------------------------------

@dataclass
class _Change:
    contact_id: int
    zone: str
    total: Decimal
    flags: list[dict]
    previous_zone: str | None
    previous_total: Decimal | None
    previous_date: date | None
    previous_codes: set[str]
    first_name: str
    coach_id: int | None
    is_demo: bool

    @property
    def codes(self) -> set[str]:
        return {f.get("code") for f in self.flags}

    @property
    def new_critical(self) -> list[dict]:
        return [f for f in self.flags if f.get("severity") == "critical" and f.get("code") not in self.previous_codes]

    @property
    def downgraded(self) -> bool:
        return self.previous_zone is not None and ZONE_RANK[self.zone] < ZONE_RANK[self.previous_zone]


@dataclass
class _Package:
    value: Decimal
    sessions_purchased: int
    sessions_used: int
    expires_on: date
    in_date: bool

    @property
    def sessions_left(self) -> int:
        return max(0, self.sessions_purchased - self.sessions_used)

    @property
    def value_left(self) -> Decimal:
        if not self.in_date or not self.sessions_purchased:
            return Decimal(0)
        return (self.value * self.sessions_left / self.sessions_purchased).quantize(Decimal("0.01"))


def _json(value) -> list:
    if value is None:
        return []
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _lock(workspace: Workspace, name: str) -> None:
    """Serialise runs of one workspace (released at the end of the transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{name}:{workspace.pk}"])


_ZONE_RANK_SQL = "CASE {col} WHEN 'purple' THEN 3 WHEN 'green' THEN 2 WHEN 'yellow' THEN 1 ELSE 0 END"


def _changes(workspace: Workspace, day: date) -> list[_Change]:
    """Clients whose score on `day` is a downgrade or carries a new critical flag, vs their previous row."""
    h = _t(HealthScore)
    rows = _rows(f"""
        SELECT cur.contact_id, cur.zone, cur.total, cur.flags, prev.zone, prev.total, prev.date, prev.flags,
               c.first_name, c.coach_id, c.is_demo
        FROM {h} cur
        JOIN {_t(Contact)} c ON c.id = cur.contact_id
        LEFT JOIN LATERAL (
            SELECT p.zone, p.total, p.date, p.flags FROM {h} p
            WHERE p.contact_id = cur.contact_id AND p.date < cur.date ORDER BY p.date DESC LIMIT 1) prev ON true
        WHERE cur.workspace_id = %(ws)s AND cur.date = %(day)s
          AND ((prev.zone IS NOT NULL AND {_ZONE_RANK_SQL.format(col='cur.zone')} < {_ZONE_RANK_SQL.format(col='prev.zone')})
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(cur.flags) f
                          WHERE f->>'severity' = 'critical'
                            AND NOT coalesce(prev.flags, '[]'::jsonb) @> jsonb_build_array(
                                jsonb_build_object('code', f->>'code'))))
        ORDER BY cur.contact_id""", {"ws": workspace.pk, "day": day})
    return [_Change(contact_id=cid, zone=zone, total=total, flags=_json(flags), previous_zone=pzone,
                    previous_total=ptotal, previous_date=pdate,
                    previous_codes={f.get("code") for f in _json(pflags)}, first_name=first_name or "",
                    coach_id=coach_id, is_demo=is_demo)
            for cid, zone, total, flags, pzone, ptotal, pdate, pflags, first_name, coach_id, is_demo in rows]


def _current_packages(workspace: Workspace, day: date, contact_ids: list[int]) -> dict[int, _Package]:
    """Each client's latest package started by `day`, with the sessions used by the end of the day."""
    tz = ZoneInfo(workspace.timezone)
    rows = _rows(f"""
        SELECT DISTINCT ON (pk.contact_id) pk.contact_id, pk.value, pk.sessions_purchased, pk.expires_on,
          (SELECT count(*) FROM {_t(TrainingSession)} s WHERE s.package_id = pk.id
             AND s.status IN ('attended', 'late_cancel') AND s.starts_at < %(day_end)s)
        FROM {_t(Package)} pk
        WHERE pk.workspace_id = %(ws)s AND pk.contact_id = ANY(%(ids)s) AND pk.starts_on <= %(day)s
        ORDER BY pk.contact_id, pk.starts_on DESC, pk.id DESC""",
                 {"ws": workspace.pk, "ids": contact_ids, "day": day,
                  "day_end": datetime.combine(day + timedelta(days=1), dtime.min, tz)})
    return {cid: _Package(value=value, sessions_purchased=n, sessions_used=min(used, n), expires_on=expires,
                          in_date=expires >= day)
            for cid, value, n, expires, used in rows}


def renewal_rate(*, workspace: Workspace, day: date) -> Decimal:
    """Of the packages that ended in the 365 days before `day`, the share whose client started another
    package by 30 days after the end; DEFAULT_RENEWAL_RATE while fewer than RENEWAL_MIN_PACKAGES ended."""
    p = _t(Package)
    [(ended, renewed)] = _rows(f"""
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM {p} n WHERE n.contact_id = pk.contact_id AND n.id <> pk.id AND n.starts_on > pk.starts_on
              AND n.starts_on <= pk.expires_on + %(window)s))
        FROM {p} pk
        WHERE pk.workspace_id = %(ws)s AND pk.expires_on < %(day)s AND pk.expires_on >= %(since)s""",
                               {"ws": workspace.pk, "day": day, "since": day - timedelta(days=365),
                                "window": RENEWAL_WINDOW_DAYS})
    if ended < RENEWAL_MIN_PACKAGES:
        return DEFAULT_RENEWAL_RATE
    return (Decimal(renewed) / ended).quantize(Decimal("0.0001"))


def _day_start(workspace: Workspace, day: date) -> datetime:
    return datetime.combine(day, dtime.min, ZoneInfo(workspace.timezone))


def _trigger(change: _Change) -> str:
    parts = []
    if change.downgraded:
        parts.append(f"zone {change.previous_zone} → {change.zone}")
    if change.new_critical:
        parts.append("new critical: " + "; ".join(f.get("text") or f.get("code") for f in change.new_critical))
    text = "; ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"


def _root_cause(change: _Change, day: date, package: _Package | None, renewal: Decimal,
                at_risk: Decimal) -> str:
    if change.previous_date is not None:
        lines = [f"Health {change.previous_total} ({change.previous_zone}) on {change.previous_date:%Y-%m-%d} → "
                 f"{change.total} ({change.zone}) on {day:%Y-%m-%d}."]
    else:
        lines = [f"First health score: {change.total} ({change.zone}) on {day:%Y-%m-%d}."]
    order = {"critical": 0, "warning": 1, "info": 2}
    causes = sorted((f for f in change.flags if f.get("code") not in NOT_A_CAUSE),
                    key=lambda f: order.get(f.get("severity"), 3))
    if causes:
        lines.append("Signals: " + "; ".join(f.get("text") or f.get("code") for f in causes) + ".")
    else:
        lines.append("No single warning: the score fell across dimensions.")
    left = package.value_left if package else Decimal(0)
    renewal_value = (package.value * renewal).quantize(Decimal("0.01")) if package else Decimal(0)
    lines.append(f"Revenue at risk: {_aed(at_risk)} ({_aed(left)} left on the package in date + "
                 f"{_aed(renewal_value)} expected renewal at a {renewal * 100:.0f} % renewal rate).")
    return "\n".join(lines)


# --- services --------------------------------------------------------------------------------------

@transaction.atomic
def interventions_open_for_changes(*, workspace: Workspace, day: date) -> dict:
    """Open interventions for the changes of `day` (see the module docstring); returns counts."""
    _lock(workspace, "interventions_open")
    changes = _changes(workspace, day)
    counts = {"day": day.isoformat(), "changes": len(changes), "opened": 0, "already_open": 0,
              "already_opened_today": 0, "by_kind": {}, "by_priority": {}}
    if not changes:
        return counts
    ids = [c.contact_id for c in changes]
    packages = _current_packages(workspace, day, ids)
    renewal = renewal_rate(workspace=workspace, day=day)
    history = outcome_history(workspace=workspace)
    mine = Intervention.objects.filter(workspace=workspace, contact_id__in=ids)
    open_pairs = set(mine.filter(status__in=OPEN_STATUSES).values_list("contact_id", "kind"))
    today_pairs = set(mine.filter(created_at__gte=_day_start(workspace, day)).values_list("contact_id", "kind"))
    coaches = {s.pk: s for s in Staff.objects.filter(workspace=workspace, pk__in={c.coach_id for c in changes} - {None})}
    admin = Staff.objects.filter(workspace=workspace, kind=StaffKind.ADMIN, is_active=True).order_by("pk").first()
    now = timezone.now()
    rows = []
    for change in changes:
        package = packages.get(change.contact_id)
        choice = choose_kind(zone=change.zone, previous_zone=change.previous_zone, codes=change.codes,
                             package_in_date=bool(package and package.in_date))
        pair = (change.contact_id, choice.kind)
        if pair in open_pairs:
            counts["already_open"] += 1
            continue
        if pair in today_pairs:
            counts["already_opened_today"] += 1
            continue
        coach = coaches.get(change.coach_id)
        active_coach = coach if coach is not None and coach.is_active else None
        if choice.kind == "coach_reassignment":
            assignee = admin
        else:
            assignee = active_coach or admin
        at_risk = Decimal(0)
        if package is not None:
            at_risk = package.value_left + (package.value * renewal).quantize(Decimal("0.01"))
        level, score = priority_for(urgency=urgency_for(zone=change.zone, flags=change.flags), revenue_at_risk=at_risk,
                                    kind=choice.kind)
        sender = (active_coach.name.split()[0] if active_coach and active_coach.name else f"the {workspace.name} team")
        if choice.kind == "coach_reassignment":
            sender = f"the {workspace.name} team"
        row = Intervention(
            workspace=workspace, is_demo=change.is_demo, contact_id=change.contact_id, kind=choice.kind,
            priority=level, status=InterventionStatus.OPEN, assigned_to=assignee, trigger=_trigger(change),
            root_cause=_root_cause(change, day, package, renewal, at_risk),
            recommended_action=RECOMMENDED_ACTIONS.get(choice.key, RECOMMENDED_ACTIONS[choice.kind]),
            message_draft=message_draft(choice=choice, first_name=change.first_name, sender=sender,
                                        business=workspace.name, coach=coach.name if coach else "",
                                        flags=change.flags, package=package),
            success_probability=success_probability(history, kind=choice.kind, zone=change.zone),
            due_at=now + DUE_AFTER[level], priority_score=score,
        )
        rows.append(row)
        open_pairs.add(pair)
        counts["by_kind"][choice.kind] = counts["by_kind"].get(choice.kind, 0) + 1
        counts["by_priority"][str(level)] = counts["by_priority"].get(str(level), 0) + 1
    Intervention.objects.bulk_create(rows, batch_size=1000)
    counts["opened"] = len(rows)
    if rows:
        publish(workspace_id=workspace.pk, topics=[TOPIC], staff_ids={r.assigned_to_id for r in rows} - {None})
    return counts


def intervention_may_update(intervention: Intervention, access: Scope) -> bool:
    if access.workspace.pk != intervention.workspace_id:
        return False
    if access.role == Role.ADMIN:
        return True
    return access.role == Role.COACH and access.staff_id is not None and access.staff_id == intervention.assigned_to_id


@transaction.atomic
def intervention_update(*, intervention: Intervention, actor_access: Scope, status: str | None = None,
                        outcome_notes: str | None = None) -> Intervention:
    """Move an intervention along open → in_progress → done / dismissed and/or record its outcome note.
    Raises PermissionError when the person may not update it, ValueError for an illegal transition."""
    row = Intervention.objects.select_for_update().get(pk=intervention.pk)
    if not intervention_may_update(row, actor_access):
        raise PermissionError("You may only update interventions assigned to you.")
    previous = row.status
    if status is not None and status != row.status:
        if status not in InterventionStatus.values:
            raise ValueError(f"Unknown status {status!r}; expected one of {', '.join(InterventionStatus.values)}.")
        allowed = TRANSITIONS[row.status]
        if status not in allowed:
            nexts = " or ".join(sorted(allowed)) if allowed else "nothing (it is closed)"
            raise ValueError(f"An intervention that is {row.status} cannot become {status}; it can become {nexts}.")
        row.status = status
    if outcome_notes is not None:
        row.outcome_notes = outcome_notes.strip()
    if row.status in CLOSED and not row.outcome_notes:
        raise ValueError(f"An intervention closed as {row.status} needs an outcome note.")
    if row.status in CLOSED and previous not in CLOSED:
        row.completed_at = timezone.now()
    row.save(update_fields=["status", "outcome_notes", "completed_at"])
    if row.status != previous:
        AuditLog.objects.create(workspace_id=row.workspace_id, actor_id=actor_access.user_id,
                                action="intervention.status_changed", object_type="Intervention",
                                object_id=str(row.pk), detail={"from": previous, "to": row.status})
    publish(workspace_id=row.workspace_id, topics=[TOPIC], staff_ids=[row.assigned_to_id] if row.assigned_to_id else [])
    intervention.status, intervention.outcome_notes, intervention.completed_at = (row.status, row.outcome_notes,
                                                                                  row.completed_at)
    return row


@transaction.atomic
def interventions_measure_outcomes(*, workspace: Workspace, day: date) -> dict:
    """Record 7- and 30-day outcomes of interventions due for them on `day` (module docstring); counts."""
    i, h, s, p = _t(Intervention), _t(HealthScore), _t(TrainingSession), _t(Package)
    params = {"ws": workspace.pk, "tz": workspace.timezone, "day": day,
              "oldest": _day_start(workspace, day - timedelta(days=MEASURE_LOOKBACK_DAYS))}
    local_day = "(i.created_at AT TIME ZONE %(tz)s)::date"

    def score_in(low: str, high: str) -> str:
        return (f"(SELECT h.total FROM {h} h WHERE h.contact_id = due.contact_id AND h.date > {low} "
                f"AND h.date <= {high} AND h.date <= %(day)s ORDER BY h.date DESC LIMIT 1)")

    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH due AS (
              SELECT i.id, i.contact_id, {local_day} AS c FROM {i} i
              WHERE i.workspace_id = %(ws)s AND i.health_delta_7d IS NULL AND i.created_at >= %(oldest)s
                AND {local_day} + 7 <= %(day)s),
            m AS (SELECT due.id, {score_in('due.c - 7', 'due.c')} AS at_open,
                         {score_in('due.c + 3', 'due.c + 7')} AS later FROM due)
            UPDATE {i} i SET health_delta_7d = m.later - m.at_open
            FROM m WHERE i.id = m.id AND m.at_open IS NOT NULL AND m.later IS NOT NULL""", params)
        week = cursor.rowcount
        cursor.execute(f"""
            WITH due AS (
              SELECT i.id, i.contact_id, i.created_at AS opened, {local_day} AS c FROM {i} i
              WHERE i.workspace_id = %(ws)s AND i.sessions_recovered IS NULL AND i.created_at >= %(oldest)s
                AND {local_day} + 30 <= %(day)s),
            m AS (
              SELECT due.id, {score_in('due.c - 7', 'due.c')} AS at_open, {score_in('due.c + 23', 'due.c + 30')} AS later,
                (SELECT count(*) FROM {s} s WHERE s.contact_id = due.contact_id AND s.status = 'attended'
                   AND s.starts_at >= due.opened AND s.starts_at < due.opened + interval '30 days') AS after_n,
                (SELECT count(*) FROM {s} s WHERE s.contact_id = due.contact_id AND s.status = 'attended'
                   AND s.starts_at >= due.opened - interval '30 days' AND s.starts_at < due.opened) AS before_n,
                (SELECT count(*) FROM {s} s WHERE s.contact_id = due.contact_id AND s.status = 'attended'
                   AND s.starts_at >= due.opened + interval '16 days'
                   AND s.starts_at < due.opened + interval '30 days') AS late_n,
                (SELECT coalesce(sum(pk.value), 0) FROM {p} pk WHERE pk.contact_id = due.contact_id
                   AND pk.starts_on > due.c AND pk.starts_on <= due.c + 30) AS bought,
                (SELECT pk.value * greatest(pk.sessions_purchased - (
                          SELECT count(*) FROM {s} s WHERE s.package_id = pk.id
                            AND s.status IN ('attended', 'late_cancel')
                            AND s.starts_at < ((due.c + 31)::timestamp AT TIME ZONE %(tz)s)), 0)
                        / nullif(pk.sessions_purchased, 0)
                 FROM {p} pk WHERE pk.contact_id = due.contact_id AND pk.starts_on <= due.c + 30
                   AND pk.expires_on >= due.c + 30
                 ORDER BY pk.starts_on DESC, pk.id DESC LIMIT 1) AS value_left
              FROM due)
            UPDATE {i} i SET health_delta_30d = m.later - m.at_open,
                sessions_recovered = greatest(m.after_n - m.before_n, 0),
                revenue_protected = round(CASE WHEN m.bought > 0 THEN m.bought
                                               WHEN m.late_n > 0 THEN coalesce(m.value_left, 0) ELSE 0 END, 2)
            FROM m WHERE i.id = m.id""", params)
        month = cursor.rowcount
    if week or month:
        publish(workspace_id=workspace.pk, topics=[TOPIC])
    return {"day": day.isoformat(), "measured_7d": week, "measured_30d": month}


@transaction.atomic
def interventions_reminders_due(*, workspace: Workspace, now: datetime) -> dict:
    """An Alert for the assignee of every overdue open or in-progress intervention, once per local day."""
    _lock(workspace, "interventions_reminders")
    tz = ZoneInfo(workspace.timezone)
    today = now.astimezone(tz).date()
    overdue = list(Intervention.objects.filter(workspace=workspace, status__in=OPEN_STATUSES, due_at__lt=now)
                   .order_by("due_at", "pk"))
    if not overdue:
        return {"overdue": 0, "alerts": 0}
    titles = {iv.pk: _reminder_title(iv) for iv in overdue}
    already = set(Alert.objects.filter(workspace=workspace, kind=OVERDUE_ALERT_KIND, title__in=titles.values(),
                                       created_at__gte=_day_start(workspace, today))
                  .values_list("title", flat=True))
    kinds = dict(Intervention.KINDS)
    alerts = [
        Alert(workspace=workspace, is_demo=iv.is_demo, kind=OVERDUE_ALERT_KIND,
              severity="critical" if iv.priority == Priority.CRITICAL else "warning", contact_id=iv.contact_id,
              staff_id=iv.assigned_to_id, title=titles[iv.pk],
              body=(f"{kinds.get(iv.kind, iv.kind)} ({iv.get_priority_display().lower()} priority, {iv.status}) was "
                    f"due {iv.due_at.astimezone(tz):%Y-%m-%d %H:%M}. {iv.recommended_action}").strip())
        for iv in overdue if titles[iv.pk] not in already
    ]
    Alert.objects.bulk_create(alerts)
    if alerts:
        publish(workspace_id=workspace.pk, topics=["alerts", TOPIC], staff_ids={a.staff_id for a in alerts} - {None})
    return {"overdue": len(overdue), "alerts": len(alerts)}


def _reminder_title(iv: Intervention) -> str:
    """Stable per intervention (its id), so one reminder a day is recognised; no name (viewers read alerts)."""
    return f"Overdue intervention #{iv.pk}: {iv.get_kind_display()}"
