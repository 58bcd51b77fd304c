"""Coach performance (seed 001 §5): one CoachSnapshot per coach per day, built set-based.

`coach_snapshots_build(workspace=…, day=…)` runs a fixed number of queries whatever the number of coaches or
clients: one SQL statement aggregates the day's health scores, packages, sessions and interventions grouped by
coach; one reads the snapshots of 7, 14 and 21 days earlier (trends, rank change, red flags); one upsert writes
the rows; one delete drops rows of coaches no longer snapshotted that day. Re-running a day replaces it.

Definitions (all as of `day`, in the workspace's time zone):

- client of a coach: a contact whose `coach` is that staff member.
- active client: a client with a HealthScore row on the day who has a package in date (starts_on ≤ day ≤
  expires_on) or attended a session in the last 30 days. Zone counts, average and standard deviation of the
  total (population σ), improving / declining (HealthScore.trend), average churn risk, best and worst clients
  (top / bottom 3 by total) and sessions per client are over active clients.
- at-risk revenue (AED): for active clients in yellow or red, the value remaining of the package in date:
  value × sessions left / sessions purchased, sessions used being the attended or late-cancelled sessions
  linked to the package before the end of the day (as the health engine counts them).
- churned client: no package in date and none starting later (no renewal), the last package ended in the
  30 days before the day, and no attended session in those 30 days. Churned and active are disjoint.
- interventions: those assigned to the coach and done, completed in the 90 days up to the day. Measured:
  with a 30-day health delta (recorded by the outcome measurement); successful: a delta above zero. The success
  rate is successful / measured (none measured: no rate).

Performance score, 0–100, a weighted mean of five parts each 0–100:

    40 % health         average health of active clients
    20 % green share    100 × (purple + green) / active
    15 % retention      100 × (1 − churned / (active + churned))
    15 % interventions  intervention success rate
    10 % balance        50 + 50 × (improving − declining) / active

A part without data (no active clients; no measured intervention yet; nobody active or churned) is left out
and the weights of the present parts are scaled up to 100 % (stored per part in `score_parts`); with no part
at all there is no score and no rank. Rank: 1 = highest score among the workspace's coaches that day, equal
scores share a rank (1, 2, 2, 4); rank_change = rank 7 days earlier − rank today (positive: moved up).

Red flags (each {code, severity, text, evidence}): average health lower than the week before three weeks
running (needs the snapshots of 7, 14 and 21 days earlier); more than 30 % of active clients in red; intervention
success below 30 % (at least 3 measured); more than 20 % of the portfolio churned in 30 days (at least 5 clients
active or churned); ranked last three weeks running (at least 3 coaches ranked each time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from clients.models import Contact, HealthScore, Intervention, Package, Staff, TrainingSession
from clients.models_coach import CoachSnapshot
from ptd.bulk import upsert_newer
from ptd.live import publish
from ptd.models import Workspace

WEIGHTS = {"health": 40, "green_share": 20, "retention": 15, "interventions": 15, "balance": 10}
BEST_WORST = 3
CHURN_WINDOW_DAYS = 30
INTERVENTION_WINDOW_DAYS = 90
RED_SHARE_MAX = 0.30
SUCCESS_MIN_PCT = 30
SUCCESS_MIN_MEASURED = 3
CHURN_SHARE_MAX = 0.20
CHURN_MIN_PORTFOLIO = 5
LAST_PLACE_MIN_COACHES = 3
TOPIC = "coaches"

CENT = Decimal("0.01")


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _dec(value, places: Decimal = CENT) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(places, rounding=ROUND_HALF_UP)


@dataclass
class CoachFigures:
    """One coach's aggregates on the day, as read from SQL."""

    coach_id: int
    name: str
    is_demo: bool
    is_active: bool
    kind: str
    active: int = 0
    purple: int = 0
    green: int = 0
    yellow: int = 0
    red: int = 0
    avg_health: Decimal | None = None
    stddev: Decimal | None = None
    avg_churn_risk: Decimal | None = None
    improving: int = 0
    declining: int = 0
    sessions_28: int = 0
    at_risk: Decimal = Decimal(0)
    churned: int = 0
    best: list | None = None
    worst: list | None = None
    done: int = 0
    measured: int = 0
    successful: int = 0

    @property
    def success_rate(self) -> Decimal | None:
        return None if not self.measured else _dec(100 * Decimal(self.successful) / self.measured)


# ---------------------------------------------------------------------------------------------------- pure parts

def performance_score(*, active: int, purple: int, green: int, avg_health: float | None, churned: int,
                      success_rate: float | None, improving: int, declining: int) -> tuple[float | None, dict]:
    """The composite score (see the module docstring) and its parts {name: {"value", "weight"}}."""
    values: dict[str, float | None] = {
        "health": float(avg_health) if active and avg_health is not None else None,
        "green_share": 100 * (purple + green) / active if active else None,
        "retention": 100 * (1 - churned / (active + churned)) if active + churned else None,
        "interventions": float(success_rate) if success_rate is not None else None,
        "balance": 50 + 50 * (improving - declining) / active if active else None,
    }
    present = {k: v for k, v in values.items() if v is not None}
    weight_sum = sum(WEIGHTS[k] for k in present)
    parts = {k: {"value": None if v is None else round(v, 2),
                 "weight": round(WEIGHTS[k] / weight_sum, 4) if v is not None else 0.0}
             for k, v in values.items()}
    if not present:
        return None, parts
    total = sum(WEIGHTS[k] * v for k, v in present.items()) / weight_sum
    return round(max(0.0, min(100.0, total)), 2), parts


def competition_ranks(scores: dict[int, float | None]) -> dict[int, int]:
    """{coach_id: rank}, 1 = best; equal scores share a rank; coaches without a score are left out."""
    ordered = sorted(((s, cid) for cid, s in scores.items() if s is not None), key=lambda x: (-x[0], x[1]))
    ranks, previous, rank = {}, None, 0
    for position, (s, cid) in enumerate(ordered, start=1):
        if s != previous:
            rank, previous = position, s
        ranks[cid] = rank
    return ranks


def red_flags(*, day: date, active: int, red: int, avg_health: float | None, measured: int, successful: int,
              churned: int, rank: int | None, ranked_count: int,
              history: dict[int, dict]) -> list[dict]:
    """Named red flags with their evidence. `history` maps 7 / 14 / 21 (days earlier) to
    {"avg_health", "rank", "ranked_count"} of that day's snapshot (missing: absent)."""
    flags = []
    averages = [avg_health] + [history.get(d, {}).get("avg_health") for d in (7, 14, 21)]
    if all(a is not None for a in averages) and averages[0] < averages[1] < averages[2] < averages[3]:
        oldest_first = [round(float(a), 2) for a in reversed(averages)]
        flags.append({
            "code": "health_declining_3_weeks", "severity": "critical",
            "text": "average health declining 3 weeks running (" + " → ".join(f"{a:g}" for a in oldest_first) + ")",
            "evidence": {"avg_health": {(day - timedelta(days=d)).isoformat(): a
                                        for d, a in zip((21, 14, 7, 0), oldest_first)}},
        })
    if active and red / active > RED_SHARE_MAX:
        flags.append({"code": "red_share_high", "severity": "critical",
                      "text": f"more than {RED_SHARE_MAX:.0%} of clients in red ({red} of {active})",
                      "evidence": {"red": red, "active": active, "share_pct": round(100 * red / active, 1)}})
    if measured >= SUCCESS_MIN_MEASURED and 100 * successful / measured < SUCCESS_MIN_PCT:
        flags.append({"code": "intervention_success_low", "severity": "warning",
                      "text": f"intervention success below {SUCCESS_MIN_PCT} % ({successful} of {measured})",
                      "evidence": {"successful": successful, "measured": measured,
                                   "rate_pct": round(100 * successful / measured, 1)}})
    portfolio = active + churned
    if portfolio >= CHURN_MIN_PORTFOLIO and churned / portfolio > CHURN_SHARE_MAX:
        flags.append({"code": "churn_high", "severity": "warning",
                      "text": f"more than {CHURN_SHARE_MAX:.0%} of clients lost in {CHURN_WINDOW_DAYS} days "
                              f"({churned} of {portfolio})",
                      "evidence": {"churned": churned, "portfolio": portfolio}})
    weeks = [(0, rank, ranked_count)] + [(d, history.get(d, {}).get("rank"), history.get(d, {}).get("ranked_count", 0))
                                         for d in (7, 14)]
    if all(r is not None and n >= LAST_PLACE_MIN_COACHES and r == n for _, r, n in weeks):
        flags.append({"code": "last_place_3_weeks", "severity": "warning",
                      "text": "ranked last 3 weeks running",
                      "evidence": {(day - timedelta(days=d)).isoformat(): f"{r} of {n}" for d, r, n in weeks}})
    return flags


# ---------------------------------------------------------------------------------------------------- SQL

def _figures(*, workspace: Workspace, day: date) -> list[CoachFigures]:
    """Every coach's aggregates on `day`: one query."""
    tz = ZoneInfo(workspace.timezone)
    p = {"ws": workspace.pk, "day": day, "day_end": datetime.combine(day + timedelta(days=1), dtime.min, tz),
         "churn_from": day - timedelta(days=CHURN_WINDOW_DAYS), "churn_days": CHURN_WINDOW_DAYS,
         "iv_days": INTERVENTION_WINDOW_DAYS, "n": BEST_WORST}
    sql = f"""
    WITH clients AS (
      SELECT c.id, c.coach_id, trim(c.first_name || ' ' || c.last_name) AS name
      FROM {_t(Contact)} c WHERE c.workspace_id = %(ws)s AND c.coach_id IS NOT NULL
    ), pk AS (
      SELECT p.contact_id, max(p.expires_on) AS last_expiry,
             bool_or(p.starts_on <= %(day)s AND p.expires_on >= %(day)s) AS in_date,
             bool_or(p.starts_on > %(day)s) AS renewed
      FROM {_t(Package)} p JOIN clients cl ON cl.id = p.contact_id
      WHERE p.workspace_id = %(ws)s GROUP BY p.contact_id
    ), cur AS (
      SELECT DISTINCT ON (p.contact_id) p.contact_id, p.id, p.value, p.sessions_purchased
      FROM {_t(Package)} p JOIN clients cl ON cl.id = p.contact_id
      WHERE p.workspace_id = %(ws)s AND p.starts_on <= %(day)s AND p.expires_on >= %(day)s
      ORDER BY p.contact_id, p.starts_on DESC, p.id DESC
    ), used AS (
      SELECT s.package_id, count(*) AS n
      FROM {_t(TrainingSession)} s JOIN cur ON cur.id = s.package_id
      WHERE s.status IN ('attended', 'late_cancel') AND s.starts_at < %(day_end)s
      GROUP BY s.package_id
    ), att AS (
      SELECT s.contact_id,
             count(*) FILTER (WHERE s.starts_at >= %(day_end)s - interval '28 days') AS n28
      FROM {_t(TrainingSession)} s JOIN clients cl ON cl.id = s.contact_id
      WHERE s.workspace_id = %(ws)s AND s.status = 'attended' AND s.starts_at < %(day_end)s
        AND s.starts_at >= %(day_end)s - make_interval(days => %(churn_days)s)
      GROUP BY s.contact_id
    ), per_client AS (
      SELECT cl.id, cl.coach_id, cl.name, h.total, h.zone, h.trend, h.churn_risk,
             coalesce(att.n28, 0) AS n28,
             (h.id IS NOT NULL AND (coalesce(pk.in_date, false) OR att.contact_id IS NOT NULL)) AS active,
             (NOT coalesce(pk.in_date, false) AND NOT coalesce(pk.renewed, false)
              AND pk.last_expiry >= %(churn_from)s AND att.contact_id IS NULL) AS churned,
             coalesce(cur.value * greatest(cur.sessions_purchased - coalesce(used.n, 0), 0)
                      / nullif(cur.sessions_purchased, 0), 0) AS remaining
      FROM clients cl
      LEFT JOIN {_t(HealthScore)} h ON h.contact_id = cl.id AND h.date = %(day)s AND h.workspace_id = %(ws)s
      LEFT JOIN pk ON pk.contact_id = cl.id
      LEFT JOIN cur ON cur.contact_id = cl.id
      LEFT JOIN used ON used.package_id = cur.id
      LEFT JOIN att ON att.contact_id = cl.id
    ), agg AS (
      SELECT coach_id,
        count(*) FILTER (WHERE active) AS active,
        count(*) FILTER (WHERE active AND zone = 'purple') AS purple,
        count(*) FILTER (WHERE active AND zone = 'green') AS green,
        count(*) FILTER (WHERE active AND zone = 'yellow') AS yellow,
        count(*) FILTER (WHERE active AND zone = 'red') AS red,
        avg(total) FILTER (WHERE active) AS avg_health,
        stddev_pop(total) FILTER (WHERE active) AS stddev,
        avg(churn_risk) FILTER (WHERE active) AS avg_churn_risk,
        count(*) FILTER (WHERE active AND trend = 'improving') AS improving,
        count(*) FILTER (WHERE active AND trend = 'declining') AS declining,
        coalesce(sum(n28) FILTER (WHERE active), 0) AS sessions_28,
        coalesce(sum(remaining) FILTER (WHERE active AND zone IN ('yellow', 'red')), 0) AS at_risk,
        count(*) FILTER (WHERE churned) AS churned,
        to_jsonb((array_agg(jsonb_build_object('contact_id', id, 'name', name, 'total', total)
                            ORDER BY total DESC, id) FILTER (WHERE active))[1:%(n)s]) AS best,
        to_jsonb((array_agg(jsonb_build_object('contact_id', id, 'name', name, 'total', total)
                            ORDER BY total ASC, id) FILTER (WHERE active))[1:%(n)s]) AS worst
      FROM per_client GROUP BY coach_id
    ), iv AS (
      SELECT i.assigned_to_id AS coach_id, count(*) AS done, count(i.health_delta_30d) AS measured,
             count(*) FILTER (WHERE i.health_delta_30d > 0) AS successful
      FROM {_t(Intervention)} i
      WHERE i.workspace_id = %(ws)s AND i.status = 'done' AND i.assigned_to_id IS NOT NULL
        AND coalesce(i.completed_at, i.created_at) < %(day_end)s
        AND coalesce(i.completed_at, i.created_at) >= %(day_end)s - make_interval(days => %(iv_days)s)
      GROUP BY i.assigned_to_id
    )
    SELECT st.id, st.name, st.is_demo, st.is_active, st.kind,
           agg.active, agg.purple, agg.green, agg.yellow, agg.red, agg.avg_health, agg.stddev, agg.avg_churn_risk,
           agg.improving, agg.declining, agg.sessions_28, agg.at_risk, agg.churned, agg.best, agg.worst,
           iv.done, iv.measured, iv.successful
    FROM {_t(Staff)} st
    LEFT JOIN agg ON agg.coach_id = st.id
    LEFT JOIN iv ON iv.coach_id = st.id
    WHERE st.workspace_id = %(ws)s AND (st.kind = 'coach' OR coalesce(agg.active, 0) + coalesce(agg.churned, 0) > 0)
    ORDER BY st.id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, p)
        rows = cursor.fetchall()
    figures = []
    for (cid, name, is_demo, is_active, kind, active, purple, green, yellow, red, avg_health, stddev, churn_risk,
         improving, declining, sessions_28, at_risk, churned, best, worst, done, measured, successful) in rows:
        figures.append(CoachFigures(
            coach_id=cid, name=name, is_demo=is_demo, is_active=is_active, kind=kind, active=active or 0,
            purple=purple or 0, green=green or 0, yellow=yellow or 0, red=red or 0, avg_health=_dec(avg_health),
            stddev=_dec(stddev), avg_churn_risk=_dec(churn_risk), improving=improving or 0,
            declining=declining or 0, sessions_28=int(sessions_28 or 0), at_risk=_dec(at_risk or 0),
            churned=churned or 0, best=_clients(best), worst=_clients(worst), done=done or 0,
            measured=measured or 0, successful=successful or 0))
    return figures


def _clients(items) -> list[dict]:
    if isinstance(items, str):  # Django's psycopg set-up leaves jsonb as text for JSONField to parse
        items = json.loads(items)
    return [{"contact_id": i["contact_id"], "name": i["name"] or f"Client {i['contact_id']}",
             "total": round(float(i["total"]), 2)} for i in items or []]


def _history(*, workspace: Workspace, day: date) -> dict[int, dict[int, dict]]:
    """Snapshots of 7, 14 and 21 days earlier: {coach_id: {days_back: {avg_health, rank, ranked_count}}}: one query."""
    back = {day - timedelta(days=d): d for d in (7, 14, 21)}
    history: dict[int, dict[int, dict]] = {}
    ranked: dict[int, int] = {7: 0, 14: 0, 21: 0}
    for cid, on, avg_health, rank in CoachSnapshot.objects.filter(workspace=workspace, date__in=list(back)) \
            .values_list("coach_id", "date", "avg_health", "rank"):
        d = back[on]
        history.setdefault(cid, {})[d] = {"avg_health": avg_health, "rank": rank}
        if rank is not None:
            ranked[d] += 1
    for per_coach in history.values():
        for d, entry in per_coach.items():
            entry["ranked_count"] = ranked[d]
    return history


# ---------------------------------------------------------------------------------------------------- build

def coach_snapshots_build(*, workspace: Workspace, day: date) -> dict:
    """Build (or rebuild) every coach's snapshot of `day`; returns counts."""
    figures = [f for f in _figures(workspace=workspace, day=day)
               if f.is_active or f.active or f.churned or f.done]
    history = _history(workspace=workspace, day=day)
    scored = {f.coach_id: performance_score(active=f.active, purple=f.purple, green=f.green, avg_health=f.avg_health,
                                            churned=f.churned, success_rate=f.success_rate, improving=f.improving,
                                            declining=f.declining)
              for f in figures}
    ranks = competition_ranks({cid: s for cid, (s, _) in scored.items()})
    rows = []
    for f in figures:
        total, parts = scored[f.coach_id]
        rank = ranks.get(f.coach_id)
        past = history.get(f.coach_id, {})
        rank_before = past.get(7, {}).get("rank")
        flags = red_flags(day=day, active=f.active, red=f.red, avg_health=f.avg_health, measured=f.measured,
                          successful=f.successful, churned=f.churned, rank=rank, ranked_count=len(ranks),
                          history=past)
        rows.append({
            "workspace_id": workspace.pk, "is_demo": f.is_demo, "coach_id": f.coach_id, "date": day,
            "active_clients": f.active, "zone_purple": f.purple, "zone_green": f.green, "zone_yellow": f.yellow,
            "zone_red": f.red, "avg_health": f.avg_health, "health_stddev": f.stddev,
            "avg_churn_risk": f.avg_churn_risk, "improving": f.improving, "declining": f.declining,
            "sessions_per_client_28d": _dec(Decimal(f.sessions_28) / f.active) if f.active else None,
            "at_risk_revenue": f.at_risk, "churned_clients": f.churned,
            "interventions_done": f.done, "interventions_measured": f.measured,
            "interventions_successful": f.successful, "intervention_success_rate": f.success_rate,
            "performance_score": _dec(total), "score_parts": parts, "rank": rank,
            "rank_change": None if rank is None or rank_before is None else rank_before - rank,
            "red_flags": flags, "best_clients": f.best, "worst_clients": f.worst,
        })
    update = [k for k in rows[0] if k not in ("workspace_id", "coach_id", "date")] + ["computed_at"] if rows else []
    with transaction.atomic():
        if rows:
            upsert_newer(CoachSnapshot, rows, unique_fields=["coach_id", "date"], update_fields=update,
                         version_field=None)
        # Re-running a day replaces it: coaches no longer snapshotted that day lose their row.
        stale = CoachSnapshot.objects.filter(workspace=workspace, date=day) \
            .exclude(coach_id__in=[r["coach_id"] for r in rows]).delete()[0]
        if rows or stale:
            publish(workspace_id=workspace.pk, topics=[TOPIC], staff_ids=[r["coach_id"] for r in rows])
    return {"coaches": len(rows), "ranked": len(ranks), "red_flags": sum(len(r["red_flags"]) for r in rows),
            "removed": stale}
