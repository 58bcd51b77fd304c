"""/clients/ (list with filters), /clients/<id>/ (client page with its timeline) and /interventions/ (the queue,
its inline update and the effectiveness cards): roles and scoping, partials, filters and their 400s, CSV,
hand-computed figures and bounded query counts."""

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from clients.models import (Call, Contact, HealthScore, Interaction, Intervention, Package, TrainingSession)
from clients.selectors_clients import effectiveness_summary, timeline_for
from finance.models import Payment
from ptd.models import Membership
from ptd.scoping import Scope

pytestmark = pytest.mark.django_db

DUBAI = ZoneInfo("Asia/Dubai")
DAY = date(2026, 11, 25)
CRITICAL = {"code": "no_recent_session", "severity": "critical", "text": "no attended session in 14 days",
            "evidence": {"since_last_attended": "16 days"}}
WARNING = {"code": "attendance_drop", "severity": "warning", "text": "attendance down 60% vs the prior 4 weeks",
           "evidence": {}}


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=DUBAI)


def scope_of(user, workspace) -> Scope:
    return Scope.of(Membership.objects.select_related("workspace").get(user=user, workspace=workspace))


def make_client(ws, first, last, coach, *, zone=None, total=None, risk=None, trend="stable", flags=(), sessions=(12, 4),
                expires=date(2026, 12, 31), email=None):
    contact = Contact.objects.create(workspace=ws, first_name=first, last_name=last, coach=coach,
                                     email_normalized=email or f"{first.lower()}@example.com",
                                     phone_e164="+971501234567", created_at=at(date(2026, 1, 5)))
    bought, used = sessions
    Package.objects.create(workspace=ws, contact=contact, source_id=f"pk-{first}", name="12 sessions",
                           sessions_purchased=bought, sessions_used=used, value=Decimal("6000"),
                           starts_on=date(2026, 10, 1), expires_on=expires)
    if zone:
        HealthScore.objects.create(workspace=ws, contact=contact, date=DAY, total=total, zone=zone, churn_risk=risk,
                                   trend=trend, flags=list(flags), engagement=Decimal("40"), financial=Decimal("90"),
                                   relationship=None, package_health=Decimal("55"), momentum=Decimal("30"))
    return contact


@pytest.fixture
def book(workspace, make_staff):
    """Three clients (two of Dana's, one of Sam's) and a lead without a package (not a client)."""
    dana, sam = make_staff(workspace, "coach", name="Dana Coach"), make_staff(workspace, "coach", name="Sam Coach")
    setter = make_staff(workspace, "setter", name="Sara Setter")
    aisha = make_client(workspace, "Aisha", "Khan", dana, zone="red", total=Decimal("38"), risk=Decimal("86"),
                        trend="declining", flags=[WARNING, CRITICAL], sessions=(12, 9))
    aisha.owner = setter
    aisha.save()
    HealthScore.objects.create(workspace=workspace, contact=aisha, date=DAY - timedelta(days=1), total=Decimal("72"),
                               zone="green", churn_risk=Decimal("30"))
    omar = make_client(workspace, "Omar", "Said", dana, zone="yellow", total=Decimal("61"), risk=Decimal("45"))
    lina = make_client(workspace, "Lina", "Haddad", sam, zone="green", total=Decimal("78"), risk=Decimal("12"),
                       trend="improving", expires=date(2026, 12, 5))
    Contact.objects.create(workspace=workspace, first_name="Noor", last_name="Lead", created_at=at(DAY))
    return {"dana": dana, "sam": sam, "setter": setter, "aisha": aisha, "omar": omar, "lina": lina}


def user_client(workspace, make_user, client_for, role, staff=None):
    return client_for(make_user(workspace, role, staff=staff))


def names_in(html: str, candidates=("Aisha", "Omar", "Lina", "Noor")) -> set[str]:
    return {n for n in candidates if n in html}


# ---- /clients/ ------------------------------------------------------------------------------------

def test_list_shows_every_client_riskiest_first_with_bounded_queries(workspace, book, make_user, client_for,
                                                                     django_assert_max_num_queries):
    admin = user_client(workspace, make_user, client_for, "admin")
    TrainingSession.objects.create(workspace=workspace, contact=book["aisha"], source_id="s-last", coach=book["dana"],
                                   starts_at=at(date(2026, 11, 3), 7), status="attended")
    Intervention.objects.create(workspace=workspace, contact=book["aisha"], kind="emergency", assigned_to=book["dana"])
    with django_assert_max_num_queries(10):
        response = admin.get("/clients/")
    html = response.content.decode()
    assert response.status_code == 200 and "Wednesday 25 November 2026" in html
    table = html.split('id="clients-table"')[1]
    assert names_in(table) == {"Aisha", "Omar", "Lina"}  # Noor has no package and no score: a lead, not a client
    assert table.index("Aisha") < table.index("Omar") < table.index("Lina")  # churn risk 86 > 45 > 12
    aisha_row = table.split("Aisha Khan")[1].split("</tr>")[0]
    for cell in ("38.0", "Red", "86.0 %", "Declining", "Dana Coach", ">3<", "31 Dec 2026", "03 Nov 2026<", ">1<"):
        assert cell in aisha_row, cell
    assert f'href="/clients/{book["aisha"].pk}/"' in table


@pytest.mark.parametrize("query, expected", [
    ("zone=red", {"Aisha"}),
    ("zone=green&risk=low", {"Lina"}),
    ("risk=high", {"Aisha"}),
    ("risk=medium", {"Omar"}),
    ("q=haddad", {"Lina"}),
    ("q=aisha%20khan", {"Aisha"}),
    ("q=omar@example", {"Omar"}),
])
def test_list_filters(workspace, book, make_user, client_for, query, expected):
    html = user_client(workspace, make_user, client_for, "admin").get(f"/clients/?{query}").content.decode()
    assert names_in(html.split('id="clients"')[1]) == expected


def test_list_coach_filter_and_bad_filters_are_400_with_a_message(workspace, other_workspace, book, make_user,
                                                                   client_for, make_staff):
    admin = user_client(workspace, make_user, client_for, "admin")
    html = admin.get(f"/clients/?coach={book['sam'].pk}").content.decode()
    assert names_in(html.split('id="clients"')[1]) == {"Lina"}
    far_coach = make_staff(other_workspace, "coach", name="Far Coach")
    for query, message in [("zone=blue", "Unknown zone"), ("risk=extreme", "Unknown risk band"),
                           ("coach=abc", "Unknown coach"), (f"coach={far_coach.pk}", "Unknown coach"),
                           (f"coach={book['setter'].pk}", "Unknown coach"), ("q=" + "x" * 101, "longer than 100")]:
        response = admin.get(f"/clients/?{query}")
        assert response.status_code == 400 and message in response.content.decode(), query
    viewer = user_client(workspace, make_user, client_for, "viewer")
    response = viewer.get("/clients/?q=aisha")
    assert response.status_code == 400 and "not available to your role" in response.content.decode()


def test_list_roles_coach_sees_own_viewer_sees_no_names_setter_403(workspace, book, make_user, client_for):
    coach = user_client(workspace, make_user, client_for, "coach", staff=book["dana"])
    html = coach.get("/clients/").content.decode()
    assert names_in(html.split('id="clients"')[1]) == {"Aisha", "Omar"}
    assert 'id="f-coach"' not in html  # a coach only has their own clients to filter
    viewer = user_client(workspace, make_user, client_for, "viewer")
    html = viewer.get("/clients/").content.decode()
    assert names_in(html) == set() and "aisha@example.com" not in html
    assert "Client ID" in html and f'href="/clients/{book["aisha"].pk}/"' in html and 'id="f-q"' not in html
    assert user_client(workspace, make_user, client_for, "setter").get("/clients/").status_code == 403


def test_list_partial_sort_pages_and_csv(workspace, book, make_user, client_for):
    admin = user_client(workspace, make_user, client_for, "admin")
    partial = admin.get("/clients/?partial=clients&zone=green", HTTP_HX_REQUEST="true").content.decode()
    assert partial.strip().startswith('<section id="clients"') and "<html" not in partial
    assert names_in(partial) == {"Lina"}
    # Columns read for the shown page only are not sortable: the default order (churn risk) instead.
    for sort in ("-last_attended", "name"):
        html = admin.get(f"/clients/?clients-sort={sort}").content.decode().split('id="clients-table"')[1]
        assert html.index("Aisha") < html.index("Omar") < html.index("Lina"), sort
    coach = user_client(workspace, make_user, client_for, "coach", staff=book["dana"])
    html = coach.get("/clients/?clients-sort=-name").content.decode().split('id="clients-table"')[1]
    assert html.index("Omar") < html.index("Aisha")  # a coach's own clients sort by name
    response = admin.get("/clients/?export=clients&rows=all&zone=red")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["Client", "Health", "Zone", "Churn risk (%)", "Trend"]
    assert rows[1][:5] == ["Aisha Khan", "38.00", "Red", "86.00", "Declining"] and len(rows) == 2


def test_list_is_the_latest_scored_day_and_empty_states_say_why(workspace, book, make_user, client_for):
    admin = user_client(workspace, make_user, client_for, "admin")
    HealthScore.objects.filter(contact=book["omar"]).delete()  # no longer scored (package ended > 60 days ago)
    html = admin.get("/clients/").content.decode()
    assert names_in(html.split('id="clients"')[1]) == {"Aisha", "Lina"}
    assert "No client matches these filters." in admin.get("/clients/?zone=purple").content.decode()
    HealthScore.objects.all().delete()
    html = admin.get("/clients/").content.decode()
    assert "No health score yet" in html and "clients (contacts with a package) are scored every day" in html


# ---- /clients/<id>/ -------------------------------------------------------------------------------

@pytest.fixture
def history(workspace, book):
    """Aisha's sessions, payments, calls, messages and interventions."""
    aisha, dana = book["aisha"], book["dana"]
    TrainingSession.objects.create(workspace=workspace, contact=aisha, source_id="s1", coach=dana,
                                   starts_at=at(date(2026, 11, 3), 7), status="attended")
    TrainingSession.objects.create(workspace=workspace, contact=aisha, source_id="s2", coach=dana,
                                   starts_at=at(date(2026, 11, 10), 7), status="no_show")
    Payment.objects.create(workspace=workspace, stripe_id="ch_1", contact=aisha, amount_minor=600000, currency="AED",
                           status="succeeded", created=at(date(2026, 10, 1), 9), description="12 sessions")
    Payment.objects.create(workspace=workspace, stripe_id="ch_2", contact=aisha, amount_minor=50000, currency="AED",
                           status="failed", failure_message="Your card was declined.", created=at(date(2026, 11, 20), 9))
    Call.objects.create(workspace=workspace, source_id="c1", contact=aisha, staff=book["setter"],
                        started_at=at(date(2026, 11, 21), 12), talk_seconds=150, outcome="answered",
                        recording_url="https://calls.example/rec/1")
    Interaction.objects.create(workspace=workspace, contact=aisha, staff=dana, channel="whatsapp", direction="inbound",
                               occurred_at=at(date(2026, 11, 22), 18), summary="Aisha says work is busy",
                               sentiment="negative", response_minutes=95)
    own = Intervention.objects.create(workspace=workspace, contact=aisha, kind="re_engagement", priority="high",
                                      assigned_to=dana, trigger="zone green → red", recommended_action="Call today",
                                      message_draft="Hi Aisha, we miss you", due_at=timezone.now() + timedelta(days=1))
    admins = Intervention.objects.create(workspace=workspace, contact=aisha, kind="coach_reassignment", priority="medium",
                                         assigned_to=None, trigger="negative sentiment")
    return {"own": own, "admins": admins}


def test_client_page_for_admin(workspace, book, history, make_user, client_for, django_assert_max_num_queries):
    admin = user_client(workspace, make_user, client_for, "admin")
    with django_assert_max_num_queries(30):
        response = admin.get(f"/clients/{book['aisha'].pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Aisha Khan</h1>" in html and "Dana Coach" in html and "Sara Setter" in html
    assert '<span class="kpi-number">38.0</span> <span class="zone-badge zone-red">Red</span>' in html
    assert "86 %" in html and "Declining" in html and "3 left" in html and "3 of 12 sessions left, expires 31 Dec 2026" in html
    assert 'data-plotly="history-chart"' in html and 'id="history-chart"' in html
    breakdown = html.split('class="dimension-list"')[1].split("</ul>")[0]
    assert "Engagement" in breakdown and "30 % of total" in breakdown and "no data: the total is re-weighted" in breakdown
    warnings = html.split("Warnings on the latest score")[1].split("</section>")[0]
    assert warnings.index("no attended session in 14 days") < warnings.index("attendance down 60%")  # critical first
    sessions = html.split('id="sessions"')[1].split("</section>")[0]
    assert "No-show" in sessions and "Attended" in sessions
    payments = html.split('id="payments"')[1].split("</section>")[0]
    assert "AED 6,000" in payments and "Your card was declined." in payments
    calls = html.split('id="calls"')[1].split("</section>")[0]
    assert "2.5 min" in calls and 'href="https://calls.example/rec/1"' in calls
    assert "Aisha says work is busy" in html and "95.0 min" in html
    cards = html.split('id="interventions"')[1].split("</section>")[0]
    assert "Re-engagement" in cards and "Coach reassignment" in cards and cards.count("<form") == 2  # admin: both
    assert "Hi Aisha, we miss you" in cards


def test_timeline_merges_every_source_newest_first_and_is_bounded(workspace, book, history, make_user):
    admin = scope_of(make_user(workspace, "admin"), workspace)
    aisha = book["aisha"]
    points = list(HealthScore.objects.filter(contact=aisha).order_by("date").values("date", "total", "zone"))
    events = timeline_for(admin, aisha, history=points, tz=DUBAI)
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
    assert {e.source for e in events} == {"session", "payment", "call", "interaction", "intervention", "health"}
    zone = next(e for e in events if e.source == "health")
    assert zone.title == "Zone Green → Red" and zone.at == at(DAY, 0) and zone.tone == "bad"
    failed = next(e for e in events if e.title.startswith("Payment AED 500.00"))
    assert failed.title == "Payment AED 500.00 failed" and failed.detail == "Your card was declined."
    assert [e.source for e in timeline_for(admin, aisha, history=points, tz=DUBAI, limit=3)] == [
        "intervention", "intervention", "health"]
    coach = scope_of(make_user(workspace, "coach", staff=book["dana"]), workspace)
    coach_events = timeline_for(coach, aisha, history=points, tz=DUBAI)
    assert "payment" not in {e.source for e in coach_events}  # finance is not shown to coaches
    assert sum(e.title.startswith("Intervention opened") for e in coach_events) == 1  # only the one assigned to Dana


def test_client_page_roles(workspace, book, history, make_user, client_for):
    aisha = book["aisha"]
    coach = user_client(workspace, make_user, client_for, "coach", staff=book["dana"])
    html = coach.get(f"/clients/{aisha.pk}/").content.decode()
    assert "Aisha Khan" in html and 'id="payments"' not in html and "AED 6,000" not in html
    cards = html.split('id="interventions"')[1].split("</section>")[0]
    assert "Re-engagement" in cards and "Coach reassignment" not in cards and cards.count("<form") == 1
    assert coach.get(f"/clients/{book['lina'].pk}/").status_code == 404  # Sam's client
    assert coach.get("/clients/999999/").status_code == 404
    viewer = user_client(workspace, make_user, client_for, "viewer")
    html = viewer.get(f"/clients/{aisha.pk}/").content.decode()
    assert f"<h1>Client {aisha.pk}</h1>" in html and names_in(html) == set()
    assert "aisha@example.com" not in html and "+971501234567" not in html and "rec/1" not in html
    assert "Hi Aisha" not in html and "<form" not in html.split('id="interventions"')[1].split("</section>")[0]
    assert "AED 6,000" in html  # viewers read finance, without names
    assert user_client(workspace, make_user, client_for, "setter").get(f"/clients/{aisha.pk}/").status_code == 403


@pytest.mark.parametrize("partial", ["summary", "history", "interventions", "timeline", "sessions", "payments", "calls",
                                     "interactions"])
def test_client_page_partials(workspace, book, history, make_user, client_for, partial, django_assert_max_num_queries):
    admin = user_client(workspace, make_user, client_for, "admin")
    # A live refresh reads only its own section's data (the timeline reads its six sources).
    with django_assert_max_num_queries(16 if partial == "timeline" else 10):
        html = admin.get(f"/clients/{book['aisha'].pk}/?partial={partial}", HTTP_HX_REQUEST="true").content.decode()
    assert html.strip().startswith(f'<section id="{partial}"') and "<html" not in html


def test_score_history_chart_is_a_valid_figure_over_the_zone_bands():
    import plotly.graph_objects as go

    from clients.charts import client_score_history

    points = [{"date": DAY - timedelta(days=1), "total": Decimal("72"), "engagement": Decimal("80"), "financial": None,
               "relationship": None, "package_health": Decimal("60"), "momentum": Decimal("50")},
              {"date": DAY, "total": Decimal("38"), "engagement": Decimal("20"), "financial": None,
               "relationship": None, "package_health": Decimal("55"), "momentum": Decimal("30")}]
    fig = client_score_history(points, (85, 70, 50))
    go.Figure(fig)  # raises on anything plotly.js would not understand
    assert fig["layout"]["title"]["text"].endswith("?")
    assert [t["name"] for t in fig["data"]] == ["Engagement", "Financial", "Relationship", "Package health", "Momentum",
                                               "Total"]
    assert fig["data"][1]["y"] == [None, None] and fig["data"][-1]["y"] == [72.0, 38.0]  # no data: a gap, not 0
    assert [(z["y0"], z["y1"]) for z in fig["layout"]["shapes"]] == [(0, 50), (50, 70), (70, 85), (85, 100)]


def test_client_page_tables_export_and_unscored_client(workspace, book, history, make_user, client_for):
    admin = user_client(workspace, make_user, client_for, "admin")
    response = admin.get(f"/clients/{book['aisha'].pk}/?export=sessions")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [["When", "Status", "Coach", "Package"], ["2026-11-10 07:00", "No-show", "Dana Coach", ""],
                    ["2026-11-03 07:00", "Attended", "Dana Coach", ""]]
    HealthScore.objects.filter(contact=book["omar"]).delete()
    html = admin.get(f"/clients/{book['omar'].pk}/").content.decode()
    assert "Not scored yet" in html and "No history yet" in html and "No training sessions for this client" in html


# ---- inline intervention update --------------------------------------------------------------------

def post(client, iv, **data):
    return client.post("/interventions/", {"intervention": iv.pk, "next": "/interventions/", **data},
                       HTTP_HX_REQUEST="true")


def test_assigned_coach_updates_inline_and_gets_the_card_back(workspace, book, history, make_user, client_for):
    coach = user_client(workspace, make_user, client_for, "coach", staff=book["dana"])
    iv = history["own"]
    response = post(coach, iv, status="in_progress", outcome_notes="")
    html = response.content.decode()
    assert response.status_code == 200 and html.strip().startswith(f'<article id="intervention-{iv.pk}"')
    assert "In progress" in html and "Mark done" in html and "<html" not in html
    response = post(coach, iv, status="done", outcome_notes="  ")
    html = response.content.decode()
    assert response.status_code == 400 and "needs an outcome note" in html and 'role="alert"' in html
    assert html.strip().startswith(f'<article id="intervention-{iv.pk}"')  # the card, with the error in it
    assert Intervention.objects.get(pk=iv.pk).status == "in_progress"
    response = post(coach, iv, status="done", outcome_notes="Booked two sessions for next week")
    assert response.status_code == 200 and "Booked two sessions for next week" in response.content.decode()
    saved = Intervention.objects.get(pk=iv.pk)
    assert saved.status == "done" and saved.completed_at is not None
    response = post(coach, iv, status="open", outcome_notes="x")
    assert response.status_code == 400 and "cannot become open" in response.content.decode()


def test_update_permissions_and_bad_input(workspace, book, history, make_user, client_for):
    iv = history["own"]
    assert post(user_client(workspace, make_user, client_for, "viewer"), iv, status="in_progress").status_code == 403
    assert post(user_client(workspace, make_user, client_for, "setter"), iv, status="in_progress").status_code == 403
    sam = user_client(workspace, make_user, client_for, "coach", staff=book["sam"])
    assert post(sam, iv, status="in_progress").status_code == 404  # not in Sam's queue
    dana = user_client(workspace, make_user, client_for, "coach", staff=book["dana"])
    assert post(dana, history["admins"], status="in_progress").status_code == 404  # assigned to nobody: admins'
    admin = user_client(workspace, make_user, client_for, "admin")
    response = admin.post("/interventions/", {"intervention": "x1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "Which intervention?" in response.content.decode()
    response = post(admin, iv, status="finished")
    assert response.status_code == 400 and "Unknown status" in response.content.decode()
    response = post(admin, iv, outcome_notes="x" * 4001)
    assert response.status_code == 400 and "longer than 4,000" in response.content.decode()
    assert Intervention.objects.get(pk=iv.pk).status == "open"
    assert post(admin, history["admins"], status="in_progress").status_code == 200


def test_plain_form_post_redirects_back_and_csrf_is_enforced(workspace, book, history, make_user, client_for):
    user = make_user(workspace, "coach", staff=book["dana"])
    iv = history["own"]
    page = f"/clients/{book['aisha'].pk}/"
    response = client_for(user).post("/interventions/", {"intervention": iv.pk, "status": "in_progress", "next": page})
    assert response.status_code == 302 and response["Location"] == page
    response = client_for(user).post("/interventions/", {"intervention": iv.pk, "status": "done", "next": page})
    assert response.status_code == 400 and "needs an outcome note" in response.content.decode()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/interventions/", {"intervention": iv.pk, "status": "dismissed",
                                           "outcome_notes": "x"}).status_code == 403
    assert Intervention.objects.get(pk=iv.pk).status == "in_progress"


# ---- /interventions/ ------------------------------------------------------------------------------

@pytest.fixture
def queue(workspace, book):
    ws, dana, sam = workspace, book["dana"], book["sam"]
    now = timezone.now()
    made = {}
    for key, contact, kind, priority, score, coach in [
        ("low", book["lina"], "proactive_checkin", "low", 1000, sam),
        ("critical", book["aisha"], "emergency", "critical", 30000, dana),
        ("high_small", book["omar"], "re_engagement", "high", 10000, dana),
        ("high_big", book["lina"], "re_engagement", "high", 15000, sam),
    ]:
        made[key] = Intervention.objects.create(workspace=ws, contact=contact, kind=kind, priority=priority,
                                                priority_score=Decimal(score), assigned_to=coach,
                                                due_at=now + timedelta(days=1), trigger=f"{key} trigger")
    # Done and measured: health +6 and −2 after 30 days; one dismissed.
    for contact, delta, sessions, revenue in [(book["omar"], "6", 3, "2500"), (book["lina"], "-2", 0, "0")]:
        Intervention.objects.create(workspace=ws, contact=contact, kind="upgrade_opportunity", status="done",
                                    assigned_to=dana, outcome_notes="done", completed_at=now,
                                    health_delta_30d=Decimal(delta), sessions_recovered=sessions,
                                    revenue_protected=Decimal(revenue))
    Intervention.objects.create(workspace=ws, contact=book["aisha"], kind="special_promotion", status="dismissed",
                                assigned_to=sam, outcome_notes="moved away", completed_at=now)
    return made


def queue_order(html: str) -> list[str]:
    """The fixture's keys in the order the queue table shows them (read from the trigger column)."""
    return re.findall(r"<td>(\w+) trigger</td>", html.split('id="queue-table"')[1].split("</table>")[0])


def test_queue_in_priority_order_with_effectiveness_cards(workspace, book, queue, make_user, client_for,
                                                          django_assert_max_num_queries):
    admin = user_client(workspace, make_user, client_for, "admin")
    with django_assert_max_num_queries(14):
        html = admin.get("/interventions/").content.decode()
    assert queue_order(html) == ["critical", "high_big", "high_small", "low"]
    cards = html.split('id="effectiveness"')[1].split("</section>")[0]
    # 4 open; 2 done (1 dismissed); success 1 of 2 measured = 50 %; mean 30-day change (6 − 2) / 2 = +2.0;
    # sessions 3 + 0; revenue AED 2,500 + 0.
    for label, value in [("Open now", "4"), ("Done", "2"), ("Success rate", "50.0 %"),
                         ("Health change after 30 days", "+2.0 points"), ("Sessions recovered", "3"),
                         ("Revenue protected", "AED 2,500")]:
        card = cards.split(f">{label}</h3>")[1].split("</article>")[0]
        assert f'<span class="kpi-number">{value}</span>' in card, label
    assert "7 opened in all" in cards and "1 dismissed" in cards and "1 of 2 measured" in cards
    by_kind = html.split('id="by-kind"')[1].split("</section>")[0]
    assert "Upgrade opportunity" in by_kind and "50.0 %" in by_kind


def test_effectiveness_summary_weights_the_30_day_change_by_measured_count():
    group = {"total": 0, "open": 0, "done": 0, "dismissed": 0, "sessions_recovered": 0, "revenue_protected": Decimal(0)}
    summary = effectiveness_summary([
        {**group, "measured": 2, "successful": 1, "avg_health_delta_30d": Decimal("2.00")},  # +5 and −1
        {**group, "measured": 1, "successful": 1, "avg_health_delta_30d": Decimal("3.00")},
        {**group, "measured": 0, "successful": 0, "avg_health_delta_30d": None},
    ])
    assert summary.success_rate == Decimal("66.7") and summary.avg_health_delta_30d == Decimal("2.33")
    empty = effectiveness_summary([])
    assert empty.success_rate is None and empty.cards[2].empty_reason == "none measured at 30 days yet"


@pytest.mark.parametrize("query, expected", [
    ("priority=high", ["high_big", "high_small"]),
    ("status=all&priority=critical", ["critical"]),
    ("status=in_progress", []),
    ("queue-sort=-priority_score", ["critical", "high_big", "high_small", "low"]),
    ("queue-sort=queue_rank&queue-page=1", ["critical", "high_big", "high_small", "low"]),
])
def test_queue_filters(workspace, book, queue, make_user, client_for, query, expected):
    html = user_client(workspace, make_user, client_for, "admin").get(f"/interventions/?{query}").content.decode()
    assert (queue_order(html) if expected else []) == expected
    if not expected:
        assert "Nothing matches these filters." in html


def test_queue_assignee_filter_roles_and_bad_filters(workspace, book, queue, make_user, client_for):
    admin = user_client(workspace, make_user, client_for, "admin")
    assert queue_order(admin.get(f"/interventions/?assigned={book['sam'].pk}").content.decode()) == ["high_big", "low"]
    assert "The queue is empty" not in admin.get("/interventions/?assigned=none").content.decode()
    for query, message in [("status=closed", "Unknown status"), ("priority=urgent", "Unknown priority"),
                           ("assigned=99999", "Unknown assignee"), ("iv=abc", "iv must be an intervention id")]:
        response = admin.get(f"/interventions/?{query}")
        assert response.status_code == 400 and message in response.content.decode(), query
    coach = user_client(workspace, make_user, client_for, "coach", staff=book["dana"])
    html = coach.get("/interventions/").content.decode()
    assert queue_order(html) == ["critical", "high_small"] and 'id="f-assigned"' not in html
    assert coach.get(f"/interventions/?iv={queue['low'].pk}").status_code == 404  # Sam's
    viewer_html = user_client(workspace, make_user, client_for, "viewer").get("/interventions/").content.decode()
    assert names_in(viewer_html) == set() and f"Client {book['aisha'].pk}" in viewer_html
    assert user_client(workspace, make_user, client_for, "setter").get("/interventions/").status_code == 403


def test_opening_one_from_the_queue_shows_its_card_and_partials(workspace, book, queue, make_user, client_for):
    coach = user_client(workspace, make_user, client_for, "coach", staff=book["dana"])
    iv = queue["critical"]
    html = coach.get("/interventions/").content.decode()
    assert f'href="/interventions/?iv={iv.pk}#work"' in html
    html = coach.get(f"/interventions/?priority=critical&iv={iv.pk}").content.decode()
    work = html.split('id="work"')[1]
    assert f'id="intervention-{iv.pk}"' in work and "Start working" in work and "Emergency intervention" in work
    assert 'href="/interventions/?priority=critical"' in work  # closing keeps the filters
    for partial in ("effectiveness", "queue", "by-kind"):
        body = coach.get(f"/interventions/?partial={partial}", HTTP_HX_REQUEST="true").content.decode()
        assert body.strip().startswith(f'<section id="{partial}"') and "<html" not in body
    response = coach.get("/interventions/?export=queue")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["#", "Priority", "Intervention", "Client"] and [r[0] for r in rows[1:]] == ["1", "2"]
