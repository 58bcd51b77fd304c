"""Coach performance snapshots (issue 4, "Coach performance"; seed 001 §5): figures computed by hand on a small
hand-built portfolio, the composite score and its re-weighting, rank and rank change, red flags, idempotent
re-runs, a query count that does not grow with the clients, the task and command, and scoping."""

import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clients.coach_performance import coach_snapshots_build, competition_ranks, performance_score
from clients.coach_tasks import build_coach_snapshots
from clients.models import Contact, HealthScore, Intervention, Package, TrainingSession
from clients.models_coach import CoachSnapshot
from clients.selectors_coach import coach_detail_for, coach_leaderboard_for
from ptd.models import Membership
from ptd.scoping import Scope, scoped

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 20)
DUBAI = ZoneInfo("Asia/Dubai")
IN_DATE = (date(2026, 11, 1), date(2026, 12, 31))



def _at(d: date, hour: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=DUBAI)


def _client(ws, coach, name, total=None, zone=None, trend="stable", churn_risk=None, *, package=IN_DATE,
            value="3000", sessions=10, on=DAY):
    first, last = name.split()
    contact = Contact.objects.create(workspace=ws, coach=coach, first_name=first, last_name=last,
                                     created_at=_at(date(2026, 1, 1)))
    pkg = None
    if package:
        pkg = Package.objects.create(workspace=ws, contact=contact, sessions_purchased=sessions, value=Decimal(value),
                                     starts_on=package[0], expires_on=package[1])
    if total is not None:
        HealthScore.objects.create(workspace=ws, contact=contact, date=on, total=Decimal(str(total)), zone=zone,
                                   trend=trend, churn_risk=Decimal(str(churn_risk if churn_risk is not None else 50)))
    return contact, pkg


def _session(ws, contact, pkg, when, status="attended"):
    TrainingSession.objects.create(workspace=ws, source_id=f"s-{contact.pk}-{when:%Y%m%d%H}", contact=contact,
                                   package=pkg, starts_at=when, status=status)


def _intervention(ws, coach, contact, *, status="done", completed=None, delta=None):
    return Intervention.objects.create(workspace=ws, contact=contact, kind="proactive_checkin", status=status,
                                       assigned_to=coach, completed_at=_at(completed) if completed else None,
                                       health_delta_30d=None if delta is None else Decimal(str(delta)))


@pytest.fixture
def portfolio(workspace, make_staff):
    """Coach Alice: four active clients (90 purple, 75 green, 60 yellow, 40 red), one churned, one lapsed long
    ago, interventions; coach Bilal: three healthy clients, no interventions; an idle inactive coach; a setter."""
    ws = workspace
    alice = make_staff(ws, "coach", name="Alice Coach")
    bilal = make_staff(ws, "coach", name="Bilal Coach")
    make_staff(ws, "coach", name="Idle Coach", is_active=False)
    make_staff(ws, "setter", name="Sam Setter")
    a1, _ = _client(ws, alice, "Amal One", 90, "purple", "improving", 10, value="3600", sessions=12)
    a2, _ = _client(ws, alice, "Amir Two", 75, "green", "stable", 20)
    a3, p3 = _client(ws, alice, "Anas Three", 60, "yellow", "declining", 40, value="3000", sessions=10)
    a4, _ = _client(ws, alice, "Asma Four", 40, "red", "declining", 70, value="2400", sessions=8)
    for d in (3, 5, 10, 12):  # four of Anas's ten sessions used by the day → 6/10 of AED 3,000 at risk
        _session(ws, a3, p3, _at(date(2026, 11, d)))
    _session(ws, a3, p3, _at(date(2026, 11, 22)))  # after the day: not yet used
    _session(ws, a3, p3, _at(date(2026, 11, 14)), status="no_show")  # not a used session
    # Churned: last package ended 15 days before, no renewal, no session since; still scored (red).
    churned, old = _client(ws, alice, "Ali Gone", 30, "red", "declining", 90, package=(date(2026, 9, 1),
                                                                                       date(2026, 11, 5)))
    _session(ws, churned, old, _at(date(2026, 10, 15)))
    # Lapsed long ago (package ended 50 days before): neither active nor churned in this window.
    _client(ws, alice, "Old Timer", 20, "red", "declining", 95, package=(date(2026, 8, 1), date(2026, 10, 1)))
    # Renewed: the old package ended, the next one starts next week → not churned, not active.
    renewed, _ = _client(ws, alice, "Rana Back", None, package=(date(2026, 9, 1), date(2026, 11, 10)))
    Package.objects.create(workspace=ws, contact=renewed, sessions_purchased=10, value=Decimal("3000"),
                           starts_on=date(2026, 11, 25), expires_on=date(2027, 1, 25))
    # In date but not scored on the day: not active.
    _client(ws, alice, "Nadia Unscored")
    _intervention(ws, alice, a4, completed=date(2026, 10, 10), delta=5)  # success
    _intervention(ws, alice, a4, completed=date(2026, 10, 15), delta=-2)  # measured, failed
    _intervention(ws, alice, a3, completed=date(2026, 11, 15))  # done, not measured yet
    _intervention(ws, alice, a3, status="open")  # not done
    _intervention(ws, alice, a3, completed=date(2026, 6, 1), delta=9)  # outside the 90 days
    _client(ws, bilal, "Badr One", 88, "purple", "improving", 5)
    _client(ws, bilal, "Basma Two", 72, "green", "improving", 15)
    _client(ws, bilal, "Bashir Three", 80, "green", "stable", 12)
    return {"ws": ws, "alice": alice, "bilal": bilal, "a": [a1, a2, a3, a4]}


def _snap(coach, day=DAY):
    return CoachSnapshot.objects.get(coach=coach, date=day)


def test_snapshot_figures_by_hand(portfolio):
    result = coach_snapshots_build(workspace=portfolio["ws"], day=DAY)
    assert result["coaches"] == 2  # the idle inactive coach and the setter get no row
    a = _snap(portfolio["alice"])
    assert (a.active_clients, a.zone_purple, a.zone_green, a.zone_yellow, a.zone_red) == (4, 1, 1, 1, 1)
    assert a.avg_health == Decimal("66.25")  # (90 + 75 + 60 + 40) / 4
    assert a.health_stddev == Decimal(str(round(statistics.pstdev([90, 75, 60, 40]), 2))) == Decimal("18.50")
    assert a.avg_churn_risk == Decimal("35.00")  # (10 + 20 + 40 + 70) / 4
    assert (a.improving, a.declining) == (1, 2)
    assert a.at_risk_revenue == Decimal("4200.00")  # Anas 6/10 × 3,000 + Asma 8/8 × 2,400
    assert a.churned_clients == 1
    assert a.sessions_per_client_28d == Decimal("1.00")  # 4 attended sessions / 4 active clients
    assert (a.interventions_done, a.interventions_measured, a.interventions_successful) == (3, 2, 1)
    assert a.intervention_success_rate == Decimal("50.00")
    # 40 % × 66.25 + 20 % × 50 (2 of 4 green/purple) + 15 % × 80 (1 − 1/5) + 15 % × 50 + 10 % × (50 + 50 × −1/4)
    assert a.performance_score == Decimal("59.75")
    assert a.score_parts["balance"] == {"value": 37.5, "weight": 0.1}
    names = lambda rows: [(r["name"], r["total"]) for r in rows]  # noqa: E731
    assert names(a.best_clients) == [("Amal One", 90.0), ("Amir Two", 75.0), ("Anas Three", 60.0)]
    assert names(a.worst_clients) == [("Asma Four", 40.0), ("Anas Three", 60.0), ("Amir Two", 75.0)]
    assert a.best_clients[0]["contact_id"] == portfolio["a"][0].pk

    b = _snap(portfolio["bilal"])
    assert (b.active_clients, b.zone_purple, b.zone_green, b.avg_health) == (3, 1, 2, Decimal("80.00"))
    assert b.health_stddev == Decimal("6.53")  # √(128 / 3)
    assert b.at_risk_revenue == Decimal("0.00") and b.churned_clients == 0
    assert b.intervention_success_rate is None and b.interventions_done == 0
    # No interventions: the other parts re-weighted over 85 %: (40×80 + 20×100 + 15×100 + 10×83.33) / 85
    assert b.performance_score == Decimal("88.63")
    assert b.score_parts["interventions"] == {"value": None, "weight": 0.0}
    assert b.score_parts["health"]["weight"] == round(40 / 85, 4)
    assert (b.rank, a.rank) == (1, 2)
    assert a.rank_change is None  # no snapshot 7 days earlier
    assert a.red_flags == [] and b.red_flags == []


def test_rank_change_and_declining_three_weeks_flag(portfolio):
    ws, alice, bilal = portfolio["ws"], portfolio["alice"], portfolio["bilal"]
    for days_back, avg in ((21, "75"), (14, "72"), (7, "70")):
        CoachSnapshot.objects.create(workspace=ws, coach=alice, date=DAY - timedelta(days=days_back),
                                     avg_health=Decimal(avg), rank=1)
    CoachSnapshot.objects.create(workspace=ws, coach=bilal, date=DAY - timedelta(days=7), avg_health=Decimal("79"),
                                 rank=2)
    coach_snapshots_build(workspace=ws, day=DAY)
    a, b = _snap(alice), _snap(bilal)
    assert (a.rank, a.rank_change, b.rank, b.rank_change) == (2, -1, 1, 1)
    flag = next(f for f in a.red_flags if f["code"] == "health_declining_3_weeks")
    assert flag["text"] == "average health declining 3 weeks running (75 → 72 → 70 → 66.25)"
    assert flag["evidence"]["avg_health"] == {"2026-10-30": 75.0, "2026-11-06": 72.0, "2026-11-13": 70.0,
                                              "2026-11-20": 66.25}
    assert b.red_flags == []  # one earlier snapshot only


def test_red_share_and_intervention_success_flags(portfolio):
    ws, alice = portfolio["ws"], portfolio["alice"]
    HealthScore.objects.filter(contact=portfolio["a"][1], date=DAY).update(total=Decimal("45"), zone="red")
    for delta in (-1, -3):  # 1 of 4 measured succeeded
        _intervention(ws, alice, portfolio["a"][0], completed=date(2026, 10, 20), delta=delta)
    coach_snapshots_build(workspace=ws, day=DAY)
    codes = {f["code"]: f for f in _snap(alice).red_flags}
    assert codes["red_share_high"]["text"] == "more than 30% of clients in red (2 of 4)"
    assert codes["intervention_success_low"]["evidence"] == {"successful": 1, "measured": 4, "rate_pct": 25.0}


def test_rerun_is_idempotent_and_replaces_the_day(portfolio):
    ws = portfolio["ws"]
    fields = [f.attname for f in CoachSnapshot._meta.concrete_fields if f.attname not in ("id", "computed_at")]
    coach_snapshots_build(workspace=ws, day=DAY)
    first = list(CoachSnapshot.objects.order_by("coach_id").values_list(*fields))
    ids = set(CoachSnapshot.objects.values_list("pk", flat=True))
    coach_snapshots_build(workspace=ws, day=DAY)
    assert list(CoachSnapshot.objects.order_by("coach_id").values_list(*fields)) == first
    assert set(CoachSnapshot.objects.values_list("pk", flat=True)) == ids
    # A coach who is no longer snapshotted that day (all clients moved away) loses the row on re-run.
    Contact.objects.filter(coach=portfolio["bilal"]).update(coach=portfolio["alice"])
    portfolio["bilal"].is_active = False
    portfolio["bilal"].save()
    result = coach_snapshots_build(workspace=ws, day=DAY)
    assert result["removed"] == 1 and not CoachSnapshot.objects.filter(coach=portfolio["bilal"]).exists()
    assert _snap(portfolio["alice"]).active_clients == 7 and _snap(portfolio["alice"]).rank == 1


def test_publishes_coaches_after_commit(portfolio, monkeypatch, django_capture_on_commit_callbacks):
    from ptd import live

    sent = []
    monkeypatch.setattr(live, "publish_now", lambda **kw: sent.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        coach_snapshots_build(workspace=portfolio["ws"], day=DAY)
    assert sent == [{"workspace_id": portfolio["ws"].pk, "topics": ["coaches"],
                     "staff_ids": [portfolio["alice"].pk, portfolio["bilal"].pk]}]


def _bulk_portfolio(ws, make_staff, per_coach: int):
    coaches = [make_staff(ws, "coach", name=f"{ws.slug} coach {i}") for i in range(2)]
    contacts = Contact.objects.bulk_create([
        Contact(workspace=ws, coach=coaches[i % 2], first_name=f"C{i}", created_at=_at(date(2026, 1, 1)))
        for i in range(2 * per_coach)])
    packages = Package.objects.bulk_create([
        Package(workspace=ws, contact=c, sessions_purchased=10, value=Decimal("3000"), starts_on=IN_DATE[0],
                expires_on=IN_DATE[1]) for c in contacts])
    zones = [(92, "purple"), (78, "green"), (55, "yellow"), (35, "red")]
    HealthScore.objects.bulk_create([
        HealthScore(workspace=ws, contact=c, date=DAY, total=Decimal(zones[i % 4][0]), zone=zones[i % 4][1],
                    trend=("improving", "stable", "declining")[i % 3], churn_risk=Decimal(30))
        for i, c in enumerate(contacts)])
    TrainingSession.objects.bulk_create([
        TrainingSession(workspace=ws, source_id=f"{ws.slug}-{p.pk}", contact_id=p.contact_id, package=p,
                        starts_at=_at(date(2026, 11, 10)), status="attended") for p in packages])
    for i, c in enumerate(contacts[:per_coach]):
        _intervention(ws, coaches[i % 2], c, completed=date(2026, 11, 1), delta=i % 3 - 1)
    return coaches


def test_query_count_does_not_grow_with_clients(workspace, other_workspace, make_staff, django_assert_num_queries):
    _bulk_portfolio(workspace, make_staff, 3)
    _bulk_portfolio(other_workspace, make_staff, 30)
    with CaptureQueriesContext(connection) as small:
        coach_snapshots_build(workspace=workspace, day=DAY)
    assert len(small) <= 8, [q['sql'][:80] for q in small]
    with django_assert_num_queries(len(small)):
        result = coach_snapshots_build(workspace=other_workspace, day=DAY)
    assert result["coaches"] == 2
    assert sum(CoachSnapshot.objects.filter(workspace=other_workspace).values_list("active_clients", flat=True)) == 60


def test_task_and_command(portfolio):
    ws = portfolio["ws"]
    assert build_coach_snapshots() == f"{ws.slug} {DAY}: 2 coaches, 0 red flags"
    out = StringIO()
    # Backfill a week: days without health scores are skipped; the asked day is always built.
    call_command("coach_snapshots", "--date", "2026-11-20", "--backfill", "7", stdout=out)
    assert out.getvalue().strip().splitlines() == [f"{ws.slug} 2026-11-20: 2 coaches, 2 ranked, 0 red flags"]
    out = StringIO()
    call_command("coach_snapshots", stdout=out)  # default: the latest scored day
    assert "2026-11-20" in out.getvalue()


def test_pure_parts():
    assert performance_score(active=0, purple=0, green=0, avg_health=None, churned=0, success_rate=None,
                             improving=0, declining=0) == (None, {
        "health": {"value": None, "weight": 0.0}, "green_share": {"value": None, "weight": 0.0},
        "retention": {"value": None, "weight": 0.0}, "interventions": {"value": None, "weight": 0.0},
        "balance": {"value": None, "weight": 0.0}})
    # Only churned clients left: retention alone, 0.
    assert performance_score(active=0, purple=0, green=0, avg_health=None, churned=2, success_rate=None,
                             improving=0, declining=0)[0] == 0.0
    assert competition_ranks({1: 80.0, 2: 90.0, 3: 80.0, 4: None, 5: 70.0}) == {2: 1, 1: 2, 3: 2, 5: 4}


def _scope(user, ws):
    return Scope.of(Membership.objects.select_related("workspace").get(user=user, workspace=ws))


def test_scoping(portfolio, make_user, other_workspace, make_staff):
    ws, alice, bilal = portfolio["ws"], portfolio["alice"], portfolio["bilal"]
    coach_snapshots_build(workspace=ws, day=DAY)
    # Another workspace's snapshot never shows.
    foreign = make_staff(other_workspace, "coach", name="Foreign Coach")
    CoachSnapshot.objects.create(workspace=other_workspace, coach=foreign, date=DAY, performance_score=99, rank=1)
    admin = _scope(make_user(ws, "admin"), ws)
    viewer = _scope(make_user(ws, "viewer"), ws)
    as_alice = _scope(make_user(ws, "coach", staff=alice), ws)
    setter = _scope(make_user(ws, "setter", staff=make_staff(ws, "setter", name="Sara Setter")), ws)

    board = coach_leaderboard_for(as_alice, DAY)
    assert [(r.coach_name, r.rank, r.performance_score) for r in board] == [
        ("Bilal Coach", 1, Decimal("88.63")), ("Alice Coach", 2, Decimal("59.75"))]
    assert [(r.is_own, r.snapshot is not None) for r in board] == [(False, False), (True, True)]
    assert set(scoped(CoachSnapshot, as_alice).values_list("coach_id", flat=True)) == {alice.pk}
    assert coach_detail_for(as_alice, bilal.pk, DAY) is None
    mine = coach_detail_for(as_alice, alice.pk)  # default: the latest day
    assert mine.snapshot.avg_health == Decimal("66.25") and mine.snapshot.best_clients[0]["name"] == "Amal One"
    assert mine.peers == {"avg_score": Decimal("74.19"), "avg_health": Decimal("73.13"), "ranked": 2}
    assert [h["date"] for h in mine.history] == [DAY]

    assert all(r.snapshot is not None for r in coach_leaderboard_for(admin))
    assert coach_detail_for(admin, bilal.pk, DAY).snapshot.avg_health == Decimal("80.00")
    # Viewers see the figures without client names.
    seen = coach_detail_for(viewer, alice.pk, DAY).snapshot
    assert seen.best_clients[0] == {"contact_id": portfolio["a"][0].pk, "name": f"Client {portfolio['a'][0].pk}",
                                    "total": 90.0}
    assert all(r.snapshot is not None for r in coach_leaderboard_for(viewer, DAY))
    # Setters see no coach performance at all.
    assert coach_leaderboard_for(setter, DAY) == [] and coach_detail_for(setter, alice.pk, DAY) is None
