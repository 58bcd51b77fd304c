"""Daily rollups (ptd.rollups): what a workspace-wide page reads equals the live computation from the raw rows,
after a rebuild, after writes of every kind (ORM, bulk update, delete) before and after the refresh; and a
rebuild repairs a damaged rollup."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clients.models import Contact, Deal, DealStageHistory
from finance.models import Payment, Refund
from ptd import rollups
from ptd.models import DailyRollup, RollupDirty
from ptd.periods import resolve_period
from ptd.scoping import Scope

DUBAI = ZoneInfo("Asia/Dubai")
TODAY = date(2026, 11, 25)
BOOKED, HELD, WON, LOST = "122237508", "122237276", "closedwon", "closedlost"


def period(first: str, last: str):
    return resolve_period("custom", today=TODAY, tz=DUBAI, date_from=first, date_to=last)


PERIODS = [period("2026-11-01", "2026-11-30"), period("2026-10-01", "2026-10-31"), period("2026-11-20", "2026-11-20")]


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=DUBAI)


def scope(user) -> Scope:
    return Scope.of(user.memberships.select_related("workspace").get())


@pytest.fixture
def book(workspace, make_staff, make_user):
    amy, ben = make_staff(workspace, "setter", name="Amy"), make_staff(workspace, "coach", name="Ben")

    def deal(name, owner, current, history, **contact):
        person = Contact.objects.create(workspace=workspace, first_name=name, created_at=history[0][1] - timedelta(hours=1),
                                        owner=amy, **contact)
        d = Deal.objects.create(workspace=workspace, hubspot_id=name, contact=person, stage_id=current, owner=owner,
                                created_at=history[0][1], amount=Decimal("1000"), cash_collected=Decimal("400"))
        for stage, when in history:
            DealStageHistory.objects.create(workspace=workspace, deal=d, stage_id=stage, entered_at=when)
        return d

    deal("d1", ben, WON, [(BOOKED, at(11, 3)), (HELD, at(11, 5)), (WON, at(11, 10))], fb_ad_id="111")
    deal("d2", ben, BOOKED, [(BOOKED, at(11, 4))])
    deal("d3", None, LOST, [(BOOKED, at(10, 30, 23)), (LOST, at(11, 1, 0))])  # 23:00 and 00:00 Dubai: two days
    deal("d4", ben, HELD, [(BOOKED, at(10, 20)), (HELD, at(11, 2))], fb_campaign_id="9")
    for when, amount in [(at(11, 3), 50000), (at(11, 3, 23), 20000), (at(10, 5), 10000)]:
        Payment.objects.create(workspace=workspace, stripe_id=f"ch_{amount}", created=when, amount_minor=amount,
                               currency="AED", status="succeeded")
    Refund.objects.create(workspace=workspace, stripe_id="re_1", created=at(11, 4), amount_minor=5000, currency="AED",
                          status="succeeded")
    return {"admin": scope(make_user(workspace, "admin")), "coach": scope(make_user(workspace, "coach", staff=ben)),
            "ben": ben}


def live(name: str, p, access) -> Decimal:
    """The measure straight from the raw rows (the rollup's definition)."""
    spec = rollups.measures()[name]
    rows = rollups.computed([spec], workspace_id=access.workspace.pk, tz=p.tz, runs=[(p.first_day, p.last_day)],
                            access=access)[name]
    return sum((v for _, _, v in rows), Decimal(0))


def assert_reads_equal_live(access):
    for p in PERIODS:
        for name in rollups.measures():
            assert rollups.total(name, p, access) == live(name, p, access), (name, p.first_day)


def test_every_measure_reads_equal_to_the_raw_rows_dirty_refreshed_and_rebuilt(book):
    admin = book["admin"]
    assert RollupDirty.objects.exists()  # the triggers marked the fixture's days
    assert_reads_equal_live(admin)  # dirty days computed from the raw rows
    rollups.rollups_refresh(workspace=admin.workspace)
    assert not RollupDirty.objects.exists() and DailyRollup.objects.exists()
    assert_reads_equal_live(admin)  # stored days
    rollups.rollups_rebuild_workspace(workspace=admin.workspace)
    assert_reads_equal_live(admin)


def test_hand_computed_values(book):
    admin, nov = book["admin"], PERIODS[0]
    rollups.rollups_refresh(workspace=admin.workspace)
    sums = rollups.totals(["leads", "ad_leads", "entered_booked", "converted_booked_held", "entered_closed_lost",
                           "won_value", "won_cash", "collected_minor", "refunded_minor"], nov, admin)
    assert sums == {"leads": 2, "ad_leads": 1, "entered_booked": 2, "converted_booked_held": 1,
                    "entered_closed_lost": 1, "won_value": 1000, "won_cash": 400, "collected_minor": 70000,
                    "refunded_minor": 5000}
    # Local days: d3's booking at 23:00 Dubai on 30 Oct is an October booking even though it is 19:00 UTC.
    assert rollups.by_day("entered_booked", PERIODS[1], admin) == {date(2026, 10, 20): 1, date(2026, 10, 30): 1}
    assert rollups.by_staff(["entered_held"], nov, admin)["entered_held"] == {book["ben"].pk: 2}
    lifetime = rollups.totals(["collected_minor"], nov, admin, first_day=rollups.ALL_TIME)
    assert lifetime == {"collected_minor": 80000}


def test_writes_of_every_kind_are_seen_at_once_and_folded_in_by_the_refresh(book):
    admin, nov = book["admin"], PERIODS[0]
    rollups.rollups_refresh(workspace=admin.workspace)
    # An ORM insert, a bulk UPDATE that moves a payment to another day, a DELETE: no signals needed.
    Contact.objects.create(workspace=admin.workspace, first_name="New", created_at=at(11, 20))
    Payment.objects.filter(stripe_id="ch_10000").update(created=at(11, 21))
    Refund.objects.filter(stripe_id="re_1").delete()
    marked = set(RollupDirty.objects.values_list("source", "day"))
    assert {("clients_contact", date(2026, 11, 20)), ("finance_payment", date(2026, 10, 5)),
            ("finance_payment", date(2026, 11, 21)), ("finance_refund", date(2026, 11, 4))} <= marked
    sums = rollups.totals(["leads", "collected_minor", "refunded_minor"], nov, admin)
    assert sums == {"leads": 3, "collected_minor": 80000, "refunded_minor": 0}
    assert_reads_equal_live(admin)
    rollups.rollups_refresh(workspace=admin.workspace)
    assert not RollupDirty.objects.exists()
    assert rollups.totals(["leads", "collected_minor", "refunded_minor"], nov, admin) == sums
    assert_reads_equal_live(admin)


def test_a_deal_moving_on_changes_its_booking_day_cohort(book):
    """Cohort conversion: a deal booked on 4 Nov and held on 24 Nov changes the 4 Nov cell."""
    admin, nov = book["admin"], PERIODS[0]
    rollups.rollups_refresh(workspace=admin.workspace)
    d2 = Deal.objects.get(hubspot_id="d2")
    DealStageHistory.objects.create(workspace=admin.workspace, deal=d2, stage_id=HELD, entered_at=at(11, 24))
    assert ("clients_dealfunnel", date(2026, 11, 4)) in set(RollupDirty.objects.values_list("source", "day"))
    assert rollups.total("converted_booked_held", nov, admin) == 2
    rollups.rollups_refresh(workspace=admin.workspace)
    assert rollups.total("converted_booked_held", nov, admin) == 2


def test_a_coach_reads_own_deals_live(book):
    coach, nov = book["coach"], PERIODS[0]
    assert rollups.total("entered_booked", nov, coach) == 2  # d1 and d2; d3 has no owner
    assert rollups.total("won_value", nov, coach) == 1000
    assert rollups.total("collected_minor", nov, coach) == 0  # finance is not the coach's


def test_the_rebuild_repairs_a_damaged_rollup(book):
    admin, nov = book["admin"], PERIODS[0]
    rollups.rollups_refresh(workspace=admin.workspace)
    DailyRollup.objects.filter(measure="leads").update(value=999)
    assert rollups.total("leads", nov, admin) != live("leads", nov, admin)
    assert "rollups rebuilt" in rollups.rollups_rebuild()
    assert_reads_equal_live(admin)


def test_reads_are_one_query_when_clean(book, django_assert_num_queries):
    admin, nov = book["admin"], PERIODS[0]
    rollups.rollups_refresh(workspace=admin.workspace)
    names = list(rollups.measures())
    with django_assert_num_queries(1):
        rollups.totals(names, nov, admin)


def test_triggers_watch_every_measure_source(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE t.tgname LIKE 'ptd_rollup_%'")
        installed = {row[0] for row in cursor.fetchall()}
    assert installed == set(rollups.watched_tables())


def test_the_command_rebuilds_and_refreshes_and_names_a_wrong_workspace(book):
    from django.core.management import CommandError, call_command
    from io import StringIO

    out = StringIO()
    call_command("rollups", "refresh", stdout=out)
    assert "dirty days folded in for ptd" in out.getvalue() and not RollupDirty.objects.exists()
    call_command("rollups", "rebuild", stdout=out)
    assert "cells rebuilt for ptd" in out.getvalue()
    assert_reads_equal_live(book["admin"])
    with pytest.raises(CommandError, match="no workspace 'nope'; existing: ptd"):
        call_command("rollups", "rebuild", "--workspace", "nope")
