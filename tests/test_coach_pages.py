"""/coaches/ (leaderboard) and /coaches/<id>/ (one coach): figures from hand-built snapshots, sessions, health
scores and interventions; roles (a coach sees the board but only their own page), HTMX partials, CSV, bounded
queries that do not grow with the rows."""

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clients.models import Contact, HealthScore, Intervention, TrainingSession
from clients.models_coach import CoachSnapshot

pytestmark = pytest.mark.django_db

DUBAI = ZoneInfo("Asia/Dubai")
DAY = date(2026, 11, 25)
PERIOD = "period=custom&from=2026-11-20&to=2026-11-25"  # 6 days; the prior period is 14–19 Nov
PARTS = {"health": {"value": 55.0, "weight": 0.4}, "green_share": {"value": 33.33, "weight": 0.2},
         "retention": {"value": 100.0, "weight": 0.15}, "interventions": {"value": 50.0, "weight": 0.15},
         "balance": {"value": 50.0, "weight": 0.1}}
FLAG = {"code": "no_recent_session", "severity": "critical", "text": "no attended session in 14 days", "evidence": {}}


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}".*?</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(0)


def _at(d: date, hour: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=DUBAI)


def _client(ws, name, coach, zone, total, churn_risk):
    c = Contact.objects.create(workspace=ws, first_name=name, last_name="Client", coach=coach,
                               created_at=datetime(2026, 1, 1, tzinfo=UTC))
    HealthScore.objects.create(workspace=ws, contact=c, date=DAY, total=total, zone=zone, churn_risk=churn_risk,
                               flags=[FLAG] if zone in ("yellow", "red") else [])
    return c


def _session(ws, contact, coach, when, status="attended"):
    TrainingSession.objects.create(workspace=ws, source_id=f"s-{TrainingSession.objects.count()}", contact=contact,
                                   coach=coach, starts_at=when, status=status)


@pytest.fixture
def coaches(workspace, make_staff):
    """Alice (rank 2, score 60 today, 50 the day before) with three clients; Bilal (rank 1, score 80) with one."""
    ws = workspace
    alice, bilal = make_staff(ws, "coach", name="Alice Coach"), make_staff(ws, "coach", name="Bilal Coach")
    a_red = _client(ws, "Asma", alice, "red", 35, 80)
    a_yellow = _client(ws, "Anas", alice, "yellow", 60, 40)
    a_green = _client(ws, "Amir", alice, "green", 75, 20)
    b_yellow = _client(ws, "Basil", bilal, "yellow", 55, 50)
    common = dict(workspace=ws, coach=alice, active_clients=3, zone_green=1, zone_yellow=1, zone_red=1)
    CoachSnapshot.objects.create(**common, date=DAY, performance_score=60, avg_health=55, at_risk_revenue=1500,
                                 intervention_success_rate=50, rank=2, rank_change=1, score_parts=PARTS,
                                 red_flags=[{"code": "red_share_high", "severity": "critical",
                                             "text": "more than 30% of clients in red (1 of 3)", "evidence": {}}],
                                 best_clients=[{"contact_id": a_green.pk, "name": "Amir Client", "total": 75.0}],
                                 worst_clients=[{"contact_id": a_red.pk, "name": "Asma Client", "total": 35.0}])
    CoachSnapshot.objects.create(**common, date=date(2026, 11, 24), performance_score=50, avg_health=50,
                                 at_risk_revenue=2000, intervention_success_rate=None, rank=3)
    CoachSnapshot.objects.create(workspace=ws, coach=bilal, date=DAY, performance_score=80, avg_health=55, rank=1,
                                 active_clients=1, zone_yellow=1, at_risk_revenue=900, score_parts=PARTS)
    # Sessions Alice ran: 2 attended + 1 no-show in the period, 1 attended in the prior period, 1 after it.
    _session(ws, a_red, alice, _at(date(2026, 11, 20), 8))
    _session(ws, a_yellow, alice, _at(date(2026, 11, 25), 21))
    _session(ws, a_green, alice, _at(date(2026, 11, 22)), status="no_show")
    _session(ws, a_green, alice, _at(date(2026, 11, 19)))
    _session(ws, a_green, alice, _at(date(2026, 11, 26), 0))
    _session(ws, b_yellow, bilal, _at(date(2026, 11, 21)))
    open_iv = Intervention.objects.create(workspace=ws, contact=a_red, kind="emergency", priority="critical",
                                          assigned_to=alice, due_at=_at(date(2026, 11, 26)))
    Intervention.objects.create(workspace=ws, contact=a_yellow, kind="proactive_checkin", status="done",
                                assigned_to=alice, completed_at=_at(DAY))
    Intervention.objects.create(workspace=ws, contact=b_yellow, kind="re_engagement", assigned_to=bilal)
    return {"ws": ws, "alice": alice, "bilal": bilal, "a_red": a_red, "a_yellow": a_yellow, "a_green": a_green,
            "b_yellow": b_yellow, "open_iv": open_iv}


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# ------------------------------------------------------------------------------------------------ leaderboard

def test_leaderboard_ranks_figures_sessions_and_csv(coaches, make_user, client_for):
    alice, bilal = coaches["alice"], coaches["bilal"]
    admin = client_for(make_user(coaches["ws"], "admin"))
    html = admin.get(f"/coaches/?{PERIOD}").content.decode()
    board = section(html, "leaderboard")
    assert board.index("Bilal Coach") < board.index("Alice Coach")
    assert f'<a href="/coaches/{alice.pk}/">Alice Coach</a>' in board and f'href="/coaches/{bilal.pk}/"' in board
    assert "AED 1,500" in board and "33.3 %" in board  # at-risk revenue; green share part
    assert 'data-plotly="score-chart"' in html and 'data-plotly="zone-mix-chart"' in html
    assert "Wednesday 25 November 2026" in html
    rows = _csv(admin.get(f"/coaches/?{PERIOD}&export=leaderboard"))
    header = rows[0]
    assert header[:4] == ["Rank", "Rank change", "Coach", "Score"] and header[-1] == "Sessions delivered"
    by_coach = {r[2]: dict(zip(header, r)) for r in rows[1:]}
    assert by_coach["Alice Coach"]["Sessions delivered"] == "2" and by_coach["Bilal Coach"]["Sessions delivered"] == "1"
    assert by_coach["Alice Coach"]["Score"] == "60.00" and by_coach["Alice Coach"]["Rank change"] == "1"
    assert by_coach["Alice Coach"]["Red"] == "1" and by_coach["Alice Coach"]["At-risk revenue (AED)"] == "1500.00"
    # sorting by sessions delivered (descending) puts Alice first
    board = section(admin.get(f"/coaches/?{PERIOD}&leaderboard-sort=-sessions_delivered").content.decode(),
                    "leaderboard")
    assert board.index("Alice Coach") < board.index("Bilal Coach")


def test_leaderboard_for_a_coach_shows_peers_without_their_detail(coaches, make_user, client_for):
    alice, bilal = coaches["alice"], coaches["bilal"]
    as_alice = client_for(make_user(coaches["ws"], "coach", staff=alice))
    html = as_alice.get(f"/coaches/?{PERIOD}").content.decode()
    board = section(html, "leaderboard")
    assert "Bilal Coach" in board and "80.0" in board  # peers' names and scores
    assert f'href="/coaches/{bilal.pk}/"' not in board and f'href="/coaches/{alice.pk}/"' in board
    assert "AED 900" not in board and "AED 1,500" in board  # only her own figures
    assert "You are ranked <strong>#2</strong> of 2 coaches" in html
    assert 'data-plotly="zone-mix-chart"' not in html  # one coach's zones are no comparison


def test_roles_and_partials(coaches, make_user, client_for):
    alice, bilal, ws = coaches["alice"], coaches["bilal"], coaches["ws"]
    admin, viewer = client_for(make_user(ws, "admin")), client_for(make_user(ws, "viewer"))
    as_alice = client_for(make_user(ws, "coach", staff=alice))
    setter = client_for(make_user(ws, "setter"))
    for c in (admin, viewer, as_alice):
        assert c.get("/coaches/").status_code == 200
        assert c.get(f"/coaches/{alice.pk}/").status_code == 200
    assert setter.get("/coaches/").status_code == 403 and setter.get(f"/coaches/{alice.pk}/").status_code == 403
    assert as_alice.get(f"/coaches/{bilal.pk}/").status_code == 404  # another coach's page
    assert admin.get("/coaches/999999/").status_code == 404
    for name in ("comparison", "leaderboard"):
        partial = admin.get(f"/coaches/?partial={name}", HTTP_HX_REQUEST="true").content.decode()
        assert partial.strip().startswith(f'<section id="{name}"') and "<html" not in partial
    for name in ("kpis", "history", "zones", "at-risk", "interventions", "sessions"):
        partial = as_alice.get(f"/coaches/{alice.pk}/?partial={name}&{PERIOD}", HTTP_HX_REQUEST="true").content.decode()
        assert partial.strip().startswith(f'<section id="{name}"') and "<html" not in partial


def test_bad_period_is_a_400_with_the_reason(coaches, make_user, client_for):
    admin = client_for(make_user(coaches["ws"], "admin"))
    for url in ("/coaches/?period=fortnight", f"/coaches/{coaches['alice'].pk}/?period=custom&from=2026-13-01&to=x"):
        response = admin.get(url)
        assert response.status_code == 400 and "period" in response.content.decode()


# ------------------------------------------------------------------------------------------------ one coach

def test_coach_page_kpis_against_the_previous_snapshot(coaches, make_user, client_for):
    alice = coaches["alice"]
    html = client_for(make_user(coaches["ws"], "admin")).get(f"/coaches/{alice.pk}/?{PERIOD}").content.decode()
    kpis = section(html, "kpis")
    assert "previous snapshot, 24 Nov 2026" in kpis
    assert "more than 30% of clients in red (1 of 3)" in kpis
    # score 60 vs 50: +20.0 %; average health 55 vs 50: +10.0 %; at-risk AED 1,500 vs 2,000: −25.0 % (better)
    cards = dict(re.findall(r'<h3 class="kpi-label"[^>]*>([^<]+)</h3>.*?kpi-delta-value">([^<]+)<', kpis, re.S))
    assert cards["Performance score"] == "+20.0 %" and cards["Average health"] == "+10.0 %"
    assert cards["At-risk revenue"] == "-25.0 %" and cards["Intervention success"] == "—"  # no prior rate
    assert "rank <strong>#2</strong> of 2 (▲ up 1 in 7 days)" in html
    assert 'data-plotly="history-chart"' in html and 'data-plotly="parts-chart"' in html


def test_coach_page_clients_interventions_and_sessions(coaches, make_user, client_for):
    alice, c = coaches["alice"], coaches
    _client(c["ws"], "Lapsed", alice, "red", 20, 90)  # scored, not in the snapshot's active clients
    html = client_for(make_user(c["ws"], "admin")).get(f"/coaches/{alice.pk}/?{PERIOD}").content.decode()
    zones = section(html, "zones")  # every client scored that day, as the at-risk table counts them
    assert f'href="/clients/?coach={alice.pk}&amp;zone=red">2' in zones and f'href="/clients/?coach={alice.pk}"' in zones
    assert f'href="/clients/?coach={alice.pk}&amp;zone=yellow">1' in zones
    assert re.search(r'Active clients in red</h3>.*?kpi-number">1<', section(html, "kpis"), re.S)  # the snapshot's
    at_risk = section(html, "at-risk")
    assert f'<a href="/clients/{c["a_red"].pk}/">Asma Client</a>' in at_risk and "Anas Client" in at_risk
    assert "Basil" not in at_risk and "Amir" not in at_risk  # Bilal's client; a green client
    assert at_risk.index("Lapsed") < at_risk.index("Asma") < at_risk.index("Anas")  # churn risk 90, 80, 40
    interventions = section(html, "interventions")
    assert f'href="/interventions/?assigned={alice.pk}"' in interventions
    assert "Emergency intervention" in interventions and "Critical" in interventions
    assert "Proactive check-in" not in interventions and "Re-engagement" not in interventions  # done; Bilal's
    sessions = section(html, "sessions")
    assert re.search(r'kpi-number">2<.*?kpi-delta-value">\+100.0 %<', sessions, re.S)  # 2 attended vs 1 before
    assert "1–3 of 3" in sessions and "No-show" in sessions and "Basil" not in sessions


def test_coach_sees_own_page_viewer_sees_no_names(coaches, make_user, client_for):
    alice, c = coaches["alice"], coaches
    mine = client_for(make_user(c["ws"], "coach", staff=alice)).get(f"/coaches/{alice.pk}/?{PERIOD}").content.decode()
    assert "Asma Client" in section(mine, "at-risk") and "Emergency intervention" in section(mine, "interventions")
    viewer = client_for(make_user(c["ws"], "viewer")).get(f"/coaches/{alice.pk}/?{PERIOD}").content.decode()
    assert "Asma" not in viewer and "Amir" not in viewer and "Anas" not in viewer
    assert f'>Client {c["a_red"].pk}</a>' in section(viewer, "at-risk")
    assert f'>Client {c["a_green"].pk}</a>' in section(viewer, "zones")  # best clients list


def test_coach_without_snapshot_says_why(coaches, make_user, make_staff, client_for):
    newcomer = make_staff(coaches["ws"], "coach", name="New Coach")
    html = client_for(make_user(coaches["ws"], "admin")).get(f"/coaches/{newcomer.pk}/").content.decode()
    assert "No coach snapshot yet" in section(html, "kpis")
    assert "New Coach ran no session in this period" in section(html, "sessions")
    assert "No open intervention is assigned to New Coach" in section(html, "interventions")


def test_sessions_csv_is_the_period(coaches, make_user, client_for):
    alice = coaches["alice"]
    rows = _csv(client_for(make_user(coaches["ws"], "admin")).get(f"/coaches/{alice.pk}/?{PERIOD}&export=sessions"))
    assert rows[0] == ["When", "Client", "Status"]
    assert [r[1:] for r in rows[1:]] == [["Anas Client", "Attended"], ["Amir Client", "No-show"],
                                         ["Asma Client", "Attended"]]
    assert rows[1][0] == "2026-11-25 21:00"  # Asia/Dubai


# ------------------------------------------------------------------------------------------------ queries

def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_rows(coaches, make_user, make_staff, client_for, django_assert_max_num_queries):
    alice, ws = coaches["alice"], coaches["ws"]
    admin = client_for(make_user(ws, "admin"))
    urls = [f"/coaches/?{PERIOD}", f"/coaches/{alice.pk}/?{PERIOD}", "/overview/"]
    before = [_queries(admin, url) for url in urls]
    for i in range(12):  # more coaches with snapshots and sessions, more at-risk clients and interventions
        coach = make_staff(ws, "coach", name=f"Coach {i:02d}")
        CoachSnapshot.objects.create(workspace=ws, coach=coach, date=DAY, performance_score=40 + i, rank=3 + i,
                                     active_clients=1, zone_red=1, score_parts=PARTS)
        client = _client(ws, f"Extra{i}", alice, "red", 30, 60 + i)
        _session(ws, client, alice, _at(date(2026, 11, 23)))
        _session(ws, client, coach, _at(date(2026, 11, 23), 12))
        Intervention.objects.create(workspace=ws, contact=client, kind="emergency", assigned_to=alice)
    assert [_queries(admin, url) for url in urls] == before
    with django_assert_max_num_queries(16):
        admin.get(f"/coaches/?{PERIOD}")
    with django_assert_max_num_queries(20):
        admin.get(f"/coaches/{alice.pk}/?{PERIOD}")


def test_charts_are_valid_plotly_figures_with_a_question_for_a_title(coaches, make_user, client_for):
    """The charts are plain dicts (fast); Plotly's own validation must accept every one of them."""
    import plotly.graph_objects as go

    admin = client_for(make_user(coaches["ws"], "admin"))
    board = admin.get(f"/coaches/?{PERIOD}").context
    page = admin.get(f"/coaches/{coaches['alice'].pk}/?{PERIOD}").context
    figures = [board["score_chart"], board["zone_chart"], page["history_chart"], page["parts_chart"]]
    for figure in figures:
        go.Figure(figure)  # raises on any invalid property
        assert figure["layout"]["title"]["text"].endswith("?")
    score = board["score_chart"]["data"]
    assert [t["name"] for t in score][:2] == ["Average health", "Green share"]
    assert [name for _, name in _bars(board["score_chart"])] == ["Alice Coach", "Bilal Coach"]  # best on top
    assert score[0]["x"] == [22.0, 22.0]  # 55 × 0.4
    assert [p["y"] for p in page["history_chart"]["data"]] == [[50.0, 60.0], [50.0, 55.0]]


# ------------------------------------------------------------------------------------------------ sorted in SQL

@pytest.fixture
def many_coaches(coaches, make_staff):
    """28 more coaches (30 on the board, two pages of 25): Coach 00–27 ranked 3–30 by score 70 − i, green share
    part i, at-risk revenue 100 × i; Coach 00 and 01 share rank 3 (equal scores)."""
    ws = coaches["ws"]
    extra = []
    for i in range(28):
        coach = make_staff(ws, "coach", name=f"Coach {i:02d}")
        parts = {**PARTS, "green_share": {"value": float(i), "weight": 0.2}}
        CoachSnapshot.objects.create(workspace=ws, coach=coach, date=DAY, performance_score=70 - max(i, 1),
                                     rank=3 + max(i - 1, 0), active_clients=2, zone_green=1, zone_red=1,
                                     at_risk_revenue=100 * i, score_parts=parts)
        extra.append(coach)
    return {**coaches, "extra": extra}


def _names(html: str) -> list[str]:
    return re.findall(r'>((?:Alice|Bilal) Coach|Coach \d\d)<', section(html, "leaderboard"))


def test_leaderboard_sorts_and_pages_in_sql_in_board_order(many_coaches, make_user, client_for):
    admin = client_for(make_user(many_coaches["ws"], "admin"))
    first = _names(admin.get(f"/coaches/?{PERIOD}").content.decode())
    # Rank 1 Bilal, 2 Alice, then Coach 00 and 01 (both rank 3, by name), Coach 02 rank 4 … Coach 22 rank 24.
    assert first == ["Bilal Coach", "Alice Coach", *(f"Coach {i:02d}" for i in range(23))]
    second = admin.get(f"/coaches/?{PERIOD}&leaderboard-page=2").content.decode()
    assert _names(second) == [f"Coach {i:02d}" for i in range(23, 28)] and "26–30 of 30" in second
    # Green share (a part read from the snapshot's JSON): Coach 27 (27 %) first … Coach 00 (0 %); Alice and Bilal
    # (33.33 %) above them, equal, so in board order: Bilal (rank 1) before Alice (rank 2).
    by_share = _names(admin.get(f"/coaches/?{PERIOD}&leaderboard-sort=-green_share").content.decode())
    assert by_share[:4] == ["Bilal Coach", "Alice Coach", "Coach 27", "Coach 26"]
    rows = _csv(admin.get(f"/coaches/?{PERIOD}&leaderboard-sort=-green_share&export=leaderboard&rows=all"))
    assert len(rows) == 31 and rows[3][2] == "Coach 27" and rows[3][6] == "27.00" and rows[-1][2] == "Coach 00"


def test_leaderboard_for_a_coach_sorts_hidden_figures_last(many_coaches, make_user, client_for):
    alice = many_coaches["alice"]
    as_alice = client_for(make_user(many_coaches["ws"], "coach", staff=alice))
    # At-risk revenue, highest first: only Alice's own (AED 1,500) is shown; every other coach's is unknown to
    # her and sorts last, in board order (Bilal first).
    html = as_alice.get(f"/coaches/?{PERIOD}&leaderboard-sort=-at_risk_revenue").content.decode()
    assert _names(html)[:3] == ["Alice Coach", "Bilal Coach", "Coach 00"]
    assert "AED 1,500" in section(html, "leaderboard") and "AED 2,700" not in html
    assert "You are ranked <strong>#2</strong> of 30 coaches" in html
    rows = _csv(as_alice.get(f"/coaches/?{PERIOD}&export=leaderboard&rows=all"))
    header = rows[0]
    others = [dict(zip(header, r)) for r in rows[1:] if r[2] != "Alice Coach"]
    assert all(r["Sessions delivered"] == "" and r["Green share (%)"] == "" for r in others)


def test_leaderboard_queries_do_not_grow_with_pages(many_coaches, make_user, client_for):
    admin = client_for(make_user(many_coaches["ws"], "admin"))
    counts = [_queries(admin, f"/coaches/?{PERIOD}&leaderboard-page={n}") for n in (1, 2)]
    partial = {}
    for name in ("comparison", "leaderboard"):
        with CaptureQueriesContext(connection) as ctx:
            admin.get(f"/coaches/?{PERIOD}&partial={name}", HTTP_HX_REQUEST="true")
        partial[name] = [q["sql"] for q in ctx.captured_queries]
    assert counts[0] == counts[1] and all(len(q) < counts[0] for q in partial.values())
    # Each partial reads only its own part: the charts no sessions, the table no score parts of every coach.
    assert not any("ptd_dailyrollup" in q for q in partial["comparison"])
    assert any("ptd_dailyrollup" in q for q in partial["leaderboard"])
    assert not any("{green_share,weight}" in q for q in partial["leaderboard"])


def _chart(html: str, chart_id: str) -> dict:
    return json.loads(re.search(rf'<script id="{chart_id}" type="application/json">(.*?)</script>', html, re.S).group(1))


def _bars(chart: dict) -> list[tuple[str, str]]:
    """(id, name) of each bar of a per-coach chart, bottom-up."""
    axis = chart["layout"]["yaxis"]
    names = dict(zip(axis["tickvals"], axis["ticktext"], strict=True))
    return [(key, names[key]) for key in chart["data"][0]["y"]]


def test_comparison_charts_draw_the_best_coaches_and_say_so(many_coaches, make_user, make_staff, client_for):
    """30 coaches: the charts draw the 15 best (best on top), one bar per coach even when two share a name, and say
    whom they leave out; a coach ranked below them is drawn too, after them, with their own detail."""
    ws, extra = many_coaches["ws"], many_coaches["extra"]
    extra[5].name = "Coach 04"  # two coaches of one name, ranked 7 and 8
    extra[5].save()
    admin = client_for(make_user(ws, "admin"))
    html = section(admin.get(f"/coaches/?{PERIOD}&partial=comparison", HTTP_HX_REQUEST="true").content.decode(),
                   "comparison")
    assert "The 15 best coaches of 30; the leaderboard below has every one." in html
    best = [many_coaches["bilal"], many_coaches["alice"], *extra[:13]]
    drawn = [(str(c.pk), c.name) for c in best][::-1]  # bottom-up
    assert _bars(_chart(html, "score-chart")) == drawn and _bars(_chart(html, "zone-mix-chart")) == drawn
    low = extra[27]  # rank 29
    html = section(client_for(make_user(ws, "coach", staff=low)).get(
        f"/coaches/?{PERIOD}&partial=comparison", HTTP_HX_REQUEST="true").content.decode(), "comparison")
    assert "The 15 best coaches of 30 and you;" in html
    bars = _chart(html, "score-chart")["data"]
    assert _bars(_chart(html, "score-chart")) == [(str(low.pk), "Coach 27"), *drawn]
    assert [x for x in bars[0]["x"] if x is not None] == [22.0]  # their own parts only: health 55 × 40 %
    assert bars[1]["name"] == "Green share" and [x for x in bars[1]["x"] if x is not None] == [5.4]  # 27 × 20 %
