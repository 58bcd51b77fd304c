"""/overview/: zones with week-over-week change, the daily summary, at-risk clients and the coach table (shared
sortable / paginated / CSV tables, sorted in SQL), churn backtest; scoped by role, HTMX partials."""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import F

from clients.models import Contact, HealthScore, Intervention, TrainingSession
from clients.models_coach import CoachSnapshot
from clients.selectors_overview import at_risk_rows_for, at_risk_sort_keys, daily_summary_for
from ptd.models import Membership
from ptd.scoping import Scope

DUBAI = ZoneInfo("Asia/Dubai")
DAY, WEEK_AGO = date(2026, 11, 25), date(2026, 11, 18)
FLAG = {"code": "no_recent_session", "severity": "critical", "text": "no attended session in 14 days", "evidence": {}}
INFO_FLAG = {"code": "new_client", "severity": "info", "text": "joined this month", "evidence": {}}


def section(html: str, section_id: str) -> str:
    """The HTML of one page section (sections are not nested)."""
    match = re.search(rf'<section id="{section_id}".*?</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(0)


def _at(d: date, hour: int) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=DUBAI)


def _client(ws, name, coach, before, now, total, churn_risk=None, flags=()):
    c = Contact.objects.create(workspace=ws, first_name=name, coach=coach, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    HealthScore.objects.create(workspace=ws, contact=c, date=WEEK_AGO, total=80 if before != "red" else 40, zone=before)
    HealthScore.objects.create(workspace=ws, contact=c, date=DAY, total=total, zone=now,
                               churn_risk=100 - total if churn_risk is None else churn_risk, flags=list(flags))
    return c


@pytest.fixture
def scored(workspace, make_staff):
    """Dana: Aisha green → purple, Omar green → red. Sam: Lina green → yellow, Rami red → green (recovered)."""
    dana, sam = make_staff(workspace, "coach", name="Dana"), make_staff(workspace, "coach", name="Sam")
    people = {
        "Aisha": _client(workspace, "Aisha", dana, "green", "purple", 90),
        "Omar": _client(workspace, "Omar", dana, "green", "red", 30, flags=[INFO_FLAG, FLAG]),
        "Lina": _client(workspace, "Lina", sam, "green", "yellow", 60, flags=[FLAG]),
        "Rami": _client(workspace, "Rami", sam, "red", "green", 75),
    }
    return dana, sam, people


def _scope(user, ws):
    return Scope.of(Membership.objects.select_related("workspace").get(user=user, workspace=ws))


@pytest.mark.django_db
def test_admin_sees_zones_summary_at_risk_and_backtest_state(workspace, scored, make_user, client_for,
                                                             django_assert_max_num_queries):
    admin = client_for(make_user(workspace, "admin"))
    with django_assert_max_num_queries(20):
        html = admin.get("/overview/").content.decode()
    assert "Wednesday 25 November 2026" in html
    zones = section(html, "zones")
    assert "▼ 2 vs 7 days ago" in zones  # green: Aisha, Omar, Lina a week ago; Rami today
    assert re.search(r"Average health</p>\s*<p class=\"kpi-number\">63.8</p>", zones)  # (90 + 30 + 60 + 75) / 4
    assert "75 %" not in zones and "50 %" in zones  # healthy share: Aisha (purple) and Rami (green) of 4
    at_risk = section(html, "at-risk")
    assert "Omar" in at_risk and "no attended session in 14 days" in at_risk and "Aisha" not in at_risk
    assert "joined this month" not in at_risk  # info flags are not warnings
    # riskiest first: Omar (70 %) before Lina (40 %); client and coach cells link to their pages
    dana, _, people = scored
    assert at_risk.index("Omar") < at_risk.index("Lina")
    assert f'href="/clients/{people["Omar"].pk}/"' in at_risk and f'href="/coaches/{dana.pk}/"' in at_risk
    assert "No churn model is trained yet" in html
    assert 'data-plotly="zone-chart"' in html and 'id="zone-chart"' in html


@pytest.mark.django_db
def test_daily_summary_figures(workspace, scored, make_user, client_for):
    """Hand-computed: previous scored day 18 Nov; Omar entered red (green → red); Rami recovered (red → green);
    Aisha green → purple is no recovery; interventions opened / completed on 25 Nov (Dubai); sessions attended
    on 24 Nov."""
    dana, sam, people = scored
    opened_today = Intervention.objects.create(workspace=workspace, contact=people["Omar"], kind="emergency",
                                               assigned_to=dana)
    done_today = Intervention.objects.create(workspace=workspace, contact=people["Lina"], kind="proactive_checkin",
                                             assigned_to=sam, status="done", completed_at=_at(DAY, 10))
    older = Intervention.objects.create(workspace=workspace, contact=people["Aisha"], kind="re_engagement",
                                        assigned_to=dana)
    Intervention.objects.filter(pk=opened_today.pk).update(created_at=_at(DAY, 9))
    Intervention.objects.filter(pk=done_today.pk).update(created_at=_at(DAY - timedelta(days=3), 9))
    Intervention.objects.filter(pk=older.pk).update(created_at=_at(DAY, 0) - timedelta(minutes=1))  # 24 Nov 23:59
    for i, (who, when, status) in enumerate([("Omar", _at(DAY - timedelta(days=1), 8), "attended"),
                                             ("Lina", _at(DAY - timedelta(days=1), 23), "attended"),
                                             ("Aisha", _at(DAY - timedelta(days=1), 9), "no_show"),
                                             ("Aisha", _at(DAY, 7), "attended")]):
        TrainingSession.objects.create(workspace=workspace, source_id=f"s{i}", contact=people[who], starts_at=when,
                                       status=status)

    admin = make_user(workspace, "admin")
    summary = daily_summary_for(_scope(admin, workspace), DAY)
    assert summary.previous == WEEK_AGO and summary.sessions_day == date(2026, 11, 24)
    assert (summary.entered_red.count, summary.recovered.count) == (1, 1)
    assert [c["label"] for c in summary.entered_red.clients] == ["Omar"] and summary.entered_red.clients[0]["was"] == "green"
    assert summary.recovered.clients[0]["url"] == f"/clients/{people['Rami'].pk}/"
    assert (summary.interventions_opened, summary.interventions_completed, summary.sessions_attended) == (1, 1, 2)

    as_dana = daily_summary_for(_scope(make_user(workspace, "coach", staff=dana), workspace), DAY)
    assert (as_dana.entered_red.count, as_dana.recovered.count) == (1, 0)  # Rami is Sam's
    assert (as_dana.interventions_opened, as_dana.interventions_completed, as_dana.sessions_attended) == (1, 0, 1)

    html = section(client_for(admin).get("/overview/").content.decode(), "summary")
    assert "What changed on Wed 25 Nov compared with the scores of Wed 18 Nov" in html
    assert f'href="/clients/{people["Omar"].pk}/">Omar</a>' in html and "all red clients" in html
    assert 'href="/interventions/?status=open">1</a>' in html
    assert 'href="/coaches/?period=custom&amp;from=2026-11-24&amp;to=2026-11-24">2</a>' in html


@pytest.mark.django_db
def test_first_scored_day_has_no_zone_changes(workspace, scored, make_user, client_for):
    HealthScore.objects.filter(date=WEEK_AGO).delete()
    html = section(client_for(make_user(workspace, "admin")).get("/overview/").content.decode(), "summary")
    assert "is the first scored day" in html and "Entered red" in html


@pytest.mark.django_db
def test_roles(workspace, scored, make_user, client_for):
    dana, _, people = scored
    coach_html = client_for(make_user(workspace, "coach", staff=dana)).get("/overview/").content.decode()
    at_risk = section(coach_html, "at-risk")
    assert "Omar" in at_risk and "Lina" not in at_risk  # Lina is Sam's client
    assert "Rami" not in section(coach_html, "summary")
    assert "Churn prediction" not in coach_html
    viewer_html = client_for(make_user(workspace, "viewer")).get("/overview/").content.decode()
    assert "Omar" not in viewer_html and "Lina" not in viewer_html
    assert f'>Client {people["Omar"].pk}</a>' in section(viewer_html, "at-risk")
    assert f'>Client {people["Omar"].pk}</a>' in section(viewer_html, "summary")
    assert client_for(make_user(workspace, "setter")).get("/overview/").status_code == 403


@pytest.mark.django_db
def test_partials_and_empty_state(workspace, scored, make_user, client_for):
    admin = client_for(make_user(workspace, "admin"))
    for name in ("zones", "summary", "at-risk", "coaches"):
        partial = admin.get(f"/overview/?partial={name}", HTTP_HX_REQUEST="true").content.decode()
        assert partial.strip().startswith(f'<section id="{name}"') and "<html" not in partial
    HealthScore.objects.all().delete()
    assert "No health scores yet" in admin.get("/overview/").content.decode()
    # a trend asked for after the scores went away says so, and does not ask again (no hx-trigger="load" loop)
    trend = admin.get("/overview/?partial=trend", HTTP_HX_REQUEST="true").content.decode()
    assert "No health scores yet" in trend and "hx-trigger" not in trend


@pytest.mark.django_db
def test_at_risk_table_sorts_pages_and_exports_in_sql(workspace, scored, make_user, client_for,
                                                      django_assert_max_num_queries):
    _, sam, _ = scored
    for i in range(40):  # 40 more yellow clients, churn risk 1 … 40
        _client(workspace, f"Extra{i:02d}", sam, "green", "yellow", 60, churn_risk=i + 1)
    admin = client_for(make_user(workspace, "admin"))
    with django_assert_max_num_queries(20):
        page2 = admin.get("/overview/?partial=at-risk&at-risk-page=2", HTTP_HX_REQUEST="true").content.decode()
    assert "26–42 of 42" in page2 and "Extra00" in page2 and "Omar" not in page2
    ordered = admin.get("/overview/?partial=at-risk&at-risk-sort=client", HTTP_HX_REQUEST="true").content.decode()
    assert ordered.index("Extra00") < ordered.index("Extra01") and "Omar" not in ordered  # Lina, Omar on page 2
    response = admin.get("/overview/?export=at-risk&rows=all")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["Client", "Coach", "Health", "Zone", "Churn risk (%)", "Trend", "Warnings"]
    assert len(rows) == 43 and rows[1][:2] == ["Omar", "Dana"] and rows[1][6] == "no attended session in 14 days"


@pytest.mark.django_db
def test_coach_table_links_to_coach_pages(workspace, scored, make_user, client_for):
    dana, sam, _ = scored
    CoachSnapshot.objects.create(workspace=workspace, coach=dana, date=DAY, performance_score=70, rank=1,
                                 active_clients=2, zone_red=1, avg_health=60, at_risk_revenue=1200)
    CoachSnapshot.objects.create(workspace=workspace, coach=sam, date=DAY, performance_score=65, rank=2, rank_change=-1,
                                 active_clients=2, avg_health=67.5)
    html = section(client_for(make_user(workspace, "admin")).get("/overview/").content.decode(), "coaches")
    assert html.index("Dana") < html.index("Sam")
    assert f'<a href="/coaches/{dana.pk}/">Dana</a>' in html and "AED 1,200" in html and "-1" in html
    # a coach sees the whole board but only their own page is a link, and only their own figures
    coach_html = section(client_for(make_user(workspace, "coach", staff=sam)).get("/overview/").content.decode(),
                         "coaches")
    assert f'href="/coaches/{sam.pk}/"' in coach_html and f'href="/coaches/{dana.pk}/"' not in coach_html
    assert "AED 1,200" not in coach_html


@pytest.mark.django_db
def test_charts_are_valid_plotly_figures_and_the_trend_loads_after_the_page(workspace, scored, make_user, client_for):
    import plotly.graph_objects as go

    admin = client_for(make_user(workspace, "admin"))
    page = admin.get("/overview/")
    assert "trend_chart" not in page.context and 'hx-trigger="load"' in page.content.decode()  # asked for after
    partial = admin.get("/overview/?partial=trend", HTTP_HX_REQUEST="true")
    assert partial.content.decode().strip().startswith('<div id="trend"') and "<html" not in partial.content.decode()
    zones, trend = page.context["health"]["zone_chart"], partial.context["trend_chart"]
    for figure in (zones, trend):
        go.Figure(figure)  # raises on any invalid property
    assert [t["y"] for t in zones["data"]] == [[0, 3, 0, 1], [1, 1, 1, 1]]  # a week ago; today
    assert trend["data"][0]["x"] == ["2026-11-18", "2026-11-25"] and trend["data"][0]["y"] == [70.0, 63.8]


@pytest.mark.django_db
def test_trend_shows_a_rescore_of_any_day_at_once(workspace, scored, make_user, client_for,
                                                 django_assert_max_num_queries):
    from ptd.rollups import rollups_refresh

    admin = client_for(make_user(workspace, "admin"))

    def trend():
        response = admin.get("/overview/?partial=trend", HTTP_HX_REQUEST="true")
        return response.context["trend_chart"]["data"][0]["y"]

    assert trend() == [70.0, 63.8]
    rollups_refresh(workspace=workspace)
    # Rescoring the latest day or an earlier one marks those days: they are read from the scores until the
    # refresh folds them into the daily measures.
    HealthScore.objects.filter(date=DAY).update(total=50)
    HealthScore.objects.filter(date=WEEK_AGO).update(total=10)
    with django_assert_max_num_queries(12):
        assert trend() == [10.0, 50.0]
    rollups_refresh(workspace=workspace)
    assert trend() == [10.0, 50.0]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_at_risk_sorts_by_client_and_coach_as_they_are_shown(workspace, scored, make_staff, make_user, role):
    """The client and coach columns sort through a join of the contacts (at_risk_sort_keys), not by the values shown
    (looked up per row): the order is the same, unnamed clients and clients without a coach included."""
    _, sam, _ = scored
    ana = make_staff(workspace, "coach", name="ana")
    for i, (name, coach) in enumerate([("zed", ana), ("", sam), ("Émile", None), ("bob", ana), ("", None)]):
        _client(workspace, name, coach, "green", "red" if i % 2 else "yellow", 40 + i)
    access = _scope(make_user(workspace, role), workspace)
    rows = at_risk_rows_for(access, DAY)
    keys = at_risk_sort_keys(access)
    for column in ("client", "coach"):
        key = F(keys[column]) if isinstance(keys[column], str) else keys[column]
        for descending in (False, True):
            def order(expression):
                return list(rows.order_by(expression.desc(nulls_last=True) if descending
                                          else expression.asc(nulls_last=True), "pk").values_list("pk", flat=True))
            by_value = order(F(column))
            assert order(key) == by_value and len(by_value) == 7, (column, descending)
