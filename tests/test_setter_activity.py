"""Setter activity (page 6): calls grouped by the setter who made them, leads and bookings by the lead's owner,
hand-computed on a small October; the seed's broken cases (several owners, a lead never called, an unmatched
call); roles, partials, CSV and query counts."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clients import funnel
from clients.models import Call, Contact, Deal, DealStageHistory, FunnelStep
from clients.selectors_setters import (SetterBoard, calls_by_hour, lead_response, leaderboard, leads_waiting,
                                       speed_to_lead_distribution)
from ptd.metrics import kpis
from ptd.models import Benchmark
from ptd.periods import resolve_period
from ptd.scoping import Scope

DUBAI = ZoneInfo("Asia/Dubai")
OCT = resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-10-01", date_to="2026-10-31")
OCT_QUERY = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
STAGE = {"booked": "122237508", "held": "122237276", "won": "closedwon", "lost": "closedlost"}


def at(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=DUBAI)


def scope(user):
    return Scope.of(user.memberships.select_related("workspace").get())


@pytest.fixture
def world(workspace, other_workspace, make_staff, make_user):
    sam = make_staff(workspace, "setter", name="Sam Setter")
    rita = make_staff(workspace, "setter", name="Rita Setter")
    make_staff(workspace, "setter", name="Idle Setter")
    dana = make_staff(workspace, "coach", name="Dana Coach")

    def lead(name, owner, created, phone=""):
        return Contact.objects.create(workspace=workspace, first_name=name, last_name="Lead", owner=owner,
                                      created_at=created, phone_e164=phone)

    l1 = lead("Amal", sam, at(10, 5, 10))
    l2 = lead("Badr", sam, at(10, 6, 10))
    l3 = lead("Carla", sam, at(10, 7, 10), phone="+971500000003")  # never called: a breach, waiting
    l4 = lead("Dina", rita, at(10, 5, 11))
    l5 = lead("Eli", rita, at(10, 8, 9))
    l6 = lead("Fadi", None, at(10, 9, 9))  # nobody owns it and nobody called it
    l0 = lead("Zaid", sam, at(9, 20, 10))  # September: the prior period

    calls = [
        # (made by, lead, started, outcome, talk seconds, direction)
        (sam, l1, at(10, 5, 10, 3), "answered", 120, "outbound"),  # Amal: 3 min, within the SLA
        (sam, l2, at(10, 6, 10, 20), "missed", 0, "outbound"),  # Badr: first call after 20 min
        (sam, l2, at(10, 6, 12), "answered", 300, "outbound"),
        (sam, l4, at(10, 5, 11, 2), "missed", 0, "outbound"),  # Sam rings Rita's lead Dina after 2 min
        (sam, l3, at(10, 7, 10, 1), "missed", 0, "inbound"),  # Carla rang and nobody answered: not a first call
        (rita, l4, at(10, 5, 13), "answered", 600, "outbound"),
        (rita, None, at(10, 10, 15), "answered", 60, "outbound"),  # not matched to a lead yet
        (rita, l5, at(10, 8, 9, 30), "busy", 0, "outbound"),  # Eli: 30 min
        (sam, l0, at(9, 20, 10, 10), "answered", 90, "outbound"),  # September: Zaid after 10 min
    ]
    for i, (staff, contact, started, outcome, talk, direction) in enumerate(calls):
        Call.objects.create(workspace=workspace, source_id=f"c{i}", staff=staff, contact=contact, started_at=started,
                            outcome=outcome, talk_seconds=talk, direction=direction)
    other_setter = make_staff(other_workspace, "setter", name="Elsewhere Setter")
    Call.objects.create(workspace=other_workspace, source_id="x1", staff=other_setter, started_at=at(10, 5, 10),
                        outcome="answered", talk_seconds=999)

    def deal(contact, cash, *history):
        d = Deal.objects.create(workspace=workspace, contact=contact, owner=dana, stage_id=STAGE[history[-1][0]],
                                cash_collected=Decimal(cash), created_at=history[0][1])
        for step, entered in history:
            DealStageHistory.objects.create(workspace=workspace, deal=d, stage_id=STAGE[step], entered_at=entered)

    deal(l1, 3000, ("booked", at(10, 5, 11)), ("held", at(10, 8, 10)), ("won", at(10, 9, 12)))
    deal(l2, 0, ("booked", at(10, 6, 13)), ("lost", at(10, 10, 9)))  # a no-show
    deal(l4, 0, ("booked", at(10, 5, 14)), ("held", at(10, 7, 10)))
    deal(l0, 5000, ("booked", at(9, 20, 11)), ("held", at(10, 2, 10)), ("won", at(10, 3, 10)))
    users = {
        "admin": make_user(workspace, "admin"), "viewer": make_user(workspace, "viewer"),
        "setter": make_user(workspace, "setter", staff=sam), "rita": make_user(workspace, "setter", staff=rita),
        "coach": make_user(workspace, "coach", staff=dana),
    }
    return {"users": users, "sam": sam, "rita": rita, "leads": [l0, l1, l2, l3, l4, l5, l6]}


def by_setter(rows):
    return {row["setter"]: row for row in rows}


@pytest.mark.django_db
def test_metrics_by_hand(world):
    admin, sam = scope(world["users"]["admin"]), scope(world["users"]["setter"])
    names = ["reach_rate", "speed_to_first_call", "sla_compliance", "show_rate", "answer_rate"]
    team = {k.name: k for k in kpis(names, OCT, admin)}
    # Leads called in October: Amal, Badr, Carla (her own missed call), Dina, Eli; answered: Amal, Badr, Dina.
    assert team["reach_rate"].value == Decimal("60.0000")
    assert team["answer_rate"].value == Decimal("50.0000")  # 4 of 8 calls; the other workspace's call is not ours
    # First calls after 3 (Amal), 20 (Badr), 2 (Dina, by Sam) and 30 min (Eli): median (3 + 20) / 2.
    assert team["speed_to_first_call"].value == Decimal("11.5")
    # Within 5 min: Amal and Dina, of 6 leads (Carla and Fadi never called: breaches).
    assert team["sla_compliance"].value == Decimal("33.3333")
    # Booked in October: Amal, Badr (Sam's), Dina (Rita's); held by now: Amal, Dina.
    assert team["show_rate"].value == Decimal("66.6667")

    own = {k.name: k for k in kpis(names, OCT, sam)}
    # Sam's calls: Amal, Badr, Dina, Carla touched; Amal and Badr reached.
    assert own["reach_rate"].value == Decimal("50.0000")
    assert own["speed_to_first_call"].value == Decimal("11.5")  # his leads: Amal 3, Badr 20; Carla not called
    assert own["sla_compliance"].value == Decimal("33.3333")  # Amal of Amal, Badr, Carla
    assert own["show_rate"].value == Decimal("50.0000")  # Amal held, Badr did not
    # September: Zaid called after 10 min (SLA missed), his deal booked then and held.
    assert own["speed_to_first_call"].prior == Decimal("10.0") and own["sla_compliance"].prior == 0
    assert own["show_rate"].prior == Decimal("100.0000") and own["show_rate"].delta_good is False
    assert own["speed_to_first_call"].delta_good is False  # slower is worse


@pytest.mark.django_db
def test_calls_are_grouped_by_the_setter_who_made_them(world):
    """The seed's page did not group by owner: each setter's counts must be their own."""
    rows = by_setter(SetterBoard(scope(world["users"]["admin"]), OCT, Decimal(5)).activity)
    assert set(rows) == {"Sam Setter", "Rita Setter", "Idle Setter", "No setter assigned"}
    sam, rita = rows["Sam Setter"], rows["Rita Setter"]
    assert (sam["calls"], sam["answered"], sam["talk_minutes"], sam["leads_touched"], sam["leads_reached"]) == (
        5, 2, Decimal(7), 4, 2)
    # Rita's unmatched call counts in calls and talk time but not in leads touched.
    assert (rita["calls"], rita["answered"], rita["talk_minutes"], rita["leads_touched"], rita["leads_reached"]) == (
        3, 2, Decimal(11), 2, 1)
    assert (sam["reach_rate"], rita["reach_rate"]) == (Decimal("50.0000"), Decimal("50.0000"))
    # Leads by owner: Dina was first called by Sam after 2 min, and it counts for Rita, who owns her.
    assert (sam["leads"], sam["speed_minutes"], sam["sla_pct"]) == (3, Decimal("11.5"), Decimal("33.3333"))
    assert (rita["leads"], rita["speed_minutes"], rita["sla_pct"]) == (2, Decimal("16.0"), Decimal("50.0000"))
    assert (sam["booked"], sam["show_rate"], sam["ghost_rate"], sam["cash"]) == (
        2, Decimal("50.0000"), Decimal("50.0000"), Decimal("3000"))
    assert (rita["booked"], rita["show_rate"], rita["ghost_rate"], rita["cash"]) == (
        1, Decimal("100.0000"), Decimal("0.0000"), Decimal("0"))
    idle = rows["Idle Setter"]
    assert (idle["calls"], idle["leads"], idle["booked"], idle["reach_rate"], idle["sla_pct"]) == (0, 0, 0, None, None)
    nobody = rows["No setter assigned"]
    assert (nobody["leads"], nobody["sla_pct"], nobody["calls"]) == (1, Decimal("0.0000"), 0)  # Fadi: a breach


@pytest.mark.django_db
def test_setter_funnel_matrix_by_hand(world):
    admin = scope(world["users"]["admin"])
    rows = by_setter(SetterBoard(admin, OCT, Decimal(5)).activity)
    sam, rita = rows["Sam Setter"], rows["Rita Setter"]
    # Sam's October bookings: Amal (held, won, AED 3,000) and Badr (no-show, lost).
    assert (sam["leads"], sam["booked"], sam["held"], sam["won"], sam["lost"]) == (3, 2, 1, 1, 1)
    assert sam["lead_to_deal_pct"] == Decimal("66.6667")  # Amal and Badr of his three leads have a deal
    # Held in October: Zaid (booked in September) and Amal, both won.
    assert sam["held_won_rate"] == Decimal("100.0000")
    assert (rita["leads"], rita["booked"], rita["held"], rita["won"], rita["lost"]) == (2, 1, 1, 0, 0)
    assert (rita["lead_to_deal_pct"], rita["held_won_rate"]) == (Decimal("50.0000"), Decimal("0.0000"))
    # The same numbers as the shared funnel's cohort conversion, grouped by the lead's owner.
    shown = funnel.conversion(funnel.deals_of(admin), OCT, FunnelStep.BOOKED, FunnelStep.HELD,
                              group_by="contact__owner_id")
    assert (shown[world["sam"].pk].entered, shown[world["sam"].pk].converted) == (sam["booked"], sam["held"])
    assert shown[world["rita"].pk].rate == rita["show_rate"]


@pytest.mark.django_db
def test_a_lead_with_no_call_is_a_breach_and_waits_in_the_list(world):
    admin, sam = scope(world["users"]["admin"]), scope(world["users"]["setter"])
    waiting = list(leads_waiting(admin, OCT).order_by("created_at"))
    assert [w["name"] for w in waiting] == ["Carla Lead", "Fadi Lead"]  # oldest first
    assert waiting[0]["owner_name"] == "Sam Setter" and waiting[0]["phone"] == "+971500000003"
    days, unit, *_ = waiting[0]["waiting"].split()
    assert unit == "d" and int(days) >= 40  # since 7 October
    assert [w["name"] for w in leads_waiting(sam, OCT)] == ["Carla Lead"]  # only his own
    # Before Carla's SLA has passed she is not yet a breach: SLA over Amal and Badr only.
    early = lead_response(sam, OCT, Decimal(5), now=at(10, 7, 10, 2))
    assert (early.leads, early.decided, early.within_sla) == (3, 2, 1)
    assert lead_response(sam, OCT, Decimal(5)).decided == 3


@pytest.mark.django_db
def test_waiting_time_reads_as_people_say_it(workspace, make_user):
    now = timezone.now()
    ages = {"Minutes": timedelta(minutes=7, seconds=30), "Hours": timedelta(hours=3, minutes=5, seconds=30),
            "Days": timedelta(days=2, hours=4, seconds=30)}
    for name, ago in ages.items():
        Contact.objects.create(workspace=workspace, first_name=name, created_at=now - ago)
    Contact.objects.create(workspace=workspace, first_name="Future", created_at=now + timedelta(hours=1))
    today = now.astimezone(DUBAI).date()
    recent = resolve_period("custom", today=today, tz=DUBAI, date_from=(today - timedelta(days=3)).isoformat(),
                            date_to=today.isoformat())
    rows = leads_waiting(scope(make_user(workspace, "admin")), recent)
    # A lead dated in the future (clock skew at the source) is not waiting yet.
    assert {r["name"]: r["waiting"] for r in rows} == {"Minutes": "7 min", "Hours": "3 h 05 min", "Days": "2 d 4 h"}


@pytest.mark.django_db
def test_sla_comes_from_the_benchmark(world, workspace):
    Benchmark.objects.filter(workspace=workspace, key="setter_sla_minutes").update(value=Decimal("25"))
    sam = scope(world["users"]["setter"])
    assert kpis(["sla_compliance"], OCT, sam)[0].value == Decimal("66.6667")  # Amal (3) and Badr (20) of three
    buckets = speed_to_lead_distribution(scope(world["users"]["admin"]), OCT, Decimal(25))
    assert buckets[0] == ("≤ 25 min (SLA)", 3, "sla")  # Amal, Badr, Dina
    assert buckets[-1] == ("Not called yet", 2, "waiting")  # Carla, Fadi
    assert sum(n for _, n, _ in buckets) == 6


@pytest.mark.django_db
def test_speed_to_lead_buckets_and_calls_by_hour(world):
    admin = scope(world["users"]["admin"])
    buckets = speed_to_lead_distribution(admin, OCT, Decimal(5))
    assert [label for label, _, _ in buckets] == ["≤ 5 min (SLA)", "5 min–15 min", "15 min–1 h", "1 h–4 h",
                                                  "4 h–1 day", "> 1 day", "Not called yet"]
    assert [n for _, n, _ in buckets] == [2, 0, 2, 0, 0, 0, 2]
    hours = {h["hour"]: (h["answered"], h["not_answered"]) for h in calls_by_hour(admin, OCT)}
    assert len(hours) == 24
    # Dubai hours: 10:03 Amal, 10:20 Badr, 10:01 Carla; 11:02 Dina; 12:00 Badr; 13:00 Dina; 15:00; 09:30 Eli.
    assert (hours[10], hours[11], hours[12], hours[9], hours[15], hours[6]) == (
        (1, 2), (0, 1), (1, 0), (0, 1), (1, 0), (0, 0))


@pytest.mark.django_db
def test_leaderboard_shows_every_setter_with_counts_only(world):
    rows = leaderboard(scope(world["users"]["setter"]), OCT)
    assert [(r["rank"], r["setter"], r["calls"], r["reached"], r["booked"]) for r in rows] == [
        (1, "Sam Setter (you)", 5, 2, 2), (2, "Rita Setter", 3, 1, 1), (3, "Idle Setter", 0, 0, 0)]
    assert set(rows[1]) == {"rank", "staff_id", "setter", "calls", "reached", "booked"}
    admin_board = SetterBoard(scope(world["users"]["admin"]), OCT, Decimal(5))
    assert [r["setter"] for r in leaderboard(scope(world["users"]["admin"]), OCT, admin_board)] == [
        "Sam Setter", "Rita Setter", "Idle Setter"]


def get(client, query=None, **headers):
    return client.get("/setter-activity-today/", {**OCT_QUERY, **(query or {})}, **headers)


@pytest.mark.django_db
def test_page_for_each_role(world, client_for):
    users = world["users"]
    assert client_for(users["coach"]).get("/setter-activity-today/").status_code == 403

    admin = get(client_for(users["admin"])).content.decode()
    for text in ("Setter activity", "Amal Lead", "Dina Lead", "Cash from their bookings", "AED 3,000", "Warning",
                 "Healthy", "Leads waiting for a first call", "Carla Lead", "Change the SLA", "5 min", "Sam Setter"):
        assert text in admin, text
    assert 'data-plotly="hour-chart"' in admin and 'data-plotly="speed-chart"' in admin

    viewer = get(client_for(users["viewer"]))
    assert viewer.status_code == 200
    html = viewer.content.decode()
    for name in ("Amal", "Carla", "Dina", "+971500000003"):
        assert name not in html  # no contact names or phones
    assert "Sam Setter" in html and "Cash from their bookings" in html and "Change the SLA" not in html

    assert 'href="tel:+971500000003"' in admin  # tap to call from the waiting list

    response = get(client_for(users["setter"]))
    for table in ("waiting", "calls"):  # only their own leads and calls: no setter column
        assert "Setter" not in [c.label for c in response.context[table].columns]
    setter = response.content.decode()
    assert "Amal Lead" in setter and "Carla Lead" in setter  # his own calls and waiting leads
    for hidden in ("Eli Lead", "Fadi Lead", "Cash from their bookings", "AED 3,000"):
        assert hidden not in setter, hidden  # no other setter's leads, no cash
    assert setter.count("Dina Lead") == 1  # Rita's lead, only as the call Sam made to her
    assert "Rita Setter" in setter  # on the leaderboard, with counts only
    assert "Your numbers" in setter


@pytest.mark.django_db
def test_default_period_is_today_and_bad_period_is_400(world, client_for):
    admin = client_for(world["users"]["admin"])
    page = admin.get("/setter-activity-today/")
    assert page.status_code == 200 and "No calls in this period." in page.content.decode()
    bad = admin.get("/setter-activity-today/", {"period": "fortnight"})
    assert bad.status_code == 400 and "valid periods" in bad.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("partial", ["kpis", "waiting", "charts", "setters", "funnel", "leaderboard", "calls"])
def test_each_partial_alone(world, client_for, partial):
    for role in ("admin", "viewer", "setter"):
        response = get(client_for(world["users"][role]), {"partial": partial}, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200 and "<html" not in html
        assert html.lstrip().startswith(f'<section id="{partial}"')
    assert get(client_for(world["users"]["coach"]), {"partial": partial}, HTTP_HX_REQUEST="true").status_code == 403


@pytest.mark.django_db
def test_csv_export(world, client_for):
    response = get(client_for(world["users"]["admin"]), {"export": "setters", "rows": "all"})
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("Setter,Calls,Reach rate (%)")
    assert any(line.startswith("Sam Setter,5,50.00,7.00,4,11.50,33.33,2,50.00,50.00,3000.00") for line in lines)
    page = get(client_for(world["users"]["admin"]), {"export": "kpis"})  # not a table: the page itself
    assert page.status_code == 200 and "Carla Lead" in page.content.decode() and "AED 3,000" in page.content.decode()
    viewer = get(client_for(world["users"]["viewer"]), {"export": "waiting"})
    assert "Carla" not in b"".join(viewer.streaming_content).decode()  # the viewer's CSV has no names either


@pytest.mark.django_db
def test_callgear_not_connected_says_so(workspace, make_user, client_for):
    admin = client_for(make_user(workspace, "admin"))
    html = admin.get("/setter-activity-today/").content.decode()
    assert "CallGear not connected — add the token in Settings." in html and 'href="/settings/"' in html


@pytest.mark.django_db
def test_query_counts_are_bounded(world, client_for, make_staff, django_assert_max_num_queries):
    """A fixed number of queries, whatever the number of setters, leads and calls (none per row)."""
    admin, setter = client_for(world["users"]["admin"]), client_for(world["users"]["setter"])
    get(admin)  # the session's first request does one-off work
    with django_assert_max_num_queries(40) as small:
        assert get(admin).status_code == 200
    with django_assert_max_num_queries(44):
        assert get(setter).status_code == 200
    workspace = world["sam"].workspace
    for i in range(8):
        newcomer = make_staff(workspace, "setter", name=f"New Setter {i}")
        lead = Contact.objects.create(workspace=workspace, first_name=f"New {i}", owner=newcomer,
                                      created_at=at(10, 11, 9))
        for j in range(3):
            Call.objects.create(workspace=workspace, source_id=f"more{i}-{j}", staff=newcomer, contact=lead,
                                started_at=at(10, 11, 10) + timedelta(minutes=j), outcome="answered")
    with django_assert_max_num_queries(len(small)):
        assert get(admin).status_code == 200


@pytest.mark.django_db
def test_the_leads_are_read_once_per_period_per_request(world, client_for):
    """Speed to first call, SLA compliance and the per-setter table share one lead-response query per period
    (the request's memo): the current period and the prior one, not six."""
    admin = client_for(world["users"]["admin"])
    get(admin)
    with CaptureQueriesContext(connection) as queries:
        assert get(admin).status_code == 200
    assert sum("GROUPING SETS" in q["sql"] for q in queries.captured_queries) == 2
