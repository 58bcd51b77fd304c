"""/attribution/ (DESIGN §7 row 9) and /money-map/ (row 4) on the hand-computed multi-touch world of
tests/test_attribution.py (October 2026): KPI cards on both bases, the truth triangle and its gaps, the three
discrepancy tables, credit per campaign by model, the money map with its drill-down to ad set and ad, roles,
partials, CSV, bad input and query counts."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finance.models import Payment
from marketing.views import ATTRIBUTION_PARTIALS, LOADED_AFTER_PAGE, MONEY_MAP_PARTIALS
from ptd.models import User
from tests.test_attribution import A1, C1, C2, C3, S1, at, world  # noqa: F401  (the shared fixture)

OCT = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}


@pytest.fixture
def users(world, workspace, make_user, make_staff):  # noqa: F811
    return {"admin": User.objects.get(pk=world["admin"].user_id), "coach": User.objects.get(pk=world["coach"].user_id),
            "viewer": make_user(workspace, "viewer"), "setter": make_user(workspace, "setter",
                                                                          staff=make_staff(workspace, "setter"))}


def cards(html: str) -> dict[str, str]:
    """KPI label → the card's text, whitespace collapsed."""
    out = {}
    for card in re.findall(r'<article class="kpi-card[^"]*">(.*?)</article>', html, re.DOTALL):
        label = re.search(r'<h3 class="kpi-label"[^>]*>([^<]+)</h3>', card).group(1)
        out[label] = " ".join(re.sub(r"<[^>]+>", " ", card).split())
    return out


def table(html: str, table_id: str) -> str:
    return html.split(f'id="{table_id}"')[1].split("</table>")[0]


def war_room(client, params) -> str:
    """The page and its record lists, which the page leaves out and asks for once shown."""
    html = client.get("/attribution/", params).content.decode()
    for name in LOADED_AFTER_PAGE:
        assert f'hx-trigger="load, live:{name} from:body"' in html and f'id="{name}-table"' not in html
        html += client.get("/attribution/", {**params, "partial": name}, HTTP_HX_REQUEST="true").content.decode()
    return html


def csv_lines(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# ---------------------------------------------------------------- the war room

@pytest.mark.django_db
def test_war_room_numbers_by_hand(users, client_for):
    admin = client_for(users["admin"])
    html = war_room(admin, OCT)
    got = cards(html)
    assert "1.51×" in got["True ROAS"]  # 5,300 net credited ÷ 3,500 spend
    assert "1.14×" in got["Meta ROAS"] and "132.5 %" in got["Integrity score"]
    assert "AED 12,500" in got["CRM won value"] and "AED 8,200" in got["Stripe cash"]
    assert "AED 7,500" in got["Attribution-claimed value"]
    gaps = html.split('id="truth-triangle"')[1].split("</section>")[0]
    # 12,500 − 8,200; 8,200 − 7,500; 12,500 − 7,500
    for label, value in [("CRM won − Stripe cash", "AED 4,300"), ("Stripe cash − attribution-claimed", "AED 700"),
                         ("CRM won − attribution-claimed", "AED 5,000")]:
        assert re.search(rf'<th scope="row">{label}</th><td class="num">{value}</td>', gaps), label
    assert "AED 0" not in gaps and "−AED" not in gaps  # every gap positive here
    assert 'data-plotly="triangle-chart"' in gaps
    assert "Una" in table(html, "won-unpaid-table") and "ch_walt" in table(html, "paid-no-deal-table")
    claimed = table(html, "claimed-unpaid-table")
    assert "buy-ghost" in claimed and "pi_unknown" in claimed and "AED 2,500" in claimed and "buy-pia" not in claimed


@pytest.mark.django_db
def test_cohort_basis_changes_true_roas_and_the_model_moves_credit(users, client_for):
    admin = client_for(users["admin"])
    cohort = cards(admin.get("/attribution/", {**OCT, "basis": "cohort"}).content.decode())
    # The October leads and all they paid to date: Pia 3,000, Quinn 1,500, Lou's November 700 → 5,200 ÷ 3,500
    assert "1.49×" in cohort["True ROAS (cohort)"] and "AED 8,200" in cohort["Stripe cash"]

    def credit(model):
        rows = csv_lines(admin.get("/attribution/", {**OCT, "model": model, "export": "credit", "credit-sort": "name"}))
        return {r[0]: r[2] for r in rows[1:]}

    assert credit("first") == {f"Campaign {C1}": "3800.00", f"Campaign {C2}": "1500.00", f"Campaign {C3}": "0.00"}
    assert credit("last") == {f"Campaign {C1}": "2300.00", f"Campaign {C2}": "0.00", f"Campaign {C3}": "3000.00"}
    assert credit("linear")[f"Campaign {C3}"] == "1000.00"
    html = admin.get("/attribution/", {**OCT, "model": "linear"}).content.decode()
    assert f'href="/money-map/?period=custom&amp;from=2026-10-01&amp;to=2026-10-31&amp;model=linear&amp;campaign={C1}"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/attribution/", "/money-map/"])
def test_roles_and_bad_input(users, client_for, path):
    assert client_for(users["admin"]).get(path, OCT).status_code == 200
    viewer = client_for(users["viewer"]).get(path, OCT)
    assert viewer.status_code == 200
    assert client_for(users["coach"]).get(path).status_code == 403
    assert client_for(users["setter"]).get(path).status_code == 403
    admin = client_for(users["admin"])
    for params, message in [({"model": "middle"}, "valid models: first, last, linear"),
                            ({"basis": "accrual"}, "valid bases: cash, cohort"),
                            ({"period": "fortnight"}, "valid periods")]:
        bad = admin.get(path, params)
        assert bad.status_code == 400 and message in bad.content.decode(), params


@pytest.mark.django_db
def test_viewer_sees_no_client_names(users, client_for):
    html = war_room(client_for(users["viewer"]), OCT)
    won = table(html, "won-unpaid-table")
    assert "Una" not in won and ">Client ref<" in won and "AED 5,000" in won


@pytest.mark.django_db
def test_war_room_partials_and_csv_rows_equal_shown_rows(users, client_for):
    admin = client_for(users["admin"])
    for name in ATTRIBUTION_PARTIALS:
        body = admin.get("/attribution/", {**OCT, "partial": name}, HTTP_HX_REQUEST="true").content.decode()
        assert body.strip().startswith(f'<section id="{name}"') and "<html" not in body, name
    html = war_room(admin, OCT)
    for name in ("credit", "won-unpaid", "paid-no-deal", "claimed-unpaid"):
        lines = csv_lines(admin.get("/attribution/", {**OCT, "export": name}))
        assert len(lines) - 1 == table(html, f"{name}-table").split("<tbody>")[1].count("<tr"), name
    # A sort link followed without HTMX (its real href) shows that list on the page itself.
    sorted_page = admin.get("/attribution/", {**OCT, "won-unpaid-sort": "client"}).content.decode()
    assert 'id="won-unpaid-table"' in sorted_page and 'id="paid-no-deal-table"' not in sorted_page
    won = csv_lines(admin.get("/attribution/", {**OCT, "export": "won-unpaid"}))
    assert won[0] == ["Deal", "Client", "Client ref", "Owner", "Won", "Amount (AED)"] and won[1][1] == "Una"


@pytest.mark.django_db
def test_war_room_queries_do_not_grow_with_rows(users, world, client_for):  # noqa: F811
    admin = client_for(users["admin"])
    war_room(admin, OCT)
    with CaptureQueriesContext(connection) as first:
        war_room(admin, OCT)
    walt = world["contacts"]["Walt"]
    for i in range(5):  # more payments without a deal
        Payment.objects.create(workspace=walt.workspace, stripe_id=f"ch_more{i}", contact=walt, amount_minor=10000,
                               created=at(10, 19 + i), status="succeeded")
    with CaptureQueriesContext(connection) as second:
        html = war_room(admin, OCT)
    assert "ch_more4" in html
    assert len(second.captured_queries) == len(first.captured_queries) <= 80  # the page and its three lists


# ---------------------------------------------------------------- the money map

@pytest.mark.django_db
def test_money_map_campaign_rows_by_hand(users, client_for):
    admin = client_for(users["admin"])
    lines = csv_lines(admin.get("/money-map/", {**OCT, "export": "money-map", "money-map-sort": "name"}))
    assert lines[0] == ["Campaign", "Verdict", "ROAS", "Spend (AED)", "Cash (AED)", "Leads", "Booked", "Held", "Deals",
                        "CPL (AED)", "Cost per booked (AED)", "Cost per held (AED)", "Cost per deal (AED)"]
    rows = {r[0]: r[1:] for r in lines[1:]}
    assert rows[f"Campaign {C1}"] == ["Scale", "3.80", "1000.00", "3800.00", "1.00", "1.00", "1.00", "1.00", "1000.00",
                                      "1000.00", "1000.00", "1000.00"]
    assert rows[f"Campaign {C2}"][:8] == ["Kill", "0.75", "2000.00", "1500.00", "2.00", "2.00", "1.00", "2.00"]
    assert rows[f"Campaign {C2}"][-2:] == ["2000.00", "1000.00"]  # cost per held: 2,000 ÷ 1; per deal: ÷ 2
    assert rows[f"Campaign {C3}"][:2] == ["Too early", "0.00"]  # AED 500 < the AED 1,000 minimum
    # The totals over every row: spend 3,500, cash 5,300, ROAS 5,300 ÷ 3,500
    assert lines[-1][0] == "Total of all 3 rows" and lines[-1][2:5] == ["1.51", "3500.00", "5300.00"]
    html = admin.get("/money-map/", OCT).content.decode()
    assert 'data-plotly="money-map-figure"' in html and ">Scale<" in html and ">Too early<" in html
    assert f"campaign={C1}" in table(html, "money-map-table")  # a campaign opens its ad sets


@pytest.mark.django_db
def test_money_map_drills_down_to_ad_set_and_ad(users, client_for):
    admin = client_for(users["admin"])
    adsets = admin.get("/money-map/", {**OCT, "campaign": C1}).content.decode()
    rows = table(adsets, "money-map-table")
    assert f"Ad set {S1}" in rows and "Ad set 220002" not in rows and f"adset={S1}" in rows
    assert f"Campaign {C1}</span>" in adsets  # the breadcrumb
    ads = admin.get("/money-map/", {**OCT, "adset": S1}).content.decode()
    ad_rows = table(ads, "money-map-table")
    assert f"Ad {A1}" in ad_rows and "AED 3,800" in ad_rows and "href" not in ad_rows.split("<tbody>")[1]
    every_ad = csv_lines(admin.get("/money-map/", {**OCT, "level": "ad", "export": "money-map"}))
    # A1, A2, A3, the touches naming no ad (Pia's campaign-only click, Dina's ad set) and the totals line
    assert every_ad[0][0] == "Ad" and len(every_ad) == 1 + 4 + 1 and ["No ad id"] == [
        r[0] for r in every_ad if r[0].startswith("No ")]
    linear = table(admin.get("/money-map/", {**OCT, "model": "linear"}).content.decode(), "money-map-table")
    assert ">0.8<" in linear and ">1.8<" in linear  # shares of a lead: Pia ⅓ each, Quinn ½
    assert admin.get("/money-map/", {**OCT, "campaign": "999"}).status_code == 404
    bad = admin.get("/money-map/", {**OCT, "level": "creative"})
    assert bad.status_code == 400 and "valid levels: campaign, adset, ad" in bad.content.decode()


@pytest.mark.django_db
def test_money_map_partials_csv_and_queries(users, client_for):
    admin = client_for(users["admin"])
    for name in MONEY_MAP_PARTIALS:
        body = admin.get("/money-map/", {**OCT, "partial": name}, HTTP_HX_REQUEST="true").content.decode()
        assert body.strip().startswith(f'<section id="{name}"') and "<html" not in body, name
    html = admin.get("/money-map/", OCT).content.decode()
    lines = csv_lines(admin.get("/money-map/", {**OCT, "export": "money-map"}))
    shown = table(html, "money-map-table").split("<tbody>")[1].split("</tbody>")[0].count("<tr")
    assert len(lines) - 2 == shown == 3  # the CSV adds the header and the totals line
    with CaptureQueriesContext(connection) as queries:
        admin.get("/money-map/", {**OCT, "adset": S1})
    assert len(queries.captured_queries) <= 15


@pytest.mark.django_db
def test_empty_pages_say_why(workspace, make_user, client_for):
    admin = client_for(make_user(workspace, "admin"))
    money_map = admin.get("/money-map/").content.decode()
    assert "Meta Ads not connected — add the token in Settings" in money_map
    page = war_room(admin, {})
    assert "Meta Ads not connected" in page and "Every deal won in this period has a Stripe payment" in page
    assert "AED 0" in cards(page)["CRM won value"]  # the CRM side needs no connection: a real zero


@pytest.mark.django_db
def test_charts_are_valid_plotly_figures(users, world):  # noqa: F811
    import plotly.graph_objects as go

    from marketing import charts
    from marketing.selectors import money_map_for, truth_triangle_for
    from tests.test_attribution import OCT as OCT_PERIOD

    triangle = go.Figure(charts.truth_triangle(truth_triangle_for(world["admin"], OCT_PERIOD).triangle))
    assert list(triangle.data[0].x) == [5300.0, 7500.0, 8200.0, 12500.0]  # CRM won on top
    assert triangle.data[0].y[-1] == "CRM won value"
    money = go.Figure(charts.money_map(money_map_for(world["admin"], OCT_PERIOD, model="first", basis="cash").rows,
                                       "campaign"))
    assert [t.name for t in money.data] == ["Spend", "Net cash"]
    assert list(money.data[0].x) == [500.0, 1000.0, 2000.0] and money.data[1].x[1] == 3800.0  # biggest on top


def test_a_negative_gap_reads_with_a_minus_sign():
    from marketing.selectors import Gap

    assert Gap("CRM won − Stripe cash", Decimal("-11500.40"), "").display == "−AED 11,500"
    assert Gap("x", None, "").display == "—"


@pytest.mark.django_db
def test_choosing_a_period_keeps_the_model_basis_and_sort(users, client_for):
    html = client_for(users["admin"]).get("/attribution/", {**OCT, "model": "linear", "basis": "cohort",
                                                            "credit-sort": "-spend", "credit-page": "2"}
                                         ).content.decode()
    form = html.split("data-period-filter>")[1].split("</form>")[0]
    assert '<input type="hidden" name="model" value="linear">' in form
    assert '<input type="hidden" name="basis" value="cohort">' in form
    assert '<input type="hidden" name="credit-sort" value="-spend">' in form
    assert "credit-page" not in form and 'type="hidden" name="period"' not in form  # the rows change; the form sets it
