"""Churn prediction: the label from history, the features, the model, and the risk on each score row.

Churn, defined from data
------------------------
A day is *quiet* for a client when they attend no session that day and hold no *active* package: one in
date (starts_on ≤ day ≤ expires_on) with sessions remaining (its sessions_purchased not yet used up by
attended or late-cancelled sessions of the sessions feed). A client **churns on day C** when

- C starts a run of at least 30 quiet days (C is the first day after their last activity), or
- their Stripe subscription is cancelled on C (canceled_at, else ended_at, in the workspace's time zone) and
  they attend no session in the 30 days that follow (cancelling a plan but still training is not leaving).

Either way the churn is *confirmed* on C + 29, when the 30 days have been seen.

The label of a client scored on day D (`label_churn_within_30`) is True when they churn on a day C ≤ D + 30
that is not yet confirmed on D, i.e. C in (D − 29, D + 30]: a client whose quiet run already began but has
not lasted 30 days yet is "churning", not safe. Clients whose churn was already confirmed on D (and who did
not come back) are left out: they are gone, there is nothing to predict. The label for D needs data up to
D + 59, so it exists only for days at least 60 days before the data's end (the last day with a recorded
session). `churn_events` finds every churn of the workspace in one set-based query (window functions over
the activity intervals, index-driven subqueries); `churn_labels` applies the rule above for many days at once.

Features
--------
`features(facts)` is pure: it reads only the ClientFacts of the snapshot day, which clients.health.collect_facts
builds from rows dated on or before that day. It never reads the score history (total_7/28_days_ago), which
training snapshots would not have, nor the health dimensions (a change of the health formula must not change
what a stored model sees). FEATURE_NAMES names the columns.

Model and backtest
------------------
`train(workspace)` takes a snapshot every `step_days` (default 7) over the labelled history, computed with
collect_facts as of that day. The split is by time: the last 30 % of snapshot days are the test period; the
training period ends 60 days before the test period starts, so no training label depends on data from the test
period (a purge gap of the label's look-ahead). Inside the training period its last 30 % are set aside as
validation (with a 30-day gap: the full one would leave too little to fit on), on which
GradientBoostingClassifier and a scaled LogisticRegression are compared by AUC (with too little history to
compare, logistic regression); the chosen kind is refit on the whole training period and measured on the test
period:

- auc: ROC AUC on the test snapshots;
- precision_top_decile: share of churners among the 10 % of test snapshots with the highest risk;
- median_lead_days: for each churn (client, churn day C) with labelled-positive test snapshots, among those
  that are in the top decile (risk ≥ the test period's 90th percentile), C − the earliest one's day; the
  median over the churns caught. It is at most 30 (the horizon) and may be ≤ 0 for a churn caught only once
  the quiet run had begun.

The stored model is then refit with the same choice on every labelled snapshot (train and test), and
written to PTD_DATA_DIR/churn/<workspace slug>-<version>.joblib with a JSON sidecar (version, kind,
trained_at, metrics, feature names, training window, counts). `latest_model(workspace)` loads the newest
(cached in-process by file and mtime); a model trained on other feature names is ignored. The setting
CHURN_MODEL_DIR, when set, replaces the folder PTD_DATA_DIR/churn (tests use it).

Risk on score rows
------------------
`churn_risks(workspace=, facts=, scores=)`: with a model, predict_proba × 100 and the model version as the
source; without one, the rule-based estimate of clients.health_formula.rule_based_churn_risk (100 − health
total, + 12 per critical warning) with the source "rule-based".
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone as dt_timezone
from pathlib import Path

from django.conf import settings
from django.db import connection

from clients.health_formula import ClientFacts
from ptd.models import Workspace

log = logging.getLogger(__name__)

RULE_BASED = "rule-based"
HORIZON_DAYS = 30  # predict churn within the next 30 days
QUIET_DAYS = 30  # 30 days without attendance or an active package is churn
OBSERVE_DAYS = HORIZON_DAYS + QUIET_DAYS  # a day's label is known this many days later
DAYS_CAP = 90  # "days since" features are capped (and stand for "never")
TEST_SHARE = 0.3  # the later 30 % of snapshot days are the test period
MIN_CHURNS = 20  # distinct churn events needed in the labelled history
MIN_TEST_CHURNS = 5  # and in the test period


class NotEnoughHistory(ValueError):
    """The workspace's history is too short or has too few churn events to train and measure a model."""


# --------------------------------------------------------------------------------------------- labels


def _t(app_model: str) -> str:
    from django.apps import apps

    return connection.ops.quote_name(apps.get_model(app_model)._meta.db_table)


def data_end(workspace: Workspace) -> date | None:
    """The data's last day: the latest local day with a recorded (not merely scheduled) session."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT max((s.starts_at AT TIME ZONE %s)::date) FROM {_t('clients.TrainingSession')} s
            WHERE s.workspace_id = %s AND s.status <> 'scheduled'""", [workspace.timezone, workspace.pk])
        return cursor.fetchone()[0]


def _events_sql() -> str:
    """Every churn event of the workspace: (contact, churn day, day the client came back or NULL). Index-driven
    subqueries and window functions only, so the plan stays linear even before the tables have statistics
    (right after a bulk load)."""
    sessions, packages = _t("clients.TrainingSession"), _t("clients.Package")
    subscriptions = _t("finance.Subscription")
    return f"""
    WITH attended AS (
      SELECT DISTINCT s.contact_id, (s.starts_at AT TIME ZONE %(tz)s)::date AS d
      FROM {sessions} s WHERE s.workspace_id = %(ws)s AND s.status = 'attended'),
    package_spans AS (  -- a package is active from its start until it expires or its last session is used
      SELECT pk.contact_id, pk.starts_on AS d0, LEAST(pk.expires_on, (
               SELECT (u.starts_at AT TIME ZONE %(tz)s)::date FROM {sessions} u
               WHERE u.package_id = pk.id AND u.status IN ('attended', 'late_cancel')
               ORDER BY u.starts_at, u.id OFFSET pk.sessions_purchased - 1 LIMIT 1)) AS d1
      FROM {packages} pk WHERE pk.workspace_id = %(ws)s AND pk.sessions_purchased > 0),
    act AS (
      SELECT contact_id, d AS d0, d AS d1 FROM attended
      UNION ALL
      SELECT contact_id, d0, d1 FROM package_spans WHERE d1 >= d0),
    runs AS (
      SELECT contact_id, d0, max(d1) OVER (PARTITION BY contact_id ORDER BY d0, d1
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
      FROM act),
    cancels AS (
      SELECT sub.contact_id, (coalesce(sub.canceled_at, sub.ended_at) AT TIME ZONE %(tz)s)::date AS day
      FROM {subscriptions} sub
      WHERE sub.workspace_id = %(ws)s AND sub.status = 'canceled' AND sub.contact_id IS NOT NULL
        AND coalesce(sub.canceled_at, sub.ended_at) IS NOT NULL),
    cancel_returns AS (
      SELECT c.contact_id, c.day, (
               SELECT (min(s.starts_at) AT TIME ZONE %(tz)s)::date FROM {sessions} s
               WHERE s.contact_id = c.contact_id AND s.status = 'attended'
                 AND (s.starts_at AT TIME ZONE %(tz)s)::date > c.day) AS back_on
      FROM cancels c)
    SELECT contact_id, prev_end + 1, d0 FROM runs WHERE d0 - prev_end > %(quiet)s  -- a gap of 30+ quiet days
    UNION ALL
    SELECT contact_id, max(d1) + 1, NULL FROM act GROUP BY contact_id  -- after the last activity
    UNION ALL
    SELECT contact_id, day, back_on FROM cancel_returns  -- cancelled and no session in the next 30 days
    WHERE back_on IS NULL OR back_on > day + %(quiet)s"""


def churn_events(workspace: Workspace) -> dict[int, list[tuple[date, date | None]]]:
    """{contact_id: [(churn day, day they came back or None), …]} from the whole history (one query). The
    last entry "after the last activity" is a churn only once its 30 quiet days fit before the data's end."""
    events: dict[int, list[tuple[date, date | None]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_events_sql(), {"ws": workspace.pk, "tz": workspace.timezone, "quiet": QUIET_DAYS})
        for cid, churn_day, back_on in cursor.fetchall():
            events.setdefault(cid, []).append((churn_day, back_on))
    return events


def _scored_clients(workspace: Workspace, days: list[date]) -> list[tuple[date, int]]:
    """(day, contact_id) of the clients collect_facts scores on each day (same package rule)."""
    from clients.health import RECENT_CLIENT_DAYS

    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT DISTINCT d.day, pk.contact_id FROM unnest(%(days)s::date[]) AS d(day)
            JOIN {_t('clients.Package')} pk ON pk.workspace_id = %(ws)s AND pk.starts_on <= d.day
              AND pk.expires_on >= d.day - %(recent)s""",
                       {"ws": workspace.pk, "days": sorted(set(days)), "recent": RECENT_CLIENT_DAYS})
        return cursor.fetchall()


def churn_labels(workspace: Workspace, days: list[date]) -> dict[date, dict[int, date | None]]:
    """For each day: {contact_id: the churn day that makes the label True, or None} for the clients scored
    that day who are not already gone. Two set-based queries for all the days together. Every day must be at
    least 60 days before the data's end."""
    if not days:
        return {}
    end = data_end(workspace)
    latest_ok = None if end is None else end - timedelta(days=OBSERVE_DAYS)
    too_late = [d for d in days if latest_ok is None or d > latest_ok]
    if too_late:
        raise ValueError(f"churn labels need {OBSERVE_DAYS} days of data after the day: {max(too_late)} is after "
                         f"{latest_ok or 'the data (no sessions)'}")
    events = churn_events(workspace)
    out: dict[date, dict[int, date | None]] = {d: {} for d in days}
    for day, cid in _scored_clients(workspace, days):
        mine = events.get(cid, [])
        confirmed_by = day - timedelta(days=QUIET_DAYS - 1)  # churned on or before this: confirmed on `day`
        if any(c <= confirmed_by and (back is None or back > day) for c, back in mine):
            continue  # gone: nothing left to predict
        pending = [c for c, _ in mine if confirmed_by < c <= day + timedelta(days=HORIZON_DAYS)]
        out[day][cid] = min(pending) if pending else None
    return out


def label_churn_within_30(workspace: Workspace, day: date) -> dict[int, bool]:
    """{contact_id: churns within 30 days of `day`} for the clients scored on `day` (see the module doc)."""
    return {cid: churn_day is not None for cid, churn_day in churn_labels(workspace, [day])[day].items()}


# ------------------------------------------------------------------------------------------- features

FEATURE_NAMES = [
    "attended_14", "attended_28", "attended_prev_28", "attendance_change_28", "attendance_ratio_28",
    "weeks_active_4", "days_since_attended", "never_attended", "plan_per_week", "attendance_vs_plan_28",
    "attendance_vs_plan_14",
    "package_sessions", "package_remaining", "package_remaining_share", "days_to_expiry", "package_age_days",
    "package_expired", "package_used_up", "weekly_needed_vs_plan", "package_value",
    "payments_failed_30", "refunded_90", "outstanding", "unpaid_share", "has_money_records",
    "days_since_interaction", "no_interaction", "sentiment_28", "sentiment_missing", "last3_negative",
    "response_minutes_log", "response_missing", "survey_score", "survey_missing", "coaches_56",
]


def _days(value: int | None) -> float:
    return float(DAYS_CAP) if value is None else float(max(0, min(DAYS_CAP, value)))


def _clip(value: float, low: float, high: float) -> float:
    return float(max(low, min(high, value)))


def features(f: ClientFacts) -> list[float]:
    """The model's inputs for one client on f.day, from that day's facts only (pure)."""
    sessions = f.package_sessions or 0
    plan = None
    if sessions and f.package_starts and f.package_expires:
        plan = sessions / max(1.0, (f.package_expires - f.package_starts).days / 7 - 4)
    plan = plan or 2.0
    remaining = max(0, sessions - f.package_used)
    days_left = (f.package_expires - f.day).days if f.package_expires else -60
    weeks_left = max(days_left / 7, 0.5)
    value = float(f.package_value or 0)
    paid = float(f.paid_toward_package) if f.paid_toward_package is not None else None
    unpaid = max(0.0, 1 - paid / value) if (value and paid is not None) else 0.0

    row = {
        "attended_14": f.attended_14, "attended_28": f.attended_28, "attended_prev_28": f.attended_prev_28,
        "attendance_change_28": f.attended_28 - f.attended_prev_28,
        "attendance_ratio_28": _clip((f.attended_28 + 1) / (f.attended_prev_28 + 1), 0, 5),
        "weeks_active_4": f.weeks_active_4,
        "days_since_attended": _days(f.days_since_attended), "never_attended": f.days_since_attended is None,
        "plan_per_week": plan, "attendance_vs_plan_28": _clip(f.attended_28 / (4 * plan), 0, 2),
        "attendance_vs_plan_14": _clip(f.attended_14 / (2 * plan), 0, 2),
        "package_sessions": sessions, "package_remaining": remaining,
        "package_remaining_share": remaining / sessions if sessions else 0.0,
        "days_to_expiry": _clip(days_left, -60, 180),
        "package_age_days": _clip((f.day - f.package_starts).days, 0, 365) if f.package_starts else 0.0,
        "package_expired": days_left < 0, "package_used_up": bool(sessions) and remaining == 0,
        "weekly_needed_vs_plan": _clip((remaining / weeks_left) / plan, 0, 10),
        "package_value": value / 1000,
        "payments_failed_30": f.payments_30_failed, "refunded_90": float(f.refunded_90) / 1000,
        "outstanding": float(f.outstanding) / 1000, "unpaid_share": _clip(unpaid, 0, 1),
        "has_money_records": f.has_money_records,
        "days_since_interaction": _days(f.days_since_interaction), "no_interaction": f.days_since_interaction is None,
        "sentiment_28": f.sentiment_28 or 0.0, "sentiment_missing": f.sentiment_28 is None,
        "last3_negative": f.last3_negative,
        "response_minutes_log": math.log1p(f.response_minutes_median) if f.response_minutes_median is not None else 0.0,
        "response_missing": f.response_minutes_median is None,
        "survey_score": float(f.survey_score) if f.survey_score is not None else 0.0,
        "survey_missing": f.survey_score is None, "coaches_56": f.coaches_56,
    }
    return [float(row[name]) for name in FEATURE_NAMES]


# ------------------------------------------------------------------------------------------ snapshots


@dataclass
class Snapshots:
    days: list[date] = field(default_factory=list)  # one per row
    contacts: list[int] = field(default_factory=list)
    X: list[list[float]] = field(default_factory=list)
    churn_day: list[date | None] = field(default_factory=list)

    @property
    def y(self) -> list[int]:
        return [int(c is not None) for c in self.churn_day]


def snapshot_days(workspace: Workspace, step_days: int = 7) -> list[date]:
    """Snapshot days every `step_days`, ending at the latest labelled day, from two weeks after the first
    package started."""
    from clients.models import Package

    end = data_end(workspace)
    first = Package.objects.filter(workspace=workspace).order_by("starts_on").values_list("starts_on", flat=True).first()
    if end is None or first is None:
        return []
    last = end - timedelta(days=OBSERVE_DAYS)
    start = first + timedelta(days=14)
    days = []
    day = last
    while day >= start:
        days.append(day)
        day -= timedelta(days=step_days)
    return sorted(days)


def build_snapshots(workspace: Workspace, days: list[date]) -> Snapshots:
    from clients.health import collect_facts

    labels = churn_labels(workspace, days)
    snaps = Snapshots()
    for day in sorted(days):
        facts = collect_facts(workspace=workspace, day=day)
        for cid, churn_day in sorted(labels[day].items()):  # a fixed order: the same data, the same model
            f = facts.get(cid)
            if f is None:
                continue
            snaps.days.append(day)
            snaps.contacts.append(cid)
            snaps.X.append(features(f))
            snaps.churn_day.append(churn_day)
    return snaps


# ------------------------------------------------------------------------------------ model and metrics

CANDIDATES = ("gradient_boosting", "logistic_regression")


def _estimator(kind: str):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "gradient_boosting":
        return GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8,
                                          min_samples_leaf=20, random_state=0)
    if kind == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5000))
    raise ValueError(kind)


def _split(days: list[date], gap_days: int = OBSERVE_DAYS) -> tuple[list[date], list[date]]:
    """(earlier days, later days): the later TEST_SHARE of the days, and the earlier ones at least `gap_days`
    before the later period (with the default gap, every earlier label is known before the later period)."""
    days = sorted(set(days))
    if len(days) < 4:
        return [], days
    later_start = days[max(1, int(round(len(days) * (1 - TEST_SHARE))))]
    later = [d for d in days if d >= later_start]
    earlier = [d for d in days if d <= later_start - timedelta(days=gap_days)]
    return earlier, later


def _subset(snaps: Snapshots, days: list[date]) -> Snapshots:
    keep = set(days)
    out = Snapshots()
    for i, d in enumerate(snaps.days):
        if d in keep:
            out.days.append(d)
            out.contacts.append(snaps.contacts[i])
            out.X.append(snaps.X[i])
            out.churn_day.append(snaps.churn_day[i])
    return out


def _churn_events(snaps: Snapshots) -> set[tuple[int, date]]:
    return {(c, cd) for c, cd in zip(snaps.contacts, snaps.churn_day) if cd is not None}


def evaluate(snaps: Snapshots, risk: list[float]) -> dict:
    """AUC, precision in the top decile and median lead days of `risk` on labelled snapshots."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.array(snaps.y)
    p = np.asarray(risk, dtype=float)
    n_top = max(1, int(math.ceil(0.1 * len(p))))
    order = np.argsort(-p, kind="stable")
    threshold = p[order[n_top - 1]]
    first_flag: dict[tuple[int, date], date] = {}
    for i in np.flatnonzero(p >= threshold):
        if snaps.churn_day[i] is not None:
            key = (snaps.contacts[i], snaps.churn_day[i])
            first_flag[key] = min(first_flag.get(key, snaps.days[i]), snaps.days[i])
    leads = sorted((churn_day - flagged).days for (_, churn_day), flagged in first_flag.items())
    return {
        "auc": round(float(roc_auc_score(y, p)), 4),
        "precision_top_decile": round(float(y[order[:n_top]].mean()), 4),
        "median_lead_days": int(round(float(np.median(leads)))) if leads else None,
        "churns": len(_churn_events(snaps)), "churns_caught_top_decile": len(first_flag),
        "churns_caught_before_churn_day": sum(1 for lead in leads if lead > 0),
        "snapshots": int(len(y)), "positives": int(y.sum()),
    }


def _fit(kind: str, snaps: Snapshots):
    import numpy as np

    model = _estimator(kind)
    model.fit(np.array(snaps.X), np.array(snaps.y))
    return model


def _proba(model, X) -> list[float]:
    import numpy as np

    return model.predict_proba(np.asarray(X, dtype=float))[:, 1].tolist()


def _usable(snaps: Snapshots, min_churns: int) -> bool:
    return len(_churn_events(snaps)) >= min_churns and 0 < sum(snaps.y) < len(snaps.y)


@dataclass
class TrainResult:
    version: str
    kind: str
    metrics: dict
    path: Path
    meta: dict


def train(workspace: Workspace, *, step_days: int = 7, store: bool = True) -> TrainResult:
    """Snapshots over history, the backtest on the later period, and the stored model (see module doc)."""
    started = time.monotonic()
    days = snapshot_days(workspace, step_days)
    if len(days) < 8:
        raise NotEnoughHistory(f"not enough history to train a churn model: {len(days)} snapshot days every "
                               f"{step_days} days (need at least 8, i.e. about {8 * step_days + OBSERVE_DAYS + 14} "
                               "days of sessions)")
    snaps = build_snapshots(workspace, days)
    earlier, later = _split(days)
    train_set, test_set = _subset(snaps, earlier), _subset(snaps, later)
    total_churns = len(_churn_events(snaps))
    if total_churns < MIN_CHURNS or not _usable(train_set, MIN_TEST_CHURNS) or not _usable(test_set, MIN_TEST_CHURNS):
        raise NotEnoughHistory(
            f"not enough churn history to train a churn model: {total_churns} churn events in {len(days)} snapshot "
            f"days ({len(_churn_events(train_set))} in the training period, {len(_churn_events(test_set))} in the "
            f"test period; need {MIN_CHURNS} in all and {MIN_TEST_CHURNS} in each period)")
    # Model choice on validation: the training period split again by time, with a gap of the horizon (the
    # full 60-day gap would leave too little to fit on; this only chooses between the two kinds).
    inner_days, val_days = _split(earlier, HORIZON_DAYS)
    inner, val = _subset(snaps, inner_days), _subset(snaps, val_days)
    validation = {}
    if _usable(inner, 3) and _usable(val, 3):
        for kind in CANDIDATES:
            validation[kind] = evaluate(val, _proba(_fit(kind, inner), val.X))["auc"]
        kind = max(CANDIDATES, key=lambda k: validation[k])
    else:
        kind = "logistic_regression"  # too little history to compare: the simpler model
    backtest_model = _fit(kind, train_set)
    metrics = evaluate(test_set, _proba(backtest_model, test_set.X))
    final = _fit(kind, snaps)
    trained_at = datetime.now(dt_timezone.utc)
    version = _new_version(workspace, trained_at)
    meta = {
        "version": version, "kind": kind, "trained_at": trained_at.isoformat(timespec="seconds"),
        "workspace": workspace.slug, "feature_names": FEATURE_NAMES, "metrics": metrics,
        "validation_auc": validation, "step_days": step_days, "horizon_days": HORIZON_DAYS,
        "window": {"first_snapshot": days[0].isoformat(), "last_snapshot": days[-1].isoformat(),
                   "train": [earlier[0].isoformat(), earlier[-1].isoformat()],
                   "test": [later[0].isoformat(), later[-1].isoformat()]},
        "counts": {"snapshots": len(snaps.y), "positives": sum(snaps.y), "churn_events": total_churns,
                   "train_snapshots": len(train_set.y), "test_snapshots": len(test_set.y)},
        "final_model": "refit on all labelled snapshots (train and test periods) with the chosen kind",
        "seconds": round(time.monotonic() - started, 1),
    }
    path = _model_dir() / f"{workspace.slug}-{version}.joblib"
    if store:
        _store(path, final, meta)
    return TrainResult(version=version, kind=kind, metrics=metrics, path=path, meta=meta)


# ---------------------------------------------------------------------------------------- artefacts


def _model_dir() -> Path:
    configured = getattr(settings, "CHURN_MODEL_DIR", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "churn"


def _new_version(workspace: Workspace, at: datetime) -> str:
    """'churn-YYMMDD-HHMMSS' (19 characters: HealthScore.churn_risk_source holds 20), unique in the folder."""
    at = at.replace(microsecond=0)
    while True:
        version = f"churn-{at:%y%m%d-%H%M%S}"
        if not (_model_dir() / f"{workspace.slug}-{version}.joblib").exists():
            return version
        at += timedelta(seconds=1)


def _store(path: Path, model, meta: dict) -> None:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".joblib.tmp")
    joblib.dump({"model": model, "meta": meta}, tmp)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    os.replace(tmp, path)  # the model file appears last, complete


@dataclass
class ChurnModel:
    version: str
    model: object
    meta: dict
    path: Path

    def predict(self, rows: list[list[float]]) -> list[float]:
        """Risk 0–100 for each feature row."""
        if not rows:
            return []
        return [round(100 * p, 2) for p in _proba(self.model, rows)]


_cache: dict[str, tuple[float, ChurnModel | None]] = {}


def latest_model(workspace: Workspace) -> ChurnModel | None:
    """The workspace's newest stored model, or None. Loaded once per file and mtime in this process."""
    folder = _model_dir()
    try:
        candidates = [(p.stat().st_mtime, p.name, p) for p in folder.glob(f"{workspace.slug}-churn-*.joblib")]
    except OSError:
        return None
    if not candidates:
        return None
    mtime, _, path = max(candidates)
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    loaded = None
    try:
        import joblib

        bundle = joblib.load(path)
        meta = bundle["meta"]
        if meta.get("feature_names") != FEATURE_NAMES:
            log.warning("churn model %s was trained on other features; ignored until retrained", path.name)
        else:
            loaded = ChurnModel(version=meta["version"], model=bundle["model"], meta=meta, path=path)
    except Exception:  # a broken or foreign file must not stop scoring
        log.exception("could not load churn model %s", path)
    _cache[str(path)] = (mtime, loaded)
    return loaded


# ----------------------------------------------------------------------------------- on score rows


def churn_risks(*, workspace: Workspace, facts: dict, scores: dict) -> tuple[dict[int, float], str]:
    """Churn risk 0–100 per client and its source (the model version, or "rule-based")."""
    model = latest_model(workspace) if scores else None
    if model is not None:
        ids = list(scores)
        try:
            risks = model.predict([features(facts[cid]) for cid in ids])
            return dict(zip(ids, risks)), model.version
        except Exception:
            log.exception("churn model %s failed; using the rule-based estimate", model.version)
    return {cid: s.churn_risk for cid, s in scores.items()}, RULE_BASED
