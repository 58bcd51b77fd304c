"""The health engine: every client's facts aggregated in SQL (one query per source, whatever the number of
clients), scored by the pure clients.health_formula, and written back with set-based upserts — one
HealthScore row per client per day (re-running a day replaces that day)."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, time as dtime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction

from clients.health_formula import DIMENSIONS, ClientFacts, score
from clients.models import (Contact, HealthConfig, HealthScore, Interaction, Package, SurveyResponse,
                            TrainingSession)
from ptd.bulk import fetch_rows as _rows, table as _t, upsert_newer
from ptd.live import publish
from ptd.models import Workspace

MODEL_VERSION = "health-v1"
WRITE_CHUNK = 2000
RECENT_CLIENT_DAYS = 60  # clients whose last package ended longer ago than this are no longer scored


def collect_facts(*, workspace: Workspace, day: date, contact_ids: list[int] | None = None) -> dict[int, ClientFacts]:
    """Facts of every client of the workspace on `day` (or only `contact_ids`): a fixed number of queries."""
    from finance.models import Invoice, Payment, Refund

    tz = ZoneInfo(workspace.timezone)
    day_end = datetime.combine(day + timedelta(days=1), dtime.min, tz)
    p = {"ws": workspace.pk, "day": day, "day_end": day_end, "recent": day - timedelta(days=RECENT_CLIENT_DAYS),
         "ids": contact_ids or [], "all": contact_ids is None}
    only = "AND (%(all)s OR pk.contact_id = ANY(%(ids)s))"
    # The package in date on the day, else the latest one that ended recently: this defines the clients.
    packages = _rows(f"""
        SELECT DISTINCT ON (pk.contact_id) pk.contact_id, pk.id, pk.sessions_purchased, pk.value, pk.starts_on,
               pk.expires_on
        FROM {_t(Package)} pk
        WHERE pk.workspace_id = %(ws)s AND pk.starts_on <= %(day)s AND pk.expires_on >= %(recent)s {only}
        ORDER BY pk.contact_id, pk.starts_on DESC, pk.id DESC""", p)
    facts = {cid: ClientFacts(day=day, package_sessions=n, package_value=value, package_starts=start,
                              package_expires=end) for cid, _pid, n, value, start, end in packages}
    if not facts:
        return {}
    p["clients"] = [row[0] for row in packages]
    p["packages"] = [row[1] for row in packages]
    p["starts"] = [row[4] for row in packages]
    # Each client with the package that defines it, as a relation to join (hash joins, not array scans).
    chosen = ("WITH chosen AS (SELECT * FROM unnest(%(clients)s::bigint[], %(packages)s::bigint[], %(starts)s::date[])"
              " AS c(contact_id, package_id, starts_on)) ")
    for cid, a14, a28, prev28, weeks4, last_att, coaches, used in _rows(chosen + f"""
        SELECT s.contact_id,
          count(*) FILTER (WHERE s.status = 'attended' AND s.starts_at >= %(day_end)s - interval '14 days'),
          count(*) FILTER (WHERE s.status = 'attended' AND s.starts_at >= %(day_end)s - interval '28 days'),
          count(*) FILTER (WHERE s.status = 'attended' AND s.starts_at < %(day_end)s - interval '28 days'
                           AND s.starts_at >= %(day_end)s - interval '56 days'),
          count(DISTINCT floor(extract(epoch FROM %(day_end)s - s.starts_at) / 604800))
            FILTER (WHERE s.status = 'attended' AND s.starts_at >= %(day_end)s - interval '28 days'),
          max(s.starts_at) FILTER (WHERE s.status = 'attended'),
          count(DISTINCT s.coach_id) FILTER (WHERE s.starts_at >= %(day_end)s - interval '56 days'),
          count(*) FILTER (WHERE s.package_id = c.package_id AND s.status IN ('attended', 'late_cancel'))
        FROM chosen c JOIN {_t(TrainingSession)} s ON s.contact_id = c.contact_id
        WHERE s.workspace_id = %(ws)s AND s.starts_at < %(day_end)s
        GROUP BY s.contact_id""", p):
        f = facts[cid]
        f.attended_14, f.attended_28, f.attended_prev_28, f.weeks_active_4 = a14, a28, prev28, int(weeks4)
        f.days_since_attended = (day - last_att.astimezone(tz).date()).days if last_att else None
        f.coaches_56, f.package_used = coaches, used
    for cid, failed, last_failed, paid_minor, any_money in _rows(chosen + f"""
        SELECT py.contact_id,
          count(*) FILTER (WHERE py.status = 'failed' AND py.created >= %(day_end)s - interval '30 days'),
          max(py.created) FILTER (WHERE py.status = 'failed' AND py.created >= %(day_end)s - interval '30 days'),
          coalesce(sum(py.amount_minor) FILTER (WHERE py.status IN ('succeeded', 'refunded', 'partially_refunded')
                   AND py.created >= c.starts_on - interval '7 days'), 0),
          count(*)
        FROM chosen c JOIN {_t(Payment)} py ON py.contact_id = c.contact_id
        WHERE py.workspace_id = %(ws)s AND py.created < %(day_end)s
        GROUP BY py.contact_id""", p):
        f = facts[cid]
        f.payments_30_failed = failed
        f.last_failed_on = last_failed.astimezone(tz).date() if last_failed else None
        f.paid_toward_package = Decimal(paid_minor) / 100
        f.has_money_records = any_money > 0
    for cid, refunded_minor in _rows(chosen + f"""
        SELECT py.contact_id, sum(r.amount_minor)
        FROM chosen c JOIN {_t(Payment)} py ON py.contact_id = c.contact_id JOIN {_t(Refund)} r ON py.id = r.payment_id
        WHERE r.workspace_id = %(ws)s AND r.status = 'succeeded'
          AND r.created < %(day_end)s AND r.created >= %(day_end)s - interval '90 days'
        GROUP BY py.contact_id""", p):
        facts[cid].refunded_90 = Decimal(refunded_minor) / 100
    for cid, due_minor in _rows(chosen + f"""
        SELECT i.contact_id, sum(i.amount_due_minor - i.amount_paid_minor)
        FROM chosen c JOIN {_t(Invoice)} i ON i.contact_id = c.contact_id
        WHERE i.workspace_id = %(ws)s AND i.status IN ('open', 'uncollectible')
          AND i.created < %(day_end)s
        GROUP BY i.contact_id""", p):
        f = facts[cid]
        f.outstanding = max(Decimal(0), Decimal(due_minor) / 100)
        f.has_money_records = True
    for cid, last_at, sentiment, response_median, last3_neg, last3 in _rows(chosen + f""",
        recent AS (
          SELECT it.contact_id, it.occurred_at, it.sentiment, it.sentiment_score, it.response_minutes,
                 row_number() OVER (PARTITION BY it.contact_id ORDER BY it.occurred_at DESC) AS n
          FROM chosen c JOIN {_t(Interaction)} it ON it.contact_id = c.contact_id
          WHERE it.workspace_id = %(ws)s AND it.occurred_at < %(day_end)s)
        SELECT contact_id, max(occurred_at),
          avg(sentiment_score) FILTER (WHERE occurred_at >= %(day_end)s - interval '28 days'),
          percentile_cont(0.5) WITHIN GROUP (ORDER BY response_minutes)
            FILTER (WHERE occurred_at >= %(day_end)s - interval '28 days' AND response_minutes IS NOT NULL),
          count(*) FILTER (WHERE n <= 3 AND sentiment = 'negative'), count(*) FILTER (WHERE n <= 3)
        FROM recent GROUP BY contact_id""", p):
        f = facts[cid]
        f.days_since_interaction = (day - last_at.astimezone(tz).date()).days
        f.sentiment_28 = round(float(sentiment), 4) if sentiment is not None else None
        f.response_minutes_median = float(response_median) if response_median is not None else None
        f.last3_negative, f.last3_count = last3_neg, last3
    for cid, survey_score in _rows(chosen + f"""
        SELECT DISTINCT ON (sr.contact_id) sr.contact_id, sr.score
        FROM chosen c JOIN {_t(SurveyResponse)} sr ON sr.contact_id = c.contact_id
        WHERE sr.workspace_id = %(ws)s AND sr.responded_at < %(day_end)s
          AND sr.responded_at >= %(day_end)s - interval '90 days'
        ORDER BY sr.contact_id, sr.responded_at DESC""", p):
        facts[cid].survey_score = survey_score
    p["d7"], p["d28"] = day - timedelta(days=7), day - timedelta(days=28)
    for cid, on, total in _rows(chosen + f"""
        SELECT h.contact_id, h.date, h.total FROM chosen c JOIN {_t(HealthScore)} h ON h.contact_id = c.contact_id
        WHERE h.workspace_id = %(ws)s AND h.date IN (%(d7)s, %(d28)s)""", p):
        if on == p["d7"]:
            facts[cid].total_7_days_ago = float(total)
        else:
            facts[cid].total_28_days_ago = float(total)
    return facts


def _weights_and_bands(workspace: Workspace):
    config, _ = HealthConfig.objects.get_or_create(workspace=workspace)
    weights = {d: float(getattr(config, f"weight_{d}")) for d in DIMENSIONS}
    return weights, (config.purple_min, config.green_min, config.yellow_min)


def score_health(*, workspace: Workspace, day: date, contact_ids: list[int] | None = None) -> dict:
    """Score the workspace's clients for `day` and store the rows; returns counts and timings."""
    started = time.monotonic()
    facts = collect_facts(workspace=workspace, day=day, contact_ids=contact_ids)
    collected = time.monotonic()
    weights, bands = _weights_and_bands(workspace)
    from clients.churn import churn_risks

    scores = {cid: score(f, weights=weights, bands=bands) for cid, f in facts.items()}
    risks, source = churn_risks(workspace=workspace, facts=facts, scores=scores)
    demo = set(Contact.objects.filter(pk__in=list(scores), is_demo=True).values_list("pk", flat=True)) if scores else set()
    rows = [{
        "workspace_id": workspace.pk, "is_demo": cid in demo, "contact_id": cid, "date": day,
        "total": Decimal(str(s.total)).quantize(Decimal("0.01")),
        **{d: (None if s.dimensions[d] is None else Decimal(str(s.dimensions[d])).quantize(Decimal("0.01")))
           for d in DIMENSIONS},
        "zone": s.zone, "churn_risk": Decimal(str(risks[cid])).quantize(Decimal("0.01")),
        "churn_risk_source": source, "trend": s.trend,
        "week_over_week": None if s.week_over_week is None else Decimal(str(s.week_over_week)).quantize(Decimal("0.01")),
        "flags": s.flags, "model_version": MODEL_VERSION,
    } for cid, s in scores.items()]
    update = ["total", *DIMENSIONS, "zone", "churn_risk", "churn_risk_source", "trend", "week_over_week", "flags",
              "model_version", "computed_at"]
    with transaction.atomic():
        for i in range(0, len(rows), WRITE_CHUNK):
            upsert_newer(HealthScore, rows[i:i + WRITE_CHUNK], unique_fields=["contact_id", "date"],
                         update_fields=update, version_field=None)
        if rows:
            publish(workspace_id=workspace.pk, topics=["health"])
    return {"clients": len(rows), "collect_s": round(collected - started, 2),
            "total_s": round(time.monotonic() - started, 2), "churn_risk_source": source}


# --- rescoring soon after new data -----------------------------------------------------------------
RESCORE_DELAY_SECONDS = 10  # new data about a client is reflected in its score within ~RESCORE_DELAY + run time
_pending: dict[int, set[int]] = {}
_pending_lock = threading.Lock()
_timer: threading.Timer | None = None


def health_rescore_soon(*, workspace_id: int, contact_ids) -> None:
    """Debounced: collect the clients that got new data in this process and rescore them together after a
    few seconds, in one task (a burst of events about many clients costs one scoring run)."""
    global _timer
    from django_q.conf import Conf

    ids = {int(c) for c in contact_ids if c}
    if not ids:
        return
    if Conf.SYNC:  # tasks run inline (tests): no timer, rescore now
        rescore_clients(workspace_id, sorted(ids))
        return
    with _pending_lock:
        _pending.setdefault(workspace_id, set()).update(ids)
        if _timer is None:
            _timer = threading.Timer(RESCORE_DELAY_SECONDS, _flush)
            _timer.daemon = True
            _timer.start()


def _flush() -> None:
    global _timer
    from django.db import close_old_connections
    from django_q.tasks import async_task

    with _pending_lock:
        batches, _timer = dict(_pending), None
        _pending.clear()
    try:
        for workspace_id, ids in batches.items():
            async_task("clients.health.rescore_clients", workspace_id, sorted(ids), task_name="health rescore")
    finally:
        close_old_connections()


def rescore_clients(workspace_id: int, contact_ids: list[int]) -> dict:
    """Worker task: today's score of these clients (workspace time zone), broadcast live."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    workspace = Workspace.objects.get(pk=workspace_id)
    today = timezone.now().astimezone(ZoneInfo(workspace.timezone)).date()
    return score_health(workspace=workspace, day=today, contact_ids=contact_ids)


def score_health_daily() -> str:
    """09:00 Asia/Dubai: every workspace's clients for today."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    done = []
    for workspace in Workspace.objects.order_by("pk"):
        today = timezone.now().astimezone(ZoneInfo(workspace.timezone)).date()
        result = score_health(workspace=workspace, day=today)
        done.append(f"{workspace.slug}: {result['clients']} clients in {result['total_s']} s")
    return "; ".join(done)
