"""The first-touch rollup (marketing.first_touch_days, issue 6) against the per-contact credit computed from the raw
rows, on the multi-touch world of tests/test_attribution.py (with Max, whose touch follows his payment, and Noor,
an October lead first touched on 3 Nov): equal when every day is dirty (nothing stored), after a rebuild (every
day stored), after writes that move credit on days they do not touch (read before the refresh: stored days and
dirty days mixed), and after the refresh, whose rows are those a rebuild writes."""

from datetime import date

import pytest

from clients.models import Contact
from finance.models import Payment
from marketing.attribution import LEVELS, attributed, attributed_net_revenue, cash_sums
from marketing.first_touch_days import TABLE
from marketing.models import AttributionEvent, FirstTouchDay
from ptd.models import RollupDirty
from ptd.periods import resolve_period
from ptd.rollups import rollups_refresh, rollups_rebuild_workspace
from tests.test_attribution import A1, DUBAI, OCT, at, world  # noqa: F401  (the shared fixture)
from tests.test_attribution_grouped import scopes  # noqa: F401


def custom(first: str, last: str):
    return resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from=first, date_to=last)


# October; October to 5 Nov (Noor's touch of 3 Nov counts, Lou's payment too); November; one day; 4 Nov alone
# (Noor's touch is before it but her lead is not in it).
PERIODS = [OCT, custom("2026-10-01", "2026-11-05"), custom("2026-11-01", "2026-11-30"),
           custom("2026-10-15", "2026-10-15"), custom("2026-11-04", "2026-11-04")]


def assert_equal_to_raw_rows(scopes):  # noqa: F811
    for role in ("admin", "viewer"):
        access = scopes[role]
        for period in PERIODS:
            for level in LEVELS:
                from_rollup = attributed(access=access, period=period, level=level)
                per_contact = attributed(access=access, period=period, level=level, stored_first_touch=False)
                assert from_rollup == per_contact, (role, period.first_day, period.last_day, level)
            assert attributed_net_revenue(access=access, period=period) == sum(
                row.net for row in attributed(access=access, period=period, stored_first_touch=False))


def stored_rows(workspace):
    return sorted(FirstTouchDay.objects.filter(workspace=workspace).values_list(
        "day", "late_day", "ad", "adset", "campaign", "leads", "booked", "held", "deals", "won", "cash", "refunds",
        "disputed"), key=repr)


@pytest.mark.django_db
def test_rollup_equals_the_raw_rows_before_and_after_writes(scopes, workspace):  # noqa: F811
    assert_equal_to_raw_rows(scopes)  # written through the ORM: every day dirty, nothing stored yet

    rollups_rebuild_workspace(workspace=workspace)
    assert not RollupDirty.objects.filter(workspace=workspace).exists()
    rows = stored_rows(workspace)
    assert rows and all(row[0] <= date(2026, 11, 5) for row in rows)
    # Noor's lead of 21 Oct is stored with her touch's day: it counts only in periods ending on or after 3 Nov.
    assert [(day, late) for day, late, *_ in rows if late] == [(date(2026, 10, 21), date(2026, 11, 3))]
    assert_equal_to_raw_rows(scopes)

    contacts = {c.first_name: c for c in Contact.objects.filter(workspace=workspace)}
    # Rae (organic until now) is found to have clicked ad A1 before her payment: her deal's and payment's days move.
    AttributionEvent.objects.create(workspace=workspace, external_id="rae-late-report", contact=contacts["Rae"],
                                    event_name="PageView", occurred_at=at(10, 4, 13), ad_id=A1)
    # Quinn's payment belonged to Eli: its refund of 20 Oct goes with it.
    Payment.objects.filter(stripe_id="ch_quinn").update(contact=contacts["Eli"])
    # Noor paid on 25 Oct, before her first touch: her lead is no longer credited to any ad.
    Payment.objects.create(workspace=workspace, stripe_id="ch_noor", contact=contacts["Noor"], amount_minor=10000,
                           currency="AED", created=at(10, 25), status="succeeded")
    marked = set(RollupDirty.objects.filter(workspace=workspace, source=TABLE).values_list("day", flat=True))
    assert {date(2026, 10, 12), date(2026, 10, 20)} <= marked  # Rae's payment; the moved payment's refund
    assert_equal_to_raw_rows(scopes)

    rollups_refresh(workspace=workspace)
    assert not RollupDirty.objects.filter(workspace=workspace).exists()
    assert_equal_to_raw_rows(scopes)
    refreshed = stored_rows(workspace)
    rollups_rebuild_workspace(workspace=workspace)
    assert stored_rows(workspace) == refreshed != rows


@pytest.mark.django_db
def test_one_read_gives_each_period_its_own_sums(scopes, workspace):  # noqa: F811
    rollups_rebuild_workspace(workspace=workspace)
    admin = scopes["admin"]
    together = cash_sums(admin, PERIODS, ("leads", "cash"))
    assert together == [cash_sums(admin, [period], ("leads", "cash"))[0] for period in PERIODS]
    assert any(together)


@pytest.mark.django_db
def test_a_period_in_another_time_zone_is_refused(scopes):  # noqa: F811
    from zoneinfo import ZoneInfo

    utc = resolve_period("custom", today=date(2026, 11, 25), tz=ZoneInfo("UTC"), date_from="2026-10-01",
                         date_to="2026-10-31")
    with pytest.raises(ValueError, match="time zone"):
        cash_sums(scopes["admin"], [utc], ("leads",))


@pytest.mark.django_db
def test_the_triggers_compare_old_and_new_rows_by_set_difference():
    """Like the first-touch triggers (tests/test_first_touch.py): never a join of a write's two transition tables."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'marketing_credit_days%%'")
        bodies = dict(cursor.fetchall())
    assert sorted(bodies) == ["marketing_credit_days_clients_contact", "marketing_credit_days_finance_payment"]
    assert not [name for name, body in bodies.items() if "JOIN old_rows" in body or "JOIN new_rows" in body]
