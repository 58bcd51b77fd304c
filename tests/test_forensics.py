"""Stripe forensics: each rule fires on its case with the right severity, evidence and links, stays quiet on a
normal week of payments, and a second scan (or a grown burst) raises nothing twice; scans follow new Stripe
events, debounced; the pure formulas on their own."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from clients.models import Contact
from finance import forensics, services
from finance.forensics import bursts, fraud_alerts_scan, is_refund_spike, payout_band
from finance.models import (Customer, Dispute, FraudAlert, FraudSeverity, FraudStatus, Payment, PaymentStatus, Payout,
                            Refund, StripeEvent)
from ptd.inbox import webhook_process, webhook_store
from tests.fakes.stripe import make_event

NOW = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)  # 16:00 in Dubai
QUIET = dict.fromkeys([*forensics.RULES, forensics.EARLY_FRAUD_WARNING], 0)


# ---------------------------------------------------------------------------------------------- fixtures

class Books:
    """Stripe records for one workspace, made with the ORM (ids and times chosen by the test)."""

    def __init__(self, workspace):
        self.workspace = workspace
        self.n = 0

    def _id(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n:04d}"

    def contact(self, email):
        return Contact.objects.create(workspace=self.workspace, email_normalized=email,
                                      created_at=NOW - timedelta(days=200))

    def customer(self, name, contact=None, email=""):
        return Customer.objects.create(workspace=self.workspace, stripe_id=self._id("cus"), name=name, email=email,
                                       contact=contact, created=NOW - timedelta(days=200))

    def payment(self, at, amount=500_000, *, customer=None, status=PaymentStatus.SUCCEEDED, fingerprint="",
                livemode=False, email="", **extra):
        return Payment.objects.create(
            workspace=self.workspace, stripe_id=self._id("ch"), created=at, amount_minor=amount, status=status,
            customer=customer, contact=customer.contact if customer else None, card_fingerprint=fingerprint,
            card_brand="visa" if fingerprint else "", livemode=livemode, email=email, **extra)

    def refund(self, payment, at):
        payment.status, payment.amount_refunded_minor = PaymentStatus.REFUNDED, payment.amount_minor
        payment.save(update_fields=["status", "amount_refunded_minor"])
        return Refund.objects.create(workspace=self.workspace, stripe_id=self._id("re"), payment=payment,
                                     charge_id=payment.stripe_id, amount_minor=payment.amount_minor, created=at,
                                     status="succeeded")

    def payout(self, at, amount, status="paid", **extra):
        return Payout.objects.create(workspace=self.workspace, stripe_id=self._id("po"), created=at,
                                     amount_minor=amount, status=status, **extra)


@pytest.fixture
def books(workspace):
    return Books(workspace)


@pytest.fixture
def normal_weeks(books):
    """Ten ordinary days up to NOW: four package payments a day (AED 3,000–8,400) by known clients on their own
    cards, a refund every few days (one of them today), a lone declined card, and a month of daily payouts
    that vary a little."""
    clients = [books.customer(f"Client {i}", books.contact(f"client{i}@example.com")) for i in range(8)]
    payments = []
    for day in range(10, -1, -1):
        for slot in range(4):
            i = (day * 4 + slot) % 8
            at = NOW.replace(hour=5 + slot) - timedelta(days=day)  # 09:00–12:00 in Dubai
            payments.append(books.payment(at, 300_000 + 60_000 * ((day + slot * 3) % 10), customer=clients[i],
                                          fingerprint=f"fp_client{i}"))
    for day in (9, 6, 3, 0):
        books.refund(payments[(10 - day) * 4], NOW.replace(hour=8) - timedelta(days=day))
    books.payment(NOW - timedelta(days=1, hours=3), 450_000, customer=clients[2], fingerprint="fp_client2",
                  status=PaymentStatus.FAILED, failure_code="card_declined")
    for day in range(30, -1, -1):
        books.payout(NOW.replace(hour=2) - timedelta(days=day), 1_500_000 + 20_000 * (day % 5))
    return clients


def scan(workspace, now=NOW):
    return fraud_alerts_scan(workspace=workspace, now=now)


def alert(rule):
    return FraudAlert.objects.get(rule=rule)


# ---------------------------------------------------------------------------------------------- pure formulas

def test_bursts_split_on_gaps_and_keep_the_long_runs():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    events = [(t + timedelta(minutes=m), m) for m in (0, 2, 9, 30, 31, 60, 61, 62, 63)]
    assert bursts(events, gap=timedelta(minutes=10), min_count=3) == [[0, 2, 9], [60, 61, 62, 63]]
    assert bursts([], gap=timedelta(minutes=10), min_count=1) == []


def test_refund_spike_needs_volume_and_a_rate_well_above_the_baseline():
    assert not is_refund_spike(refunds=2, payments=2, baseline_refunds=0, baseline_payments=100)  # too few
    assert is_refund_spike(refunds=3, payments=10, baseline_refunds=3, baseline_payments=100)  # 30 % vs 3 %
    assert not is_refund_spike(refunds=3, payments=40, baseline_refunds=5, baseline_payments=100)  # 7.5 % < 10 %
    assert not is_refund_spike(refunds=3, payments=10, baseline_refunds=20, baseline_payments=100)  # 30 % < 2 × 20 %
    assert is_refund_spike(refunds=3, payments=0, baseline_refunds=0, baseline_payments=0)  # refunds, no sales


def test_payout_band_is_three_sigma_with_a_floor_for_identical_payouts():
    assert payout_band(mean=1000.0, sd=50.0) == 150.0
    assert payout_band(mean=1000.0, sd=0.0) == 100.0


# ---------------------------------------------------------------------------------------------- quiet and dedup

def test_a_normal_fortnight_raises_nothing(workspace, normal_weeks, django_assert_max_num_queries):
    with django_assert_max_num_queries(16):  # a fixed number of statements, whatever the volume
        assert scan(workspace) == QUIET
    assert not FraudAlert.objects.exists()


def test_the_nightly_task_scans_every_workspace(workspace, other_workspace):
    from finance.tasks import stripe_forensics

    assert stripe_forensics() == "ptd: nothing new; abu-dhabi: nothing new"


def test_a_second_scan_and_a_grown_burst_raise_nothing_new(workspace, normal_weeks, books):
    start = NOW - timedelta(minutes=30)
    for minute in (0, 1, 2):
        books.payment(start + timedelta(minutes=minute), 100, fingerprint="fp_stolen1234", status=PaymentStatus.FAILED)
    assert scan(workspace)["card_testing"] == 1
    assert scan(workspace) == QUIET
    books.payment(start + timedelta(minutes=5), 100, fingerprint="fp_stolen1234", status=PaymentStatus.FAILED)
    assert scan(workspace, NOW + timedelta(hours=1)) == QUIET  # the same run: keyed by its first charge
    assert FraudAlert.objects.count() == 1


# ---------------------------------------------------------------------------------------------- each rule

def test_refund_rate_spike_today_against_the_30_day_baseline(workspace, normal_weeks, books):
    today = [books.payment(NOW.replace(hour=9) + timedelta(minutes=m), 400_000, customer=normal_weeks[m % 8])
             for m in range(2)]
    extra = [books.refund(p, NOW.replace(hour=10) + timedelta(minutes=i)) for i, p in enumerate(today)]
    # Today: 6 payments (4 ordinary + 2), 3 refunds (the ordinary one + 2) = 50 %; the 30 days before: 3 in 40.
    assert scan(workspace)["refund_rate_spike"] == 1
    spike = alert("refund_rate_spike")
    ev = spike.evidence
    assert (ev["day"], ev["refunds"], ev["payments"]) == ("2026-09-21", 3, 6)
    assert ev["baseline_refunds"] == 3 and ev["baseline_payments"] == 40
    assert ev["rate"] == 0.5 and ev["baseline_rate"] == 0.075 and ev["threshold"] == 0.15
    assert set(ev["refund_stripe_ids"]) >= {r.stripe_id for r in extra} and len(ev["refund_ids"]) == 3
    assert spike.severity == FraudSeverity.HIGH  # 50 % is more than twice the 15 % threshold (2 × 7.5 %)
    assert spike.title.startswith("3 refunds today on 6 payments (50%")
    assert spike.evidence_key == "day:2026-09-21"


def test_card_testing_on_one_card_and_by_one_customer_on_many_cards(workspace, normal_weeks, books):
    mallory = books.customer("Mallory", email="m@example.net")
    start = NOW - timedelta(hours=2)
    on_card = [books.payment(start + timedelta(seconds=40 * i), 100, fingerprint="fp_stolenA1b2",
                             status=PaymentStatus.FAILED, failure_code="card_declined") for i in range(3)]
    cycling = [books.payment(start + timedelta(minutes=30, seconds=50 * i), 100, customer=mallory,
                             fingerprint=f"fp_cycle{i}", status=PaymentStatus.FAILED, failure_code="incorrect_cvc")
               for i in range(4)]
    assert scan(workspace)["card_testing"] == 2
    card = FraudAlert.objects.get(rule="card_testing", evidence_key__startswith="card:")
    assert card.title == "3 failed charges on one Visa card (fingerprint …A1b2) in 2 min"
    assert card.severity == FraudSeverity.MEDIUM and card.payment == on_card[-1]
    assert card.evidence["charge_ids"] == [p.stripe_id for p in on_card]
    assert card.evidence["failure_codes"] == {"card_declined": 3}
    by_customer = FraudAlert.objects.get(rule="card_testing", evidence_key__startswith="customer:")
    assert by_customer.title == "4 failed charges by Mallory on 4 cards in 3 min"
    assert by_customer.severity == FraudSeverity.HIGH  # cycling through cards
    assert (by_customer.customer, by_customer.payment) == (mallory, cycling[-1])
    assert by_customer.evidence["payment_ids"] == [p.pk for p in cycling]


def test_a_customers_run_on_one_card_is_that_cards_alert_only(workspace, normal_weeks, books):
    clumsy = books.customer("Clumsy", books.contact("clumsy@example.com"))
    for i in range(3):
        books.payment(NOW - timedelta(minutes=20 - i), 100, customer=clumsy, fingerprint="fp_same",
                      status=PaymentStatus.FAILED, card_last4="0341")
    assert scan(workspace)["card_testing"] == 1
    found = alert("card_testing")
    assert found.contact == clumsy.contact
    # The digits the cardholder knows name the card when Stripe sent them.
    assert found.title == "3 failed charges on one Visa card ending 0341 in 2 min"
    assert found.evidence["card_last4"] == ["0341"]


def test_dispute_opened(workspace, normal_weeks, books):
    paid = Payment.objects.filter(status=PaymentStatus.SUCCEEDED).latest("created")
    dispute = Dispute.objects.create(workspace=workspace, stripe_id="dp_1", payment=paid, charge_id=paid.stripe_id,
                                     amount_minor=paid.amount_minor, reason="fraudulent", status="needs_response",
                                     created=NOW - timedelta(hours=3), evidence_due_by=NOW + timedelta(days=7))
    Dispute.objects.create(workspace=workspace, stripe_id="dp_2", charge_id="ch_unknown", amount_minor=20_000,
                           reason="product_not_received", status="warning_needs_response",
                           created=NOW - timedelta(days=40))
    Dispute.objects.create(workspace=workspace, stripe_id="dp_old", charge_id="ch_old", amount_minor=20_000,
                           reason="fraudulent", status="lost", created=NOW - timedelta(days=90))
    assert scan(workspace)["dispute_opened"] == 2  # the open ones; a long-closed dispute is history
    fraud = FraudAlert.objects.get(evidence_key="dp_1")
    assert fraud.severity == FraudSeverity.CRITICAL
    assert (fraud.payment, fraud.customer, fraud.contact) == (paid, paid.customer, paid.contact)
    assert fraud.evidence["dispute_id"] == dispute.pk and fraud.evidence["reason"] == "fraudulent"
    assert fraud.title == (f"Dispute (fraudulent) of AED {paid.amount_minor / 100:,.2f} on charge {paid.stripe_id}"
                           " — respond by 2026-09-28")
    inquiry = FraudAlert.objects.get(evidence_key="dp_2")
    assert inquiry.severity == FraudSeverity.MEDIUM and inquiry.title.startswith("Inquiry (product not received)")


def test_early_fraud_warnings_are_replayed_and_linked_when_their_charge_arrives(workspace, normal_weeks, books):
    def warning(wid, charge):
        return {"id": wid, "object": "radar.early_fraud_warning", "actionable": True, "charge": charge,
                "created": int((NOW - timedelta(hours=5)).timestamp()), "fraud_type": "made_with_stolen_card"}

    # One warning raised on arrival before its charge was stored; one stored as an event and never raised.
    services.early_fraud_warnings_record(workspace=workspace, objects=[warning("issfr_1", "ch_late")])
    event = make_event("radar.early_fraud_warning.created", warning("issfr_2", "ch_late"),
                       created=int((NOW - timedelta(hours=5)).timestamp()))
    StripeEvent.objects.create(workspace=workspace, event_id=event["id"], type=event["type"], payload=event,
                               created=NOW - timedelta(hours=5))
    late = books.payment(NOW - timedelta(hours=6), 700_000, customer=normal_weeks[0])
    Payment.objects.filter(pk=late.pk).update(stripe_id="ch_late")
    assert scan(workspace)["early_fraud_warning"] == 1
    warned = FraudAlert.objects.filter(rule="early_fraud_warning").order_by("evidence_key")
    assert [(a.evidence_key, a.payment_id, a.customer, a.contact) for a in warned] == [
        ("issfr_1", late.pk, normal_weeks[0], normal_weeks[0].contact),
        ("issfr_2", late.pk, normal_weeks[0], normal_weeks[0].contact)]
    assert warned[0].severity == FraudSeverity.HIGH
    assert scan(workspace)["early_fraud_warning"] == 0


def test_payout_outside_three_sigma_and_a_failed_payout(workspace, normal_weeks, books):
    big = books.payout(NOW - timedelta(hours=1), 4_200_000)
    failed = books.payout(NOW - timedelta(days=3), 1_520_000, status="failed", failure_code="account_closed",
                          failure_message="The bank account has been closed.")
    assert scan(workspace)["payout_anomaly"] == 2
    anomaly = FraudAlert.objects.get(evidence_key=f"amount:{big.stripe_id}")
    ev = anomaly.evidence
    assert ev["trailing_payouts"] == 20 and ev["amount_minor"] == 4_200_000
    assert 1_500_000 < ev["trailing_mean_minor"] < 1_600_000 and ev["band_minor"] < 200_000
    assert anomaly.severity == FraudSeverity.MEDIUM and " is above the usual AED 15," in anomaly.title
    failure = FraudAlert.objects.get(evidence_key=f"failed:{failed.stripe_id}")
    assert failure.severity == FraudSeverity.HIGH
    assert failure.title == "Payout AED 15,200.00 failed: The bank account has been closed."


def test_payment_without_contact_is_resolved_once_identity_links_it(workspace, normal_weeks, books):
    stranger = books.customer("Stranger", email="stranger@example.org")
    paid = books.payment(NOW - timedelta(hours=2), 250_000, customer=stranger)
    assert scan(workspace)["payment_without_contact"] == 1
    orphan = alert("payment_without_contact")
    assert orphan.title == "AED 2,500.00 payment from Stranger matches no contact"
    assert (orphan.severity, orphan.payment, orphan.customer, orphan.contact) == (FraudSeverity.LOW, paid, stranger,
                                                                                  None)
    assert orphan.evidence["email"] == "stranger@example.org"
    found = books.contact("stranger@example.org")
    Payment.objects.filter(pk=paid.pk).update(contact=found)
    assert scan(workspace) == QUIET
    orphan.refresh_from_db()
    assert (orphan.status, orphan.contact, orphan.resolved_at) == (FraudStatus.RESOLVED, found, NOW)


def test_duplicate_charges_of_the_same_amount_within_minutes(workspace, normal_weeks, books):
    client = normal_weeks[3]
    first = books.payment(NOW - timedelta(hours=1), 660_000, customer=client)
    second = books.payment(NOW - timedelta(hours=1) + timedelta(minutes=2), 660_000, customer=client)
    handled = books.payment(NOW - timedelta(hours=4), 120_000, email="guest@example.com")
    books.refund(books.payment(NOW - timedelta(hours=4) + timedelta(minutes=1), 120_000, email="guest@example.com"),
                 NOW - timedelta(hours=3))  # refunded already: dealt with
    assert scan(workspace)["duplicate_charge"] == 1
    dup = alert("duplicate_charge")
    assert dup.evidence["payment_ids"] == [first.pk, second.pk] and dup.evidence_key == first.stripe_id
    assert dup.title == "2 charges of AED 6,600.00 to Client 3 within 2 min"
    assert (dup.severity, dup.payment, dup.customer, dup.contact) == (FraudSeverity.MEDIUM, second, client,
                                                                      client.contact)
    assert handled.pk not in dup.evidence["payment_ids"]


def test_amount_far_above_the_usual_payments(workspace, normal_weeks, books):
    huge = books.payment(NOW - timedelta(hours=3), 5_000_000, customer=normal_weeks[5])
    books.payment(NOW - timedelta(hours=2), 900_000, customer=normal_weeks[6])  # a big package, not an outlier
    assert scan(workspace)["amount_outlier"] == 1
    outlier = alert("amount_outlier")
    ev = outlier.evidence
    assert outlier.payment == huge and outlier.contact == normal_weeks[5].contact
    # Baseline: the 36 payments before the 48-hour window (9 days × 4); the top four are AED 8,400, so the
    # 95th percentile (position 0.95 × 35 = 33.25 of the sorted amounts) is AED 8,400 and the threshold 3 × that.
    assert ev["baseline_payments"] == 36 and ev["percentile_minor"] == 840_000
    assert ev["threshold_minor"] == 2_520_000 and outlier.severity == FraudSeverity.MEDIUM
    assert outlier.title == "AED 50,000.00 payment from Client 5 is 6.0× the usual top (AED 8,400.00)"


def test_a_live_workspace_ignores_test_mode_records(workspace, normal_weeks, books, monkeypatch):
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_forensics")
    books.payment(NOW - timedelta(hours=2), 250_000, email="tester@example.com", livemode=False)
    assert scan(workspace)["payment_without_contact"] == 0
    books.payment(NOW - timedelta(hours=1), 250_000, email="real@example.com", livemode=True)
    assert scan(workspace)["payment_without_contact"] == 1


def test_a_naive_time_is_refused(workspace):
    with pytest.raises(ValueError, match="aware"):
        fraud_alerts_scan(workspace=workspace, now=datetime(2026, 9, 21, 12, 0))


# ---------------------------------------------------------------------------------------------- after new events

@pytest.fixture
def inline_tasks(settings, monkeypatch):
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)


def deliver(workspace, event):
    stored, _ = webhook_store(workspace=workspace, source="stripe", dedup_key=event["id"], event_type=event["type"],
                              headers={}, body=json.dumps(event).encode(),
                              source_timestamp=datetime.fromtimestamp(event["created"], UTC))
    webhook_process(stored.pk)


def test_new_stripe_events_are_scanned_once_per_transaction(workspace, inline_tasks, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    scanned = []
    real = forensics.fraud_alerts_scan
    monkeypatch.setattr(forensics, "fraud_alerts_scan", lambda **kw: scanned.append(kw) or real(**kw))
    now = int(time.time())
    charge = {"id": "ch_ev", "object": "charge", "amount": 30000, "currency": "aed", "status": "succeeded",
              "captured": True, "created": now - 120, "livemode": False}
    dispute = {"id": "dp_ev", "object": "dispute", "charge": "ch_ev", "amount": 30000, "currency": "aed",
               "reason": "fraudulent", "status": "needs_response", "created": now - 60}
    with django_capture_on_commit_callbacks(execute=True):
        deliver(workspace, make_event("charge.succeeded", charge, created=now - 120))
        deliver(workspace, make_event("charge.dispute.created", dispute, created=now - 60))
    assert len(scanned) == 1 and scanned[0]["workspace"] == workspace
    raised = FraudAlert.objects.get(rule="dispute_opened")
    assert raised.payment == Payment.objects.get(stripe_id="ch_ev") and raised.severity == FraudSeverity.CRITICAL


def test_scan_requests_in_a_worker_collapse_into_one_task_per_workspace(workspace, other_workspace, monkeypatch,
                                                                         django_capture_on_commit_callbacks):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: queued.append((func, *args)))
    monkeypatch.setattr("django.db.close_old_connections", lambda: None)  # the test's transaction stays open
    with django_capture_on_commit_callbacks(execute=True):
        for ws in (workspace, other_workspace, workspace):
            forensics.fraud_alerts_scan_soon(workspace_id=ws.pk)
    timer = forensics._timer
    assert timer is not None and timer.interval == forensics.SCAN_DELAY_SECONDS
    timer.cancel()
    forensics._flush()
    assert queued == [("finance.tasks.stripe_forensics_workspace", workspace.pk),
                      ("finance.tasks.stripe_forensics_workspace", other_workspace.pk)]
    assert forensics._timer is None and not forensics._pending


def test_forensics_runs_nightly_at_two():
    from ptd.schedules import SCHEDULES

    assert any(d.func == "finance.tasks.stripe_forensics" and d.cron == "0 2 * * *" for d in SCHEDULES)
