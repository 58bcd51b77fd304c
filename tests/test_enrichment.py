"""HubSpot enrichment through hubspot-api-client against the loopback FakeHubSpot: the exact batch sent, nothing
sent when nothing changed, the Stripe mode honoured, batches of 100, a 207 / 429 / refused batch handled."""

from datetime import UTC, datetime, timedelta

import pytest

from clients.integrations import hubspot as hubspot_api
from clients.models import Contact
from finance.enrichment import hubspot_enrichment_push, hubspot_properties
from finance.models import HubSpotEnrichment, Payment, PaymentStatus
from ptd.models import SyncState
from ptd.sync import SyncFailed

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 9, 20, 21, 30, tzinfo=UTC)  # 01:30 on 21 September in Dubai
UPDATE = "/crm/v3/objects/contacts/batch/update"


def contact(workspace, hubspot_id, hs=None):
    if hs is not None:
        hs.add_contact(id=hubspot_id, email=f"c{hubspot_id}@example.com")
    return Contact.objects.create(workspace=workspace, hubspot_id=hubspot_id, created_at=T0 - timedelta(days=90),
                                  email_normalized=f"c{hubspot_id or 'x'}@example.com")


def pay(workspace, who, amount, *, status=PaymentStatus.SUCCEEDED, at=T0, refunded=0, livemode=False,
        currency="AED"):
    pay.n = getattr(pay, "n", 0) + 1
    return Payment.objects.create(workspace=workspace, stripe_id=f"ch_{pay.n}", contact=who, amount_minor=amount,
                                  amount_refunded_minor=refunded, status=status, created=at, livemode=livemode,
                                  currency=currency)


def sent_batches(hs):
    return [r.json["inputs"] for r in hs.requests_to(UPDATE, "POST") if not r.faulted]


@pytest.fixture
def clients(workspace, hs):
    """Ann pays twice (one partly refunded) and fails once; Bob only fails; Cy has no HubSpot id; Di never paid."""
    ann, bob = contact(workspace, "101", hs), contact(workspace, "102", hs)
    cy, di = contact(workspace, None), contact(workspace, "104", hs)
    pay(workspace, ann, 50_000, at=T0 - timedelta(days=30))
    pay(workspace, ann, 30_000, at=T0, refunded=10_000, status=PaymentStatus.PARTIALLY_REFUNDED)
    pay(workspace, ann, 45_000, at=T0 + timedelta(hours=1), status=PaymentStatus.FAILED)
    pay(workspace, bob, 99_900, at=T0 - timedelta(days=2), status=PaymentStatus.FAILED)
    pay(workspace, cy, 12_000)
    return ann, bob, cy, di


def test_properties_are_strings_in_major_units():
    from finance.enrichment import ContactValues

    values = ContactValues(1, "9", 123_450, "AED", None, 2)
    assert hubspot_properties(values) == {"ptd_lifetime_value": "1234.50", "ptd_last_payment_date": "",
                                          "ptd_failed_payments": "2"}


def test_the_exact_batch_then_nothing_when_nothing_changed(workspace, hs, clients):
    ann, bob, _, _ = clients
    assert hubspot_enrichment_push(workspace=workspace) == 2
    assert sent_batches(hs) == [[
        # 500 + 300 − 100 refunded = AED 700.00; the last payment at 01:30 Dubai time is on the 21st there.
        {"id": "101", "properties": {"ptd_lifetime_value": "700.00", "ptd_last_payment_date": "2026-09-21",
                                     "ptd_failed_payments": "1"}},
        {"id": "102", "properties": {"ptd_lifetime_value": "0.00", "ptd_last_payment_date": "",
                                     "ptd_failed_payments": "1"}},
    ]]
    assert hs.get("contacts", "101")["properties"]["ptd_lifetime_value"] == "700.00"
    stored = HubSpotEnrichment.objects.get(contact=ann)
    assert (stored.lifetime_value_minor, stored.last_payment_date.isoformat(), stored.failed_payments) == (
        70_000, "2026-09-21", 1)

    hs.clear_requests()
    assert hubspot_enrichment_push(workspace=workspace) == 0
    assert not hs.requests_to(UPDATE)

    pay(workspace, bob, 99_900, at=T0 + timedelta(days=1))  # Bob pays: only Bob is sent
    assert hubspot_enrichment_push(workspace=workspace) == 1
    assert sent_batches(hs) == [[{"id": "102", "properties": {
        "ptd_lifetime_value": "999.00", "ptd_last_payment_date": "2026-09-22", "ptd_failed_payments": "1"}}]]


def test_a_contact_whose_payments_moved_away_is_reset(workspace, hs, clients):
    ann, bob, _, _ = clients
    hubspot_enrichment_push(workspace=workspace)
    hs.clear_requests()
    Payment.objects.filter(contact=bob).update(contact=ann)  # identity fixed: those were Ann's
    assert hubspot_enrichment_push(workspace=workspace) == 2
    assert sent_batches(hs) == [[
        {"id": "101", "properties": {"ptd_lifetime_value": "700.00", "ptd_last_payment_date": "2026-09-21",
                                     "ptd_failed_payments": "2"}},
        {"id": "102", "properties": {"ptd_lifetime_value": "0.00", "ptd_last_payment_date": "",
                                     "ptd_failed_payments": "0"}},
    ]]


def test_live_mode_leaves_test_payments_out(workspace, hs, monkeypatch):
    ann = contact(workspace, "201", hs)
    pay(workspace, ann, 100_000, livemode=True)
    pay(workspace, ann, 55_500, livemode=False, at=T0 + timedelta(days=3))
    pay(workspace, ann, 1_000, livemode=False, status=PaymentStatus.FAILED)
    pay(workspace, ann, 20_000, livemode=True, currency="USD")  # not added to an AED figure
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_enrichment")
    assert hubspot_enrichment_push(workspace=workspace) == 1
    assert sent_batches(hs) == [[{"id": "201", "properties": {
        "ptd_lifetime_value": "1000.00", "ptd_last_payment_date": "2026-09-21", "ptd_failed_payments": "0"}}]]


def test_test_mode_sends_test_payments_only(workspace, hs):
    ann = contact(workspace, "301", hs)
    pay(workspace, ann, 100_000, livemode=True)
    pay(workspace, ann, 55_500, livemode=False)
    assert hubspot_enrichment_push(workspace=workspace) == 1
    assert sent_batches(hs)[0][0]["properties"]["ptd_lifetime_value"] == "555.00"


def test_batches_of_one_hundred(workspace, hs):
    people = Contact.objects.bulk_create([
        Contact(workspace=workspace, hubspot_id=str(5000 + i), created_at=T0, email_normalized=f"p{i}@example.com")
        for i in range(150)])
    for person in people:
        hs.add_contact(id=person.hubspot_id)
    Payment.objects.bulk_create([
        Payment(workspace=workspace, stripe_id=f"ch_bulk{i}", contact=person, amount_minor=10_000 + i,
                status=PaymentStatus.SUCCEEDED, created=T0) for i, person in enumerate(people)])
    assert hubspot_enrichment_push(workspace=workspace) == 150
    assert [len(batch) for batch in sent_batches(hs)] == [100, 50]
    assert sent_batches(hs)[1][-1] == {"id": "5149", "properties": {
        "ptd_lifetime_value": "101.49", "ptd_last_payment_date": "2026-09-21", "ptd_failed_payments": "0"}}


def test_a_contact_hubspot_does_not_know_is_retried_next_time(workspace, hs):
    known, gone = contact(workspace, "401", hs), contact(workspace, "402")  # 402 was deleted in HubSpot
    pay(workspace, known, 10_000)
    pay(workspace, gone, 20_000)
    assert hubspot_enrichment_push(workspace=workspace) == 1  # a 207 names 402
    assert list(HubSpotEnrichment.objects.values_list("hubspot_id", flat=True)) == ["401"]
    hs.clear_requests()
    hubspot_enrichment_push(workspace=workspace)
    assert [[i["id"] for i in batch] for batch in sent_batches(hs)] == [["402"]]


def test_a_429_is_retried_after_retry_after(workspace, hs, clients):
    hs.rate_limit_next(times=1, retry_after=0, path_prefix=UPDATE)
    assert hubspot_enrichment_push(workspace=workspace) == 2
    attempts = hs.requests_to(UPDATE, "POST")
    assert [r.faulted for r in attempts] == [True, False] and attempts[0].json == attempts[1].json


def test_rate_limits_that_outlast_the_retries_are_reported_and_resume(workspace, hs, clients, monkeypatch):
    monkeypatch.setattr(hubspot_api, "RETRIES", 1)
    hs.rate_limit_next(times=2, retry_after=0, path_prefix=UPDATE)
    with pytest.raises(SyncFailed) as failed:
        hubspot_enrichment_push(workspace=workspace)
    message = str(failed.value)
    assert message.startswith("HubSpot kept refusing after 1 retries") and "\n" not in message
    assert "0 contacts were updated, the next run sends the rest" in message
    assert not HubSpotEnrichment.objects.exists()
    assert SyncState.objects.get(workspace=workspace, source="hubspot-enrichment").last_error == message
    assert hubspot_enrichment_push(workspace=workspace) == 2  # the next run sends everything


def test_a_refused_batch_names_the_properties(workspace, hs, clients):
    hs.fail_next(400, body={"status": "error", "message": 'Property "ptd_lifetime_value" does not exist',
                            "correlationId": "c-1", "category": "VALIDATION_ERROR"}, path_prefix=UPDATE)
    with pytest.raises(SyncFailed, match=r'^HubSpot refused the enrichment batch \(400\): Property "ptd_lifetime_value"'
                                         r" does not exist — the contact properties ptd_lifetime_value, "):
        hubspot_enrichment_push(workspace=workspace)


def test_without_a_token_it_says_what_to_set(workspace, monkeypatch):
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    with pytest.raises(SyncFailed, match="HubSpot access token is not configured for workspace ptd"):
        hubspot_enrichment_push(workspace=workspace)


def test_the_nightly_task_reports_per_workspace(workspace, other_workspace, hs, clients):
    from finance.tasks import hubspot_enrichment

    assert hubspot_enrichment() == "ptd: 2 contacts updated"  # the other workspace has no HubSpot token


def test_enrichment_runs_after_forensics():
    from ptd.schedules import SCHEDULES

    crons = {d.func: d.cron for d in SCHEDULES}
    assert crons["finance.tasks.stripe_forensics"] == "0 2 * * *"
    assert crons["finance.tasks.hubspot_enrichment"] == "30 2 * * *"
