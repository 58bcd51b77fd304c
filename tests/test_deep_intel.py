"""/deep-intel/ (DESIGN §7 row 3) on a small November 2026 world whose every number is computed by hand below:
baselines, ghost and close rates with deltas, the 12-stage funnel, health by owner, loss reasons, source truth and
assessment truth; roles, partials, CSV, bad input and query counts.

The world (Asia/Dubai; November = the period, 2 Oct – 31 Oct the prior period, 2 Sep – 30 Nov the 90-day baseline):
- Meta: one ad; insights 10 Nov (spend 600, 10,000 impressions, 500 clicks, 6 leads) and 15 Sep (spend 400).
- Leads created in November: Ada (ad lead; outbound call, missed), Ben (ad lead; outbound call, answered),
  Cy (organic; one inbound missed call: not contacted), Dee (organic; inbound answered), Eve (ad lead; no call),
  Gus (organic, 3 Nov; his answered call on 30 Oct came before the CRM created him).
  Before November: Olga (ad lead, 20 Oct; pays 1,500 on 28 Oct), Zed (organic, 1 Oct), Fay (organic, 1 Oct).
- Deals (stage history): D1 Ben lead 6 → booked 7 → held 10 → qualified 11 → package 12 → pending 13 → won 14 Nov
  (3,000); D2 Dee lead 8 → booked 9 → lost 12 Nov "No show" (no amount); D3 Olga booked 25 Oct → held 2 Nov →
  qualified 3 Nov → lost 20 Nov "Too expensive" (2,000); D4 Ada lead 9 → booked 10 Nov; D5 Zed booked 28 Oct →
  held 15 Nov → lost 18 Nov, no reason (1,500); D6 Fay booked 10 Oct → lost 15 Oct "No show"; D7 Eve lead 10 Nov.
- Stripe: Ben 3,000 (14 Nov) and 500 (20 Nov); Zed 800 refunded (16 Nov); Dee failed (12 Nov); a payment with no
  contact (18 Nov); Olga 1,500 (28 Oct).
- AnyTrack lead events in November: Ada twice, Ben, two for click k9 (unmatched), one with neither contact nor click;
  a Purchase (not a lead).
- Assessment appointments marked held: Ben 10 Nov, Olga 31 Oct, Cy 12 Nov (no deal); Dee 11 Nov no-show; a held
  training *session* appointment for Dee (not an assessment).
"""

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import plotly.graph_objects as go

from clients.models import Appointment, Call, Contact, Deal, DealStageHistory
from finance.models import Payment
from marketing import charts
from marketing.models import Ad, AdInsight, AdSet, AttributionEvent, Campaign
from marketing.views_deep import DEEP_PARTIALS, LOADED_AFTER_PAGE
from ptd.models import FunnelThreshold

DUBAI = ZoneInfo("Asia/Dubai")
NOV = {"period": "custom", "from": "2026-11-01", "to": "2026-11-30"}
STAGE = {"lead": "appointmentscheduled", "booked": "122237508", "held": "122237276",
         "qualified": "decisionmakerboughtin", "package": "qualifiedtobuy", "pending": "2900542", "won": "closedwon",
         "lost": "closedlost"}


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=DUBAI)


@pytest.fixture
def world(workspace, make_staff):
    ws = workspace
    coach = make_staff(ws, "coach", name="Dana")
    campaign = Campaign.objects.create(workspace=ws, meta_id="120001", name="Campaign")
    adset = AdSet.objects.create(workspace=ws, meta_id="220001", campaign=campaign, name="Ad set")
    ad = Ad.objects.create(workspace=ws, meta_id="320001", adset=adset, campaign=campaign, name="Ad")
    AdInsight.objects.create(workspace=ws, ad=ad, adset=adset, campaign=campaign, date=date(2026, 11, 10),
                             spend=Decimal(600), impressions=10_000, clicks=500, leads=6)
    AdInsight.objects.create(workspace=ws, ad=ad, adset=adset, campaign=campaign, date=date(2026, 9, 15),
                             spend=Decimal(400), impressions=5_000, clicks=100, leads=4)

    def contact(name, created, ad_lead=False):
        return Contact.objects.create(workspace=ws, first_name=name, created_at=created,
                                      **({"fb_ad_id": ad.meta_id} if ad_lead else {}))

    people = {name: contact(name, created, ad_lead) for name, created, ad_lead in [
        ("Ada", at(11, 5), True), ("Ben", at(11, 6), True), ("Cy", at(11, 7), False), ("Dee", at(11, 8), False),
        ("Eve", at(11, 9), True), ("Gus", at(11, 3), False), ("Olga", at(10, 20), True), ("Zed", at(10, 1), False), ("Fay", at(10, 1), False)]}

    for i, (name, when, direction, outcome) in enumerate([
            ("Ada", at(11, 5, 13), "outbound", "missed"), ("Ben", at(11, 6, 13), "outbound", "answered"),
            ("Cy", at(11, 7, 13), "inbound", "missed"), ("Dee", at(11, 8, 13), "inbound", "answered"),
            ("Gus", at(10, 30), "inbound", "answered"), ("Olga", at(11, 3), "outbound", "answered")]):
        Call.objects.create(workspace=ws, source_id=f"call{i}", contact=people[name], started_at=when,
                            direction=direction, outcome=outcome)

    deals = {}
    for key, name, history, amount, reason in [
            ("D1", "Ben", [("lead", at(11, 6)), ("booked", at(11, 7)), ("held", at(11, 10)), ("qualified", at(11, 11)),
                           ("package", at(11, 12)), ("pending", at(11, 13)), ("won", at(11, 14))], 3000, ""),
            ("D2", "Dee", [("lead", at(11, 8)), ("booked", at(11, 9)), ("lost", at(11, 12))], None, "No show"),
            ("D3", "Olga", [("booked", at(10, 25)), ("held", at(11, 2)), ("qualified", at(11, 3)), ("lost", at(11, 20))],
             2000, "Too expensive"),
            ("D4", "Ada", [("lead", at(11, 9)), ("booked", at(11, 10))], None, ""),
            ("D5", "Zed", [("booked", at(10, 28)), ("held", at(11, 15)), ("lost", at(11, 18))], 1500, "  "),
            ("D6", "Fay", [("booked", at(10, 10)), ("lost", at(10, 15))], None, "No show"),
            ("D7", "Eve", [("lead", at(11, 10))], None, "")]:
        deal = deals[key] = Deal.objects.create(
            workspace=ws, hubspot_id=key, contact=people[name], owner=coach, stage_id=STAGE[history[-1][0]],
            amount=None if amount is None else Decimal(amount), created_at=history[0][1], closed_lost_reason=reason)
        for step, when in history:  # each save refreshes the deal's DealFunnel row (clients.funnel signals)
            DealStageHistory.objects.create(workspace=ws, deal=deal, stage_id=STAGE[step], entered_at=when)

    for charge, name, amount, when, status in [
            ("ch_ben1", "Ben", 3000, at(11, 14), "succeeded"), ("ch_ben2", "Ben", 500, at(11, 20), "succeeded"),
            ("ch_zed", "Zed", 800, at(11, 16), "refunded"), ("ch_dee", "Dee", 900, at(11, 12), "failed"),
            ("ch_nobody", None, 700, at(11, 18), "succeeded"), ("ch_olga", "Olga", 1500, at(10, 28), "succeeded")]:
        Payment.objects.create(workspace=ws, stripe_id=charge, contact=people.get(name), amount_minor=amount * 100,
                               currency="AED", created=when, status=status)

    for i, (name, click, event, when) in enumerate([
            ("Ada", "k1", "Lead", at(11, 5)), ("Ada", "k1", "Lead", at(11, 5, 14)), ("Ben", "k2", "Lead", at(11, 6)),
            (None, "k9", "Lead", at(11, 7)), (None, "k9", "Lead", at(11, 7, 15)), (None, "", "Lead", at(11, 8)),
            ("Ben", "k2", "Purchase", at(11, 14))]):
        AttributionEvent.objects.create(workspace=ws, external_id=f"ev{i}", contact=people.get(name), click_id=click,
                                        event_name=event, occurred_at=when)

    for i, (name, kind, when, status) in enumerate([
            ("Ben", "assessment", at(11, 10, 9), "held"), ("Olga", "assessment", at(10, 31), "held"),
            ("Cy", "assessment", at(11, 12), "held"), ("Dee", "assessment", at(11, 11), "no_show"),
            ("Dee", "session", at(11, 13), "held")]):
        Appointment.objects.create(workspace=ws, source_id=f"m{i}", contact=people[name], staff=coach, kind=kind,
                                   scheduled_at=when, status=status)
    return {"people": people, "deals": deals, "coach": coach}


@pytest.fixture
def users(workspace, make_user, make_staff):
    return {"admin": make_user(workspace, "admin"), "viewer": make_user(workspace, "viewer"),
            "coach": make_user(workspace, "coach", staff=make_staff(workspace, "coach")),
            "setter": make_user(workspace, "setter", staff=make_staff(workspace, "setter"))}


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def section(html: str, name: str) -> str:
    """The last section with this id (a section loaded after the page follows its placeholder)."""
    return html.split(f'<section id="{name}"')[-1].split("</section>")[0]


def rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows of a table, each cell's text."""
    body = html.split(f'id="{table_id}"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return [[text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)]


def csv_lines(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def partial(person, name: str, **params) -> str:
    return person.get("/deep-intel/", {**NOV, **params, "partial": name}, HTTP_HX_REQUEST="true").content.decode()


@pytest.fixture
def page(world, users, client_for):
    """The page as the browser ends up showing it: the page, then the sections that load themselves after it."""
    admin = client_for(users["admin"])
    return admin.get("/deep-intel/", NOV).content.decode() + "".join(partial(admin, name) for name in LOADED_AFTER_PAGE)


@pytest.mark.django_db
def test_slow_sections_load_after_the_page(world, users, client_for):
    admin = client_for(users["admin"])
    html = admin.get("/deep-intel/", NOV).content.decode()
    for name in LOADED_AFTER_PAGE:
        placeholder = section(html, name)
        assert f'hx-trigger="load, live:{name} from:body"' in html and "<table" not in placeholder, name
        assert 'hx-trigger="live:' in partial(admin, name), name  # once shown, it refreshes on live updates only
    assert "Crediting 90 days of Stripe cash" in html and "5.83×" not in html


@pytest.mark.django_db
def test_ghost_and_close_rates_with_deltas(page):
    cards = {re.search(r'<h3 class="kpi-label"[^>]*>([^<]+)</h3>', card).group(1): text(card.split("</header>")[1])
             for card in re.findall(r'<article class="kpi-card[^"]*">(.*?)</article>', section(page, "deep-kpis"),
                                    re.DOTALL)}
    # Booked in Nov: D1 D2 D4, of which D1 held → ghost 1 − 1/3 = 66.7 %. Booked in Oct 2–31 (prior): D3 D5 D6, of
    # which D3 D5 held → 33.3 %; delta (66.6667 − 33.3333) ÷ 33.3333 = +100.0 %, worse.
    assert cards["Ghost rate"] == "66.7 % ▲ +100.0 % vs prior period · worse"
    # Won 1 (D1) ÷ (won 1 + lost 3: D2 D3 D5) = 25.0 %; prior: 0 won, 1 lost (D6) → 0 % → delta "—".
    assert cards["Close rate"] == "25.0 % — vs prior period"


@pytest.mark.django_db
def test_baselines_by_hand(page):
    got = {r[0]: r[1:] for r in rows(page, "baselines-table")}
    # True ROAS: Ben's 3,000 + 500 (an ad lead) ÷ 600 spend = 5.83×; 90 days: + Olga's 1,500 → 5,000 ÷ 1,000 = 5.00×;
    # (5.8333 − 5) ÷ 5 = +16.7 %, better; target 3.00×.
    assert got["True ROAS"] == ["5.83×", "5.00×", "+16.7 % better", "3.00×"]
    # CPL: 600 ÷ 3 ad leads (Ada Ben Eve) = 200; 90 days: 1,000 ÷ 4 (+ Olga) = 250; −20.0 %, better (lower); target 30.
    assert got["Cost per lead"] == ["AED 200", "AED 250", "-20.0 % better", "AED 30"]


@pytest.mark.django_db
def test_twelve_stage_funnel_by_hand(page, world, users, client_for):
    got = {r[0]: r[1:3] for r in rows(page, "funnel-stages-table")}
    assert list(got) == ["Impressions", "Clicks", "Leads", "Contacted", "Reached", "Booked", "Held", "Qualified",
                         "Package selected", "Payment pending", "Won", "Paid"]
    assert got == {
        "Impressions": ["10,000", "—"],
        "Clicks": ["500", "5.0 %"],  # 500 ÷ 10,000
        "Leads": ["6", "1.2 %"],  # Ada Ben Cy Dee Eve Gus; 6 ÷ 500
        # Ada (outbound), Ben, Dee (inbound answered), Gus (answered before the period); not Cy (inbound missed)
        "Contacted": ["4", "66.7 %"],
        "Reached": ["3", "75.0 %"],  # Ben, Dee, Gus answered; 3 ÷ 4 (Olga's answered call: not a November lead)
        "Booked": ["3", "100.0 %"],  # D1 D2 D4
        "Held": ["3", "100.0 %"],  # D1, D3 (booked in October), D5
        "Qualified": ["2", "66.7 %"],  # D1 D3
        "Package selected": ["1", "50.0 %"], "Payment pending": ["1", "100.0 %"], "Won": ["1", "100.0 %"],
        "Paid": ["2", "200.0 %"],  # Ben (two payments, one person), Zed (refunded later: it was collected)
    }
    assert "a flow, not a cohort" in section(page, "deep-funnel")
    figure = page.split('id="deep-funnel-figure" type="application/json">')[1].split("</script>")[0]
    go.Figure(__import__("json").loads(figure))  # a valid Plotly figure


@pytest.mark.django_db
def test_health_by_owner_verdicts(page):
    got = {r[0]: r[1:] for r in rows(page, "owner-health-table")}
    # lead → booked: lead in Nov D1 D2 D4 D7; booked by now D1 D2 D4 → 3/4 = 75 % ≥ 40 → healthy
    assert got["Marketing"] == ["Lead → Assessment booked", "4", "3", "75.0 %", "40 %", "25 %", "Healthy"]
    # booked → held: 1/3 = 33.3 % < 50 → critical
    assert got["Setter"] == ["Assessment booked → Assessment held", "3", "1", "33.3 %", "65 %", "50 %", "Critical"]
    # held → qualified: held in Nov D1 D3 D5; qualified D1 D3 → 66.7 % ≥ 25 → healthy
    assert got["Coach"][1:] == ["3", "2", "66.7 %", "25 %", "15 %", "Healthy"]
    # qualified → won (not consecutive steps: clients.funnel.conversion): D1 D3 qualified, D1 won → 50 % → warning
    assert got["Ops"] == ["Qualified → Closed won", "2", "1", "50.0 %", "70 %", "50 %", "Warning"]
    owner = section(page, "owner-health")
    assert 'badge badge-bad">Critical' in owner and 'badge badge-warn">Warning' in owner


@pytest.mark.django_db
def test_loss_reasons_by_hand(page, users, client_for):
    got = {r[0]: r[1:] for r in rows(page, "loss-reasons-table")}
    # Lost in Nov: D2 No show (no amount), D3 Too expensive 2,000, D5 blank reason 1,500; D6 lost in October
    assert got == {"No show": ["1", "AED 0"], "Too expensive": ["1", "AED 2,000"], "No reason given": ["1", "AED 1,500"]}
    lines = csv_lines(client_for(users["admin"]).get("/deep-intel/", {**NOV, "export": "loss-reasons",
                                                                       "loss-reasons-sort": "reason"}))
    assert lines[0] == ["Loss reason", "Deals lost", "Value (AED)"]
    assert lines[1:] == [["No reason given", "1", "1500.00"], ["No show", "1", "0.00"], ["Too expensive", "1", "2000.00"],
                         ["Total of all 3 rows", "3", "3500.00"]]
    assert 'data-plotly="loss-reasons-figure"' in page
    go.Figure(charts.loss_reasons([{"reason": "No show", "deals": 1, "value": Decimal(0)}]))


@pytest.mark.django_db
def test_source_truth_by_hand(page):
    truth = section(page, "source-truth")
    # Meta 6 (November insight); AnyTrack: Ada, Ben, click k9, the bare event = 4 people (the Purchase is no lead);
    # CRM ad leads: Ada Ben Eve = 3
    assert "Meta 6 AnyTrack 4 CRM ad leads 3" in text(truth)
    gaps = {r[0]: r[1] for r in rows(truth, "source-gaps")}
    assert gaps == {"Meta − CRM": "+3", "AnyTrack − CRM": "+1", "Meta − AnyTrack": "+2"}


@pytest.mark.django_db
def test_assessment_truth_and_mismatches(page, world, users, client_for):
    truth = section(page, "assessment-truth")
    # CRM held in Nov: D1 D3 D5 = 3; attended assessments scheduled in Nov: Ben, Cy = 2 (Olga's was 31 Oct; Dee's
    # no-show and her held training session do not count); gap +1
    assert "CRM held 3 Attended 2 CRM held − attended +1" in text(truth)
    # D5 (Zed) has no attended assessment; Cy's has no deal held; D1 ↔ Ben 10 Nov, D3 ↔ Olga 31 Oct (within 3 days)
    assert [r[0] for r in rows(truth, "assessment-mismatches-table")] == ["Not held in the CRM", "No attended assessment"]
    mismatch = rows(truth, "assessment-mismatches-table")
    assert mismatch[0][2:] == ["Cy", f"#{world['people']['Cy'].pk}", "Dana", "meeting m2"]
    assert mismatch[1][2] == "Zed" and mismatch[1][-1] == "deal D5"
    lines = csv_lines(client_for(users["admin"]).get("/deep-intel/", {**NOV, "export": "assessment-mismatches",
                                                                       "assessment-mismatches-sort": "-at"}))
    assert [line[0] for line in lines[1:]] == ["No attended assessment", "Not held in the CRM"]


@pytest.mark.django_db
def test_roles_partials_and_viewer_without_names(world, users, client_for):
    for role, status in [("admin", 200), ("viewer", 200), ("coach", 403), ("setter", 403)]:
        person = client_for(users[role])
        assert person.get("/deep-intel/", NOV).status_code == status, role
        for name in DEEP_PARTIALS:
            response = person.get("/deep-intel/", {**NOV, "partial": name}, HTTP_HX_REQUEST="true")
            assert response.status_code == status, (role, name)
            if status == 200:
                body = response.content.decode()
                assert body.strip().startswith(f'<section id="{name}"') and "<html" not in body, (role, name)
    mismatches = partial(client_for(users["viewer"]), "assessment-truth")
    assert "Zed" not in mismatches and "Cy" not in mismatches and ">Client ref<" in mismatches
    assert "Deep intelligence" in client_for(users["admin"]).get("/").content.decode()  # the navigation entry


@pytest.mark.django_db
def test_bad_input_is_a_400_that_says_why(world, users, client_for):
    admin = client_for(users["admin"])
    for params, message in [({"period": "fortnight"}, "valid periods"),
                            ({"period": "custom", "from": "2026-11-30", "to": "2026-11-01"}, "must not be before")]:
        bad = admin.get("/deep-intel/", params)
        assert bad.status_code == 400 and message in bad.content.decode(), params


@pytest.mark.django_db
def test_empty_workspace_says_why(workspace, users, client_for):
    admin = client_for(users["admin"])
    html = admin.get("/deep-intel/", NOV).content.decode()
    assert "AnyTrack not connected — add its webhook in Settings" in section(html, "source-truth")
    assert "Meta: Meta Ads not connected — add the token in Settings" in section(html, "source-truth")
    funnel = partial(admin, "deep-funnel")
    assert "Impressions and clicks: Meta Ads not connected — add the token in Settings." in funnel
    assert "Meta Ads not connected" in rows(partial(admin, "baselines"), "baselines-table")[0][1]
    assert "No deal entered closed lost in this period." in partial(admin, "loss-reasons")
    assert "Every assessment held in the CRM in this period has an attended assessment" in partial(
        admin, "assessment-truth")
    FunnelThreshold.objects.filter(workspace=workspace).delete()
    assert "No funnel thresholds are set" in client_for(users["admin"]).get("/deep-intel/", NOV).content.decode()


@pytest.mark.django_db
def test_query_count_is_bounded_and_does_not_grow_with_rows(world, workspace, users, client_for,
                                                           django_assert_max_num_queries):
    admin = client_for(users["admin"])
    admin.get("/deep-intel/", NOV)
    # Seven sections; here every day is dirty, so each daily measure is read from the raw rows (a query per shape).
    with django_assert_max_num_queries(40) as first:
        admin.get("/deep-intel/", NOV)
    later = {}
    for name in LOADED_AFTER_PAGE:
        with django_assert_max_num_queries(25) as later[name]:
            partial(admin, name)
    zed = world["people"]["Zed"]
    for i in range(6):  # more leads with calls, lost deals, lead events and unmatched assessments
        lead = Contact.objects.create(workspace=workspace, first_name=f"New{i}", created_at=at(11, 20), fb_ad_id="320001")
        Call.objects.create(workspace=workspace, source_id=f"more{i}", contact=lead, started_at=at(11, 21),
                            outcome="answered")
        AttributionEvent.objects.create(workspace=workspace, external_id=f"more{i}", contact=lead, event_name="Lead",
                                        occurred_at=at(11, 20))
        Appointment.objects.create(workspace=workspace, source_id=f"more{i}", contact=zed, kind="assessment",
                                   scheduled_at=at(11, 25 - i), status="held")
        deal = Deal.objects.create(workspace=workspace, contact=lead, stage_id=STAGE["lost"], created_at=at(11, 21),
                                   closed_lost_reason=f"Reason {i}")
        DealStageHistory.objects.create(workspace=workspace, deal=deal, stage_id=STAGE["lost"], entered_at=at(11, 22))
    with django_assert_max_num_queries(len(first.captured_queries)):
        admin.get("/deep-intel/", NOV)
    shown = {}
    for name in LOADED_AFTER_PAGE:
        with django_assert_max_num_queries(len(later[name].captured_queries)):
            shown[name] = partial(admin, name)
    assert "Reason 5" in shown["loss-reasons"]
    assert "1–8 of 8" in shown["assessment-truth"]  # Cy, D5 and Zed's six new assessments with no deal held
    assert {r[0]: r[1] for r in rows(shown["deep-funnel"], "funnel-stages-table")}["Leads"] == "12"
