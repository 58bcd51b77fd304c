"""The executive page at / and /dashboard/ (DESIGN §7 row 1): KPI cards with prior-period deltas and links,
the revenue and new-leads charts, roles, partials, live topics, bad input and query counts. The numbers
are the hand-computed world of tests/test_metrics.py (November 2026 against October)."""

import json
import re

import pytest

from clients.models import Contact
from finance.models import Payment, Refund
from ptd.dashboard import PARTIALS
from ptd.rollups import rollups_refresh
from tests.test_metrics import world  # noqa: F401  (the shared fixture)

NOV = {"period": "custom", "from": "2026-11-01", "to": "2026-11-30"}


def _cards(html: str) -> dict[str, str]:
    """KPI label → the card's text, whitespace collapsed."""
    cards = re.findall(r'<article class="kpi-card[^"]*">(.*?)</article>', html, re.DOTALL)
    out = {}
    for card in cards:
        label = re.search(r'<h3 class="kpi-label"[^>]*>([^<]+)</h3>', card).group(1)
        out[label] = " ".join(re.sub(r"<[^>]+>", " ", card).split())
    return out


def _page(client, path, params=NOV) -> str:
    """The page and its clients-health section, which the page leaves out and asks for once loaded."""
    page = client.get(path, params).content.decode()
    assert 'hx-trigger="load, live:clients-health from:body"' in page and "Counting active members" in page
    return page + client.get(path, {**params, "partial": "clients-health"}, headers={"HX-Request": "true"}
                             ).content.decode()


def _figure(html: str, element_id: str) -> dict:
    return json.loads(re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.DOTALL)
                      .group(1))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/dashboard/"])
def test_admin_sees_every_kpi_with_its_prior_period(world, client_for, path, django_assert_max_num_queries):  # noqa: F811
    client = client_for(world["users"]["admin"])
    dirty = _page(client, path)  # also warms the session, workspace and content-type caches
    # The fixture's writes left its days dirty: read from the raw rows, one query per measure shape. Once the
    # rollups are refreshed the same page reads the stored days, in fewer queries, and shows the same numbers.
    rollups_refresh(workspace=world["dana"].workspace)
    with django_assert_max_num_queries(40):
        response = client.get(path, NOV)
    assert response.status_code == 200
    html = _page(client, path)
    assert _cards(dirty) == _cards(html)
    cards = _cards(html)
    assert list(cards) == ["Net revenue", "Lifetime revenue", "New leads", "Cost per lead", "Cost per deal",
                           "Active members", "Average health", "Active clients", "At-risk revenue",
                           "Critical interventions pending"]
    assert "AED 2,000" in cards["Net revenue"] and "+100.0 %" in cards["Net revenue"]  # 2,000 vs 1,000
    assert "AED 3,000" in cards["Lifetime revenue"] and "+200.0 %" in cards["Lifetime revenue"]
    assert "3" in cards["New leads"].split() and "+50.0 %" in cards["New leads"] and "better" in cards["New leads"]
    assert "AED 100" in cards["Cost per lead"] and "AED 100" in cards["Cost per deal"]
    assert "+233.3 %" in cards["Cost per deal"] and "worse" in cards["Cost per deal"]  # AED 30 → 100 per deal
    assert "2" in cards["Active members"].split() and "40.0" in cards["Average health"]
    assert "50.0 %" in cards["Active clients"] and "AED 2,500" in cards["At-risk revenue"]
    assert "2" in cards["Critical interventions pending"].split() and "+100.0 %" in cards["Critical interventions pending"]
    # The formula on hover, and the period stated.
    assert 'title="Σ successful payments − Σ refunds, all time up to period end"' in html
    assert "1 Nov 2026 – 30 Nov 2026" in html and "the 30 days before" in html
    # Links to the records behind a number, where a page lists them.
    assert '<a class="kpi-number" href="/overview/#at-risk">AED 2,500' in html
    assert '<a class="kpi-number" href="/interventions/?priority=critical">2' in html
    assert '<a class="kpi-number" href="/clients/">2' in html
    # Both charts under the question they answer: November's 30 days with the prior period beside them.
    assert '<h2 id="revenue-trend-heading">Is daily net revenue ahead of the prior period?</h2>' in html
    assert '<h2 id="leads-trend-heading">How many new leads a day, and how many from ads?</h2>' in html
    revenue = _figure(html, "revenue-chart")
    assert revenue["layout"]["yaxis"]["tickprefix"] == "AED "
    bars, prior = revenue["data"]
    assert len(bars["x"]) == 30 and bars["x"][0] == "2026-11-01"
    assert bars["y"][1] == -1000.0 and bars["y"][3] == 3000.0 and sum(bars["y"]) == 2000.0
    assert sum(prior["y"]) == 1000.0 and prior["customdata"][23] == "Sun 25 Oct"  # the October payment
    leads = _figure(html, "leads-chart")
    from_ads, others, prior_leads = leads["data"]
    assert sum(from_ads["y"]) == 1 and sum(others["y"]) == 2 and sum(prior_leads["y"]) == 2


@pytest.mark.django_db
def test_coach_sees_own_numbers_and_why_money_is_hidden(world, client_for):  # noqa: F811
    html = _page(client_for(world["users"]["coach"]), "/")
    cards = _cards(html)
    # Revenue: said once for the group, no cards and no revenue chart.
    money = html.split('id="money"')[1].split("</section>")[0]
    assert "finance figures are not shown to your role" in money and "kpi-card" not in money
    assert "Net revenue" not in cards and 'id="revenue-trend"' not in html
    for label in ("Cost per lead", "Cost per deal"):
        assert "ad spend is not shown to your role" in cards[label]
    assert "1" in cards["New leads"].split()  # Aisha, Dana's client, not the workspace's 3
    assert "1" in cards["Active members"].split() and "100.0 %" in cards["Active clients"]
    assert "1" in cards["Critical interventions pending"].split()  # only the one assigned to Dana
    assert sum(_figure(html, "leads-chart")["data"][0]["y"]) == 1


@pytest.mark.django_db
def test_viewer_sees_no_names_and_setter_is_sent_to_their_page(world, client_for):  # noqa: F811
    viewer = client_for(world["users"]["viewer"]).get("/", NOV)
    assert viewer.status_code == 200
    html = viewer.content.decode()
    assert "AED 2,000" in _cards(html)["Net revenue"]
    assert not {"Aisha", "Omar", "Lina", "Dana"} & set(re.findall(r"\w+", html))
    for path in ("/", "/dashboard/"):
        response = client_for(world["users"]["setter"]).get(path)
        assert response.status_code == 302 and response["Location"] == "/setter-activity-today/"


@pytest.mark.django_db
def test_member_without_staff_link_and_anonymous(world, client_for, workspace, make_user, client):  # noqa: F811
    unlinked = _page(client_for(make_user(workspace, "coach")), "/")  # a coach not linked to a staff row
    assert "0" in _cards(unlinked)["Active members"].split()
    assert client.get("/dashboard/")["Location"] == "/accounts/login/?next=/dashboard/"


@pytest.mark.django_db
@pytest.mark.parametrize("partial", PARTIALS)
def test_each_partial_alone_is_scoped_and_bounded(world, client_for, partial,  # noqa: F811
                                                  django_assert_max_num_queries):
    client = client_for(world["users"]["coach"])
    client.get("/", NOV)
    with django_assert_max_num_queries(24):
        response = client.get("/", {**NOV, "partial": partial}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.strip().startswith(f'<section id="{partial}"')
    assert html.count("<section") == 1
    # The section fetches itself with the same period when one of its topics changes.
    assert f'live:{partial} from:body"' in html and "data-live-topics=" in html
    assert f"partial={partial}" in html and "from=2026-11-01" in html
    if partial == "acquisition":
        assert "1" in _cards(html)["New leads"].split()  # the coach's own lead, not the workspace's 3


def test_live_topics_match_what_changes_the_numbers():
    from django.template.loader import get_template

    source = get_template("ptd/dashboard.html").template.source
    topics = dict(re.findall(r'<section id="([\w-]+)".*?data-live-topics="([^"]+)"', source, re.DOTALL))
    assert topics == {"money": "payments", "acquisition": "contacts deals ad_insights",
                      "clients-health": "health interventions sessions payments", "revenue-trend": "payments",
                      "leads-trend": "contacts"}


@pytest.mark.django_db
def test_a_bad_period_is_a_400_that_says_why(world, client_for):  # noqa: F811
    client = client_for(world["users"]["admin"])
    bad = client.get("/", {"period": "fortnight"})
    assert bad.status_code == 400 and "valid periods: today" in bad.content.decode()
    backwards = client.get("/", {"period": "custom", "from": "2026-11-30", "to": "2026-11-01"})
    assert backwards.status_code == 400 and "must not be before" in backwards.content.decode()


@pytest.mark.django_db
def test_empty_states_say_why(workspace, make_user, client_for):
    client = client_for(make_user(workspace, "admin"))
    html = client.get("/", NOV).content.decode()
    money = html.split('id="money"')[1].split("</section>")[0]
    assert "Stripe not connected — add the secret key in Settings" in money and "kpi-card" not in money
    assert "Meta Ads not connected — add the token in Settings" in _cards(html)["Cost per lead"]
    assert "0" in _cards(html)["New leads"].split()  # a count of nothing is 0, with its card
    assert "No new leads in this period or the prior one." in html.split('id="leads-trend"')[1]
    assert "Stripe not connected" in html.split('id="revenue-trend"')[1]  # the admin may see it: said why
    # Stripe connected but nothing in these two periods.
    Payment.objects.create(workspace=workspace, stripe_id="ch_old", amount_minor=100, status="succeeded",
                           created="2025-01-01T10:00:00+04:00")
    html = client.get("/", NOV).content.decode()
    assert "No payments or refunds in this period or the prior one." in html
    assert "AED 0" in _cards(html)["Net revenue"] and "AED 1" in _cards(html)["Lifetime revenue"]


@pytest.mark.django_db
def test_a_refund_only_day_still_draws_the_chart(workspace, make_user, client_for):
    Payment.objects.create(workspace=workspace, stripe_id="ch_old", amount_minor=50000, status="refunded",
                           created="2025-01-01T10:00:00+04:00")
    Refund.objects.create(workspace=workspace, stripe_id="re_x", amount_minor=50000, status="succeeded",
                          created="2026-11-10T23:30:00+04:00")  # 19:30 UTC, the Dubai day 10 November
    Contact.objects.create(workspace=workspace, first_name="X", created_at="2026-11-11T01:00:00+04:00")
    html = client_for(make_user(workspace, "admin")).get("/", NOV).content.decode()
    bars = _figure(html, "revenue-chart")["data"][0]
    assert bars["y"][9] == -500.0 and sum(bars["y"]) == -500.0
    assert _figure(html, "leads-chart")["data"][1]["y"][10] == 1  # 10 Nov 21:00 UTC is 11 Nov in Dubai
