"""The Executive page's member figures (active members, active client rate, average health, at-risk revenue) equal
their definitions (DESIGN §7a) computed row by row from the packages, subscriptions, raw sessions and scores, for every
role and for periods spanning one to four months, whether a period is read alone or with its prior in one statement."""

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from clients.attendance import attended_in_sql
from clients.member_periods import member_periods_store, named_periods
from clients.metrics import MemberFigures, member_figures
from clients.models import Contact, HealthScore, Package, PeriodMemberFigures, TrainingSession
from finance.models import Subscription
from ptd.metrics import kpis
from ptd.models import RollupDirty
from ptd.periods import resolve_period
from ptd.rollups import day_ranges
from ptd.scoping import Scope, scoped

DUBAI = ZoneInfo("Asia/Dubai")
TODAY = date(2026, 11, 26)
NAMES = ["active_members", "active_client_rate", "avg_health", "at_risk_revenue"]
PERIODS = [
    resolve_period("last_30_days", today=TODAY, tz=DUBAI),  # 28 Oct – 26 Nov; its prior spans September and October
    resolve_period("last_7_days", today=TODAY, tz=DUBAI),
    resolve_period("custom", today=TODAY, tz=DUBAI, date_from="2026-11-01", date_to="2026-11-30"),
    resolve_period("custom", today=TODAY, tz=DUBAI, date_from="2026-09-15", date_to="2026-12-10"),  # four months
]

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(workspace, make_staff, make_user):
    """Forty clients of two coaches, some a setter's leads, with random packages (some used up, some starting or
    ending between the periods' ends), subscriptions, scores on random days (some members unscored on the latest
    scored day, some never) and sessions around Dubai midnights."""
    rng = random.Random(7)
    dana, eli, sam = make_staff(workspace, "coach"), make_staff(workspace, "coach"), make_staff(workspace, "setter")
    first = date(2026, 8, 1)
    for n in range(40):
        contact = Contact.objects.create(workspace=workspace, first_name=f"c{n}", created_at=datetime(2026, 7, 1, tzinfo=DUBAI),
                                         coach=rng.choice([dana, eli, None]), owner=rng.choice([sam, None]))
        for k in range(rng.randint(0, 2)):
            starts = first + timedelta(days=rng.randint(0, 120))
            bought = rng.choice([5, 10, 20, 25])
            Package.objects.create(workspace=workspace, contact=contact, source_id=f"p{n}-{k}", sessions_purchased=bought,
                                   sessions_used=rng.choice([0, bought // 2, bought]), value=Decimal(100 * rng.randint(5, 60)),
                                   starts_on=starts, expires_on=starts + timedelta(days=rng.randint(10, 90)))
        if rng.random() < 0.3:
            Subscription.objects.create(workspace=workspace, stripe_id=f"sub{n}", contact=contact,
                                        status=rng.choice(["active", "trialing", "canceled", "past_due"]),
                                        created=datetime.combine(first + timedelta(days=rng.randint(0, 130)), time(23, 30), DUBAI))
        for day in rng.sample(range(0, 135), rng.randint(0, 4)):
            HealthScore.objects.create(workspace=workspace, contact=contact, date=first + timedelta(days=day),
                                       total=Decimal(rng.randint(2000, 9800)) / 100,
                                       zone=rng.choice(["purple", "green", "yellow", "red"]))
        for k in range(rng.randint(0, 6)):
            when = datetime.combine(first + timedelta(days=rng.randint(0, 135)), time(rng.choice([0, 6, 12, 23])), DUBAI)
            TrainingSession.objects.create(workspace=workspace, source_id=f"s{n}-{k}", contact=contact, starts_at=when,
                                           status=rng.choice(["attended", "attended", "no_show", "cancelled"]))
    return {role: make_user(workspace, role, staff={"coach": dana, "setter": sam}.get(role))
            for role in ("admin", "coach", "setter", "viewer")}


def scope(user, *, per_request=False) -> Scope:
    return Scope.of(user.memberships.select_related("workspace").get(), per_request=per_request)


def by_definition(access: Scope, period) -> MemberFigures:
    """The four figures row by row: the formulas of the metrics, sessions read from the sessions themselves."""
    last = period.last_day
    packages = scoped(Package, access).filter(starts_on__lte=last, expires_on__gte=last,
                                              sessions_used__lt=F("sessions_purchased"))
    subscriptions = Subscription.objects.filter(workspace=access.workspace, contact__in=scoped(Contact, access),
                                                status__in=["active", "trialing"], created__lt=period.end)
    members = set(packages.values_list("contact_id", flat=True)) | set(subscriptions.values_list("contact_id", flat=True))
    trained = {c for c in members if TrainingSession.objects.filter(
        contact_id=c, status="attended", starts_at__gte=period.start, starts_at__lt=period.end).exists()}
    latest = {}
    for score in scoped(HealthScore, access).filter(date__lte=last, contact_id__in=members).order_by("date"):
        latest[score.contact_id] = score
    totals = [score.total for score in latest.values()]
    at_risk = [c for c, score in latest.items() if score.zone in ("yellow", "red")]
    remaining = sum((p.value * (p.sessions_purchased - p.sessions_used) / p.sessions_purchased
                     for p in Package.objects.filter(contact_id__in=at_risk, starts_on__lte=last, expires_on__gte=last)),
                    Decimal(0))
    return MemberFigures(members=len(members), trained=len(trained),
                         avg_health=(sum(totals) / len(totals)).quantize(Decimal("0.1")) if totals else None,
                         at_risk_revenue=remaining.quantize(Decimal("1")))


@pytest.mark.parametrize("role", ["admin", "coach", "setter", "viewer"])
def test_figures_equal_their_definitions(world, role):
    access = scope(world[role])
    for period in PERIODS:
        for which in (period, period.prior()):
            assert member_figures(access, which) == by_definition(access, which), (role, which)


@pytest.mark.parametrize("role", ["admin", "coach", "setter"])
def test_a_period_and_its_prior_read_together_equal_each_read_alone(world, role):
    alone = scope(world[role])
    for period in PERIODS:
        request = scope(world[role], per_request=True)  # what a page's KPIs share
        with CaptureQueriesContext(connection) as queries:
            got = {k.name: (k.value, k.prior) for k in kpis(NAMES, period, request)}
        # One statement reads both periods' figures (the attended months are read in no other).
        assert sum("clients_attendedmonth" in q["sql"] for q in queries) == 1
        expected = {}
        for name in NAMES:
            expected[name] = tuple(kpis([name], which, alone)[0].value for which in (period, period.prior()))
        assert got == expected, (role, period)


def test_the_data_has_the_cases_the_figures_must_handle(world):
    """Guard against a fixture that tests nothing: members of every kind, trained and not, unscored on the latest
    scored day, at risk with packages left, and a setter's subscribed lead who trained."""
    admin, setter = scope(world["admin"]), scope(world["setter"])
    period = PERIODS[0]
    figures = by_definition(admin, period)
    assert 0 < figures.trained < figures.members and figures.at_risk_revenue > 0
    assert by_definition(setter, period).trained > 0
    # The setter's trainers are read from the rollup through the contact (the rollup itself is hidden from setters).
    sql, params = attended_in_sql(setter, period)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {row[0] for row in cursor.fetchall()}
    assert found == set(TrainingSession.objects.filter(
        contact__owner_id=setter.staff_id, status="attended", starts_at__gte=period.start, starts_at__lt=period.end,
    ).values_list("contact_id", flat=True))
    day = HealthScore.objects.filter(date__lte=period.last_day).latest("date").date
    members = Package.objects.filter(starts_on__lte=period.last_day, expires_on__gte=period.last_day,
                                     sessions_used__lt=F("sessions_purchased")).values_list("contact_id", flat=True)
    assert HealthScore.objects.filter(contact_id__in=members, date__lt=day).exclude(
        contact__health_scores__date=day).exists()


def _refresh(workspace) -> None:
    """What rollups_refresh does for the stored member figures, on the fixture's today: take the marks, store again."""
    marks = RollupDirty.objects.filter(workspace=workspace)
    days = set(marks.values_list("day", flat=True))
    marks.delete()
    if days:
        member_periods_store(workspace=workspace, runs=day_ranges(days), today=TODAY)


def _read_from_store(access, period) -> bool:
    """Whether the period's figures were read without computing them (no membership span read)."""
    with CaptureQueriesContext(connection) as queries:
        member_figures(access, period)
    return not any('FROM "clients_memberspan"' in q["sql"] for q in queries)


def test_stored_figures_equal_the_definitions_and_are_never_read_stale(world):
    """The named periods' stored figures equal the definitions; a write of any source (a package used up, a
    subscription cancelled, a package removed, a session attended, a score) makes the periods it changes computed live
    until the refresh stores them again, so a read always equals the definitions."""
    admin = scope(world["admin"])
    workspace = admin.workspace
    RollupDirty.objects.filter(workspace=workspace).delete()  # the fixture's own writes
    member_periods_store(workspace=workspace, runs=None, today=TODAY)
    periods = named_periods(workspace, TODAY)
    assert PeriodMemberFigures.objects.filter(workspace=workspace).count() == len(
        {(p.first_day, p.last_day) for p in periods}) > 6
    for period in periods:
        assert _read_from_store(admin, period)
        assert member_figures(admin, period) == by_definition(admin, period), period

    used_up, removed, *others = Package.objects.filter(starts_on__lte=TODAY - timedelta(days=8), expires_on__gte=TODAY,
                                                      sessions_used__lt=F("sessions_purchased"))
    subscription = Subscription.objects.filter(status__in=["active", "trialing"], created__lt=PERIODS[1].start).first()
    idle = Contact.objects.filter(pk__in=[p.contact_id for p in others]).exclude(
        training_sessions__status="attended", training_sessions__starts_at__gte=PERIODS[1].start).first()
    writes = {
        "a package used up": lambda: Package.objects.filter(pk=used_up.pk).update(sessions_used=F("sessions_purchased")),
        "a subscription cancelled": lambda: Subscription.objects.filter(pk=subscription.pk).update(status="canceled"),
        "a package removed": lambda: Package.objects.filter(pk=removed.pk).delete(),
        "a session attended yesterday": lambda: TrainingSession.objects.create(
            workspace=workspace, source_id="late", contact=idle, status="attended",
            starts_at=datetime.combine(TODAY - timedelta(days=1), time(10), DUBAI)),
        "today's score of a member": lambda: HealthScore.objects.update_or_create(
            workspace=workspace, contact_id=others[0].contact_id, date=TODAY,
            defaults={"total": Decimal("12.5"), "zone": "red"}),
    }
    for write, do in writes.items():
        before = {p: by_definition(admin, p) for p in periods}
        do()
        after = {p: by_definition(admin, p) for p in periods}
        assert before != after, f"{write} changes no figure: the test would not see a stale row"
        for period in periods:
            assert member_figures(admin, period) == after[period], (write, period)
        # A session makes only who trained stale, a score only the scores' figures: the rest is not read again.
        stale_only = {"a session attended yesterday": ("yesterday", "JOIN clients_healthscore"),
                      "today's score of a member": ("today", "clients_attendedmonth")}
        if write in stale_only:
            key, not_read = stale_only[write]
            with CaptureQueriesContext(connection) as queries:
                member_figures(admin, next(p for p in periods if p.key == key))
            assert any('FROM "clients_memberspan"' in q["sql"] for q in queries), write
            assert not any(not_read in q["sql"] for q in queries), write
        _refresh(workspace)
        for period in periods:
            assert _read_from_store(admin, period), (write, period)
            assert member_figures(admin, period) == after[period], (write, period)


def test_stored_figures_serve_admins_and_viewers_only(world):
    """A coach's own members are computed for them, never read from the workspace's stored figures."""
    workspace = scope(world["admin"]).workspace
    member_periods_store(workspace=workspace, runs=None, today=TODAY)
    RollupDirty.objects.filter(workspace=workspace).delete()
    period = named_periods(workspace, TODAY)[0]
    assert _read_from_store(scope(world["viewer"]), period)
    coach = scope(world["coach"])
    assert not _read_from_store(coach, period)
    assert member_figures(coach, period) == by_definition(coach, period)
