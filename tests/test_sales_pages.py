"""/sales-pipeline/ and /sales-coach-tracker/: the sales KPIs against hand-computed values, the funnel,
aging, per-coach results whose totals add up every row (the seed summed only the top 3), roles, partials,
CSV and query counts."""

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clients.funnel import deal_funnel_refresh
from clients.models import Contact, Deal, DealStageHistory
from clients.selectors_sales import (
    aging_for,
    closer_results_for,
    closer_sales_by_month_for,
    month_of,
    monthly_totals_of,
    months_up_to,
    pipeline_stages_for,
    totals_of,
)
from ptd.metrics import kpi, kpis
from ptd.periods import resolve_period
from ptd.scoping import Scope

DUBAI = ZoneInfo("Asia/Dubai")
STAGE = {"lead": "appointmentscheduled", "booked": "122237508", "held": "122237276", "qualified": "decisionmakerboughtin",
         "package_selected": "qualifiedtobuy", "payment_pending": "2900542", "won": "closedwon", "lost": "closedlost"}
NOV = resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-11-01", date_to="2026-11-30")
NOV_QUERY = {"period": "custom", "from": "2026-11-01", "to": "2026-11-30"}


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=DUBAI)


def make_deal(workspace, owner, history, amount=None, cash=0, contact=None, created=None):
    """A deal whose current stage is the last of `history` [(step, entered_at)]."""
    deal = Deal.objects.create(workspace=workspace, owner=owner, contact=contact, stage_id=STAGE[history[-1][0]],
                               amount=None if amount is None else Decimal(amount), cash_collected=Decimal(cash),
                               created_at=created or history[0][1])
    DealStageHistory.objects.bulk_create([DealStageHistory(workspace=workspace, deal=deal, stage_id=STAGE[step],
                                                           entered_at=entered) for step, entered in history])
    deal_funnel_refresh(workspace_id=workspace.pk, deal_ids=[deal.pk])  # bulk_create fires no signals
    return deal


def scope(user):
    return Scope.of(user.memberships.select_related("workspace").get())


# ---------------------------------------------------------------- page 5: the pipeline

@pytest.fixture
def pipeline(workspace, make_staff, make_user):
    dana, sam = make_staff(workspace, "coach", name="Dana"), make_staff(workspace, "coach", name="Sam")
    aisha = Contact.objects.create(workspace=workspace, first_name="Aisha", last_name="Khan", created_at=at(10, 1), coach=dana)
    omar = Contact.objects.create(workspace=workspace, first_name="Omar", created_at=at(10, 1), coach=sam)
    ws = workspace
    make_deal(ws, dana, [("booked", at(11, 2)), ("held", at(11, 5)), ("won", at(11, 10))], 6000, 3000, aisha)
    make_deal(ws, dana, [("booked", at(11, 3)), ("held", at(11, 6)), ("lost", at(11, 8))], 4000)
    make_deal(ws, dana, [("booked", at(11, 4))], 2000, contact=aisha)  # booked, never held: a ghost, still open
    make_deal(ws, sam, [("booked", at(10, 20)), ("held", at(10, 25)), ("qualified", at(11, 2))], 5000, contact=omar)
    make_deal(ws, sam, [("booked", at(11, 10)), ("held", at(11, 12)), ("won", at(11, 20))], 8000, 8000)
    make_deal(ws, sam, [("booked", at(11, 15)), ("lost", at(11, 18))])  # no amount
    make_deal(ws, None, [("booked", at(10, 5)), ("won", at(10, 15))], 1000, 1000)  # October: the prior period
    make_deal(ws, sam, [("booked", at(10, 10)), ("lost", at(10, 12))])  # October: a ghost
    make_deal(ws, dana, [("booked", at(9, 1)), ("payment_pending", at(9, 10))], 7000)
    users = {role: make_user(workspace, role, staff={"coach": dana}.get(role))
             for role in ("admin", "coach", "setter", "viewer")}
    return {"users": users, "dana": dana, "sam": sam}


@pytest.mark.django_db
def test_pipeline_kpis_by_hand(pipeline):
    admin = scope(pipeline["users"]["admin"])
    got = {k.name: k for k in kpis(["conversion_rate", "close_rate", "ghost_rate", "collection_rate", "deals_won",
                                     "assessments_held"], NOV, admin)}
    assert got["conversion_rate"].value == Decimal("40.0")  # 5 deals created in November, 2 of them won
    assert got["close_rate"].value == Decimal("50.0")  # won 2, lost 2 in November
    assert got["close_rate"].prior == Decimal("50.0")  # October: 1 won, 1 lost
    assert got["ghost_rate"].value == Decimal("40.0")  # 5 booked in November, 3 held by now
    # October: 3 booked, 2 held (the won deal skipped "held" but passed it) → 33.3 %; a rising ghost rate is bad
    assert got["ghost_rate"].prior == Decimal("33.3333") and got["ghost_rate"].delta_pct == Decimal("20.0")
    assert got["ghost_rate"].delta_good is False
    assert got["collection_rate"].value == Decimal("78.5714")  # (3,000 + 8,000) / (6,000 + 8,000)
    assert got["deals_won"].value == 2 and got["assessments_held"].value == 3  # the October hold does not count
    coach = scope(pipeline["users"]["coach"])
    assert kpi("conversion_rate", NOV, coach).value == Decimal("33.3333")  # Dana: 3 created, 1 won
    assert kpi("close_rate", NOV, coach).value == Decimal("50.0")
    assert kpi("ghost_rate", NOV, coach).value == Decimal("33.3333")  # Dana: 3 booked, 2 held


@pytest.mark.django_db
def test_stage_volumes_conversions_and_values(pipeline):
    stages = {s.step: s for s in pipeline_stages_for(scope(pipeline["users"]["admin"]), NOV)}
    assert "lead" not in stages  # no deal starts at "new lead" here: the funnel starts at booked
    assert [(s, stages[s].entered) for s in ("booked", "held", "qualified", "package_selected", "closed_won",
                                             "closed_lost")] == [
        ("booked", 5), ("held", 3), ("qualified", 1), ("package_selected", 0), ("closed_won", 2), ("closed_lost", 2)]
    assert stages["booked"].to_next == Decimal("60.0")
    assert stages["held"].to_next == Decimal("66.6667")  # 2 of 3 reached qualified or later (won skips stages)
    assert stages["qualified"].to_next == Decimal("0.0") and stages["package_selected"].to_next is None
    assert (stages["booked"].open_deals, stages["booked"].open_value) == (1, Decimal("2000"))
    assert (stages["payment_pending"].open_deals, stages["payment_pending"].open_value) == (1, Decimal("7000"))
    assert stages["closed_won"].open_deals is None and stages["closed_lost"].open_value is None


@pytest.mark.django_db
def test_pipeline_charts_are_valid_plotly_figures(pipeline):
    import plotly.graph_objects as go

    from clients import charts

    stages = pipeline_stages_for(scope(pipeline["users"]["admin"]), NOV)
    funnel = go.Figure(charts.pipeline_funnel(stages))  # raises on a property Plotly does not know
    assert list(funnel.data[0].y[:2]) == ["Assessment booked", "Assessment held"]
    assert list(funnel.data[0].text[:2]) == ["5", "3 · 60 %"]  # held: 60 % of the booked cohort
    value = go.Figure(charts.open_pipeline_value(stages))
    assert value.data[0].y[-1] == "Assessment booked" and value.data[0].x[-1] == 2000.0  # first step on top


@pytest.mark.django_db
def test_aging_buckets_and_oldest_deals_table(workspace, make_staff, make_user, client_for):
    coach = make_staff(workspace, "coach", name="Dana")
    now = timezone.now()
    for days, amount in [(0, 100), (7, 200), (8, 400), (30, 800), (31, 1600), (61, 3200), (400, 6400)]:
        make_deal(workspace, coach, [("booked", now - timedelta(days=days, minutes=1))], amount)
    make_deal(workspace, coach, [("booked", now - timedelta(days=90)), ("won", now - timedelta(days=80))], 99)
    buckets = aging_for(scope(make_user(workspace, "admin")))
    assert [(b.label, b.deals, b.value) for b in buckets] == [
        ("0–7 days", 2, Decimal("300")), ("8–14 days", 1, Decimal("400")), ("15–30 days", 1, Decimal("800")),
        ("31–60 days", 1, Decimal("1600")), ("over 60 days", 2, Decimal("9600"))]
    html = client_for(make_user(workspace, "admin")).get("/sales-pipeline/").content.decode()
    table = html.split('id="open-deals-table"')[1]
    assert table.index("AED 6,400") < table.index("AED 3,200") < table.index("AED 100")  # oldest first
    assert ">400<" in table  # days in stage


@pytest.mark.django_db
def test_pipeline_page_roles_and_scoping(pipeline, client_for, django_assert_max_num_queries):
    users = pipeline["users"]
    admin = client_for(users["admin"])
    with django_assert_max_num_queries(50):
        response = admin.get("/sales-pipeline/", NOV_QUERY)
    html = response.content.decode()
    assert response.status_code == 200
    for label in ("Conversion rate", "Close rate", "Ghost rate", "Answer rate", "Net revenue", "Collection rate"):
        assert label in html
    assert "40.0 %" in html and "78.6 %" in html
    assert "Stripe not connected" in html  # net revenue: no payment stored, so it says why instead of 0
    assert 'data-plotly="funnel-chart"' in html and 'id="value-chart"' in html
    assert "Aisha Khan" in html and "/clients/" in html and "Sam" in html
    coach_html = client_for(users["coach"]).get("/sales-pipeline/", NOV_QUERY).content.decode()
    deals = coach_html.split('id="open-deals-table"')[1]
    assert "Dana" in deals and "Sam" not in deals and "AED 5,000" not in deals  # Sam's qualified deal
    assert "finance figures are not shown to your role" in coach_html
    viewer_html = client_for(users["viewer"]).get("/sales-pipeline/", NOV_QUERY).content.decode()
    assert "Aisha" not in viewer_html and "Omar" not in viewer_html and ">Client<" not in viewer_html
    assert client_for(users["setter"]).get("/sales-pipeline/").status_code == 403


@pytest.mark.django_db
def test_pipeline_partials_csv_and_bad_period(pipeline, client_for):
    admin = client_for(pipeline["users"]["admin"])
    for name in ("pipeline-kpis", "funnel", "aging", "open-deals"):
        body = admin.get("/sales-pipeline/", {**NOV_QUERY, "partial": name}, HTTP_HX_REQUEST="true").content.decode()
        assert body.strip().startswith(f'<section id="{name}"') and "<html" not in body
    exported = admin.get("/sales-pipeline/", {**NOV_QUERY, "export": "stages"})
    lines = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert lines[0][:2] == ["Stage", "Entered in period"] and lines[1][:3] == ["Assessment booked", "5", "60.00"]
    bad = admin.get("/sales-pipeline/", {"period": "fortnight"})
    assert bad.status_code == 400 and "valid periods" in bad.content.decode()


@pytest.mark.django_db
def test_empty_pipeline_says_why(workspace, make_user, client_for):
    html = client_for(make_user(workspace, "admin")).get("/sales-pipeline/").content.decode()
    assert "No open deals" in html and "no data in this period" in html


# ---------------------------------------------------------------- page 7: the coach tracker

SALES = {"Asha": [1000, 2000, 3000, 4000, 5000], "Bilal": [500, 700, 900, 1100],
         "Chen": [10000, 100, 200, 300, 400, 50], "Dima": [2500, 2500, 2500, 2500]}


@pytest.fixture
def tracker(workspace, make_staff, make_user):
    """Four coaches with four to six November sales each (the seed's page summed only the top 3 rows), a
    setter-owned sale, a lost deal, an October sale and one at 00:10 Dubai on 1 December (still November in UTC)."""
    coaches = {name: make_staff(workspace, "coach", name=name, monthly_target=Decimal(10000)) for name in SALES}
    coaches["Dima"].monthly_target = None
    coaches["Dima"].save()
    for name, amounts in SALES.items():
        for day, amount in enumerate(amounts, start=2):
            make_deal(workspace, coaches[name], [("booked", at(11, day)), ("held", at(11, day, 15)),
                                                 ("won", at(11, day + 10))], amount, amount // 2)
    make_deal(workspace, coaches["Chen"], [("booked", at(11, 3)), ("held", at(11, 4)), ("lost", at(11, 5))], 9000)
    setter = make_staff(workspace, "setter", name="Sid")
    make_deal(workspace, setter, [("booked", at(11, 3)), ("won", at(11, 9))], 777, 777)
    make_deal(workspace, coaches["Asha"], [("booked", at(10, 3)), ("won", at(10, 9))], 9999)
    make_deal(workspace, coaches["Bilal"], [("booked", at(11, 28)), ("won", datetime(2026, 12, 1, 0, 10, tzinfo=DUBAI))],
              123)
    users = {role: make_user(workspace, role, staff={"coach": coaches["Chen"]}.get(role))
             for role in ("admin", "coach", "setter", "viewer")}
    return {"users": users, "coaches": coaches}


@pytest.mark.django_db
def test_monthly_sales_totals_every_row(tracker):
    admin = scope(tracker["users"]["admin"])
    november = month_of(date(2026, 11, 25), DUBAI)
    hand = {name: sum(amounts) for name, amounts in SALES.items()}  # 15,000, 3,200, 11,050, 10,000
    monthly = kpi("monthly_sales", november, admin)
    assert monthly.value == sum(hand.values()) + 777 == Decimal("40027")  # the top-3 rows would give 36,050
    assert monthly.prior == Decimal("9999")  # October
    # Any period ending in November shows the whole of November.
    last_week = resolve_period("custom", today=date(2026, 11, 30), tz=DUBAI, date_from="2026-11-24",
                               date_to="2026-11-30")
    assert kpi("monthly_sales", last_week, admin).value == Decimal("40027")
    rows = closer_results_for(admin, NOV, november)
    by_name = {r["name"]: r for r in rows}
    assert {n: by_name[n]["month_sales"] for n in SALES} == hand
    assert by_name["Not owned by a coach"]["month_sales"] == Decimal("777")  # the setter's sale
    history = closer_sales_by_month_for(admin, months_up_to(november, 6))
    history_by_name = {r["name"]: r["sales"] for r in history}
    assert history_by_name["Asha"][-2:] == [Decimal("9999"), Decimal("15000")]  # October, November
    assert {n: history_by_name[n][-1] for n in (*SALES, "Not owned by a coach")} == {
        n: by_name[n]["month_sales"] for n in (*SALES, "Not owned by a coach")}  # the history's November is the month's
    total = totals_of(rows)
    assert total["month_sales"] == Decimal("40027") and monthly_totals_of(history)[-4:] == [
        Decimal(0), Decimal(0), Decimal("9999"), Decimal("40027")]  # August, September, October, November
    assert total["won"] == 20 and total["held"] == 20 and total["lost"] == 1  # the setter's won deal was never held
    assert total["cash"] == sum(a // 2 for amounts in SALES.values() for a in amounts) + 777
    assert total["target"] == Decimal("30000")  # Dima has no target
    assert by_name["Chen"]["close_rate"] == Decimal("85.7143")  # 6 won, 1 lost
    assert by_name["Asha"]["target_pct"] == Decimal("150.0") and by_name["Dima"]["target_pct"] is None
    assert total["close_rate"] == Decimal("95.2381")  # 20 / 21, from the sums, not a mean of rates


@pytest.mark.django_db
def test_each_tracker_table_keeps_a_departed_coach_while_their_deals_are_in_its_numbers(tracker, make_staff, client_for):
    """One rule for both tables (selectors_sales._kept): an active closer always has a row; a departed one only while
    their deals are in the numbers that table shows. A sale in August is in the history's numbers but not the
    closers' (period and month); a deal held in November is in the closers' but not the history's (a row of zeros
    there would say nothing); a sale before the six months is in neither. The history partial, which reads only
    the wins, and the full page's history are the same section."""
    workspace = tracker["coaches"]["Asha"].workspace
    departed = {}
    for name in ("Sold in August", "Held in November", "Sold in May"):
        departed[name] = make_staff(workspace, "coach", name=name, is_active=False)
    make_deal(workspace, departed["Sold in August"], [("booked", at(8, 2)), ("won", at(8, 3))], 500)
    make_deal(workspace, departed["Held in November"], [("booked", at(11, 2)), ("held", at(11, 3))], 800)
    make_deal(workspace, departed["Sold in May"], [("booked", at(5, 2)), ("won", at(5, 3))], 300)
    admin = scope(tracker["users"]["admin"])
    november = month_of(date(2026, 11, 25), DUBAI)
    kept = {*SALES, "Not owned by a coach"}
    history = closer_sales_by_month_for(admin, months_up_to(november, 6))
    assert {r["name"] for r in history} == kept | {"Sold in August"}
    assert {r["name"] for r in closer_results_for(admin, NOV, november)} == kept | {"Held in November"}
    client = client_for(tracker["users"]["admin"])
    full = client.get("/sales-coach-tracker/", NOV_QUERY).content.decode()
    section = '<section id="sales-history"' + full.split('<section id="sales-history"')[1].split("</section>")[0]
    partial = client.get("/sales-coach-tracker/", {**NOV_QUERY, "partial": "sales-history"}, HTTP_HX_REQUEST="true")
    assert partial.content.decode().strip() == section + "</section>"
    assert "Sold in August" in section and "Held in November" not in section and "Total of all 6 rows" in section
    closers = full.split('id="closers-table"')[1].split("</table>")[0]
    assert "Held in November" in closers and "Sold in August" not in closers and "Sold in May" not in full


@pytest.mark.django_db
def test_the_history_partial_reads_only_the_wins(tracker, make_staff, client_for):
    """The history shows the months' won value alone: its partial reads the wins in one query, not the period's held
    and lost, and no query more for more coaches."""
    client = client_for(tracker["users"]["admin"])
    query = {**NOV_QUERY, "partial": "sales-history"}
    with CaptureQueriesContext(connection) as first:
        client.get("/sales-coach-tracker/", query, HTTP_HX_REQUEST="true")
    funnel = [q["sql"] for q in first.captured_queries if "clients_dealfunnel" in q["sql"]]
    assert len(funnel) == 1 and "closed_won_at" in funnel[0]
    assert "held_at" not in funnel[0] and "closed_lost_at" not in funnel[0]
    workspace = tracker["coaches"]["Asha"].workspace
    for _ in range(5):
        make_deal(workspace, make_staff(workspace, "coach"), [("booked", at(11, 2)), ("won", at(11, 3))], 1)
    with CaptureQueriesContext(connection) as second:
        html = client.get("/sales-coach-tracker/", query, HTTP_HX_REQUEST="true").content.decode()
    assert "Total of all 10 rows" in html and len(second.captured_queries) == len(first.captured_queries) <= 10


@pytest.mark.django_db
def test_tracker_page_shows_totals_and_target_chart(tracker, make_staff, client_for):
    admin = client_for(tracker["users"]["admin"])
    with CaptureQueriesContext(connection) as first:
        response = admin.get("/sales-coach-tracker/", NOV_QUERY)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sales in Nov 2026" in html and "Total of all 5 rows" in html
    totals = html.split('<table class="table" id="closers-table">')[1].split("<tfoot>")[1].split("</tfoot>")[0]
    assert "AED 40,027" in totals and "95.2 %" in totals
    # The totals (over every row, not just the page) are the CSV's last line too.
    export = admin.get("/sales-coach-tracker/", {**NOV_QUERY, "export": "closers"})
    last = b"".join(export.streaming_content).decode().strip().splitlines()[-1]
    assert last.startswith("Total of all 5 rows,40027.00")
    assert 'id="target-chart"' in html and "On track for November 2026?" in html
    assert "Jun 2026" in html and "Nov 2026" in html  # the six-month table
    # Five more coaches with sales: not one query more (no query per row).
    workspace = tracker["coaches"]["Asha"].workspace
    for _ in range(5):
        make_deal(workspace, make_staff(workspace, "coach"), [("booked", at(11, 2)), ("won", at(11, 3))], 1)
    with CaptureQueriesContext(connection) as second:
        html = admin.get("/sales-coach-tracker/", NOV_QUERY).content.decode()
    assert "Total of all 10 rows" in html and "best sellers of" not in html  # ten bars: the chart has them all
    assert len(second.captured_queries) == len(first.captured_queries) <= 40


@pytest.mark.django_db
def test_target_chart_is_a_valid_plotly_figure(tracker):
    import plotly.graph_objects as go

    from clients import charts

    rows = closer_results_for(scope(tracker["users"]["admin"]), NOV, month_of(date(2026, 11, 30), DUBAI))
    target = go.Figure(charts.sales_vs_target(rows, "November 2026"))
    assert target.layout.title.text == "On track for November 2026?"
    assert [t.name for t in target.data] == ["Target", "Sales"]
    best = target.layout.yaxis.ticktext[target.layout.yaxis.tickvals.index(target.data[1].y[-1])]
    assert best == "Asha" and target.data[1].x[-1] == 15000.0  # best seller on top
    # The 15 best of 40, the best on top; two people of one name keep a bar each.
    many = [{"pk": i + 1, "name": f"Coach {i // 2}", "month_sales": Decimal(i), "target": None, "target_pct": None}
            for i in range(40)]
    capped = go.Figure(charts.sales_vs_target(many, "November 2026"))
    assert capped.data[1].y == tuple(str(i + 1) for i in range(25, 40)) and len(set(capped.data[1].y)) == 15
    assert capped.layout.yaxis.ticktext == tuple(f"Coach {i // 2}" for i in range(25, 40))
    assert capped.layout.title.text == "On track for November 2026?"


@pytest.mark.django_db
def test_tracker_roles_partials_and_csv(tracker, client_for):
    users = tracker["users"]
    coach_html = client_for(users["coach"]).get("/sales-coach-tracker/", NOV_QUERY).content.decode()
    table = coach_html.split('id="closers-table"')[1]
    assert "Chen" in table and "Asha" not in table and "AED 11,050" in table
    assert "Total of all" not in coach_html  # one row: its total would repeat it
    viewer = client_for(users["viewer"]).get("/sales-coach-tracker/", NOV_QUERY)
    assert viewer.status_code == 200 and "Asha" in viewer.content.decode()  # staff names are not client PII
    assert client_for(users["setter"]).get("/sales-coach-tracker/").status_code == 403
    admin = client_for(users["admin"])
    for name in ("tracker-kpis", "closers", "sales-history"):
        body = admin.get("/sales-coach-tracker/", {**NOV_QUERY, "partial": name}, HTTP_HX_REQUEST="true").content.decode()
        assert body.strip().startswith(f'<section id="{name}"') and "<html" not in body
    exported = admin.get("/sales-coach-tracker/", {**NOV_QUERY, "export": "closers", "closers-sort": "name"})
    lines = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert lines[0][0] == "Coach / closer" and lines[1][0] == "Asha" and "15000.00" in lines[1]


@pytest.mark.django_db
def test_empty_tracker_says_why(workspace, make_user, client_for):
    html = client_for(make_user(workspace, "admin")).get("/sales-coach-tracker/").content.decode()
    assert "No coach or closer yet" in html and "Total of all" not in html


@pytest.mark.django_db
def test_owner_sums_are_the_measures_per_owner(tracker):
    """The tracker reads its per-owner measures in one query per day field; each sum equals the measure's own
    per-staff read (ptd.rollups.by_staff), for an admin and for a coach."""
    from clients.selectors_sales import _sums_by_owner
    from ptd import rollups

    november = month_of(date(2026, 11, 25), DUBAI)
    months = months_up_to(november, 6)
    names = ["entered_held", "entered_closed_lost", "entered_closed_won", "won_value", "won_cash"]
    for user in (tracker["users"]["admin"], tracker["users"]["coach"]):
        access = scope(user)
        sums = _sums_by_owner(access, [(n, n, NOV) for n in names]
                              + [(f"month{i}", "won_value", m) for i, m in enumerate(months)])
        expected = {n: {k: v for k, v in by.items() if v} for n, by in rollups.by_staff(names, NOV, access).items()}
        for i, m in enumerate(months):
            expected[f"month{i}"] = {k: v for k, v in rollups.by_staff(["won_value"], m, access)["won_value"].items() if v}
        assert sums == expected
    chen = tracker["coaches"]["Chen"].pk
    # Chen, by hand: 6 November sales 10,000 + 100 + 200 + 300 + 400 + 50 = 11,050, 6 won + 1 lost, all held.
    assert sums["won_value"] == {chen: Decimal("11050")} and sums["entered_closed_won"] == {chen: 6}
    assert sums["entered_closed_lost"] == {chen: 1} and sums["entered_held"] == {chen: 7}
    assert sums["month4"] == {}  # October: Chen sold nothing


@pytest.mark.django_db
def test_a_coach_without_a_staff_link_sees_no_closers(tracker):
    admin = scope(tracker["users"]["admin"])
    unlinked = Scope(user_id=admin.user_id, workspace=admin.workspace, role="coach", staff_id=None)
    november = month_of(date(2026, 11, 25), DUBAI)
    assert closer_results_for(unlinked, NOV, november) == []
    assert closer_sales_by_month_for(unlinked, months_up_to(november, 6)) == []


@pytest.mark.django_db
def test_the_target_chart_says_when_it_leaves_sellers_out(tracker, make_staff, client_for):
    workspace = tracker["coaches"]["Asha"].workspace
    for _ in range(11):  # 5 rows + 11 = 16 sellers, one more than the chart draws
        make_deal(workspace, make_staff(workspace, "coach"), [("booked", at(11, 2)), ("won", at(11, 3))], 1)
    html = client_for(tracker["users"]["admin"]).get("/sales-coach-tracker/", NOV_QUERY).content.decode()
    assert "The 15 best sellers of 16; the table above has every one." in html
