"""Stripe forensics (DESIGN §8: nightly at 02:00 and soon after new Stripe events): rules that read the mirrored
Stripe data for patterns a person should look at, and raise FraudAlert rows with the evidence.

Each rule is one function that reads set-based (a fixed number of queries, whatever the volume) and returns
unsaved alerts; `fraud_alerts_scan` runs them all and writes with INSERT … ON CONFLICT DO NOTHING on
(workspace, rule, evidence_key), so the same evidence never raises a second alert however often the scan runs.
An evidence key names what the alert is about — a dispute, a payout, a payment, a day, or the first charge of a
burst — so a burst that keeps growing after its alert does not raise another one.

Rules look at records created in the last SCAN_WINDOW (the nightly scan and the scans after events overlap; the
keys make that harmless), and only at the Stripe mode the workspace runs in: test payments never alert a live
business. Early fraud warnings are raised as they arrive by finance.services.early_fraud_warnings_record; the scan
replays the stored warning events through it (a no-op for those already raised) and links warnings whose charge
arrived after them.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Aggregate, Count, FloatField, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from finance import services
from finance.models import (Dispute, DisputeStatus, FraudAlert, FraudSeverity, FraudStatus, Payment, PaymentStatus,
                            Payout, PayoutStatus, Refund, StripeEvent, format_minor)
from ptd.credentials import credential_get
from ptd.live import publish
from ptd.models import CredentialKind, IntegrationCredential, Mode, Workspace

# The nightly scan covers the day behind it with a day's margin for late events and the 01:30 backfill.
SCAN_WINDOW = timedelta(hours=48)

# Refund-rate spike: the day's refunds / collected payments (counts) against the 30 days before that day.
REFUND_BASELINE_DAYS = 30
REFUND_SPIKE_MIN_REFUNDS = 3  # one or two refunds on a quiet day are ordinary, whatever the rate says
REFUND_SPIKE_FACTOR = 2.0  # a spike is at least twice the usual rate …
REFUND_SPIKE_MIN_RATE = 0.10  # … and at least 10 %: doubling a near-zero baseline means nothing

# Card testing: failed attempts on one card fingerprint (or by one customer) in a run with short gaps.
CARD_TEST_GAP = timedelta(minutes=10)  # testers try cards seconds apart; tries 10 min apart still read as one run
CARD_TEST_MIN_FAILURES = 3  # a client mistyping twice is common; a third failure in the same run is not
CARD_TEST_HIGH_FAILURES = 5
CARD_TEST_HIGH_CARDS = 3  # one customer failing on three different cards is cycling through cards

# Disputes still waiting for an answer or a decision (a closed one found late is still raised once).
DISPUTE_OPEN = (DisputeStatus.WARNING_NEEDS_RESPONSE, DisputeStatus.WARNING_UNDER_REVIEW,
                DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW)
DISPUTE_INQUIRY = (DisputeStatus.WARNING_NEEDS_RESPONSE, DisputeStatus.WARNING_UNDER_REVIEW,
                   DisputeStatus.WARNING_CLOSED)

# Payout anomaly: amount outside the trailing mean ± 3σ of the payouts before it, or a failed payout.
PAYOUT_HISTORY = 20  # about a month of daily payouts sets the usual amount
PAYOUT_MIN_HISTORY = 5  # fewer payouts than this say nothing about what is usual
PAYOUT_SIGMAS = 3.0
PAYOUT_MIN_BAND = 0.10  # identical past payouts give σ = 0: amounts within 10 % of the mean stay usual
PAYOUT_FAILED_LOOKBACK = timedelta(days=30)  # a payout fails days after it was created

# Duplicate charges: the same payer charged the same amount again within minutes.
DUPLICATE_GAP = timedelta(minutes=5)

# Amount outlier: far above what the workspace's payments usually are.
OUTLIER_BASELINE_DAYS = 90
OUTLIER_MIN_HISTORY = 20  # a percentile of a handful of payments is noise
OUTLIER_PERCENTILE = 0.95
OUTLIER_MULTIPLE = 3.0  # three times what 19 payments in 20 stay under; a big package is not an outlier

# Requests for a scan after new events collapse into one task per workspace within this delay.
SCAN_DELAY_SECONDS = 30


# --- which Stripe mode a workspace runs in ---------------------------------------------------------

def stripe_livemode(*, workspace: Workspace) -> bool:
    """True when the workspace runs on live Stripe data: the secret key says so by its prefix; a key without a
    recognisable prefix follows the mode an admin set on the stored credential; no key means test."""
    key = credential_get(workspace=workspace, kind=CredentialKind.STRIPE_SECRET_KEY)
    if key.startswith(("sk_live_", "rk_live_")):
        return True
    if key.startswith(("sk_test_", "rk_test_")) or not key:
        return False
    return IntegrationCredential.objects.filter(workspace=workspace, kind=CredentialKind.STRIPE_SECRET_KEY,
                                                mode=Mode.LIVE).exists()


# --- pure formulas ---------------------------------------------------------------------------------

def bursts(events: Sequence[tuple[datetime, dict]], *, gap: timedelta, min_count: int) -> list[list[dict]]:
    """Runs of time-sorted events in which each follows the previous within `gap`; the runs with at least
    `min_count` events."""
    runs: list[list[dict]] = []
    current: list[dict] = []
    last: datetime | None = None
    for at, event in events:
        if last is not None and at - last > gap:
            runs.append(current)
            current = []
        current.append(event)
        last = at
    runs.append(current)
    return [run for run in runs if len(run) >= min_count]


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def refund_spike_threshold(*, baseline_refunds: int, baseline_payments: int) -> float:
    """The refund rate that counts as a spike against this baseline."""
    return max(REFUND_SPIKE_FACTOR * (rate(baseline_refunds, baseline_payments) or 0.0), REFUND_SPIKE_MIN_RATE)


def is_refund_spike(*, refunds: int, payments: int, baseline_refunds: int, baseline_payments: int) -> bool:
    """Enough refunds, at a rate far above the baseline's (refunds on a day without payments always are)."""
    if refunds < REFUND_SPIKE_MIN_REFUNDS:
        return False
    day_rate = rate(refunds, payments)
    return day_rate is None or day_rate >= refund_spike_threshold(baseline_refunds=baseline_refunds,
                                                                  baseline_payments=baseline_payments)


def payout_band(*, mean: float, sd: float) -> float:
    """How far from the trailing mean a payout may be and still be usual."""
    return max(PAYOUT_SIGMAS * sd, PAYOUT_MIN_BAND * abs(mean))


def span_minutes(first: datetime, last: datetime) -> int:
    return max(1, math.ceil((last - first).total_seconds() / 60))


# --- the scan --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scan:
    workspace: Workspace
    livemode: bool
    now: datetime

    @property
    def since(self) -> datetime:
        return self.now - SCAN_WINDOW

    def payments(self):
        return Payment.objects.filter(workspace=self.workspace, livemode=self.livemode).order_by()


def _alert(scan: Scan, rule: str, key: str, *, severity: str, title: str, evidence: dict, is_demo: bool,
           payment: int | None = None, customer: int | None = None, contact: int | None = None) -> FraudAlert:
    return FraudAlert(workspace=scan.workspace, rule=rule, evidence_key=key[:255], severity=severity,
                      title=title[:200], evidence=evidence, is_demo=is_demo, payment_id=payment,
                      customer_id=customer, contact_id=contact, created_at=scan.now)


def _only(values) -> int | None:
    """The one value all records share (a common customer or contact), else None."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _payer(row: dict) -> str:
    return (row.get("customer__name") or row.get("customer__email") or row.get("email")
            or row.get("customer__stripe_id") or "an unknown payer")


def refund_rate_spikes(scan: Scan) -> list[FraudAlert]:
    """Yesterday and today (workspace days): refund rate against the 30 days before the day. Keyed by the day,
    so a day raises one alert however often it is scanned."""
    tz = ZoneInfo(scan.workspace.timezone)
    today = scan.now.astimezone(tz).date()
    days = [today - timedelta(days=1), today]
    start = datetime.combine(days[0] - timedelta(days=REFUND_BASELINE_DAYS), datetime.min.time(), tz)
    local_day = TruncDate("created", tzinfo=tz)
    refunds_by_day = dict(
        Refund.objects.filter(workspace=scan.workspace, livemode=scan.livemode, status__in=services.REFUND_COUNTED,
                              created__gte=start, created__lt=scan.now)
        .order_by().annotate(day=local_day).values("day").annotate(n=Count("pk")).values_list("day", "n"))
    payments_by_day = dict(
        scan.payments().filter(status__in=Payment.COLLECTED_STATUSES, created__gte=start, created__lt=scan.now)
        .annotate(day=local_day).values("day").annotate(n=Count("pk")).values_list("day", "n"))
    spikes: dict[date, dict] = {}
    for day in days:
        baseline = [day - timedelta(days=d) for d in range(1, REFUND_BASELINE_DAYS + 1)]
        numbers = {"refunds": refunds_by_day.get(day, 0), "payments": payments_by_day.get(day, 0),
                   "baseline_refunds": sum(refunds_by_day.get(d, 0) for d in baseline),
                   "baseline_payments": sum(payments_by_day.get(d, 0) for d in baseline)}
        if is_refund_spike(**numbers):
            spikes[day] = numbers
    if not spikes:
        return []
    refunds = defaultdict(list)
    for pk, stripe_id, is_demo, day in (
            Refund.objects.filter(workspace=scan.workspace, livemode=scan.livemode,
                                  status__in=services.REFUND_COUNTED, created__lt=scan.now,
                                  created__gte=datetime.combine(min(spikes), datetime.min.time(), tz))
            .order_by("created").annotate(day=local_day).filter(day__in=list(spikes))
            .values_list("pk", "stripe_id", "is_demo", "day")):
        refunds[day].append((pk, stripe_id, is_demo))
    alerts = []
    for day, n in spikes.items():
        day_rate = rate(n["refunds"], n["payments"])
        base_rate = rate(n["baseline_refunds"], n["baseline_payments"])
        threshold = refund_spike_threshold(baseline_refunds=n["baseline_refunds"],
                                           baseline_payments=n["baseline_payments"])
        when = "today" if day == today else f"on {day.isoformat()}"
        usual = f"30-day rate {base_rate:.1%}" if base_rate is not None else "no payments in the 30 days before"
        title = (f"{n['refunds']} refunds {when} on {n['payments']} payments ({day_rate:.0%}; {usual})"
                 if day_rate is not None else f"{n['refunds']} refunds {when} with no payment that day ({usual})")
        rows = refunds[day]
        alerts.append(_alert(
            scan, "refund_rate_spike", f"day:{day.isoformat()}",
            severity=FraudSeverity.HIGH if day_rate is None or day_rate >= 2 * threshold else FraudSeverity.MEDIUM,
            title=title, is_demo=bool(rows) and all(demo for _, _, demo in rows),
            evidence={"day": day.isoformat(), **n, "rate": day_rate, "baseline_rate": base_rate,
                      "baseline_days": REFUND_BASELINE_DAYS, "threshold": threshold,
                      "refund_ids": [pk for pk, _, _ in rows], "refund_stripe_ids": [sid for _, sid, _ in rows]},
        ))
    return alerts


FAILURE_FIELDS = ("pk", "stripe_id", "created", "amount_minor", "currency", "card_fingerprint", "card_brand",
                  "card_last4", "failure_code", "customer_id", "contact_id", "is_demo", "customer__name",
                  "customer__email", "customer__stripe_id", "email")


def _failure_evidence(run: list[dict]) -> dict:
    return {"failures": len(run), "minutes": span_minutes(run[0]["created"], run[-1]["created"]),
            "first_at": run[0]["created"].isoformat(), "last_at": run[-1]["created"].isoformat(),
            "payment_ids": [r["pk"] for r in run], "charge_ids": [r["stripe_id"] for r in run],
            "failure_codes": dict(Counter(r["failure_code"] or "unknown" for r in run)),
            "card_fingerprints": sorted({r["card_fingerprint"] for r in run if r["card_fingerprint"]}),
            "card_last4": sorted({r["card_last4"] for r in run if r["card_last4"]}),
            "customer_ids": sorted({r["customer_id"] for r in run if r["customer_id"]}),
            "attempted_minor": sum(r["amount_minor"] for r in run)}


def card_testing(scan: Scan) -> list[FraudAlert]:
    """Runs of failed payments on one card fingerprint, and by one customer, with gaps under CARD_TEST_GAP.
    A customer's run made of one card's run only is that card's alert, not a second one."""
    failures = list(scan.payments().filter(status=PaymentStatus.FAILED, created__gte=scan.since - CARD_TEST_GAP,
                                           created__lt=scan.now)
                    .order_by("created", "pk").values(*FAILURE_FIELDS))
    alerts, card_runs = [], []

    def runs_by(key: Callable[[dict], Hashable]) -> list[list[dict]]:
        rows = sorted((r for r in failures if key(r)), key=lambda r: (key(r), r["created"], r["pk"]))
        found = []
        for _, group in groupby(rows, key=key):
            found += bursts([(r["created"], r) for r in group], gap=CARD_TEST_GAP, min_count=CARD_TEST_MIN_FAILURES)
        return found

    for run in runs_by(lambda r: r["card_fingerprint"]):
        card_runs.append({r["pk"] for r in run})
        fingerprint, brand = run[0]["card_fingerprint"], (run[0]["card_brand"] or "card").title()
        # The last four digits are what an admin can match with the cardholder; a fingerprint is all a card
        # without them (a test payment method, an older event) gives.
        card = (f"ending {run[0]['card_last4']}" if run[0]["card_last4"] else f"(fingerprint …{fingerprint[-4:]})")
        evidence = _failure_evidence(run)
        alerts.append(_alert(
            scan, "card_testing", f"card:{fingerprint}:{run[0]['stripe_id']}",
            severity=FraudSeverity.HIGH if len(run) >= CARD_TEST_HIGH_FAILURES else FraudSeverity.MEDIUM,
            title=f"{len(run)} failed charges on one {brand} card {card} "
                  f"in {evidence['minutes']} min",
            evidence=evidence, is_demo=all(r["is_demo"] for r in run), payment=run[-1]["pk"],
            customer=_only(r["customer_id"] for r in run), contact=_only(r["contact_id"] for r in run),
        ))
    for run in runs_by(lambda r: r["customer_id"]):
        pks = {r["pk"] for r in run}
        if any(pks <= card_run for card_run in card_runs):
            continue
        evidence = _failure_evidence(run)
        cards = len(evidence["card_fingerprints"])
        alerts.append(_alert(
            scan, "card_testing", f"customer:{run[0]['customer_id']}:{run[0]['stripe_id']}",
            severity=(FraudSeverity.HIGH if len(run) >= CARD_TEST_HIGH_FAILURES or cards >= CARD_TEST_HIGH_CARDS
                      else FraudSeverity.MEDIUM),
            title=f"{len(run)} failed charges by {_payer(run[0])} on {cards or 'unknown'} card{'s' * (cards != 1)} "
                  f"in {evidence['minutes']} min",
            evidence=evidence, is_demo=all(r["is_demo"] for r in run), payment=run[-1]["pk"],
            customer=run[0]["customer_id"], contact=_only(r["contact_id"] for r in run),
        ))
    return alerts


def disputes_opened(scan: Scan) -> list[FraudAlert]:
    """Every dispute still open, and any created in the scan window: one alert per dispute."""
    rows = (Dispute.objects.filter(workspace=scan.workspace, livemode=scan.livemode)
            .filter(Q(status__in=DISPUTE_OPEN) | Q(created__gte=scan.since, created__lt=scan.now)).order_by("created")
            .values("pk", "stripe_id", "charge_id", "amount_minor", "currency", "reason", "status", "created",
                    "evidence_due_by", "is_demo", "payment_id", "payment__customer_id", "payment__contact_id"))
    alerts = []
    for d in rows:
        inquiry = d["status"] in DISPUTE_INQUIRY
        reason = (d["reason"] or "unspecified").replace("_", " ")
        due = f" — respond by {d['evidence_due_by']:%Y-%m-%d}" if d["evidence_due_by"] else ""
        severity = (FraudSeverity.MEDIUM if inquiry else
                    FraudSeverity.CRITICAL if d["reason"] == "fraudulent" else FraudSeverity.HIGH)
        alerts.append(_alert(
            scan, "dispute_opened", d["stripe_id"], severity=severity, is_demo=d["is_demo"],
            title=f"{'Inquiry' if inquiry else 'Dispute'} ({reason}) of "
                  f"{format_minor(d['amount_minor'], d['currency'])} on charge {d['charge_id'] or '?'}{due}",
            evidence={"dispute_id": d["pk"], "dispute_stripe_id": d["stripe_id"], "charge_id": d["charge_id"],
                      "payment_id": d["payment_id"], "amount_minor": d["amount_minor"], "currency": d["currency"],
                      "reason": d["reason"], "status": d["status"], "created": d["created"].isoformat(),
                      "evidence_due_by": d["evidence_due_by"].isoformat() if d["evidence_due_by"] else None},
            payment=d["payment_id"], customer=d["payment__customer_id"], contact=d["payment__contact_id"],
        ))
    return alerts


PAYOUT_STATS_SQL = """
WITH usual AS (
    SELECT id, stripe_id, amount_minor, currency, created, is_demo,
           AVG(amount_minor) OVER history AS mean, STDDEV_POP(amount_minor) OVER history AS sd,
           COUNT(*) OVER history AS n
    FROM {table}
    WHERE workspace_id = %s AND livemode = %s AND status NOT IN (%s, %s) AND created < %s
    WINDOW history AS (PARTITION BY currency ORDER BY created, id ROWS BETWEEN {history} PRECEDING AND 1 PRECEDING)
)
SELECT id, stripe_id, amount_minor, currency, created, is_demo, mean, sd, n FROM usual
WHERE created >= %s AND n >= %s ORDER BY created
"""


def payout_anomalies(scan: Scan) -> list[FraudAlert]:
    """Payouts of the scan window whose amount is outside the trailing mean ± 3σ of the PAYOUT_HISTORY payouts
    before them (same currency), and payouts that failed."""
    alerts = []
    sql = PAYOUT_STATS_SQL.format(table=connection.ops.quote_name(Payout._meta.db_table), history=PAYOUT_HISTORY)
    with connection.cursor() as cursor:
        cursor.execute(sql, [scan.workspace.pk, scan.livemode, PayoutStatus.FAILED, PayoutStatus.CANCELED, scan.now,
                             scan.since, PAYOUT_MIN_HISTORY])
        rows = cursor.fetchall()
    for pk, stripe_id, amount, currency, created, is_demo, mean, sd, n in rows:
        mean, sd = float(mean), float(sd or 0)
        band = payout_band(mean=mean, sd=sd)
        if abs(amount - mean) <= band:
            continue
        direction = "above" if amount > mean else "below"
        alerts.append(_alert(
            scan, "payout_anomaly", f"amount:{stripe_id}", severity=FraudSeverity.MEDIUM, is_demo=is_demo,
            title=f"Payout {format_minor(amount, currency)} is {direction} the usual "
                  f"{format_minor(round(mean), currency)} ± {format_minor(round(band), currency)}",
            evidence={"payout_id": pk, "payout_stripe_id": stripe_id, "amount_minor": amount, "currency": currency,
                      "created": created.isoformat(), "trailing_payouts": n, "trailing_mean_minor": round(mean),
                      "trailing_sd_minor": round(sd), "band_minor": round(band), "sigmas": PAYOUT_SIGMAS},
        ))
    failed = (Payout.objects.filter(workspace=scan.workspace, livemode=scan.livemode, status=PayoutStatus.FAILED,
                                    created__gte=scan.now - PAYOUT_FAILED_LOOKBACK, created__lt=scan.now)
              .order_by("created").values("pk", "stripe_id", "amount_minor", "currency", "created", "arrival_date",
                                          "failure_code", "failure_message", "is_demo"))
    for p in failed:
        why = p["failure_message"] or (p["failure_code"] or "no reason given").replace("_", " ")
        alerts.append(_alert(
            scan, "payout_anomaly", f"failed:{p['stripe_id']}", severity=FraudSeverity.HIGH, is_demo=p["is_demo"],
            title=f"Payout {format_minor(p['amount_minor'], p['currency'])} failed: {why}",
            evidence={"payout_id": p["pk"], "payout_stripe_id": p["stripe_id"], "amount_minor": p["amount_minor"],
                      "currency": p["currency"], "created": p["created"].isoformat(),
                      "arrival_date": p["arrival_date"].isoformat() if p["arrival_date"] else None,
                      "failure_code": p["failure_code"], "failure_message": p["failure_message"]},
        ))
    return alerts


def payments_without_contact(scan: Scan) -> list[FraudAlert]:
    """Collected payments of the scan window that no contact owns: money from someone who is not a lead or
    client (or whose email and phone match none)."""
    rows = (scan.payments().filter(status__in=Payment.COLLECTED_STATUSES, contact__isnull=True,
                                   created__gte=scan.since, created__lt=scan.now).order_by("created")
            .values("pk", "stripe_id", "amount_minor", "currency", "created", "email", "phone_e164", "customer_id",
                    "customer__name", "customer__email", "customer__stripe_id", "is_demo"))
    return [_alert(
        scan, "payment_without_contact", p["stripe_id"], severity=FraudSeverity.LOW, is_demo=p["is_demo"],
        title=f"{format_minor(p['amount_minor'], p['currency'])} payment from {_payer(p)} matches no contact",
        evidence={"payment_id": p["pk"], "charge_id": p["stripe_id"], "amount_minor": p["amount_minor"],
                  "currency": p["currency"], "created": p["created"].isoformat(), "customer_id": p["customer_id"],
                  "customer_stripe_id": p["customer__stripe_id"], "email": p["customer__email"] or p["email"],
                  "phone": p["phone_e164"]},
        payment=p["pk"], customer=p["customer_id"],
    ) for p in rows]


def duplicate_charges(scan: Scan) -> list[FraudAlert]:
    """The same payer (customer, else billing email) charged the same amount again within DUPLICATE_GAP.
    A fully refunded charge is a duplicate already dealt with and does not count."""
    rows = list(scan.payments().filter(status__in=(PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED),
                                       created__gte=scan.since - DUPLICATE_GAP, created__lt=scan.now)
                .filter(Q(customer__isnull=False) | ~Q(email=""))
                .values("pk", "stripe_id", "amount_minor", "currency", "created", "customer_id", "contact_id", "email",
                        "customer__name", "customer__email", "customer__stripe_id", "is_demo"))

    def same(r):
        return (f"customer:{r['customer_id']}" if r["customer_id"] else f"email:{r['email']}",
                r["amount_minor"], r["currency"])

    alerts = []
    for (payer, amount, currency), group in groupby(sorted(rows, key=lambda r: (same(r), r["created"], r["pk"])),
                                                    key=same):
        for run in bursts([(r["created"], r) for r in group], gap=DUPLICATE_GAP, min_count=2):
            minutes = span_minutes(run[0]["created"], run[-1]["created"])
            alerts.append(_alert(
                scan, "duplicate_charge", run[0]["stripe_id"],
                severity=FraudSeverity.HIGH if len(run) > 2 else FraudSeverity.MEDIUM,
                title=f"{len(run)} charges of {format_minor(amount, currency)} to {_payer(run[0])} "
                      f"within {minutes} min",
                evidence={"payer": payer, "amount_minor": amount, "currency": currency, "charges": len(run),
                          "minutes": minutes, "payment_ids": [r["pk"] for r in run],
                          "charge_ids": [r["stripe_id"] for r in run],
                          "created": [r["created"].isoformat() for r in run]},
                is_demo=all(r["is_demo"] for r in run), payment=run[-1]["pk"], customer=run[0]["customer_id"],
                contact=_only(r["contact_id"] for r in run),
            ))
    return alerts


class PercentileCont(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def amount_outliers(scan: Scan) -> list[FraudAlert]:
    """Collected payments of the scan window above OUTLIER_MULTIPLE × the 95th percentile of the workspace's
    payments (same currency) in the OUTLIER_BASELINE_DAYS before the window."""
    collected = scan.payments().filter(status__in=Payment.COLLECTED_STATUSES)
    baseline = {c: (n, p) for c, n, p in collected.filter(
        created__gte=scan.since - timedelta(days=OUTLIER_BASELINE_DAYS), created__lt=scan.since)
        .values("currency").annotate(n=Count("pk"), p=PercentileCont("amount_minor", fraction=OUTLIER_PERCENTILE))
        .values_list("currency", "n", "p") if n >= OUTLIER_MIN_HISTORY}
    if not baseline:
        return []
    usual = Q()
    for currency, (_, percentile) in baseline.items():
        usual |= Q(currency=currency, amount_minor__gt=OUTLIER_MULTIPLE * percentile)
    rows = (collected.filter(usual, created__gte=scan.since, created__lt=scan.now).order_by("created")
            .values("pk", "stripe_id", "amount_minor", "currency", "created", "customer_id", "contact_id", "email",
                    "customer__name", "customer__email", "customer__stripe_id", "is_demo"))
    alerts = []
    for p in rows:
        n, percentile = baseline[p["currency"]]
        threshold = OUTLIER_MULTIPLE * percentile
        alerts.append(_alert(
            scan, "amount_outlier", p["stripe_id"],
            severity=FraudSeverity.HIGH if p["amount_minor"] >= 2 * threshold else FraudSeverity.MEDIUM,
            title=f"{format_minor(p['amount_minor'], p['currency'])} payment from {_payer(p)} is "
                  f"{p['amount_minor'] / percentile:.1f}× the usual top "
                  f"({format_minor(round(percentile), p['currency'])})",
            evidence={"payment_id": p["pk"], "charge_id": p["stripe_id"], "amount_minor": p["amount_minor"],
                      "currency": p["currency"], "created": p["created"].isoformat(),
                      "baseline_days": OUTLIER_BASELINE_DAYS, "baseline_payments": n,
                      "percentile": OUTLIER_PERCENTILE, "percentile_minor": round(percentile),
                      "multiple": OUTLIER_MULTIPLE, "threshold_minor": round(threshold)},
            is_demo=p["is_demo"], payment=p["pk"], customer=p["customer_id"], contact=p["contact_id"],
        ))
    return alerts


RULES: dict[str, Callable[[Scan], list[FraudAlert]]] = {
    "refund_rate_spike": refund_rate_spikes,
    "card_testing": card_testing,
    "dispute_opened": disputes_opened,
    "payout_anomaly": payout_anomalies,
    "payment_without_contact": payments_without_contact,
    "duplicate_charge": duplicate_charges,
    "amount_outlier": amount_outliers,
}
EARLY_FRAUD_WARNING = "early_fraud_warning"
EARLY_FRAUD_WARNING_EVENTS = ("radar.early_fraud_warning.created", "radar.early_fraud_warning.updated")


def _alerts_insert(alerts: list[FraudAlert]) -> list[str]:
    """INSERT … ON CONFLICT (workspace, rule, evidence_key) DO NOTHING; returns the rule of each new row."""
    if not alerts:
        return []
    qn = connection.ops.quote_name
    fields = [f for f in FraudAlert._meta.concrete_fields if not f.primary_key]
    rows, params = [], []
    for alert in {(a.workspace_id, a.rule, a.evidence_key): a for a in alerts}.values():
        rows.append(f"({', '.join(['%s'] * len(fields))})")
        params += [f.get_db_prep_save(getattr(alert, f.attname), connection) for f in fields]
    sql = (f"INSERT INTO {qn(FraudAlert._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
           f"VALUES {', '.join(rows)} ON CONFLICT (workspace_id, rule, evidence_key) DO NOTHING RETURNING rule")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [rule for (rule,) in cursor.fetchall()]


def _early_fraud_warnings_replay(scan: Scan) -> int:
    """Stored warning events of the scan window through services.early_fraud_warnings_record (it raises only
    those not raised yet); then warnings raised before their charge arrived get the charge's payment links."""
    warnings = [payload["data"]["object"] for payload in StripeEvent.objects.filter(
        workspace=scan.workspace, livemode=scan.livemode, type__in=EARLY_FRAUD_WARNING_EVENTS,
        created__gte=scan.since, created__lt=scan.now).order_by("created").values_list("payload", flat=True)
        if isinstance((payload.get("data") or {}).get("object"), dict)]
    created = services.early_fraud_warnings_record(workspace=scan.workspace, objects=warnings) if warnings else 0
    unlinked = {pk: services.stripe_id(evidence.get("charge")) for pk, evidence in FraudAlert.objects.filter(
        workspace=scan.workspace, rule=EARLY_FRAUD_WARNING, payment__isnull=True).values_list("pk", "evidence")}
    payments = {sid: (pk, customer, contact) for sid, pk, customer, contact in scan.payments().filter(
        stripe_id__in=set(unlinked.values()) - {""}).values_list("stripe_id", "pk", "customer_id", "contact_id")}
    linked = []
    for pk, charge in unlinked.items():
        if charge in payments:
            payment, customer, contact = payments[charge]
            linked.append(FraudAlert(pk=pk, payment_id=payment, customer_id=customer, contact_id=contact))
    FraudAlert.objects.bulk_update(linked, ["payment_id", "customer_id", "contact_id"])
    return created


def _alerts_resolve_now_linked(scan: Scan) -> int:
    """A payment-without-contact alert is resolved once identity matching links the payment to a contact."""
    return FraudAlert.objects.filter(
        workspace=scan.workspace, rule="payment_without_contact", status=FraudStatus.OPEN,
        payment__contact__isnull=False,
    ).update(status=FraudStatus.RESOLVED, resolved_at=scan.now,
             contact_id=Subquery(Payment.objects.filter(pk=OuterRef("payment_id")).values("contact_id")[:1]),
             resolution_note="Resolved automatically: the payment was linked to a contact.")


@transaction.atomic
def fraud_alerts_scan(*, workspace: Workspace, now: datetime | None = None) -> dict[str, int]:
    """Run every forensics rule for the workspace and write the new alerts; returns {rule: new alerts}."""
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("fraud_alerts_scan needs an aware `now` (a naive time has no time zone to read it in)")
    scan = Scan(workspace=workspace, livemode=stripe_livemode(workspace=workspace), now=now)
    found = [alert for rule in RULES.values() for alert in rule(scan)]
    counts = dict.fromkeys([*RULES, EARLY_FRAUD_WARNING], 0)
    counts.update(Counter(_alerts_insert(found)))
    counts[EARLY_FRAUD_WARNING] = _early_fraud_warnings_replay(scan)
    resolved = _alerts_resolve_now_linked(scan)
    if any(counts.values()) or resolved:
        publish(workspace_id=workspace.pk, topics=["payments", "fraud"])
    return counts


# --- scanning soon after new events -----------------------------------------------------------------

_pending: set[int] = set()
_pending_lock = threading.Lock()
_timer: threading.Timer | None = None


class _ScanAfterCommit:
    """The one on-commit callback of a transaction, for every workspace its events touched (a drain of 50
    events asks once, not 50 times)."""

    def __init__(self, workspace_id: int):
        self.workspace_ids = {workspace_id}
        self.ran = False

    def __call__(self) -> None:
        self.ran = True
        for workspace_id in sorted(self.workspace_ids):
            _scan_request(workspace_id)


def fraud_alerts_scan_soon(*, workspace_id: int) -> None:
    """After the current transaction commits, scan this workspace soon. Requests within SCAN_DELAY_SECONDS
    in one process collapse into one task per workspace, so a burst of events costs one scan."""
    waiting = next((callback for _, callback, _ in transaction.get_connection().run_on_commit
                    if isinstance(callback, _ScanAfterCommit) and not callback.ran), None)
    if waiting is None:
        transaction.on_commit(_ScanAfterCommit(workspace_id))
    else:
        waiting.workspace_ids.add(workspace_id)


def _scan_request(workspace_id: int) -> None:
    global _timer
    from django_q.conf import Conf

    if Conf.SYNC:  # tasks run inline (tests, one-off commands): no timer, scan now
        fraud_alerts_scan(workspace=Workspace.objects.get(pk=workspace_id))
        return
    with _pending_lock:
        _pending.add(workspace_id)
        if _timer is None:
            _timer = threading.Timer(SCAN_DELAY_SECONDS, _flush)
            _timer.daemon = True
            _timer.start()


def _flush() -> None:
    global _timer
    from django.db import close_old_connections
    from django_q.tasks import async_task

    with _pending_lock:
        workspace_ids, _timer = sorted(_pending), None
        _pending.clear()
    try:
        for workspace_id in workspace_ids:
            async_task("finance.tasks.stripe_forensics_workspace", workspace_id, task_name="stripe forensics",
                       group="forensics")
    finally:
        close_old_connections()
