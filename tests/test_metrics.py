"""The metrics layer: hand-computed values on a small fixture, prior period and delta, scoping, the API."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clients.models import Call, Contact, Deal, HealthScore, Intervention, Package, TrainingSession
from finance.metrics import net_revenue_by_day
from finance.models import Payment, Refund, Subscription
from marketing.metrics import new_leads_by_day
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
    omar = Contact.objects.create(workspace=workspace, first_name="Omar", created_at=at(10), owner=sam)
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
    # Omar is a member through a Stripe subscription only (no package, no coach, never scored).
    Subscription.objects.create(workspace=workspace, stripe_id="sub_1", contact=omar, status="active",
                                created=at(-1))
    TrainingSession.objects.create(workspace=workspace, source_id="s1", contact=aisha, coach=dana, starts_at=at(12),
                                   status="attended")
    TrainingSession.objects.create(workspace=workspace, source_id="s2", contact=omar, starts_at=at(13),
                                   status="no_show")
    # A second attended session: Aisha still counts once among the active clients.
    TrainingSession.objects.create(workspace=workspace, source_id="s3", contact=aisha, coach=dana, starts_at=at(14),
                                   status="attended")
    # Deals created in November: one of an ad lead (Aisha), one not; October: one of an ad lead.
    for i, (who, day) in enumerate([(aisha, 5), (omar, 6), (aisha, -10), (None, 7)]):  # the last has no contact
        Deal.objects.create(workspace=workspace, hubspot_id=f"d{i}", contact=who, owner=dana, stage_id="closedwon",
                            created_at=at(day))
    # Critical interventions: pending at the end of November = opened before 1 Dec and not closed by then.
    for kind, priority, status, opened, closed, coach in [
        ("emergency", "critical", "open", at(10), None, dana),  # pending at Nov end (Dana's)
        ("re_engagement", "critical", "done", at(20), datetime(2026, 12, 2, 9, tzinfo=DUBAI), None),  # closed after
        ("proactive_checkin", "critical", "dismissed", at(-20), at(15), None),  # pending at Oct end only
        ("upgrade_opportunity", "high", "open", at(11), None, dana),  # not critical
        ("special_promotion", "critical", "open", datetime(2026, 12, 1, 0, 5, tzinfo=DUBAI), None, None),  # later
    ]:
        row = Intervention.objects.create(workspace=workspace, contact=aisha, kind=kind, priority=priority,
                                          status=status, assigned_to=coach, completed_at=closed)
        Intervention.objects.filter(pk=row.pk).update(created_at=opened)  # created_at is auto_now_add
    users = {role: make_user(workspace, role, staff={"coach": dana, "setter": sam}.get(role))
             for role in ("admin", "coach", "setter", "viewer")}
    return {"users": users, "dana": dana, "aisha": aisha}


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
    assert got["active_members"].value == 2  # Aisha (package with sessions left) and Omar (subscription)
    assert got["avg_health"].value == Decimal("40.0")  # Omar was never scored: the mean of Aisha's 40
    assert got["at_risk_revenue"].value == Decimal("2500")  # 5,000 × 10 left / 20, client in red
    assert got["at_risk_revenue"].delta_display == "—"  # prior 0: no percentage


@pytest.mark.django_db
def test_executive_metrics_by_hand(world):
    admin = scope(world["users"]["admin"])
    got = {k.name: k for k in kpis(["lifetime_revenue", "cpo", "pending_critical_interventions",
                                     "active_client_rate"], NOV, admin)}
    # All collected payments before 1 Dec (3,000 + 1,000) − refunds before it (1,000); prior: up to 1 Nov.
    assert (got["lifetime_revenue"].value, got["lifetime_revenue"].prior) == (Decimal("3000.00"), Decimal("1000.00"))
    assert got["lifetime_revenue"].delta_pct == Decimal("200.0")
    # AED 100 of November spend / 1 November deal of an ad lead (not Omar's, not the one without a contact);
    # October: AED 30 / 1.
    assert (got["cpo"].value, got["cpo"].prior) == (Decimal("100.00"), Decimal("30.00"))
    assert got["cpo"].delta_good is False  # a dearer deal is worse
    # November end: the open one and the one closed on 2 Dec; October end: only the one dismissed on 15 Nov.
    assert (got["pending_critical_interventions"].value, got["pending_critical_interventions"].prior) == (2, 1)
    # Aisha attended (twice) in November, Omar only missed one: 1 of 2 members.
    assert got["active_client_rate"].value == Decimal("50.0000")


@pytest.mark.django_db
def test_executive_metrics_scoped(world):
    coach, setter = scope(world["users"]["coach"]), scope(world["users"]["setter"])
    assert kpi("pending_critical_interventions", NOV, coach).value == 1  # only the one assigned to Dana
    assert kpi("active_members", NOV, coach).value == 1  # Dana's client Aisha, not Omar
    assert kpi("active_client_rate", NOV, coach).value == Decimal("100.0000")
    # Setters see no packages; Omar, their lead, is a member through his subscription.
    assert kpi("active_members", NOV, setter).value == 1
    for name in ("lifetime_revenue", "cpo"):
        assert kpi(name, NOV, coach).value is None and "not shown to your role" in kpi(name, NOV, coach).empty_reason


@pytest.mark.django_db
def test_latest_score_of_a_member_not_scored_on_the_latest_day(world):
    """Aisha was scored on 29 Nov (the latest scored day); Omar last on 20 Nov: his 20 Nov score counts, his
    2 Dec one (after the period) does not."""
    admin = scope(world["users"]["admin"])
    omar = Contact.objects.get(first_name="Omar")
    Package.objects.create(workspace=omar.workspace, contact=omar, sessions_purchased=10, sessions_used=5,
                           value=Decimal("1000"), starts_on=date(2026, 11, 1), expires_on=date(2026, 12, 31))
    HealthScore.objects.create(workspace=omar.workspace, contact=omar, date=date(2026, 11, 20), total=Decimal("60"),
                               zone="yellow")
    HealthScore.objects.create(workspace=omar.workspace, contact=omar, date=date(2026, 12, 2), total=Decimal("90"),
                               zone="purple")
    assert kpi("avg_health", NOV, admin).value == Decimal("50.0")  # (40 + 60) / 2
    assert kpi("at_risk_revenue", NOV, admin).value == Decimal("3000")  # 2,500 (Aisha, red) + 500 (Omar, yellow)
    assert kpi("avg_health", NOV, scope(world["users"]["coach"])).value == Decimal("40.0")  # Dana's Aisha only


@pytest.mark.django_db
def test_member_figures_of_the_prior_period_by_hand(world):
    """The deltas of the Executive page's member KPIs. October (2–31 Oct, the prior of November): Old's package is
    in date at its end, Omar's subscription already runs; Aisha's package starts in November."""
    old = Contact.objects.get(first_name="Old")
    Package.objects.create(workspace=old.workspace, contact=old, sessions_purchased=10, sessions_used=4,
                           value=Decimal("1000"), starts_on=date(2026, 10, 1), expires_on=date(2026, 10, 31))
    HealthScore.objects.create(workspace=old.workspace, contact=old, date=date(2026, 10, 30), total=Decimal("55"),
                               zone="yellow")
    TrainingSession.objects.create(workspace=old.workspace, source_id="s-old", contact=old, starts_at=at(-20),
                                   status="attended")
    names = ["active_members", "active_client_rate", "avg_health", "at_risk_revenue"]
    got = {k.name: k for k in kpis(names, NOV, scope(world["users"]["admin"]))}
    assert [(got[n].value, got[n].prior) for n in names] == [
        (2, 2),  # November: Aisha and Omar; October: Old and Omar
        (Decimal("50.0000"), Decimal("50.0000")),  # Aisha of 2 in November, Old of 2 in October
        (Decimal("40.0"), Decimal("55.0")),  # Omar is never scored
        (Decimal("2500"), Decimal("600")),  # October: 1,000 × 6 left / 10, Old in yellow
    ]


@pytest.mark.django_db
def test_stripe_not_connected_is_said_rather_than_zero(workspace, make_user):
    admin = scope(make_user(workspace, "admin"))
    for name in ("cash_collected", "lifetime_revenue", "gross_volume"):
        hidden = kpi(name, NOV, admin)
        assert hidden.value is None and hidden.empty_reason == "Stripe not connected — add the secret key in Settings"


@pytest.mark.django_db
def test_daily_series_follow_the_metric_definitions(world):
    admin = scope(world["users"]["admin"])
    revenue = dict(net_revenue_by_day(NOV, admin))
    assert len(revenue) == 30 and sum(revenue.values()) == kpi("cash_collected", NOV, admin).value
    assert (revenue[date(2026, 11, 2)], revenue[date(2026, 11, 4)], revenue[date(2026, 11, 5)]) == (
        Decimal("-1000.00"), Decimal("3000.00"), Decimal("0.00"))  # the refund's day, the payment's day, nothing
    # 30 Nov 23:30 Dubai is 19:30 UTC: the day is the Dubai day either way; add one that crosses midnight.
    Contact.objects.create(workspace=world["aisha"].workspace, first_name="Early",
                           created_at=datetime(2026, 11, 15, 2, 0, tzinfo=DUBAI))  # 14 Nov 22:00 UTC
    leads = {day: (n, ad) for day, n, ad in new_leads_by_day(NOV, admin)}
    assert leads[date(2026, 11, 3)] == (1, 1) and leads[date(2026, 11, 10)] == (1, 0)
    assert leads[date(2026, 11, 15)] == (1, 0) and leads[date(2026, 11, 14)] == (0, 0)
    assert leads[date(2026, 11, 30)] == (1, 0)
    assert sum(n for n, _ in leads.values()) == kpi("new_leads", NOV, admin).value == 4


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
