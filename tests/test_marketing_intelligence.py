"""/marketing-intelligence/ (DESIGN §7 row 2) on the hand-computed multi-touch world of tests/test_attribution.py
(October 2026), with impressions and clicks added to its insights: the KPI cards and their deltas, the ad funnel
impressions → paid, Meta ROAS per ad beside the true one by model, roles, partials, CSV, bad input, empty states
and query counts.

October at a glance (see tests/test_attribution.py for the whole story):
- spend C1/A1 1,000, C2/A2 2,000, C3/A3 500 = 3,500 (prior period 31 Aug – 30 Sep: 300 on A1); Meta claims
  3,000 + 1,000 + 0 = 4,000 (prior 0);
- ad leads (a first paid touch known from any source attribution reads, marketing.first_touch): Pia (A1 on her
  record, 2 Oct), Quinn (AnyTrack click on A2, 3 Oct) and Lou (A2, 11 Oct) = 3. Prior: Dina (ad set S3, 20 Sep)
  and Eli (A1 in his utm_content, 10 Sep) = 2;
- deals of ad leads: Pia's booked 6, held 8, won 10 Oct; Quinn's booked 4, held 7, won 15 Oct; Lou's booked
  12 Oct; Dina's won 1 Oct (booked and held in September) → booked 3, held 2, won 3; created in October: Pia's,
  Quinn's and Lou's = 3 (prior: Dina's and Eli's = 2);
- ad leads paying in October: Pia (10 Oct), Quinn (15 Oct), Dina (1 Oct, disputed later: still a collected
  payment) and Eli (3 Oct) = 4; Lou pays in November.
"""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finance.models import Payment
from marketing.models import AdInsight
from marketing.views_intel import PARTIALS
from ptd.models import User
from tests.test_attribution import A1, A2, A3, C1, C2, at, world  # noqa: F401  (shared fixture)
from tests.test_attribution import OCT as OCT_PERIOD
from tests.test_attribution_pages import cards, csv_lines

PATH = "/marketing-intelligence/"
OCT = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
# (impressions, clicks) of each ad's October insight row; the September row gets some too (not in the period).
DELIVERY = {A1: (10000, 200), A2: (20000, 300), A3: (5000, 100)}


@pytest.fixture
def users(world, workspace, make_user, make_staff):  # noqa: F811
    for ad_id, (impressions, clicks) in DELIVERY.items():
        AdInsight.objects.filter(ad__meta_id=ad_id, date=date(2026, 10, 15)).update(impressions=impressions,
                                                                                    clicks=clicks)
    AdInsight.objects.filter(date=date(2026, 9, 15)).update(impressions=3000, clicks=50)
    return {"admin": User.objects.get(pk=world["admin"].user_id), "coach": User.objects.get(pk=world["coach"].user_id),
            "viewer": make_user(workspace, "viewer"), "setter": make_user(workspace, "setter",
                                                                          staff=make_staff(workspace, "setter"))}


def funnel_rows(html: str) -> dict[str, list[str]]:
    """Funnel step → [count, share of the step before] as shown in the funnel's table."""
    body = html.split('id="ad-funnel-table"')[1].split("</table>")[0]
    return {step: [count, share] for step, count, share in re.findall(
        r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td><td class="num">([^<]+)</td>', body)}


def ad_rows(client, **params) -> dict[str, list[str]]:
    lines = csv_lines(client.get(PATH, {**OCT, "export": "ad-roas", **params}))
    assert lines[0] == ["Ad", "Campaign", "Spend (AED)", "Meta-claimed value (AED)", "Meta ROAS",
                        "Net cash credited (AED)", "True ROAS", "Gap"]
    return {r[0]: r[1:] for r in lines[1:]}


@pytest.mark.django_db
def test_kpi_cards_and_deltas_by_hand(users, client_for):
    got = cards(client_for(users["admin"]).get(PATH, OCT).content.decode())
    assert list(got) == ["True ROAS", "Meta ROAS", "Integrity score", "Cost per lead", "Ad spend", "Ad leads",
                         "Cost per deal"]
    # 5,300 net credited to first touches ÷ 3,500; prior: nothing paid on 300 of spend → 0, so no delta
    assert "1.51×" in got["True ROAS"] and "— vs prior period" in got["True ROAS"]
    assert "1.14×" in got["Meta ROAS"]  # 4,000 claimed ÷ 3,500
    assert "132.5 %" in got["Integrity score"]  # 5,300 ÷ 4,000
    assert "AED 3,500" in got["Ad spend"] and "+1066.7 %" in got["Ad spend"]  # (3,500 − 300) ÷ 300
    assert got["Ad leads"].startswith("Ad leads") and " 3 " in got["Ad leads"] and "+50.0 %" in got["Ad leads"]
    # CPL 3,500 ÷ 3 = 1,166.67, prior 300 ÷ 2 = 150: (1,166.67 − 150) ÷ 150 = +677.8 %, worse
    assert "AED 1,167" in got["Cost per lead"] and "+677.8 % vs prior period · worse" in got["Cost per lead"]
    # CPO: 3,500 ÷ 3 deals of ad leads created in October (Pia's, Quinn's, Lou's); prior 300 ÷ Dina's and Eli's 2
    assert "AED 1,167" in got["Cost per deal"] and "+677.8 %" in got["Cost per deal"]


@pytest.mark.django_db
def test_ad_funnel_by_hand(users, client_for):
    html = client_for(users["admin"]).get(PATH, OCT).content.decode()
    assert funnel_rows(html) == {
        "Impressions": ["35,000", "—"],  # 10,000 + 20,000 + 5,000 (September's 3,000 are out)
        "Clicks": ["600", "1.7 %"],  # 200 + 300 + 100; 600 ÷ 35,000 = 1.71 %
        "Leads": ["3", "0.5 %"],  # Pia, Quinn, Lou; 3 ÷ 600 = 0.5 %
        "Booked": ["3", "100.0 %"],  # Pia's, Quinn's and Lou's deals
        "Held": ["2", "66.7 %"],  # Pia's and Quinn's
        "Won": ["3", "150.0 %"],  # Pia's, Quinn's and Dina's (a flow: Dina's deal was held in September)
        "Paid": ["4", "133.3 %"],  # Pia, Quinn, Dina and Eli
    }
    assert 'data-plotly="ad-funnel-figure"' in html and "a flow, not a cohort" in html


@pytest.mark.django_db
def test_ad_funnel_selectors_by_hand(users, world):  # noqa: F811
    from marketing.selectors_intel import ad_deal_steps, ad_funnel_for, ad_paid_contacts

    admin = world["admin"]
    assert ad_deal_steps(admin, OCT_PERIOD) == {"booked": 3, "held": 2, "won": 3}
    assert ad_paid_contacts(admin, OCT_PERIOD) == 4
    # A second payment of the same ad lead counts the person once; an organic payer (Rae) never.
    Payment.objects.create(workspace=admin.workspace, stripe_id="ch_pia2", contact=world["contacts"]["Pia"],
                           amount_minor=100, created=at(10, 28), status="succeeded")
    assert ad_paid_contacts(admin, OCT_PERIOD) == 4
    steps = {s.key: s for s in ad_funnel_for(admin, OCT_PERIOD).steps}
    assert (steps["clicks"].from_before, steps["won"].from_before) == (Decimal("1.7143"), Decimal("150.0000"))


@pytest.mark.django_db
def test_meta_roas_per_ad_beside_the_true_one(users, client_for):
    admin = client_for(users["admin"])
    first = ad_rows(admin, **{"ad-roas-sort": "name"})
    # First touch: A1 gets Pia's 3,000 and Eli's 800 (his utm_content names A1); A2 Quinn's 2,000 − 500 refunded;
    # Dina's touch names only an ad set (net 1,500 − 1,500 lost dispute = 0); A3 spent 500 and got nothing.
    assert first == {
        f"Ad {A1}": [f"Campaign {C1}", "1000.00", "3000.00", "3.00", "3800.00", "3.80", "0.80"],  # 3.80 − 3.00
        f"Ad {A2}": [f"Campaign {C2}", "2000.00", "1000.00", "0.50", "1500.00", "0.75", "0.25"],  # 0.75 − 0.50
        f"Ad {A3}": ["Campaign 120003", "500.00", "0.00", "0.00", "0.00", "0.00", "0.00"],
        "No ad id": ["", "0.00", "0.00", "", "0.00", "", ""],  # no spend: no ROAS, no gap
    }
    # Last touch: Pia's last click before paying names campaign C3 only (→ no ad id); Quinn's is A1.
    last = ad_rows(admin, model="last")
    assert last[f"Ad {A1}"][4:] == ["2300.00", "2.30", "-0.70"]  # Quinn 1,500 + Eli 800; 2.30 − 3.00
    assert last["No ad id"][4] == "3000.00" and last[f"Ad {A2}"][4:] == ["0.00", "0.00", "-0.50"]
    # Cohort basis: the October leads and all they paid to date; Eli and Dina (September leads) drop out.
    cohort = ad_rows(admin, basis="cohort")
    assert cohort[f"Ad {A1}"][4] == "3000.00" and cohort[f"Ad {A2}"][4] == "2200.00"  # Quinn 1,500 + Lou 700
    html = admin.get(PATH, {**OCT, "model": "last"}).content.decode()
    table = html.split('id="ad-roas-table"')[1].split("</table>")[0]
    assert ">−0.70×<" in table or ">-0.70×<" in table
    # An ad opens its ad set in the money map, keeping the period and model.
    assert ('href="/money-map/?period=custom&amp;from=2026-10-01&amp;to=2026-10-31&amp;model=last&amp;adset=220001"'
            in table)
    assert 'selected>Last touch<' in html  # the shared model / basis form


@pytest.mark.django_db
def test_charts_are_valid_plotly_figures(users, world):  # noqa: F811
    import plotly.graph_objects as go

    from marketing import charts
    from marketing.selectors_intel import ad_funnel_for, ad_roas_rows

    funnel = go.Figure(charts.ad_funnel(ad_funnel_for(world["admin"], OCT_PERIOD).shown))
    # Widths log10(1 + count); the exact counts in the text and hover
    assert [c[0] for c in funnel.data[0].customdata] == ["35,000", "600", "3", "3", "2", "3", "4"]
    assert list(funnel.data[0].x) == [4.5441, 2.7789, 0.6021, 0.6021, 0.4771, 0.6021, 0.699]
    assert funnel.data[0].text[1] == "600 · 1.7 %" and funnel.data[0].text[0] == "35,000"
    roas = go.Figure(charts.ad_roas(ad_roas_rows(world["admin"], OCT_PERIOD, model="first", basis="cash")))
    assert [t.name for t in roas.data] == ["Meta ROAS", "True ROAS"]
    # The ads with spend, the biggest spender (A2) on top; the no-ad-id row has no spend and no bar.
    assert list(roas.data[0].y) == [f"Ad {A3}<br>Campaign 120003", f"Ad {A1}<br>Campaign {C1}",
                                    f"Ad {A2}<br>Campaign {C2}"]
    assert list(roas.data[0].x) == [0.0, 3.0, 0.5] and list(roas.data[1].x) == [0.0, 3.8, 0.75]


@pytest.mark.django_db
def test_roles_on_the_page_and_every_partial(users, client_for):
    for role, status in [("admin", 200), ("viewer", 200), ("coach", 403), ("setter", 403)]:
        client = client_for(users[role])
        assert client.get(PATH, OCT).status_code == status, role
        for name in PARTIALS:
            response = client.get(PATH, {**OCT, "partial": name}, HTTP_HX_REQUEST="true")
            assert response.status_code == status, (role, name)
    viewer = client_for(users["viewer"]).get(PATH, OCT).content.decode()
    assert "1.51×" in cards(viewer)["True ROAS"] and f"Ad {A1}" in viewer  # viewers see the money, no names here


@pytest.mark.django_db
def test_hx_request_returns_only_the_partial(users, client_for):
    admin = client_for(users["admin"])
    for name in PARTIALS:
        body = admin.get(PATH, {**OCT, "partial": name}, HTTP_HX_REQUEST="true").content.decode()
        assert body.strip().startswith(f'<section id="{name}"') and "<html" not in body, name
        assert body.count("<section") == 1, name


@pytest.mark.django_db
def test_csv_rows_equal_shown_rows(users, client_for):
    admin = client_for(users["admin"])
    html = admin.get(PATH, OCT).content.decode()
    shown = html.split('id="ad-roas-table"')[1].split("<tbody>")[1].split("</tbody>")[0].count("<tr")
    lines = csv_lines(admin.get(PATH, {**OCT, "export": "ad-roas"}))
    assert len(lines) - 1 == shown == 4


@pytest.mark.django_db
def test_bad_input_is_a_400_that_says_why(users, client_for):
    admin = client_for(users["admin"])
    for params, message in [({"model": "middle"}, "valid models: first, last, linear"),
                            ({"basis": "accrual"}, "valid bases: cash, cohort"),
                            ({"period": "fortnight"}, "valid periods")]:
        bad = admin.get(PATH, params)
        assert bad.status_code == 400 and message in bad.content.decode(), params


@pytest.mark.django_db
def test_empty_workspace_says_why(workspace, make_user, client_for):
    html = client_for(make_user(workspace, "admin")).get(PATH).content.decode()
    assert "Meta Ads not connected — add the token in Settings" in html
    assert "Impressions and clicks: Meta Ads not connected" in html and "Paid: Stripe not connected" in html
    assert "No impressions, ad leads, deals of ad leads or payments from them in this period." in html
    assert "Ad leads" in cards(html) and " 0 " in cards(html)["Ad leads"]  # a real zero: the CRM needs no token


@pytest.mark.django_db
def test_queries_are_bounded_and_do_not_grow_with_rows(users, world, client_for,  # noqa: F811
                                                       django_assert_max_num_queries):
    admin = client_for(users["admin"])
    admin.get(PATH, OCT)  # warm the session and the metric registry
    with CaptureQueriesContext(connection) as first:
        admin.get(PATH, OCT)
    pia, ws = world["contacts"]["Pia"], world["admin"].workspace
    ad = AdInsight.objects.get(ad__meta_id=A1, date=date(2026, 10, 15))
    for day in range(1, 6):  # more insight days, payments of ad leads, organic payments
        AdInsight.objects.create(workspace=ws, ad=ad.ad, adset=ad.adset, campaign=ad.campaign, date=date(2026, 10, day),
                                 spend=Decimal("10"), impressions=100, clicks=1)
        Payment.objects.create(workspace=ws, stripe_id=f"ch_more{day}", contact=pia, amount_minor=10000,
                               created=at(10, 20 + day), status="succeeded")
    with django_assert_max_num_queries(len(first.captured_queries)):
        html = admin.get(PATH, OCT).content.decode()
    assert funnel_rows(html)["Impressions"][0] == "35,500"
    assert len(first.captured_queries) <= 60
    # One partial computes only its part (its deal steps are three daily measures: one query for the stored days,
    # one per step for the dirty days, and here every day is dirty).
    with django_assert_max_num_queries(14):
        admin.get(PATH, {**OCT, "partial": "ad-funnel"}, HTTP_HX_REQUEST="true")
