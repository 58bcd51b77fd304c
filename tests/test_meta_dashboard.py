"""/meta-dashboard/ (DESIGN §7 row 8) on a small hand-computed Meta account, October 2026 (Asia/Dubai): the KPI
cards and their prior-period deltas, the campaign → ad set → ad drill-down, the daily trends, the sync status and
campaign statuses, roles, partials, CSV, bad input and query counts.

Campaign C1 "Spring leads" (ACTIVE): ad set S1a with ads A1, A2; ad set S1b with ad A3.
Campaign C2 "Old offer" (PAUSED, effective CAMPAIGN_PAUSED): ad set S2 with ad A4. Campaign C3 (ACTIVE): no delivery.

  ad  day     spend  impressions  reach  clicks  leads  purchases  value
  A1  10 Oct   100     10,000     5,000    200     4       1        300
  A1  11 Oct    50      2,000     1,000     10     1       0          0
  A2  10 Oct    30      1,000       800     30     0       0          0
  A3  12 Oct   120      3,000     2,000     60     3       1        150
  A4  10 Oct   200      4,000     2,000     40     2       2        800
  A1  20 Sep   250      5,000     2,500     50     5       1        250   (the prior period: 31 Aug – 30 Sep)
  A1   5 Nov   999      …                                                   (outside both: never counted)

Every row also carries Meta's own per-row rates set to nonsense (CTR 99 %, CPC 99 …): the page must recompute the
rates from the sums and never read them. CRM ad leads (cost per lead): 4 contacts in October, 1 in September.
"""

import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clients.models import Contact
from marketing.models import Ad, AdInsight, AdSet, Campaign
from marketing.views_meta import META_PARTIALS
from ptd.models import SyncState
from ptd.periods import resolve_period
from ptd.scoping import Scope
from tests.test_attribution_pages import cards, csv_lines

DUBAI = ZoneInfo("Asia/Dubai")
OCT = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
OCT_PERIOD = resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-10-01", date_to="2026-10-31")
C1, C2, C3 = "130001", "130002", "130003"
S1A, S1B, S2 = "230011", "230012", "230021"
A1, A2, A3, A4 = "330111", "330112", "330121", "330211"
NONSENSE = {"ctr": Decimal(99), "cpc": Decimal(99), "cpm": Decimal(99), "frequency": Decimal(99),
            "meta_roas": Decimal(99)}


def insight(ad, day, spend, impressions, reach, clicks, leads=0, purchases=0, value=0):
    return AdInsight.objects.create(workspace=ad.workspace, ad=ad, adset=ad.adset, campaign=ad.campaign, date=day,
                                    spend=Decimal(spend), impressions=impressions, reach=reach, clicks=clicks,
                                    leads=leads, purchases=purchases, purchase_value=Decimal(value), **NONSENSE)


@pytest.fixture
def account(workspace):
    ws = workspace
    c1 = Campaign.objects.create(workspace=ws, meta_id=C1, name="Spring leads", status="ACTIVE",
                                 effective_status="ACTIVE", objective="OUTCOME_LEADS", daily_budget=Decimal("250"))
    c2 = Campaign.objects.create(workspace=ws, meta_id=C2, name="Old offer", status="PAUSED",
                                 effective_status="CAMPAIGN_PAUSED")
    Campaign.objects.create(workspace=ws, meta_id=C3, name="Not started", status="ACTIVE", effective_status="")
    s1a = AdSet.objects.create(workspace=ws, meta_id=S1A, campaign=c1, name="Spring · Dubai Marina",
                               effective_status="ACTIVE")
    s1b = AdSet.objects.create(workspace=ws, meta_id=S1B, campaign=c1, name="Spring · JLT", effective_status="ADSET_PAUSED")
    s2 = AdSet.objects.create(workspace=ws, meta_id=S2, campaign=c2, name="Old · Everyone")
    ads = {}
    for meta_id, adset in [(A1, s1a), (A2, s1a), (A3, s1b), (A4, s2)]:
        ads[meta_id] = Ad.objects.create(workspace=ws, meta_id=meta_id, adset=adset, campaign=adset.campaign,
                                         name=f"Ad {meta_id}")
    oct_, sep, nov = date(2026, 10, 10), date(2026, 9, 20), date(2026, 11, 5)
    insight(ads[A1], oct_, 100, 10000, 5000, 200, 4, 1, 300)
    insight(ads[A1], date(2026, 10, 11), 50, 2000, 1000, 10, 1)
    insight(ads[A2], oct_, 30, 1000, 800, 30)
    insight(ads[A3], date(2026, 10, 12), 120, 3000, 2000, 60, 3, 1, 150)
    insight(ads[A4], oct_, 200, 4000, 2000, 40, 2, 2, 800)
    insight(ads[A1], sep, 250, 5000, 2500, 50, 5, 1, 250)
    insight(ads[A1], nov, 999, 99999, 9999, 999, 99, 9, 9999)
    for i, created in enumerate([datetime(2026, 10, d, 12, tzinfo=DUBAI) for d in (3, 10, 11, 20)]
                                + [datetime(2026, 9, 20, 12, tzinfo=DUBAI)]):
        Contact.objects.create(workspace=ws, first_name=f"Lead {i}", created_at=created, fb_ad_id=A1)
    Contact.objects.create(workspace=ws, first_name="Organic", created_at=datetime(2026, 10, 5, tzinfo=DUBAI))
    return ads


@pytest.fixture
def users(workspace, make_user, make_staff):
    return {"admin": make_user(workspace, "admin"), "viewer": make_user(workspace, "viewer"),
            "coach": make_user(workspace, "coach", staff=make_staff(workspace, "coach")),
            "setter": make_user(workspace, "setter", staff=make_staff(workspace, "setter"))}


def section(html: str, name: str) -> str:
    return html.split(f'<section id="{name}"')[1].split("</section>")[0]


# ---------------------------------------------------------------- KPIs

@pytest.mark.django_db
def test_kpi_cards_by_hand(account, users, client_for):
    got = cards(client_for(users["admin"]).get("/meta-dashboard/", OCT).content.decode())
    # October sums: spend 100+50+30+120+200 = 500; impressions 20,000; daily reach 10,800; clicks 340; leads 10;
    # purchases 4; value 1,250. September: 250; 5,000; 2,500; 50; 5; 1; 250.
    expected = {
        "Ad spend": ("AED 500", "+100.0 %"),  # (500 − 250) ÷ 250
        "Impressions": ("20,000", "+300.0 %"),
        "Reach (Σ daily)": ("10,800", "+332.0 %"),  # (10,800 − 2,500) ÷ 2,500
        "Frequency (approx.)": ("1.85×", "−7.5 %"),  # 20,000 ÷ 10,800 = 1.85 vs 5,000 ÷ 2,500 = 2.00
        "CTR": ("1.7 %", "+70.0 %"),  # 340 ÷ 20,000 × 100 vs 50 ÷ 5,000 × 100 = 1.0
        "Cost per click": ("AED 1.47", "−70.6 %"),  # 500 ÷ 340 = 1.47 vs 250 ÷ 50 = 5.00
        "CPM": ("AED 25.00", "−50.0 %"),  # 500 ÷ 20,000 × 1,000 vs 250 ÷ 5,000 × 1,000 = 50
        "Leads (Meta)": ("10", "+100.0 %"),
        "Cost per lead": ("AED 125", "−50.0 %"),  # 500 ÷ 4 CRM ad leads vs 250 ÷ 1
        "Purchases (Meta)": ("4", "+300.0 %"),
        "Meta ROAS": ("2.50×", "+150.0 %"),  # 1,250 ÷ 500 vs 250 ÷ 250
    }
    assert list(got) == list(expected)
    for label, (value, delta) in expected.items():
        assert value in got[label] and delta.replace("−", "-") in got[label], (label, got[label])
    assert "better" in got["Cost per click"] and "worse" not in got["Cost per click"]  # cheaper clicks are good


@pytest.mark.django_db
def test_metrics_are_ratios_of_sums_and_served_by_the_api(account, users, client_for):
    from ptd.metrics import kpis

    admin = Scope.of(users["admin"].memberships.select_related("workspace").get())
    got = {k.name: k.value for k in kpis(["ctr", "cpc", "cpm", "frequency", "impressions", "reach", "meta_leads",
                                          "meta_purchases"], OCT_PERIOD, admin)}
    # The mean of the five October rows' own CTRs would be 99 (the nonsense): the ratio of sums is 1.7.
    assert got == {"ctr": Decimal("1.7000"), "cpc": Decimal("1.47"), "cpm": Decimal("25.00"),
                   "frequency": Decimal("1.85"), "impressions": 20000, "reach": 10800, "meta_leads": 10,
                   "meta_purchases": 4}
    body = client_for(users["viewer"]).get("/api/metrics/", {**OCT, "names": "ctr,frequency"}).json()
    text = str(body)
    assert "1.7" in text and "approximation" in text  # frequency says it is one


@pytest.mark.django_db
def test_the_cards_sum_each_period_once_per_request(account, users, client_for):
    with CaptureQueriesContext(connection) as queries:
        client_for(users["admin"]).get("/meta-dashboard/", {**OCT, "partial": "meta-kpis"}, HTTP_HX_REQUEST="true")
    sums = [q for q in queries.captured_queries if 'SUM("marketing_adinsight"."reach")' in q["sql"]]
    assert len(sums) == 2  # the period and its prior, for the eight insight cards


# ---------------------------------------------------------------- the table and its drill-down

@pytest.mark.django_db
def test_campaign_rows_by_hand(account, users, client_for):
    admin = client_for(users["admin"])
    lines = csv_lines(admin.get("/meta-dashboard/", {**OCT, "export": "meta-insights", "meta-insights-sort": "name"}))
    assert lines[0] == ["Campaign", "Status", "Spend (AED)", "Impressions", "Reach (Σ daily)", "Frequency", "CTR (%)",
                        "CPC (AED)", "CPM (AED)", "Leads", "Purchases", "Purchase value (AED)", "Meta ROAS"]
    rows = {r[0]: r[1:] for r in lines[1:]}
    # C2: 200 spend, 4,000 impr, 2,000 reach, 40 clicks → CTR 1.00, CPC 5.00, CPM 50.00, freq 2.00, ROAS 800 ÷ 200
    assert rows["Old offer"] == ["Campaign paused", "200.00", "4000", "2000", "2.00", "1.00", "5.00", "50.00",
                                 "2", "2", "800.00", "4.00"]
    # C1: 300; 16,000; 8,800; 300 clicks → CTR 1.875, CPC 1.00, CPM 18.75, freq 1.82; ROAS 450 ÷ 300 = 1.50
    assert rows["Spring leads"] == ["Active", "300.00", "16000", "8800", "1.82", "1.88", "1.00", "18.75", "8",
                                    "2", "450.00", "1.50"]
    assert "Not started" not in rows  # no delivery in the period
    # Totals: the sums, and their ratios (not the mean of the two rows' rates)
    assert lines[-1] == ["Total of all 2 rows", "", "500.00", "20000", "10800", "1.85", "1.70", "1.47", "25.00",
                         "10", "4", "1250.00", "2.50"]
    html = section(admin.get("/meta-dashboard/", OCT).content.decode(), "meta-insights")
    assert ">AED 300<" in html and ">1.9 %<" in html and ">18.8<" in html  # CPC/CPM to the tenth of a dirham
    assert f"campaign={C1}" in html and "Total of all 2 rows" in html


@pytest.mark.django_db
def test_drill_down_to_ad_sets_and_ads(account, users, client_for):
    admin = client_for(users["admin"])
    adsets = csv_lines(admin.get("/meta-dashboard/", {**OCT, "campaign": C1, "export": "meta-insights",
                                                      "meta-insights-sort": "name"}))
    assert adsets[0][0] == "Ad set"
    # S1a = A1 + A2: 180; 13,000; 6,800; 240 clicks → CTR 1.85, CPC 0.75, CPM 13.85, freq 1.91; ROAS 300 ÷ 180
    assert adsets[1] == ["Spring · Dubai Marina", "Active", "180.00", "13000", "6800", "1.91", "1.85", "0.75",
                         "13.85", "5", "1", "300.00", "1.67"]
    # S1b = A3: 120; 3,000; 2,000; 60 → CTR 2.00, CPC 2.00, CPM 40.00, freq 1.50; ROAS 150 ÷ 120 = 1.25
    assert adsets[2] == ["Spring · JLT", "Adset paused", "120.00", "3000", "2000", "1.50", "2.00", "2.00",
                         "40.00", "3", "1", "150.00", "1.25"]
    assert adsets[-1][:3] == ["Total of all 2 rows", "", "300.00"]
    page = admin.get("/meta-dashboard/", {**OCT, "campaign": C1}).content.decode()
    assert f"adset={S1A}" in section(page, "meta-insights") and "Old · Everyone" not in page
    assert "Day by day: campaign Spring leads" in page
    quiet = admin.get("/meta-dashboard/", {**OCT, "campaign": C3}).content.decode()  # a campaign that never ran
    assert "Nothing of campaign Not started delivered in this period." in section(quiet, "meta-trends")
    assert "No ad set of campaign Not started delivered in this period." in section(quiet, "meta-insights")
    ads = csv_lines(admin.get("/meta-dashboard/", {**OCT, "adset": S1A, "export": "meta-insights",
                                                   "meta-insights-sort": "name"}))
    # A1: 150; 12,000; 6,000; 210 → CTR 1.75, CPC 0.71, CPM 12.50, freq 2.00; ROAS 2.00. A2: 30; 1,000; 800; 30.
    assert ads[0][0] == "Ad" and ads[1] == [f"Ad {A1}", "Active", "150.00", "12000", "6000", "2.00", "1.75",
                                            "0.71", "12.50", "5", "1", "300.00", "2.00"]
    assert ads[2][:10] == [f"Ad {A2}", "Active", "30.00", "1000", "800", "1.25", "3.00", "1.00", "30.00", "0"]
    html = admin.get("/meta-dashboard/", {**OCT, "adset": S1A}).content.decode()
    assert "href" not in section(html, "meta-insights").split("<tbody>")[1]  # ads open nothing
    assert f'<a href="/meta-dashboard/?period=custom&amp;from=2026-10-01&amp;to=2026-10-31&amp;campaign={C1}">' \
           "Spring leads</a>" in html  # the breadcrumb keeps the period


@pytest.mark.django_db
def test_trends_by_hand(account, users):
    from marketing.selectors_meta import insights_by_day

    admin = Scope.of(users["admin"].memberships.select_related("workspace").get())
    days = insights_by_day(admin, OCT_PERIOD)
    assert len(days) == 31 and days[0]["date"] == date(2026, 10, 1)
    by_day = {d["date"].day: d for d in days}
    # 10 Oct = A1 + A2 + A4: 330 spend, 15,000 impressions, 270 clicks, 6 leads → CTR 1.8, CPM 22.00
    assert (by_day[10]["spend"], by_day[10]["leads"], by_day[10]["ctr"], by_day[10]["cpm"]) == (
        Decimal("330.00"), 6, Decimal("1.8000"), Decimal("22.00"))
    assert (by_day[11]["ctr"], by_day[11]["cpm"]) == (Decimal("0.5000"), Decimal("25.00"))  # 10 ÷ 2,000; 50 ÷ 2,000
    assert (by_day[1]["spend"], by_day[1]["ctr"]) == (0, None)  # no delivery: zero spend, no rate
    c1 = {d["date"].day: d for d in insights_by_day(admin, OCT_PERIOD, campaign=Campaign.objects.get(meta_id=C1))}
    assert c1[10]["spend"] == Decimal("130.00")  # A1 100 + A2 30, without the paused campaign's A4

    import plotly.graph_objects as go

    from marketing import charts

    spend = go.Figure(charts.meta_spend_leads(days))
    assert [t.name for t in spend.data] == ["Spend", "Leads (Meta)"] and spend.data[0].y[9] == 330.0
    rates = go.Figure(charts.meta_ctr_cpm(days))
    assert rates.data[0].y[9] == 1.8 and rates.data[1].y[11] == 40.0 and rates.data[0].y[0] is None


# ---------------------------------------------------------------- sync status

@pytest.mark.django_db
def test_sync_status_and_campaign_statuses(account, users, client_for, workspace, monkeypatch):
    SyncState.objects.create(workspace=workspace, source="meta", records_synced=1234,
                             last_success_at=datetime(2026, 11, 25, 9, 0, tzinfo=DUBAI),
                             last_error="Meta access token expired", last_error_at=datetime(2026, 11, 25, 10, 0,
                                                                                            tzinfo=DUBAI))
    admin = client_for(users["admin"])
    sync = section(admin.get("/meta-dashboard/", OCT).content.decode(), "meta-sync")
    text = " ".join(re.sub(r"<[^>]+>", " ", sync).split())
    assert "25 Nov 2026, 09:00" in text and "Meta access token expired" in text and "1,234" in text
    assert "Insight rows stored 7 20 Sep 2026 – 5 Nov 2026" in text  # every stored row, whatever the period
    assert "not connected" in text and "META_ACCESS_TOKEN, META_AD_ACCOUNT_ID" in text
    assert "Sync now" not in sync and 'href="/settings/"' in sync  # nothing to sync with: say where to connect
    assert "Campaigns: 2 active · 1 paused" in text
    assert "Campaign paused" in text and "OUTCOME_LEADS" in text and "AED 250" in text

    monkeypatch.setenv("META_ACCESS_TOKEN", "EAAB-test")
    monkeypatch.setenv("META_AD_ACCOUNT_ID", "act_1")
    sync = section(admin.get("/meta-dashboard/", OCT).content.decode(), "meta-sync")
    assert 'action="/settings/sync/meta/"' in sync and "Sync now" in sync and "connected" in sync
    viewer = section(client_for(users["viewer"]).get("/meta-dashboard/", OCT).content.decode(), "meta-sync")
    assert "Sync now" not in viewer and "/settings/" not in viewer and "Meta access token expired" in viewer


# ---------------------------------------------------------------- roles, partials, CSV, bad input, queries

@pytest.mark.django_db
def test_roles_for_the_page_and_every_partial(account, users, client_for):
    for role, status in [("admin", 200), ("viewer", 200), ("coach", 403), ("setter", 403)]:
        c = client_for(users[role])
        assert c.get("/meta-dashboard/", OCT).status_code == status, role
        for name in META_PARTIALS:
            assert c.get("/meta-dashboard/", {**OCT, "partial": name}, HTTP_HX_REQUEST="true").status_code == status, (
                role, name)
    nav = client_for(users["viewer"]).get("/meta-dashboard/", OCT).content.decode()
    assert 'href="/meta-dashboard/"' in nav


@pytest.mark.django_db
def test_partials_return_only_their_section(account, users, client_for):
    admin = client_for(users["admin"])
    for name in META_PARTIALS:
        body = admin.get("/meta-dashboard/", {**OCT, "partial": name}, HTTP_HX_REQUEST="true").content.decode()
        assert body.strip().startswith(f'<section id="{name}"') and "<html" not in body, name
        assert body.count("<section") == 1, name


@pytest.mark.django_db
def test_csv_rows_equal_shown_rows(account, users, client_for):
    admin = client_for(users["admin"])
    html = admin.get("/meta-dashboard/", OCT).content.decode()
    for name, extra in [("meta-insights", 2), ("meta-campaigns", 1)]:  # header (+ totals line)
        shown = html.split(f'id="{name}-table"')[1].split("<tbody>")[1].split("</tbody>")[0].count("<tr")
        assert len(csv_lines(admin.get("/meta-dashboard/", {**OCT, "export": name}))) - extra == shown, name
    campaigns = csv_lines(admin.get("/meta-dashboard/", {**OCT, "export": "meta-campaigns"}))
    assert campaigns[0] == ["Campaign", "Status", "Effective status", "Objective", "Daily budget (AED)", "Started",
                            "Stops"]
    assert [r[0] for r in campaigns[1:]] == ["Not started", "Spring leads", "Old offer"]  # Active first, then Paused


@pytest.mark.django_db
def test_bad_input(account, users, client_for):
    admin = client_for(users["admin"])
    bad = admin.get("/meta-dashboard/", {"period": "fortnight"})
    assert bad.status_code == 400 and "valid periods" in bad.content.decode()
    mismatch = admin.get("/meta-dashboard/", {**OCT, "campaign": C2, "adset": S1A})
    assert mismatch.status_code == 400 and f"Ad set {S1A} is not in campaign {C2}" in mismatch.content.decode()
    assert admin.get("/meta-dashboard/", {**OCT, "campaign": "999"}).status_code == 404
    assert admin.get("/meta-dashboard/", {**OCT, "adset": "999"}).status_code == 404


@pytest.mark.django_db
def test_queries_do_not_grow_with_rows(account, users, client_for, django_assert_max_num_queries):
    admin = client_for(users["admin"])
    admin.get("/meta-dashboard/", OCT)
    with CaptureQueriesContext(connection) as first:
        admin.get("/meta-dashboard/", OCT)
    ws = account[A1].workspace
    c4 = Campaign.objects.create(workspace=ws, meta_id="130004", name="More")
    s4 = AdSet.objects.create(workspace=ws, meta_id="230041", campaign=c4, name="More · set")
    for i in range(6):  # a new campaign, six more ads, a week of delivery each
        ad = Ad.objects.create(workspace=ws, meta_id=f"33041{i}", adset=s4, campaign=c4, name=f"More {i}")
        for day in range(1, 8):
            insight(ad, date(2026, 10, day), 10, 1000, 500, 10, 1)
    with CaptureQueriesContext(connection) as second:
        html = admin.get("/meta-dashboard/", OCT).content.decode()
    assert ">More<" in html
    assert len(second.captured_queries) == len(first.captured_queries) <= 60, len(first.captured_queries)
    with django_assert_max_num_queries(60):
        admin.get("/meta-dashboard/", {**OCT, "adset": S1A})
    with django_assert_max_num_queries(8):  # the session, the membership and the level's one GROUP BY
        admin.get("/meta-dashboard/", {**OCT, "partial": "meta-insights"}, HTTP_HX_REQUEST="true")


@pytest.mark.django_db
def test_empty_state_says_why(workspace, users, client_for):
    html = client_for(users["admin"]).get("/meta-dashboard/").content.decode()
    assert html.count("Meta Ads not connected — add the token in Settings") >= 3  # KPIs, trends, table
    assert 'href="/settings/"' in section(html, "meta-kpis")
    assert "never" in section(html, "meta-sync") and "No campaign synced from Meta yet." in html
