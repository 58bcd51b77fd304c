"""The metrics layer: hand-computed values on a small fixture, prior period and delta, scoping, the API."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clients.models import Call, Contact, HealthScore, Package
from finance.models import Payment, Refund
from marketing.models import Ad, AdInsight, AdSet, Campaign
from ptd.metrics import KPI, kpi, kpis
from ptd.periods import resolve_period
from ptd.scoping import Scope

DUBAI = ZoneInfo("Asia/Dubai")
NOV = resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-11-01", date_to="2026-11-30")


def at(day, hour=12):
    return datetime(2026, 11 if day > 0 else 10, abs(day), hour, tzinfo=DUBAI)


@pytest.fixture
def world(workspace, make_staff, make_user):
    dana = make_staff(workspace, "coach", name="Dana")
    sam = make_staff(workspace, "setter", name="Sam")
    # November leads: 3 (one from an ad, one of them Dana's client); October: 2 (prior period is 31 Oct back 30 days)
    aisha = Contact.objects.create(workspace=workspace, first_name="Aisha", created_at=at(3), coach=dana,
                                   owner=sam, fb_ad_id="111")
    Contact.objects.create(workspace=workspace, first_name="Omar", created_at=at(10), owner=sam)
    Contact.objects.create(workspace=workspace, first_name="Lina", created_at=datetime(2026, 11, 30, 23, 30, tzinfo=DUBAI))
    Contact.objects.create(workspace=workspace, first_name="Old", created_at=at(-15))
    Contact.objects.create(workspace=workspace, first_name="Older", created_at=at(-20))
    # Outside the period by Dubai time: 1 Dec 00:10 Dubai is still 30 Nov in UTC.
    Contact.objects.create(workspace=workspace, first_name="Dec", created_at=datetime(2026, 12, 1, 0, 10, tzinfo=DUBAI))
    Package.objects.create(workspace=workspace, contact=aisha, sessions_purchased=20, sessions_used=10,
                           value=Decimal("5000"), starts_on=date(2026, 11, 1), expires_on=date(2027, 1, 31))
    HealthScore.objects.create(workspace=workspace, contact=aisha, date=date(2026, 11, 29), total=Decimal("40"),
                               zone="red")
    for i, outcome in enumerate(["answered", "missed", "missed", "answered"]):
        Call.objects.create(workspace=workspace, source_id=f"c{i}", staff=sam, contact=aisha, started_at=at(5 + i),
                            outcome=outcome)
    Payment.objects.create(workspace=workspace, stripe_id="ch_1", amount_minor=300000, currency="AED",
                           status="succeeded", created=at(4), contact=aisha)
    refunded = Payment.objects.create(workspace=workspace, stripe_id="ch_2", amount_minor=100000, currency="AED",
                                      status="refunded", created=at(-25))
    Payment.objects.create(workspace=workspace, stripe_id="ch_3", amount_minor=50000, currency="AED",
                           status="failed", created=at(6))
    Refund.objects.create(workspace=workspace, stripe_id="re_1", payment=refunded, amount_minor=100000,
                          currency="AED", status="succeeded", created=at(2))
    campaign = Campaign.objects.create(workspace=workspace, meta_id="1", name="C")
    adset = AdSet.objects.create(workspace=workspace, meta_id="11", campaign=campaign, name="S")
    ad = Ad.objects.create(workspace=workspace, meta_id="111", adset=adset, campaign=campaign, name="A")
    for day, spend in [(date(2026, 11, 2), "60.00"), (date(2026, 11, 20), "40.00"), (date(2026, 10, 20), "30.00")]:
        AdInsight.objects.create(workspace=workspace, ad=ad, adset=adset, campaign=campaign, date=day,
                                 spend=Decimal(spend))
    users = {role: make_user(workspace, role, staff={"coach": dana, "setter": sam}.get(role))
             for role in ("admin", "coach", "setter", "viewer")}
    return {"users": users, "dana": dana}


def scope(user):
    return Scope.of(user.memberships.select_related("workspace").get())


@pytest.mark.django_db
def test_values_by_hand(world):
    admin = scope(world["users"]["admin"])
    got = {k.name: k for k in kpis(["new_leads", "ad_leads", "ad_spend", "cpl", "gross_volume", "cash_collected",
                                     "answer_rate", "active_members", "at_risk_revenue", "avg_health"], NOV, admin)}
    assert got["new_leads"].value == 3 and got["new_leads"].prior == 2
    assert got["new_leads"].delta_pct == Decimal("50.0") and got["new_leads"].delta_good is True
    assert got["ad_leads"].value == 1
    assert got["ad_spend"].value == Decimal("100.00") and got["ad_spend"].prior == Decimal("30.00")
    assert got["cpl"].value == Decimal("100.00")  # AED 100 of spend / 1 ad lead
    assert got["gross_volume"].value == Decimal("3000.00")  # the failed charge does not count
    assert got["cash_collected"].value == Decimal("2000.00")  # 3,000 − the 1,000 refunded in November
    assert got["cash_collected"].prior == Decimal("1000.00")  # October's payment, refunded later: cash basis
    assert got["answer_rate"].value == Decimal("50.0000")
    assert got["active_members"].value == 1
    assert got["avg_health"].value == Decimal("40.0")
    assert got["at_risk_revenue"].value == Decimal("2500")  # 5,000 × 10 left / 20, client in red
    assert got["at_risk_revenue"].delta_display == "—"  # prior 0: no percentage


@pytest.mark.django_db
def test_scoping_and_hidden_finance(world):
    coach = scope(world["users"]["coach"])
    assert kpi("new_leads", NOV, coach).value == 1  # Aisha only
    hidden = kpi("cash_collected", NOV, coach)
    assert hidden.value is None and hidden.display == "—" and "not shown to your role" in hidden.empty_reason
    assert kpi("answer_rate", NOV, scope(world["users"]["setter"])).value == Decimal("50.0000")


def test_kpi_formatting_and_direction():
    k = KPI("refunds", "Refunds", "AED", "f", "s", Decimal("1200"), Decimal("1000"), False)
    assert (k.display, k.delta_display, k.delta_good) == ("AED 1,200", "+20.0 %", False)  # rising refunds: bad


@pytest.mark.django_db
def test_api(world, client_for):
    admin = client_for(world["users"]["admin"])
    body = admin.get("/api/metrics/", {"period": "custom", "from": "2026-11-01", "to": "2026-11-30",
                                       "names": "new_leads,cash_collected"}).json()
    assert body["period"] == {"key": "custom", "first_day": "2026-11-01", "last_day": "2026-11-30"}
    assert [(m["name"], m["value"], m["prior"], m["delta_pct"]) for m in body["metrics"]] == [
        ("new_leads", 3.0, 2.0, 50.0), ("cash_collected", 2000.0, 1000.0, 100.0)]
    bad = admin.get("/api/metrics/", {"period": "fortnight"})
    assert bad.status_code == 400 and "valid periods: today" in bad.json()["detail"]
    unknown = admin.get("/api/metrics/", {"names": "happiness"})
    assert unknown.status_code == 400 and "valid metrics:" in unknown.json()["detail"]
    assert client_for(world["users"]["coach"]).get("/api/metrics/", {"names": "cash_collected"}).json()[
        "metrics"][0]["empty_reason"]
