"""The read API (issue 3, "Read API"): /api/contacts/, /api/deals/, /api/calls/, /api/sessions/,
/api/payments/, /api/ad-insights/, /api/attribution-events/ and /api/webhook-events/.

Token and session auth, workspace then role scoping (through ptd.scoping), no PII for viewers,
filters with clear 400s, limit/offset pagination and bounded query counts."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from clients.models import Call, Contact, Deal, DealStageHistory, Staff, TrainingSession
from finance.models import Customer, Payment
from finance.serializers import minor_to_major
from marketing.models import Ad, AdInsight, AdSet, AttributionEvent, Campaign
from ptd.models import User, WebhookEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # 10:00 in Dubai



@dataclass
class World:
    coach1: Staff
    coach2: Staff
    setter1: Staff
    setter2: Staff
    contacts: dict
    calls: dict
    deals: dict
    users: dict


@pytest.fixture
def world(workspace, make_staff, make_user):
    coach1, coach2 = make_staff(workspace, "coach", name="Coach One"), make_staff(workspace, "coach", name="Coach Two")
    setter1 = make_staff(workspace, "setter", name="Setter One")
    setter2 = make_staff(workspace, "setter", name="Setter Two")

    def contact(name, owner, coach, **extra):
        return Contact.objects.create(workspace=workspace, hubspot_id=str(Contact.objects.count() + 501),
                                      first_name=name, last_name="Test",
                                      email_normalized=f"{name.lower()}@example.com", phone_e164="+971501234567",
                                      created_at=T0, owner=owner, coach=coach, **extra)

    contacts = {
        "aisha": contact("Aisha", setter1, coach1),
        "omar": contact("Omar", setter2, coach2),
        "layla": contact("Layla", setter1, None),
    }

    def call(source_id, staff, who):
        return Call.objects.create(workspace=workspace, source_id=source_id, staff=staff, contact=contacts[who],
                                   contact_phone_e164="+971501234567", started_at=T0, outcome="answered",
                                   talk_seconds=120, recording_url="https://rec.example.com/1.mp3")

    calls = {"s1-aisha": call("1", setter1, "aisha"), "s2-omar": call("2", setter2, "omar"),
             "s1-omar": call("3", setter1, "omar")}
    deals = {
        "aisha": Deal.objects.create(workspace=workspace, hubspot_id="d1", name="Aisha Test – 24 sessions",
                                     contact=contacts["aisha"], owner=coach1, stage_id="122237508",
                                     amount=Decimal("6600"), cash_collected=Decimal("3300"), created_at=T0),
        "omar": Deal.objects.create(workspace=workspace, hubspot_id="d2", contact=contacts["omar"], owner=coach2,
                                    stage_id="closedwon", amount=Decimal("4000"), created_at=T0),
    }
    DealStageHistory.objects.create(workspace=workspace, deal=deals["aisha"], stage_id="122237508",
                                    entered_at=T0 + timedelta(hours=1))
    DealStageHistory.objects.create(workspace=workspace, deal=deals["aisha"], stage_id="appointmentscheduled",
                                    entered_at=T0)
    TrainingSession.objects.create(workspace=workspace, source_id="ts1", contact=contacts["aisha"], coach=coach1,
                                   starts_at=T0, status="attended")
    TrainingSession.objects.create(workspace=workspace, source_id="ts2", contact=contacts["omar"], coach=coach2,
                                   starts_at=T0, status="no_show")
    customer = Customer.objects.create(workspace=workspace, stripe_id="cus_1", email="unmatched@example.com",
                                       created=T0)
    Payment.objects.create(workspace=workspace, stripe_id="ch_1", contact=contacts["aisha"], created=T0,
                           amount_minor=660000, currency="AED", status="succeeded")
    Payment.objects.create(workspace=workspace, stripe_id="ch_2", customer=customer, created=T0,
                           amount_minor=12345, currency="AED", status="failed")
    campaign = Campaign.objects.create(workspace=workspace, meta_id="120", name="Summer Shred")
    adset = AdSet.objects.create(workspace=workspace, meta_id="121", campaign=campaign, name="Women 25-40")
    ad = Ad.objects.create(workspace=workspace, meta_id="122", adset=adset, campaign=campaign, name="Reel")
    for d in (1, 2, 3):
        AdInsight.objects.create(workspace=workspace, ad=ad, adset=adset, campaign=campaign, date=date(2026, 3, d),
                                 spend=Decimal("250.00"), impressions=1000, clicks=30, leads=3,
                                 raw={"actions": [{"action_type": "lead", "value": "3"}]})
    AttributionEvent.objects.create(workspace=workspace, external_id="at-1", contact=contacts["aisha"],
                                    event_name="Purchase", value=Decimal("6600"), occurred_at=T0, ad_id="122",
                                    raw={"email": "aisha@example.com"})
    AttributionEvent.objects.create(workspace=workspace, external_id="at-2", contact=contacts["omar"],
                                    event_name="Lead", occurred_at=T0)
    WebhookEvent.objects.create(workspace=workspace, source="stripe", dedup_key="evt_1", event_type="charge.succeeded",
                                headers={"Stripe-Signature": "t=1,v1=secret"}, body=b'{"secret": "raw body"}',
                                status="failed", attempts=2, last_error="boom")
    users = {
        "admin": make_user(workspace, "admin", username="admin"),
        "viewer": make_user(workspace, "viewer", username="viewer"),
        "coach1": make_user(workspace, "coach", staff=coach1, username="coach1"),
        "coach2": make_user(workspace, "coach", staff=coach2, username="coach2"),
        "setter1": make_user(workspace, "setter", staff=setter1, username="setter1"),
        "setter2": make_user(workspace, "setter", staff=setter2, username="setter2"),
        "coach_unlinked": make_user(workspace, "coach", username="coach_unlinked"),
    }
    return World(coach1, coach2, setter1, setter2, contacts, calls, deals, users)


def token_client(user, **headers) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"Authorization": f"Token {token.key}", **headers})


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- Every endpoint, for an admin ----------------------------------------------------------------

FIELDS = {
    "/api/contacts/": {
        "id", "hubspot_id", "email_normalized", "phone_e164", "first_name", "last_name", "lifecycle_stage",
        "created_at", "updated_at", "owner", "owner_name", "coach", "coach_name", "source", "utm_source",
        "utm_medium", "utm_campaign", "utm_content", "utm_term", "fbclid", "fbc", "fb_campaign_id", "fb_adset_id",
        "fb_ad_id", "is_demo", "health_date", "health_total", "health_zone", "health_trend", "churn_risk",
    },
    "/api/deals/": {
        "id", "hubspot_id", "name", "contact", "owner", "owner_name", "pipeline", "stage_id", "amount",
        "cash_collected", "created_at", "updated_at", "close_date", "closed_lost_reason", "stage_history", "is_demo",
    },
    "/api/calls/": {
        "id", "source", "source_id", "contact", "staff", "staff_name", "direction", "contact_phone_e164",
        "started_at", "talk_seconds", "wait_seconds", "outcome", "recording_url", "is_demo",
    },
    "/api/sessions/": {"id", "source_id", "contact", "coach", "coach_name", "package", "starts_at", "status",
                       "is_demo"},
    "/api/payments/": {
        "id", "stripe_id", "payment_intent_id", "livemode", "created", "source_updated_at", "customer", "contact",
        "amount_minor", "currency", "amount", "status", "failure_code", "failure_message", "fee_minor", "net_minor",
        "amount_refunded_minor", "disputed", "card_brand", "card_country", "risk_level", "risk_score",
        "description", "is_demo",
    },
    "/api/ad-insights/": {
        "id", "date", "ad", "ad_meta_id", "ad_name", "adset", "adset_meta_id", "adset_name", "campaign",
        "campaign_meta_id", "campaign_name", "spend", "impressions", "reach", "clicks", "link_clicks", "leads",
        "purchases", "purchase_value", "meta_roas", "cpc", "cpm", "ctr", "frequency", "synced_at", "is_demo",
    },
    "/api/attribution-events/": {
        "id", "source", "external_id", "contact", "event_name", "value", "currency", "occurred_at", "received_at",
        "click_id", "transaction_id", "fbclid", "fbc", "fbp", "campaign_id", "adset_id", "ad_id", "utm_source",
        "utm_medium", "utm_campaign", "utm_content", "utm_term", "is_demo",
    },
    "/api/webhook-events/": {"id", "source", "event_type", "status", "attempts", "received_at", "processed_at",
                             "last_error"},
}
COUNTS = {"/api/contacts/": 3, "/api/deals/": 2, "/api/calls/": 3, "/api/sessions/": 2, "/api/payments/": 2,
          "/api/ad-insights/": 3, "/api/attribution-events/": 2, "/api/webhook-events/": 1}


@pytest.mark.parametrize("url", sorted(FIELDS))
def test_admin_reads_every_endpoint_with_its_fields(world, client_for, url):
    response = client_for(world.users["admin"]).get(url)
    body = response.json()
    assert body["count"] == COUNTS[url]
    assert len(rows(response)) == COUNTS[url]
    for row in body["results"]:
        assert set(row) == FIELDS[url]


@pytest.mark.parametrize("url", sorted(FIELDS))
def test_admin_retrieves_one_record(world, client_for, url):
    c = client_for(world.users["admin"])
    first = rows(c.get(url))[0]
    response = c.get(f"{url}{first['id']}/")
    assert response.status_code == 200
    assert response.json() == first


def test_deal_fields(world, client_for):
    by_hubspot = {d["hubspot_id"]: d for d in rows(client_for(world.users["admin"]).get("/api/deals/"))}
    deal = by_hubspot["d1"]
    assert deal["stage_id"] == "122237508"  # a string, never cast
    assert deal["amount"] == "6600.00" and deal["cash_collected"] == "3300.00"
    assert deal["owner"] == world.coach1.pk and deal["owner_name"] == "Coach One"
    assert deal["contact"] == world.contacts["aisha"].pk
    # Stage history in the order the deal entered the stages.
    assert [h["stage_id"] for h in deal["stage_history"]] == ["appointmentscheduled", "122237508"]
    assert deal["stage_history"][0]["entered_at"].startswith("2026-03-01T10:00:00")  # Asia/Dubai
    assert by_hubspot["d2"]["stage_history"] == [] and by_hubspot["d2"]["stage_id"] == "closedwon"


def test_payment_amounts_in_minor_and_major_units(world, client_for):
    by_id = {p["stripe_id"]: p for p in rows(client_for(world.users["admin"]).get("/api/payments/"))}
    assert by_id["ch_1"]["amount_minor"] == 660000
    assert by_id["ch_1"]["currency"] == "AED"
    assert by_id["ch_1"]["amount"] == "6600.00"
    assert by_id["ch_2"]["amount"] == "123.45"


def test_minor_to_major_handles_zero_and_three_decimal_currencies():
    assert minor_to_major(500, "jpy") == "500"
    assert minor_to_major(12345, "KWD") == "12.345"
    assert minor_to_major(5, "AED") == "0.05"
    assert minor_to_major(None, "AED") is None


def test_webhook_events_never_return_the_raw_body_or_headers(world, client_for):
    response = client_for(world.users["admin"]).get("/api/webhook-events/")
    assert b"raw body" not in response.content and b"Stripe-Signature" not in response.content
    (event,) = rows(response)
    assert event["source"] == "stripe" and event["event_type"] == "charge.succeeded"
    assert event["status"] == "failed" and event["attempts"] == 2 and event["last_error"] == "boom"


def test_webhook_events_filter_by_status(world, client_for):
    c = client_for(world.users["admin"])
    assert len(rows(c.get("/api/webhook-events/?status=failed"))) == 1
    assert rows(c.get("/api/webhook-events/?status=processed")) == []
    response = c.get("/api/webhook-events/?status=broken")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("status: expected one of pending, processed")


def test_raw_payloads_are_not_served(world, client_for):
    c = client_for(world.users["admin"])
    assert b"aisha@example.com" not in c.get("/api/attribution-events/").content
    assert b"action_type" not in c.get("/api/ad-insights/").content


def test_api_root_lists_the_endpoints(world, client_for):
    body = client_for(world.users["admin"]).get("/api/").json()
    assert set(body) == {"contacts", "deals", "calls", "sessions", "payments", "ad-insights", "attribution-events",
                         "webhook-events", "health-scores"}


# --- Authentication ------------------------------------------------------------------------------


def test_token_auth(world):
    response = token_client(world.users["admin"]).get("/api/contacts/")
    assert len(rows(response)) == 3


def test_token_auth_keeps_role_scope(world):
    names = {c["first_name"] for c in rows(token_client(world.users["coach1"]).get("/api/contacts/"))}
    assert names == {"Aisha"}
    assert token_client(world.users["coach1"]).get("/api/payments/").status_code == 403


@pytest.mark.parametrize("url", sorted(FIELDS))
def test_anonymous_is_refused(world, url):
    response = Client().get(url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_wrong_token_is_refused(world):
    response = Client(headers={"Authorization": "Token not-a-real-token"}).get("/api/contacts/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_user_without_membership_gets_403(world):
    loner = User.objects.create_user(username="loner", password="x")
    response = token_client(loner).get("/api/contacts/")
    assert response.status_code == 403
    assert response.json()["detail"] == "You are not a member of any workspace."
    session = Client()
    session.force_login(loner)
    assert session.get("/api/contacts/").status_code == 403


# --- Role scoping --------------------------------------------------------------------------------


@pytest.mark.parametrize("who,expected", [
    ("admin", {"Aisha", "Omar", "Layla"}),
    ("viewer", None),  # no names for viewers: checked by count below
    ("coach1", {"Aisha"}),
    ("coach2", {"Omar"}),
    ("setter1", {"Aisha", "Layla"}),
    ("setter2", {"Omar"}),
])
def test_contacts_by_role(world, client_for, who, expected):
    found = rows(client_for(world.users[who]).get("/api/contacts/"))
    if expected is None:
        assert len(found) == 3
    else:
        assert {c["first_name"] for c in found} == expected


@pytest.mark.parametrize("who,expected", [
    ("admin", {"1", "2", "3"}),
    ("setter1", {"1", "3"}),  # the calls they made, whoever owns the lead
    ("setter2", {"2"}),
    ("coach1", {"1"}),  # calls to their own clients
])
def test_calls_by_role(world, client_for, who, expected):
    assert {c["source_id"] for c in rows(client_for(world.users[who]).get("/api/calls/"))} == expected


@pytest.mark.parametrize("who,expected", [("coach1", {"d1"}), ("coach2", {"d2"}), ("setter1", {"d1"}),
                                          ("viewer", {"d1", "d2"})])
def test_deals_by_role(world, client_for, who, expected):
    assert {d["hubspot_id"] for d in rows(client_for(world.users[who]).get("/api/deals/"))} == expected


def test_coach_sessions_are_their_clients(world, client_for):
    assert {s["source_id"] for s in rows(client_for(world.users["coach1"]).get("/api/sessions/"))} == {"ts1"}


def test_record_outside_the_role_is_not_found(world, client_for):
    omar = world.contacts["omar"].pk
    assert client_for(world.users["coach1"]).get(f"/api/contacts/{omar}/").status_code == 404
    assert client_for(world.users["coach2"]).get(f"/api/contacts/{omar}/").status_code == 200


@pytest.mark.parametrize("who", ["coach1", "setter1"])
@pytest.mark.parametrize("url", ["/api/payments/", "/api/ad-insights/", "/api/webhook-events/"])
def test_coach_and_setter_may_not_see_finance_spend_or_webhooks(world, client_for, who, url):
    response = client_for(world.users[who]).get(url)
    assert response.status_code == 403
    assert "cannot see" in response.json()["detail"]


@pytest.mark.parametrize("url", ["/api/payments/", "/api/ad-insights/"])
def test_viewer_sees_finance_and_spend(world, client_for, url):
    assert len(rows(client_for(world.users["viewer"]).get(url))) == COUNTS[url]


def test_webhook_events_are_admin_only(world, client_for):
    response = client_for(world.users["viewer"]).get("/api/webhook-events/")
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role (viewer) cannot see webhook events."


def test_unlinked_coach_is_told_why(world, client_for):
    response = client_for(world.users["coach_unlinked"]).get("/api/contacts/")
    assert response.status_code == 403
    assert "not linked to a staff record" in response.json()["detail"]


PII = {
    "/api/contacts/": {"email_normalized", "phone_e164", "first_name", "last_name"},
    "/api/deals/": {"name"},
    "/api/calls/": {"contact_phone_e164", "recording_url"},
}


@pytest.mark.parametrize("url", sorted(PII))
def test_viewer_gets_no_pii_fields(world, client_for, url):
    response = client_for(world.users["viewer"]).get(url)
    found = rows(response)
    assert found
    for row in found:
        assert set(row) == FIELDS[url] - PII[url]
    for secret in (b"example.com", b"+971501234567", b"Aisha", b"rec.example.com"):
        assert secret not in response.content
    # …and not through a single record either.
    one = client_for(world.users["viewer"]).get(f"{url}{found[0]['id']}/").json()
    assert set(one) == FIELDS[url] - PII[url]


def test_viewer_may_not_filter_by_email(world, client_for):
    response = client_for(world.users["viewer"]).get("/api/contacts/?email=aisha@example.com")
    assert response.status_code == 403


# --- Workspaces ----------------------------------------------------------------------------------


@pytest.fixture
def abu_dhabi(world, other_workspace, make_staff):
    coach = make_staff(other_workspace, "coach", name="AD Coach")
    contact = Contact.objects.create(workspace=other_workspace, hubspot_id="hs-AD", first_name="Hamdan",
                                     email_normalized="aisha@example.com", created_at=T0, coach=coach)
    Deal.objects.create(workspace=other_workspace, hubspot_id="d1", contact=contact, stage_id="closedwon",
                        created_at=T0)
    Payment.objects.create(workspace=other_workspace, stripe_id="ch_ad", contact=contact, created=T0,
                           amount_minor=100, status="succeeded")
    WebhookEvent.objects.create(workspace=other_workspace, source="hubspot", dedup_key="x", body=b"{}")
    return contact


@pytest.mark.parametrize("url", ["/api/contacts/", "/api/deals/", "/api/payments/", "/api/webhook-events/"])
def test_workspaces_are_isolated(world, abu_dhabi, client_for, url):
    found = rows(client_for(world.users["admin"]).get(url))
    assert len(found) == COUNTS[url]
    assert b"Hamdan" not in client_for(world.users["admin"]).get(url).content


def test_record_of_another_workspace_is_not_found(world, abu_dhabi, client_for):
    assert client_for(world.users["admin"]).get(f"/api/contacts/{abu_dhabi.pk}/").status_code == 404


def test_email_filter_stays_in_the_workspace(world, abu_dhabi, client_for):
    found = rows(client_for(world.users["admin"]).get("/api/contacts/?email=aisha@example.com"))
    assert [c["first_name"] for c in found] == ["Aisha"]


def test_token_user_picks_the_workspace_by_header_or_parameter(world, abu_dhabi, other_workspace, make_user):
    from ptd.services import membership_set

    admin = world.users["admin"]
    membership_set(user=admin, workspace=other_workspace, role="admin")
    by_header = rows(token_client(admin, **{"X-Workspace": "abu-dhabi"}).get("/api/contacts/"))
    assert [c["first_name"] for c in by_header] == ["Hamdan"]
    by_param = rows(token_client(admin).get("/api/contacts/?workspace=abu-dhabi"))
    assert [c["first_name"] for c in by_param] == ["Hamdan"]
    home = rows(token_client(admin, **{"X-Workspace": "ptd"}).get("/api/contacts/"))
    assert len(home) == 3


def test_naming_a_workspace_you_are_not_in_is_refused(world, abu_dhabi, client_for):
    response = token_client(world.users["admin"], **{"X-Workspace": "abu-dhabi"}).get("/api/contacts/")
    assert response.status_code == 403
    assert response.json()["detail"] == "You are not a member of the workspace 'abu-dhabi'."
    # Session users too: the parameter cannot widen what the session allows.
    assert client_for(world.users["admin"]).get("/api/contacts/?workspace=abu-dhabi").status_code == 403


def test_role_is_per_workspace(world, abu_dhabi, other_workspace):
    from ptd.services import membership_set

    coach = world.users["coach1"]
    membership_set(user=coach, workspace=other_workspace, role="admin")
    assert token_client(coach, **{"X-Workspace": "abu-dhabi"}).get("/api/payments/").status_code == 200
    assert token_client(coach, **{"X-Workspace": "ptd"}).get("/api/payments/").status_code == 403


# --- Filters -------------------------------------------------------------------------------------


def test_updated_since_uses_source_update_time_then_creation_time(world, client_for):
    Contact.objects.filter(pk=world.contacts["aisha"].pk).update(updated_at=T0 + timedelta(days=10))
    Contact.objects.filter(pk=world.contacts["layla"].pk).update(created_at=T0 + timedelta(days=5))
    c = client_for(world.users["admin"])
    found = rows(c.get("/api/contacts/", {"updated_since": "2026-03-05T00:00:00+04:00"}))
    assert {x["first_name"] for x in found} == {"Aisha", "Layla"}
    # Omar has updated_at empty and was created on 1 March: included from an earlier cut-off.
    assert len(rows(c.get("/api/contacts/", {"updated_since": "2026-03-01T09:00:00+04:00"}))) == 3
    # A naive time is read in the workspace timezone (T0 is 10:00 Dubai).
    assert len(rows(c.get("/api/contacts/", {"updated_since": "2026-03-01T10:00:01"}))) == 2


def test_updated_since_accepts_an_unencoded_plus(world, client_for):
    Contact.objects.filter(pk=world.contacts["aisha"].pk).update(updated_at=T0 + timedelta(days=10))
    found = rows(client_for(world.users["admin"]).get("/api/contacts/?updated_since=2026-03-05T00:00:00+04:00"))
    assert {x["first_name"] for x in found} == {"Aisha"}


def test_updated_since_on_payments_uses_source_updated_at(world, client_for):
    Payment.objects.filter(stripe_id="ch_1").update(source_updated_at=T0 + timedelta(days=3))
    found = rows(client_for(world.users["admin"]).get("/api/payments/?updated_since=2026-03-02"))
    assert [p["stripe_id"] for p in found] == ["ch_1"]


def test_email_filter_is_normalised(world, client_for):
    found = rows(client_for(world.users["admin"]).get("/api/contacts/", {"email": "  AISHA@Example.COM "}))
    assert [c["first_name"] for c in found] == ["Aisha"]
    deals = rows(client_for(world.users["admin"]).get("/api/deals/", {"email": "aisha@example.com"}))
    assert [d["hubspot_id"] for d in deals] == ["d1"]


def test_email_filter_finds_unmatched_payments_by_customer_email(world, client_for):
    c = client_for(world.users["admin"])
    assert [p["stripe_id"] for p in rows(c.get("/api/payments/?email=unmatched@example.com"))] == ["ch_2"]
    assert [p["stripe_id"] for p in rows(c.get("/api/payments/?email=aisha@example.com"))] == ["ch_1"]


def test_email_filter_does_not_widen_the_role(world, client_for):
    assert rows(client_for(world.users["coach1"]).get("/api/contacts/?email=omar@example.com")) == []


def test_date_range_uses_dubai_day_boundaries(world, client_for):
    late = Contact.objects.create(workspace=world.contacts["aisha"].workspace, first_name="Late",
                                  created_at=datetime(2026, 3, 1, 20, 30, tzinfo=UTC))  # 2 March 00:30 in Dubai
    c = client_for(world.users["admin"])
    on_first = {x["first_name"] for x in rows(c.get("/api/contacts/?from=2026-03-01&to=2026-03-01"))}
    assert on_first == {"Aisha", "Omar", "Layla"}
    on_second = rows(c.get("/api/contacts/?from=2026-03-02"))
    assert [x["id"] for x in on_second] == [late.pk]
    assert len(rows(c.get("/api/contacts/?to=2026-02-28"))) == 0


def test_date_range_on_a_date_field(world, client_for):
    found = rows(client_for(world.users["admin"]).get("/api/ad-insights/?from=2026-03-02&to=2026-03-03"))
    assert sorted(x["date"] for x in found) == ["2026-03-02", "2026-03-03"]


def test_date_range_on_calls_and_sessions(world, client_for):
    c = client_for(world.users["admin"])
    assert len(rows(c.get("/api/calls/?from=2026-03-01&to=2026-03-01"))) == 3
    assert rows(c.get("/api/sessions/?from=2026-03-02")) == []


@pytest.mark.parametrize("query,message", [
    ("updated_since=yesterday",
     "updated_since: expected an ISO 8601 date-time, e.g. 2026-01-31T09:00:00+04:00"),
    ("updated_since=2026-13-45T00:00:00",
     "updated_since: expected an ISO 8601 date-time, e.g. 2026-01-31T09:00:00+04:00"),
    ("from=01/03/2026", "from: expected a date as YYYY-MM-DD, e.g. 2026-01-31"),
    ("to=2026-02-30", "to: expected a date as YYYY-MM-DD, e.g. 2026-01-31"),
    ("to=", "to: expected a date as YYYY-MM-DD, e.g. 2026-01-31"),
    ("from=2026-03-05&to=2026-03-01", "from: must be on or before to (YYYY-MM-DD)"),
    ("email=", "email: expected an email address, e.g. name@example.com"),
    ("email=not-an-email", "email: expected an email address, e.g. name@example.com"),
])
def test_bad_filter_values_are_a_clear_400(world, client_for, query, message):
    response = client_for(world.users["admin"]).get(f"/api/contacts/?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": message}


@pytest.mark.parametrize("url,query,message", [
    ("/api/ad-insights/", "email=a@example.com", "email: this endpoint has no email filter"),
    ("/api/sessions/", "updated_since=2026-03-01T00:00:00Z",
     "updated_since: this endpoint has no updated_since filter"),
])
def test_filter_an_endpoint_does_not_offer_is_a_400(world, client_for, url, query, message):
    response = client_for(world.users["admin"]).get(f"{url}?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": message}


# --- Pagination and query counts -----------------------------------------------------------------


@pytest.fixture
def thirty(workspace, make_staff, make_user):
    coach = make_staff(workspace, "coach", name="Busy Coach")
    setter = make_staff(workspace, "setter", name="Busy Setter")
    contacts = Contact.objects.bulk_create([
        Contact(workspace=workspace, first_name=f"C{i}", email_normalized=f"c{i}@example.com",
                created_at=T0 - timedelta(hours=i % 3), owner=setter, coach=coach)  # ties on purpose
        for i in range(30)
    ])
    deals = Deal.objects.bulk_create([
        Deal(workspace=workspace, hubspot_id=f"deal{i}", contact=contact, owner=coach, stage_id="closedwon",
             amount=Decimal("1000"), created_at=T0)
        for i, contact in enumerate(contacts)
    ])
    DealStageHistory.objects.bulk_create([
        DealStageHistory(workspace=workspace, deal=deal, stage_id=stage, entered_at=T0 + timedelta(hours=n))
        for deal in deals for n, stage in enumerate(("122237508", "closedwon"))
    ])
    return make_user(workspace, "admin", username="boss")


def test_pagination_with_limit_and_offset(thirty, client_for):
    c = client_for(thirty)
    page = c.get("/api/contacts/?limit=10&offset=20").json()
    assert page["count"] == 30
    assert len(page["results"]) == 10
    assert page["next"] is None and "offset=10" in page["previous"]
    seen = [row["id"] for offset in (0, 10, 20)
            for row in c.get(f"/api/contacts/?limit=10&offset={offset}").json()["results"]]
    assert len(seen) == len(set(seen)) == 30  # a stable order: no row twice, none missed


def test_default_page_size_and_limit_cap(thirty, client_for):
    c = client_for(thirty)
    assert len(c.get("/api/contacts/").json()["results"]) == 30
    assert len(c.get("/api/contacts/?limit=5000").json()["results"]) == 30  # capped at 1,000, not refused


# Session: session, user, memberships (middleware), count, rows; token: token+user, memberships, count,
# rows. Deals add one query for all stage histories. Independent of the number of rows.
@pytest.mark.parametrize("url,by_session,by_token", [("/api/contacts/", 5, 4), ("/api/deals/", 6, 5)])
def test_list_query_count_is_bounded(thirty, client_for, django_assert_max_num_queries, url, by_session, by_token):
    session = client_for(thirty)
    with django_assert_max_num_queries(by_session):
        response = session.get(url)
    assert len(rows(response)) == 30
    token = token_client(thirty)
    with django_assert_max_num_queries(by_token):
        response = token.get(url)
    assert len(rows(response)) == 30
    if url == "/api/deals/":
        assert all(len(d["stage_history"]) == 2 for d in response.json()["results"])


# --- The token command and the schema ------------------------------------------------------------


def test_api_token_command_prints_the_token(world, capsys):
    call_command("api_token", "setter1")
    key = capsys.readouterr().out.strip()
    assert key == Token.objects.get(user=world.users["setter1"]).key
    call_command("api_token", "setter1")
    assert capsys.readouterr().out.strip() == key  # the same token, not a new one each time
    assert rows(Client(headers={"Authorization": f"Token {key}"}).get("/api/calls/"))


def test_api_token_command_unknown_user(db):
    with pytest.raises(CommandError) as error:
        call_command("api_token", "ghost")
    assert str(error.value) == "no user named ghost"


def test_schema_documents_the_endpoints_and_filters(world, client_for):
    response = client_for(world.users["admin"]).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for url in FIELDS:
        assert url in paths
    names = {p["name"] for p in paths["/api/contacts/"]["get"]["parameters"]}
    assert {"updated_since", "email", "from", "to", "limit", "offset", "workspace", "X-Workspace"} <= names
    assert "email" not in {p["name"] for p in paths["/api/ad-insights/"]["get"]["parameters"]}
