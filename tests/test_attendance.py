"""Who trained when (clients.attendance): the AttendedMonth rollup equals the attended sessions after every kind of
write — one row or a bulk update, a move across a Dubai month boundary, a status change, a client change, a
delete — and after the workspace refresh; a period's trainers read from it are those of the sessions."""

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from clients.attendance import attended_in_sql, attended_months_refresh, day_masks
from clients.models import AttendedMonth, Contact, TrainingSession
from ptd.periods import resolve_period
from ptd.scoping import Scope

DUBAI = ZoneInfo("Asia/Dubai")

pytestmark = pytest.mark.django_db


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=DUBAI)


def expected(workspace) -> dict[tuple[int, date], int]:
    bits = defaultdict(int)
    for s in TrainingSession.objects.filter(workspace=workspace, status="attended"):
        local = s.starts_at.astimezone(DUBAI)
        bits[(s.contact_id, local.date().replace(day=1))] |= 1 << (local.day - 1)
    return dict(bits)


def stored(workspace) -> dict[tuple[int, date], int]:
    return {(a.contact_id, a.month): a.days for a in AttendedMonth.objects.filter(workspace=workspace)}


def test_day_masks_cover_the_days_of_each_month():
    assert day_masks(date(2026, 10, 28), date(2026, 11, 26)) == [
        (date(2026, 10, 1), 0b1111 << 27), (date(2026, 11, 1), (1 << 26) - 1)]
    assert day_masks(date(2026, 12, 31), date(2027, 1, 1)) == [(date(2026, 12, 1), 1 << 30), (date(2027, 1, 1), 1)]
    assert day_masks(date(2026, 2, 1), date(2026, 2, 28)) == [(date(2026, 2, 1), (1 << 28) - 1)]


def test_every_write_keeps_the_rollup_equal_to_the_sessions(workspace):
    aisha, omar = (Contact.objects.create(workspace=workspace, first_name=n, created_at=at(9, 1)) for n in "AO")

    def session(n, who, when, status="attended"):
        return TrainingSession.objects.create(workspace=workspace, source_id=f"s{n}", contact=who, starts_at=when,
                                              status=status)

    first = session(1, aisha, at(10, 5))
    session(2, aisha, at(10, 5, 18))  # the same day twice
    # 31 Oct 22:30 UTC is 1 Nov in Dubai: November's first day.
    late = session(3, aisha, datetime(2026, 10, 31, 22, 30, tzinfo=ZoneInfo("UTC")))
    session(4, omar, at(10, 9), status="no_show")
    assert stored(workspace) == expected(workspace) == {(aisha.pk, date(2026, 10, 1)): 1 << 4,
                                                        (aisha.pk, date(2026, 11, 1)): 1}
    TrainingSession.objects.filter(source_id="s4").update(status="attended")  # a no-show corrected
    late.starts_at = at(12, 31)
    late.save()  # moved to another month: November emptied
    first.contact = omar
    first.save()
    assert stored(workspace) == expected(workspace)
    assert (aisha.pk, date(2026, 11, 1)) not in stored(workspace)
    TrainingSession.objects.filter(workspace=workspace).update(starts_at=at(11, 20))  # a bulk move
    assert stored(workspace) == expected(workspace)
    TrainingSession.objects.filter(contact=omar).delete()
    assert stored(workspace) == expected(workspace) == {(aisha.pk, date(2026, 11, 1)): 1 << 19}
    AttendedMonth.objects.all().delete()
    assert attended_months_refresh(workspace_id=workspace.pk) == 1
    assert stored(workspace) == expected(workspace)


def test_trainers_of_a_period_are_those_of_the_sessions(workspace, make_user):
    contacts = [Contact.objects.create(workspace=workspace, first_name=f"c{i}", created_at=at(9, 1))
                for i in range(6)]
    days = [at(10, 27), at(10, 28, 0), at(11, 26, 23), datetime(2026, 11, 26, 20, 0, tzinfo=ZoneInfo("UTC")),
            at(11, 30), at(11, 15)]  # the fourth is 27 Nov in Dubai
    for i, (who, when) in enumerate(zip(contacts, days, strict=True)):
        TrainingSession.objects.create(workspace=workspace, source_id=f"t{i}", contact=who, starts_at=when,
                                       status="attended" if i != 5 else "cancelled")
    admin = Scope.of(make_user(workspace, "admin").memberships.select_related("workspace").get())
    period = resolve_period("last_30_days", today=date(2026, 11, 26), tz=DUBAI)  # 28 Oct – 26 Nov
    sql, params = attended_in_sql(admin, period)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {row[0] for row in cursor.fetchall()}
    live = set(TrainingSession.objects.filter(workspace=workspace, status="attended", starts_at__gte=period.start,
                                              starts_at__lt=period.end).values_list("contact_id", flat=True))
    assert found == live == {contacts[1].pk, contacts[2].pk}
    assert period.end - period.start == timedelta(days=30)
