"""Stripe ingestion: signature vector S1 through the SDK and our endpoint, the inbox's guarantees (dedup,
bad input, ignored types, out-of-order, retry, dead), identity and deal cash, and the sync_stripe pull
against the loopback FakeStripe through the real stripe SDK."""

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import stripe
from django.core.management import call_command
from django.core.management.base import CommandError

from clients.identity import identity_backfill
from clients.models import Contact, Deal
from finance import ingest, services
from finance.integrations import stripe_api
from finance.models import (Customer, Dispute, FraudAlert, Invoice, Payment, PaymentStatus, Payout, Refund,
                            StripeEvent, Subscription)
from ptd import inbox
from ptd.inbox import webhook_process, webhook_store
from ptd.models import SyncState, WebhookEvent, WebhookStatus
from ptd.webhooks import rejected_count
from tests.fakes.stripe import FakeStripe, make_event, signed_event

SECRET = "whsec_test_secret"
S1_PAYLOAD = ('{"id":"evt_test_1","object":"event","type":"charge.succeeded","data":{"object":{"id":"ch_1",'
              '"object":"charge","amount":12345,"currency":"aed"}}}')
S1_HEADER = "t=1700000000,v1=2e0d6676bedb2e732f2f98a906c8dcd2e3589792a42a44d341e1577de150cdd5"
T0 = 1_790_000_000  # a fixed "now" for event times (2026-09-21)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def inline_tasks(settings, monkeypatch):
    """Queued tasks run inline (django-q2 reads its settings once, at import: patch Conf as well)."""
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def webhook_secret(monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)


def post(client, body: bytes, header: str | None, path="/webhooks/stripe/"):
    extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}
    return client.post(path, data=body, content_type="application/json", **extra)


def deliver(workspace, event: dict) -> WebhookEvent:
    """Store an event as the receiver does and process it as the worker does."""
    stored, created = webhook_store(workspace=workspace, source="stripe", dedup_key=event["id"],
                                    event_type=event["type"], headers={}, body=json.dumps(event).encode(),
                                    source_timestamp=datetime.fromtimestamp(event["created"], UTC))
    assert created
    webhook_process(stored.pk)
    stored.refresh_from_db()
    return stored


def charge(id="ch_a", amount=20000, *, customer=None, status="succeeded", refunded=0, created=T0, intent=None,
           email=None, phone=None):
    return {"id": id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": refunded,
            "captured": True, "currency": "aed", "customer": customer, "status": status, "created": created,
            "refunded": refunded >= amount and refunded > 0, "disputed": False, "payment_intent": intent,
            "livemode": False, "billing_details": {"email": email, "phone": phone, "name": None},
            "balance_transaction": "txn_1", "failure_code": None, "failure_message": None,
            "outcome": {"risk_level": "normal", "risk_score": 12, "type": "authorized"},
            "payment_method_details": {"card": {"brand": "visa", "country": "AE", "fingerprint": "fp_1",
                                                "last4": "4242"},
                                       "type": "card"}}


def contact(workspace, email="", phone="", **extra):
    return Contact.objects.create(workspace=workspace, email_normalized=email, phone_e164=phone,
                                  created_at=datetime.fromtimestamp(T0 - 86400 * 30, UTC), **extra)


# ---------------------------------------------------------------------------------------------- S1 and the endpoint

def test_vector_s1_verifies_through_the_sdk():
    assert stripe.WebhookSignature.generate_signature_header(S1_PAYLOAD, SECRET, timestamp=1700000000) == S1_HEADER
    event = stripe.Webhook.construct_event(S1_PAYLOAD, S1_HEADER, SECRET, tolerance=None)
    assert (event.type, event.data.object.amount, event.data.object.currency) == ("charge.succeeded", 12345, "aed")
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(S1_PAYLOAD, S1_HEADER, SECRET)  # a 2023 timestamp is stale today


def test_signed_event_is_stored_processed_and_deduplicated(client, workspace, webhook_secret,
                                                           django_capture_on_commit_callbacks):
    header = stripe.WebhookSignature.generate_signature_header(S1_PAYLOAD, SECRET, timestamp=int(time.time()))
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, S1_PAYLOAD.encode(), header)
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    stored = WebhookEvent.objects.get(source="stripe", dedup_key="evt_test_1")
    assert bytes(stored.body) == S1_PAYLOAD.encode() and stored.headers["Stripe-Signature"] == header
    assert stored.status == WebhookStatus.PROCESSED  # processed inline by the task after commit
    payment = Payment.objects.get(workspace=workspace, stripe_id="ch_1")
    # S1's charge has no status: the event type says it succeeded.
    assert (payment.amount_minor, payment.currency, payment.status) == (12345, "AED", PaymentStatus.SUCCEEDED)
    assert StripeEvent.objects.get(workspace=workspace, event_id="evt_test_1").status == WebhookStatus.PROCESSED

    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, S1_PAYLOAD.encode(), header)
    assert again.status_code == 200 and again.json() == {"received": True, "duplicate": True}
    assert WebhookEvent.objects.filter(source="stripe").count() == 1
    assert Payment.objects.filter(workspace=workspace).count() == 1


def test_bad_signature_is_refused_with_one_line_and_nothing_stored(client, workspace, webhook_secret):
    before = rejected_count("stripe")
    header = stripe.WebhookSignature.generate_signature_header(S1_PAYLOAD, "whsec_other", timestamp=int(time.time()))
    response = post(client, S1_PAYLOAD.encode(), header)
    assert response.status_code == 400
    reason = response.json()["error"]
    assert "signature" in reason and "\n" not in reason and SECRET not in reason
    assert post(client, S1_PAYLOAD.encode(), None).status_code == 400  # no header at all
    assert not WebhookEvent.objects.exists()
    assert rejected_count("stripe") == before + 2


def test_stale_timestamp_is_refused(client, workspace, webhook_secret):
    header = stripe.WebhookSignature.generate_signature_header(S1_PAYLOAD, SECRET, timestamp=int(time.time()) - 301)
    response = post(client, S1_PAYLOAD.encode(), header)
    assert response.status_code == 400 and "tolerance" in response.json()["error"]
    assert post(client, S1_PAYLOAD.encode(), S1_HEADER).status_code == 400  # the vector itself is from 2023
    assert not WebhookEvent.objects.exists()


def test_malformed_json_with_a_valid_signature_is_refused(client, workspace, webhook_secret):
    body, header = signed_event('{"id": "evt_x", "type": ', SECRET)
    response = post(client, body, header)
    assert response.status_code == 400 and response.json()["error"] == "body is not valid JSON"
    for not_an_event in ('{"object": "event"}', "[1]", "null"):  # JSON, but not an event
        body, header = signed_event(not_an_event, SECRET)
        response = post(client, body, header)
        assert response.status_code == 400 and response.json()["error"].startswith("not a Stripe event")
    assert not WebhookEvent.objects.exists()


def test_body_over_one_megabyte_is_refused(client, workspace, webhook_secret):
    event = make_event("charge.succeeded", {**charge(), "description": "x" * (1024 * 1024)})
    body, header = signed_event(event, SECRET)
    response = post(client, body, header)
    assert response.status_code == 413 and response.json()["error"] == "body larger than 1 MB"
    assert not WebhookEvent.objects.exists()


def test_unknown_event_type_is_stored_and_marked_ignored(client, workspace, webhook_secret,
                                                         django_capture_on_commit_callbacks):
    body, header = signed_event(make_event("billing_portal.session.created", {"id": "bps_1"}), SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, header).status_code == 200
    stored = WebhookEvent.objects.get(source="stripe")
    assert stored.status == WebhookStatus.IGNORED and "billing_portal.session.created" in stored.last_error
    assert not Payment.objects.exists()


def test_workspace_path_uses_that_workspaces_secret(client, workspace, other_workspace, webhook_secret,
                                                    django_capture_on_commit_callbacks):
    from ptd.credentials import credential_set
    from ptd.models import CredentialKind

    credential_set(workspace=other_workspace, kind=CredentialKind.STRIPE_WEBHOOK_SECRET, value="whsec_ad", actor=None)
    body, header = signed_event(make_event("charge.succeeded", charge("ch_ad")), "whsec_ad")
    assert post(client, body, header).status_code == 400  # the default workspace's secret differs
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, body, header, path="/webhooks/abu-dhabi/stripe/").status_code == 200
    assert Payment.objects.get(stripe_id="ch_ad").workspace == other_workspace
    assert not Payment.objects.filter(workspace=workspace).exists()


# ---------------------------------------------------------------------------------------------- processing

def test_out_of_order_refund_before_success_leaves_the_payment_refunded(workspace):
    refunded = make_event("charge.refunded", charge(refunded=20000), created=T0 + 60)
    succeeded = make_event("charge.succeeded", charge(), created=T0)
    deliver(workspace, refunded)
    deliver(workspace, succeeded)  # older: changes nothing
    payment = Payment.objects.get(stripe_id="ch_a")
    assert (payment.status, payment.amount_refunded_minor) == (PaymentStatus.REFUNDED, 20000)
    assert payment.source_updated_at == datetime.fromtimestamp(T0 + 60, UTC)
    # The same second: the further state wins either way round.
    deliver(workspace, make_event("charge.succeeded", charge(), created=T0 + 60))
    assert Payment.objects.get(stripe_id="ch_a").status == PaymentStatus.REFUNDED


def test_intent_and_charge_are_one_payment_in_either_order(workspace):
    intent = {"id": "pi_1", "object": "payment_intent", "amount": 30000, "amount_received": 30000, "currency": "aed",
              "status": "succeeded", "created": T0, "customer": None, "latest_charge": "ch_1", "livemode": False}
    deliver(workspace, make_event("payment_intent.succeeded", intent, created=T0 + 1))
    assert Payment.objects.get().stripe_id == "pi_1"
    deliver(workspace, make_event("charge.succeeded", charge("ch_1", 30000, intent="pi_1"), created=T0))
    payment = Payment.objects.get()  # the intent's row became the charge's row
    assert (payment.stripe_id, payment.payment_intent_id, payment.card_brand, payment.card_last4) == (
        "ch_1", "pi_1", "visa", "4242")
    # A later intent event for a charged payment adds nothing.
    deliver(workspace, make_event("payment_intent.succeeded", intent, created=T0 + 5))
    deliver(workspace, make_event("charge.succeeded", charge("ch_2", 5000, intent="pi_2"), created=T0))
    deliver(workspace, make_event("payment_intent.succeeded", {**intent, "id": "pi_2", "latest_charge": "ch_2"},
                                  created=T0 + 1))
    assert sorted(Payment.objects.values_list("stripe_id", flat=True)) == ["ch_1", "ch_2"]


def test_refund_before_its_charge_is_linked_when_the_charge_arrives(workspace):
    refund = {"id": "re_1", "object": "refund", "amount": 5000, "charge": "ch_a", "currency": "aed",
              "status": "succeeded", "created": T0 + 10, "payment_intent": None, "reason": "requested_by_customer"}
    deliver(workspace, make_event("refund.created", refund, created=T0 + 10))
    assert Refund.objects.get().payment is None
    deliver(workspace, make_event("charge.succeeded", charge(), created=T0))
    payment = Payment.objects.get()
    assert Refund.objects.get().payment == payment
    assert (payment.amount_refunded_minor, payment.status) == (5000, PaymentStatus.PARTIALLY_REFUNDED)


def test_processing_fails_once_then_succeeds_on_retry(workspace, monkeypatch):
    real = ingest.process_stripe_event
    calls = []

    def flaky(event):
        calls.append(event.pk)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return real(event)

    monkeypatch.setattr(ingest, "process_stripe_event", flaky)
    stored = deliver(workspace, make_event("charge.succeeded", charge(), created=T0))
    assert (stored.status, stored.attempts) == (WebhookStatus.FAILED, 1)
    assert "database hiccup" in stored.last_error and stored.next_attempt_at is not None
    assert not Payment.objects.exists() and not StripeEvent.objects.exists()  # nothing half-written
    assert webhook_process(stored.pk) == WebhookStatus.PROCESSED
    stored.refresh_from_db()
    assert (stored.status, stored.attempts, stored.last_error) == (WebhookStatus.PROCESSED, 2, "")
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED


def test_retries_exhausted_leave_the_event_dead(workspace, monkeypatch):
    def broken(event):
        raise RuntimeError("always")

    monkeypatch.setattr(ingest, "process_stripe_event", broken)
    stored = deliver(workspace, make_event("charge.succeeded", charge(), created=T0))
    for _ in range(inbox.MAX_ATTEMPTS - 1):
        webhook_process(stored.pk)
    stored.refresh_from_db()
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (WebhookStatus.DEAD, inbox.MAX_ATTEMPTS, None)
    assert webhook_process(stored.pk) == "skipped"  # dead until an admin replays it


def test_every_object_kind_is_mirrored(workspace):
    customer = {"id": "cus_1", "object": "customer", "email": " Sara@Example.com ", "phone": None, "name": "Sara",
                "created": T0 - 100, "currency": None, "livemode": False}
    sub = {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active", "created": T0,
           "currency": "aed", "cancel_at_period_end": False, "canceled_at": None, "ended_at": None,
           "items": {"data": [{"price": {"id": "price_1", "nickname": "Monthly PT", "unit_amount": 50000,
                                         "recurring": {"interval": "month", "interval_count": 1}},
                               "quantity": 2, "current_period_start": T0, "current_period_end": T0 + 30 * 86400}]}}
    invoice = {"id": "in_1", "object": "invoice", "customer": "cus_1", "number": "PTD-1", "amount_due": 100000,
               "amount_paid": 100000, "currency": "aed", "status": "paid", "created": T0, "due_date": None,
               "status_transitions": {"paid_at": T0 + 5},
               "parent": {"subscription_details": {"subscription": "sub_1"}, "type": "subscription_details"}}
    dispute = {"id": "dp_1", "object": "dispute", "charge": "ch_a", "amount": 20000, "currency": "aed",
               "reason": "fraudulent", "status": "needs_response", "created": T0 + 50,
               "evidence_details": {"due_by": T0 + 7 * 86400}}
    payout = {"id": "po_1", "object": "payout", "amount": 90000, "currency": "aed", "status": "paid",
              "arrival_date": T0 + 2 * 86400, "created": T0, "failure_code": None, "failure_message": None}
    warning = {"id": "issfr_1", "object": "radar.early_fraud_warning", "actionable": True, "charge": "ch_a",
               "created": T0 + 40, "fraud_type": "made_with_stolen_card", "livemode": False}
    for event in [make_event("customer.created", customer, created=T0 - 100),
                  make_event("charge.succeeded", charge(customer="cus_1"), created=T0),
                  make_event("invoice.paid", invoice, created=T0 + 5),  # before its subscription's event
                  make_event("customer.subscription.created", sub, created=T0 + 1),
                  make_event("charge.dispute.created", dispute, created=T0 + 50),
                  make_event("payout.paid", payout, created=T0 + 2 * 86400),
                  make_event("radar.early_fraud_warning.created", warning, created=T0 + 40),
                  make_event("radar.early_fraud_warning.created", warning, created=T0 + 40)]:
        assert deliver(workspace, event).status == WebhookStatus.PROCESSED
    cus = Customer.objects.get()
    assert (cus.email, cus.currency, cus.lifetime_value_minor) == ("sara@example.com", "AED", 20000)
    s = Subscription.objects.get()
    assert (s.status, s.amount_minor, s.plan_name, s.interval, s.customer, s.current_period_end.timestamp()) == (
        "active", 100000, "Monthly PT", "month", cus, T0 + 30 * 86400)
    inv = Invoice.objects.get()
    assert (inv.subscription, inv.customer, inv.status, inv.paid_at.timestamp()) == (s, cus, "paid", T0 + 5)
    payment = Payment.objects.get()
    assert payment.disputed and Dispute.objects.get().payment == payment
    assert Payout.objects.get().arrival_date.isoformat() == "2026-09-23"
    alert = FraudAlert.objects.get()  # the second delivery of the warning raised nothing new
    assert (alert.rule, alert.evidence_key, alert.payment, alert.customer) == ("early_fraud_warning", "issfr_1",
                                                                               payment, cus)
    deliver(workspace, make_event("customer.deleted", customer, created=T0 + 99))
    assert Customer.objects.get().deleted


def test_changes_are_published_after_commit(workspace, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("ptd.live.publish_now", lambda **message: sent.append(message))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deliver(workspace, make_event("charge.succeeded", charge(), created=T0))
    assert not sent  # nothing before the commit
    for callback in callbacks:
        callback()
    assert {"workspace_id": workspace.pk, "topics": ["payments"], "staff_ids": []} in sent


# ---------------------------------------------------------------------------------------------- identity and deals

def test_payment_is_linked_to_the_contact_its_customer_email_matches(workspace):
    sara = contact(workspace, email="sara@example.com")
    deliver(workspace, make_event("customer.created", {"id": "cus_1", "email": "SARA@example.com", "created": T0},
                                  created=T0))
    deliver(workspace, make_event("charge.succeeded", charge(customer="cus_1"), created=T0))
    assert Customer.objects.get().contact == sara
    assert Payment.objects.get().contact == sara
    # No customer: the billing phone, national format, matches the E.164 contact.
    omar = contact(workspace, phone="+971501234567")
    deliver(workspace, make_event("charge.succeeded", charge("ch_b", phone="050 123 4567"), created=T0))
    assert Payment.objects.get(stripe_id="ch_b").contact == omar


def test_unmatched_payment_is_linked_when_the_contact_appears(workspace):
    deliver(workspace, make_event("customer.created", {"id": "cus_1", "email": "new@example.com", "created": T0},
                                  created=T0))
    deliver(workspace, make_event("charge.succeeded", charge(customer="cus_1"), created=T0))
    deliver(workspace, make_event("charge.succeeded", charge("ch_guest", 7000, email="new@example.com"), created=T0))
    assert Payment.objects.filter(contact__isnull=True).count() == 2
    person = contact(workspace, email="new@example.com")
    won = Deal.objects.create(workspace=workspace, contact=person, stage_id="closedwon", amount=Decimal("270.00"),
                              created_at=datetime.fromtimestamp(T0 - 3600, UTC))
    linked = identity_backfill(contact=person)
    assert (linked["stripe_customers"], linked["payments"]) == (1, 2)
    assert set(Payment.objects.values_list("contact", flat=True)) == {person.pk}
    assert set(Payment.objects.values_list("deal", flat=True)) == {won.pk}
    won.refresh_from_db()
    assert won.cash_collected == Decimal("270.00")
    assert services.finance_link_contact(contact=person) == {"stripe_customers": 0, "payments": 0, "invoices": 0,
                                                             "subscriptions": 0}


def test_deal_cash_collected_is_payments_minus_refunds_on_the_nearest_deal(workspace, django_assert_max_num_queries):
    sara = contact(workspace, email="sara@example.com")
    at = lambda seconds: datetime.fromtimestamp(T0 + seconds, UTC)  # noqa: E731
    old_won = Deal.objects.create(workspace=workspace, contact=sara, stage_id="closedwon", created_at=at(-90 * 86400),
                                  close_date=at(-80 * 86400))
    pending = Deal.objects.create(workspace=workspace, contact=sara, stage_id="2900542", created_at=at(-86400))
    lost = Deal.objects.create(workspace=workspace, contact=sara, stage_id="closedlost", created_at=at(0))
    deliver(workspace, make_event("charge.succeeded", charge("ch_1", 100000, email="sara@example.com"), created=T0))
    deliver(workspace, make_event("charge.succeeded", charge("ch_2", 50000, email="sara@example.com",
                                                             created=T0 + 60), created=T0 + 60))
    deliver(workspace, make_event("charge.failed", charge("ch_3", 70000, status="failed", email="sara@example.com"),
                                  created=T0 + 70))
    deliver(workspace, make_event("charge.succeeded", charge("ch_old", 30000, email="sara@example.com",
                                                             created=T0 - 79 * 86400), created=T0))
    refund = {"id": "re_1", "object": "refund", "amount": 20000, "charge": "ch_2", "currency": "aed",
              "status": "succeeded", "created": T0 + 100}
    with django_assert_max_num_queries(30):  # a fixed number, whatever the history: no per-row loops
        deliver(workspace, make_event("refund.created", refund, created=T0 + 100))
    for deal in (old_won, pending, lost):
        deal.refresh_from_db()
    assert pending.cash_collected == Decimal("1300.00")  # 1000 + 500 − 200; the failed charge counts nothing
    assert old_won.cash_collected == Decimal("300.00")
    assert lost.cash_collected == 0 and not lost.payments.exists()
    assert Payment.objects.get(stripe_id="ch_3").deal == pending
    assert Payment.objects.get(stripe_id="ch_2").status == PaymentStatus.PARTIALLY_REFUNDED


def test_admin_lists_unmatched_payments_and_customers(workspace, make_user, client_for):
    sara = contact(workspace, email="sara@example.com")
    deliver(workspace, make_event("charge.succeeded", charge("ch_known", email="sara@example.com"), created=T0))
    deliver(workspace, make_event("charge.succeeded", charge("ch_stranger", email="who@example.com"), created=T0))
    deliver(workspace, make_event("customer.created", {"id": "cus_x", "email": "who@example.com", "created": T0},
                                  created=T0))
    admin_client = client_for(make_user(workspace, "admin"))
    unmatched = admin_client.get("/admin/finance/payment/", {"matched": "no"})
    assert [p.stripe_id for p in unmatched.context["cl"].result_list] == ["ch_stranger"]
    matched = admin_client.get("/admin/finance/payment/", {"matched": "yes"})
    assert [p.contact for p in matched.context["cl"].result_list] == [sara]
    customers = admin_client.get("/admin/finance/customer/", {"matched": "no"})
    assert [c.stripe_id for c in customers.context["cl"].result_list] == ["cus_x"]


# ---------------------------------------------------------------------------------------------- sync_stripe

@pytest.fixture
def fake_stripe(monkeypatch):
    with FakeStripe(api_key="sk_test_sync", start_time=T0) as fs:
        monkeypatch.setenv("STRIPE_API_BASE", fs.url)
        monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_sync")
        monkeypatch.setattr(stripe_api, "PAGE_SIZE", 3)  # exercise paging with a handful of objects
        monkeypatch.setattr(stripe_api, "rate_limit_wait", lambda attempt: 0)
        yield fs


def fill(fs):
    sara = fs.add_customer(email="sara@example.com", name="Sara", phone="+971501234567")
    omar = fs.add_customer(email="omar@example.com", name="Omar")
    payments = [fs.add_payment(10000 * (i + 1), customer=sara["id"] if i % 2 else omar["id"]) for i in range(5)]
    fs.add_payment(9900, customer=omar["id"], succeeded=False)
    fs.add_payment_intent(4400, status="requires_payment_method", customer=sara["id"])  # abandoned, no charge
    fs.add_refund(payments[1][1]["id"], 5000)
    sub = fs.add_subscription(sara["id"], amount=50000)
    fs.add_subscription(omar["id"], status="canceled", canceled_at=T0 + 500)
    fs.add_invoice(sara["id"], 50000, subscription=sub["id"], payment_intent=payments[1][0]["id"])
    fs.add_dispute(payments[0][1]["id"])
    fs.add_payout(120000)
    return sara, payments


def counts():
    return {model.__name__: model.objects.count() for model in (Customer, Payment, Refund, Subscription, Invoice,
                                                                Dispute, Payout)}


def test_sync_imports_every_kind_with_paging_and_is_idempotent(workspace, fake_stripe):
    contact(workspace, email="sara@example.com")
    sara, payments = fill(fake_stripe)
    call_command("sync_stripe")
    assert counts() == {"Customer": 2, "Payment": 7, "Refund": 1, "Subscription": 2, "Invoice": 1, "Dispute": 1,
                        "Payout": 1}  # 6 charges + 1 intent that never charged; the canceled subscription too
    pages = fake_stripe.requests_to("/v1/charges")  # 6 charges, 3 a page
    assert len(pages) == 2 and "starting_after" not in pages[0].query
    assert pages[1].query["starting_after"].startswith("ch_")
    assert all(r.query.get("limit") == "3" for r in fake_stripe.requests)
    assert fake_stripe.requests_to("/v1/subscriptions")[0].query["status"] == "all"
    refunded = Payment.objects.get(stripe_id=payments[1][1]["id"])
    assert (refunded.amount_refunded_minor, refunded.status) == (5000, PaymentStatus.PARTIALLY_REFUNDED)
    assert refunded.contact.email_normalized == "sara@example.com"
    assert Customer.objects.get(stripe_id=sara["id"]).lifetime_value_minor == 20000 + 40000 - 5000
    assert Payment.objects.filter(status=PaymentStatus.FAILED).count() == 1
    assert Payment.objects.get(stripe_id__startswith="pi_").status == PaymentStatus.PENDING
    assert Payment.objects.get(stripe_id=payments[0][1]["id"]).disputed
    assert Invoice.objects.get().subscription.stripe_id == Subscription.objects.get(status="active").stripe_id
    state = SyncState.objects.get(workspace=workspace, source="stripe")
    assert state.last_success_at and not state.last_error and state.records_synced == 21
    assert state.cursor["charges"] == {"created": max(c["created"] for c in fake_stripe.objects["charges"].values())}

    before = counts()
    snapshot = list(Payment.objects.order_by("stripe_id").values_list("stripe_id", "status", "amount_refunded_minor"))
    call_command("sync_stripe")
    assert counts() == before
    assert list(Payment.objects.order_by("stripe_id").values_list("stripe_id", "status", "amount_refunded_minor")) \
        == snapshot
    assert not fake_stripe.errors


def test_sync_announces_its_changes_once(workspace, fake_stripe, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("ptd.live.publish_now", lambda **message: sent.append(message))
    fill(fake_stripe)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync_stripe")
    assert sent == [{"workspace_id": workspace.pk, "topics": ["payments"], "staff_ids": []}]


def test_sync_continues_from_the_cursor(workspace, fake_stripe):
    fill(fake_stripe)
    call_command("sync_stripe")
    newest = SyncState.objects.get(source="stripe").cursor["charges"]["created"]
    fake_stripe.clear_requests()
    _, late = fake_stripe.add_payment(77700)
    call_command("sync_stripe")
    listed = fake_stripe.requests_to("/v1/charges")
    assert listed[0].query["created[gte]"] == str(newest)
    assert Payment.objects.filter(stripe_id=late["id"]).exists()
    assert SyncState.objects.get(source="stripe").cursor["charges"]["created"] == late["created"]

    fake_stripe.clear_requests()
    call_command("sync_stripe", "--since", "2020-01-01")  # an explicit window overrides the cursor
    since = datetime(2020, 1, 1, tzinfo=UTC) - timedelta(hours=4)  # midnight in Dubai
    assert fake_stripe.requests_to("/v1/charges")[0].query["created[gte]"] == str(int(since.timestamp()))


def test_interrupted_sync_resumes_after_the_last_page_written(workspace, fake_stripe, monkeypatch):
    from finance.management.commands import sync_stripe as command

    fill(fake_stripe)
    real = command.WRITERS["charges"]

    def write_then_break(**kwargs):  # Stripe starts failing once the first page of charges is written
        real(**kwargs)
        if not fake_stripe.faults:
            fake_stripe.fail_next(500, times=3, path_prefix="/v1/charges")  # the SDK's 2 retries, then gives up

    monkeypatch.setitem(command.WRITERS, "charges", write_then_break)
    with pytest.raises(CommandError, match=r"Stripe error while reading charges \(HTTP 500\)"):
        call_command("sync_stripe")
    state = SyncState.objects.get(source="stripe")
    resume = state.cursor["charges"]["resume"]
    written = Payment.objects.filter(stripe_id__startswith="ch_")
    assert written.count() == 3 and resume["after"] == written.order_by("created").first().stripe_id
    assert state.last_error.startswith("Stripe error while reading charges")

    monkeypatch.setitem(command.WRITERS, "charges", real)
    fake_stripe.clear_requests()
    call_command("sync_stripe")
    assert fake_stripe.requests_to("/v1/charges")[0].query["starting_after"] == resume["after"]
    assert Payment.objects.count() == 7 and "resume" not in SyncState.objects.get(source="stripe").cursor["charges"]


def test_sync_waits_out_rate_limits_a_bounded_number_of_times(workspace, fake_stripe):
    fill(fake_stripe)
    fake_stripe.rate_limit_next(times=2, path_prefix="/v1/refunds")
    call_command("sync_stripe")
    assert Refund.objects.count() == 1
    fake_stripe.rate_limit_next(times=stripe_api.RATE_LIMIT_RETRIES + 1, path_prefix="/v1/payouts")
    with pytest.raises(CommandError) as failure:
        call_command("sync_stripe")
    assert "rate-limiting payouts (HTTP 429)" in str(failure.value)


def test_sync_without_a_key_fails_with_one_line(workspace, fake_stripe, monkeypatch):
    monkeypatch.delenv("STRIPE_SECRET_KEY")
    with pytest.raises(CommandError) as failure:
        call_command("sync_stripe")
    message = str(failure.value)
    assert "Stripe secret key is not configured" in message and "\n" not in message
    assert failure.value.returncode == 1 and not fake_stripe.requests


def test_sync_with_a_rejected_key_fails_with_one_line(workspace, fake_stripe, monkeypatch):
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_revoked")
    with pytest.raises(CommandError) as failure:
        call_command("sync_stripe")
    message = str(failure.value)
    assert message.startswith("Stripe rejected the key") and "\n" not in message and "sk_test_revoked" not in message
    assert failure.value.returncode == 1
    assert "rejected" in SyncState.objects.get(source="stripe").last_error


def test_sync_command_exit_status_and_stdout(workspace, fake_stripe, monkeypatch, capsys):
    fill(fake_stripe)
    call_command("sync_stripe", "--workspace", "ptd")
    assert capsys.readouterr().out.startswith("synced from Stripe: 2 customers, 6 charges, 7 payment intents")
    with pytest.raises(CommandError, match="no workspace 'nowhere'"):
        call_command("sync_stripe", "--workspace", "nowhere")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("sync_stripe", "--since", "yesterday")


def test_nightly_task_syncs_workspaces_with_a_key_and_skips_the_rest(workspace, other_workspace, fake_stripe):
    from finance.tasks import sync_stripe
    from ptd.schedules import SCHEDULES

    fill(fake_stripe)
    summary = sync_stripe()
    assert summary.startswith("ptd: ") and "abu-dhabi" not in summary
    assert Payment.objects.filter(workspace=workspace).count() == 7
    assert any(d.func == "finance.tasks.sync_stripe" and d.cron == "30 1 * * *" for d in SCHEDULES)
