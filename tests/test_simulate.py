"""`manage.py simulate`: loopback only, secrets required, a deterministic generator whose deliveries verify
with the providers' own SDKs, and its traffic processed end to end into contacts, calls, deals and payments."""

import json
import socket
import time
from collections import Counter
from io import StringIO

import pytest
import requests
import stripe
from django.core.management import call_command
from django.core.management.base import CommandError
from hubspot.utils.signature import Signature

from clients.models import Call, Contact, Deal, DealStageHistory
from finance.models import Payment, PaymentStatus, Refund
from marketing.models import AttributionEvent
from ptd.management.commands.simulate import simulation_context
from ptd.models import WebhookEvent, WebhookStatus
from ptd.simulator import AdRef, Simulator, StaffRef, loopback_base_url

SECRETS = {"STRIPE_WEBHOOK_SECRET": "whsec_sim_test", "HUBSPOT_CLIENT_SECRET": "hs-sim-client-secret",
           "ANYTRACK_WEBHOOK_TOKEN": "at-sim-token", "CALLGEAR_WEBHOOK_TOKEN": "cg-sim-token"}
SETTERS = [StaffRef("70000101", "Omar Haddad", "omar.haddad@ptd.ae"), StaffRef("70000102", "Sara Khan")]
COACHES = [StaffRef("70000201", "Layla Rossi")]
ADS = [AdRef("120200000000101", "120200000000100", "120200000000001")]


@pytest.fixture
def no_secrets(monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sync_worker(settings, monkeypatch):
    """django-q2 runs tasks in-process, so on_commit → enqueue → webhook_drain happens in the request."""
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def one_drain_per_request(monkeypatch):
    """Every stored notification asks for a drain after commit, and django-q2's sync mode costs ~25 ms a task
    however little it does: the first drain of a request processes everything, so skip the ones that would
    find nothing pending (the real request_drain → async_task → webhook_drain path still runs)."""
    from ptd import inbox

    real = inbox.request_drain

    def request_drain(**kwargs):
        if WebhookEvent.objects.filter(status=WebhookStatus.PENDING).exists():
            return real(**kwargs)
        return False

    monkeypatch.setattr(inbox, "request_drain", request_drain)


def simulator(seed=7, start=None, base_url="http://testserver", **extra):
    return Simulator(secrets=SECRETS, base_url=base_url, seed=seed, rate=6000, start=start or time.time(),
                     setters=SETTERS, coaches=COACHES, ads=ADS, **extra)


# --- the URL is loopback or nothing -------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "http://example.com", "https://192.168.1.20/",
                                 "http://127.0.0.1.nip.io:8000", "ftp://127.0.0.1/", "http://[2001:db8::1]:8000"])
def test_non_loopback_urls_are_refused(url, no_secrets):
    with pytest.raises(CommandError, match="loopback|not an http"):
        call_command("simulate", "--url", url, "--minutes", "0.01")


@pytest.mark.parametrize("url, base", [
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
    ("http://127.9.8.7:9000", "http://127.9.8.7:9000"),
    ("http://LOCALHOST:8000", "http://localhost:8000"),
    ("http://[::1]:8000", "http://[::1]:8000"),
    ("http://127.0.0.1:80/", "http://127.0.0.1"),  # the Host header carries no default port, nor may the URI
])
def test_loopback_urls_are_accepted(url, base):
    assert loopback_base_url(url) == base


def test_missing_secrets_name_the_variables(workspace, no_secrets):
    with pytest.raises(CommandError) as raised:
        call_command("simulate", "--url", "http://127.0.0.1:8000", "--minutes", "0.01")
    message = str(raised.value)
    assert "\n" not in message
    for name in SECRETS:
        assert name in message


# --- the generator ------------------------------------------------------------------------------

def test_generator_is_deterministic_for_a_seed():
    start = time.time()
    first = [tuple(d) for d in simulator(seed=11, start=start).deliveries(60)]
    again = [tuple(d) for d in simulator(seed=11, start=start).deliveries(60)]
    other = [tuple(d) for d in simulator(seed=12, start=start).deliveries(60)]
    assert first == again
    assert first != other
    assert len(first) > 60  # a business event is often several requests


def test_deliveries_verify_with_the_providers_sdks():
    sim = simulator()
    deliveries = sim.deliveries(150)
    seen = Counter()
    for delivery in deliveries:
        path, body, headers = delivery
        seen[delivery.source] += 1
        assert headers["Content-Type"] == "application/json"
        if delivery.source == "stripe":
            assert path == "/webhooks/stripe/"
            assert stripe.WebhookSignature.verify_header(body.decode(), headers["Stripe-Signature"],
                                                         SECRETS["STRIPE_WEBHOOK_SECRET"], 300)
            event = json.loads(body)
            assert event["data"]["object"]["currency"] == "aed"
        elif delivery.source == "hubspot":
            assert path == "/webhooks/hubspot/"
            assert Signature.is_valid(signature=headers["X-HubSpot-Signature-v3"],
                                      client_secret=SECRETS["HUBSPOT_CLIENT_SECRET"], request_body=body.decode(),
                                      http_uri="http://testserver" + path, http_method="POST",
                                      signature_version="v3", timestamp=int(headers["X-HubSpot-Request-Timestamp"]))
            assert not Signature.is_valid(signature=headers["X-HubSpot-Signature-v3"], client_secret="other",
                                          request_body=body.decode(), http_uri="http://testserver" + path,
                                          signature_version="v3", timestamp=int(headers["X-HubSpot-Request-Timestamp"]))
            assert 1 <= len(json.loads(body)) <= 100
        elif delivery.source == "anytrack":
            assert path == f"/webhooks/anytrack/{SECRETS['ANYTRACK_WEBHOOK_TOKEN']}/"
        else:
            assert path == f"/webhooks/callgear/{SECRETS['CALLGEAR_WEBHOOK_TOKEN']}/"
            call = json.loads(body)
            assert call["contact_phone_number"].startswith("9715") and call["direction"] in ("in", "out")
    assert set(seen) == {"stripe", "hubspot", "anytrack", "callgear"}


def test_ids_come_from_the_run_id_and_paths_name_other_workspaces():
    sim = simulator(run_id=1_790_000_123, workspace_slug="abu-dhabi")
    events = list(sim.events(40))
    hubspot = [json.loads(m.body) for e in events for m in e.messages if m.source == "hubspot"]
    assert all(str(n["objectId"]).startswith("1790000123") for batch in hubspot for n in batch if "objectId" in n)
    paths = {m.path for e in events for m in e.messages}
    assert all(p.startswith("/webhooks/abu-dhabi/") for p in paths)


def test_context_may_be_bare_ids():
    sim = Simulator(secrets=SECRETS, base_url="http://testserver", seed=2, start=time.time(),
                    setters=["70000101"], coaches=["70000201"], ads=["120200000000101"])
    notifications = [n for e in sim.events(80) for m in e.messages if m.source == "hubspot" for n in json.loads(m.body)]
    values = {(n.get("subscriptionType"), n.get("propertyName")): n.get("propertyValue") for n in notifications}
    assert values[("contact.propertyChange", "hubspot_owner_id")] == "70000101"
    assert values[("contact.propertyChange", "fb_ad_id")] == "120200000000101"
    assert values[("deal.propertyChange", "hubspot_owner_id")] == "70000201"


def test_a_source_without_a_secret_is_left_out():
    sim = Simulator(secrets={"HUBSPOT_CLIENT_SECRET": "x"}, base_url="http://testserver", seed=1, start=time.time())
    assert {m.source for e in sim.events(50) for m in e.messages} == {"hubspot"}
    with pytest.raises(ValueError, match="STRIPE_WEBHOOK_SECRET"):
        Simulator(secrets={}, base_url="http://testserver")


# --- end to end through the receivers and the processors ----------------------------------------

def test_traffic_becomes_contacts_calls_deals_and_payments(client, workspace, make_staff, secrets, sync_worker,
                                                           one_drain_per_request, django_capture_on_commit_callbacks):
    for ref in SETTERS:
        make_staff(workspace, kind="setter", name=ref.name, email=ref.email, hubspot_owner_id=ref.owner_id)
    coach = make_staff(workspace, kind="coach", name=COACHES[0].name, hubspot_owner_id=COACHES[0].owner_id)
    context = simulation_context(workspace)
    assert [s.owner_id for s in context["setters"]] == [s.owner_id for s in SETTERS]
    assert context["ads"] == []  # no Meta ads synced here: name one as if there were
    context["ads"] = ADS

    sim = Simulator(secrets=SECRETS, base_url="http://testserver", seed=23, rate=6000, start=time.time(), **context)
    events = list(sim.events(70))
    kinds = Counter(e.kind for e in events)
    assert kinds["lead"] and kinds["call_answered"] and kinds["won"] and kinds["payment"] and kinds["refund"]
    duplicates = 0
    for chunk in range(0, len(events), 10):  # the worker drains what a few requests stored, as a server's does
        with django_capture_on_commit_callbacks(execute=True):
            for event in events[chunk:chunk + 10]:
                for message in event.messages:
                    path, body, headers = sim.sign(message, now=time.time())
                    response = client.post(path, data=body, content_type="application/json",
                                           headers={k: v for k, v in headers.items() if k != "Content-Type"})
                    assert response.status_code == 200, (message.source, response.content)
                    duplicates += response.json()["duplicate"]
    assert duplicates == sum(m.redelivery for e in events for m in e.messages) > 0

    problems = list(WebhookEvent.objects.exclude(status=WebhookStatus.PROCESSED)
                    .values_list("source", "event_type", "status", "last_error"))
    assert not problems

    # New leads: contacts with email, phone, their setter and first-touch attribution.
    contacts = Contact.objects.filter(workspace=workspace)
    assert contacts.count() == kinds["lead"]
    assert not contacts.filter(email_normalized="").exists() and not contacts.filter(phone_e164="").exists()
    assert not contacts.filter(owner__isnull=True).exists()
    assert contacts.filter(utm_source="facebook", fb_ad_id=ADS[0].ad_id).exists()
    assert AttributionEvent.objects.filter(event_name="Lead", contact__isnull=False).exists()
    assert not AttributionEvent.objects.filter(contact__isnull=True).exists()

    # Setter calls: one Call per call event, each linked to the lead it was made to and to its setter.
    calls = Call.objects.filter(workspace=workspace)
    assert calls.count() == kinds["call_answered"] + kinds["call_missed"]
    assert not calls.filter(contact__isnull=True).exists()
    assert not calls.filter(staff__isnull=True).exists()
    assert calls.filter(outcome="answered").count() == kinds["call_answered"]
    for call in calls.filter(outcome="answered")[:5]:
        assert call.talk_seconds > 0 and call.staff_id == call.contact.owner_id

    # Deals move: booked → held → won (amount) or lost, each with its contact and coach.
    deals = Deal.objects.filter(workspace=workspace)
    assert deals.count() == kinds["booked"]
    assert not deals.filter(contact__isnull=True).exists() and not deals.filter(owner__isnull=True).exists()
    history = Counter(DealStageHistory.objects.values_list("stage_id", flat=True))
    assert history["122237508"] == kinds["booked"]
    assert history["122237276"] == kinds["held"]
    assert history["closedwon"] == kinds["won"] == deals.filter(stage_id="closedwon", amount__gt=0).count()
    assert history["closedlost"] == kinds["lost"] + kinds["no_show"]
    assert Contact.objects.filter(lifecycle_stage="customer", coach=coach).count() == kinds["won"]

    # Payments: linked to the contact by email, to the won deal, and counted into its cash.
    payments = Payment.objects.filter(workspace=workspace)
    assert payments.count() == kinds["payment"] + kinds["payment_failed"]  # a charge and its intent are one payment
    assert not payments.filter(contact__isnull=True).exists()
    for payment in payments:
        assert payment.email == payment.contact.email_normalized
        assert payment.deal is not None and payment.deal.contact_id == payment.contact_id
    assert Refund.objects.filter(payment__isnull=False).count() == kinds["refund"]
    assert payments.filter(status__in=[PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED]).count() == kinds["refund"]
    for deal in deals.filter(stage_id="closedwon"):
        collected = sum(p.amount_minor - p.amount_refunded_minor for p in deal.payments.all()
                        if p.status != PaymentStatus.FAILED)
        assert deal.cash_collected * 100 == collected


# --- the command against a live server -----------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_command_runs_against_a_live_server_and_stops_by_itself(live_server, workspace, make_staff, secrets,
                                                                 sync_worker, monkeypatch):
    monkeypatch.delenv("CALLGEAR_WEBHOOK_TOKEN")
    make_staff(workspace, kind="setter", name="Omar Haddad", hubspot_owner_id="70000101")
    out, err = StringIO(), StringIO()
    began = time.monotonic()
    call_command("simulate", "--minutes", "0.03", "--rate", "1000", "--url", live_server.url, "--seed", "3",
                 stdout=out, stderr=err)
    assert time.monotonic() - began < 8
    output = out.getvalue()
    assert "done after" in output, output
    assert "rejected 0" in output, output + err.getvalue()
    assert "skipping callgear: set CALLGEAR_WEBHOOK_TOKEN" in err.getvalue()
    assert "callgear" not in output.split("sources:")[1].split(";")[0]
    assert WebhookEvent.objects.filter(source="hubspot").exists()
    assert Contact.objects.exclude(email_normalized="").exists()


def test_no_server_is_one_line_and_non_zero(workspace, secrets):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CommandError, match=rf"^no server at http://127.0.0.1:{port} — start it with make run$"):
        call_command("simulate", "--url", f"http://127.0.0.1:{port}", "--minutes", "0.05", "--rate", "600",
                     stdout=StringIO(), stderr=StringIO())


def test_ctrl_c_prints_a_summary(workspace, secrets, monkeypatch):
    calls = []

    class Answer:
        status_code, reason = 200, "OK"

        @staticmethod
        def json():
            return {"received": True, "duplicate": False}

    def post(self, url, **kwargs):
        calls.append(url)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return Answer()

    monkeypatch.setattr(requests.Session, "get", lambda self, url, **kwargs: Answer())  # the /healthz preflight
    monkeypatch.setattr(requests.Session, "post", post)
    out = StringIO()
    call_command("simulate", "--minutes", "1", "--rate", "6000", "--url", "http://127.0.0.1:9", stdout=out,
                 stderr=StringIO())
    output = out.getvalue()
    assert "stopped by Ctrl-C" in output
    assert "sent 4 · accepted 4" in output
