"""ptd.schedules.sync_schedules makes django-q2's Schedule table match the declarations, idempotently:
create what is missing, update what changed, delete our ("ptd:") rows no longer declared, leave the rest."""

from datetime import datetime, timedelta
from importlib import import_module

import pytest
from croniter import croniter
from django.utils import timezone
from django_q.models import Schedule

from ptd import schedules
from ptd.schedules import MANAGED_PREFIX, SCHEDULES, Declared, sync_schedules

pytestmark = pytest.mark.django_db

DECLARED = [
    Declared("housekeeping", "ptd.tasks.housekeeping", "17 * * * *", "prune"),
    Declared("nightly", "ptd.tasks.housekeeping", "30 1 * * *", "nightly"),
]


@pytest.fixture
def declared(monkeypatch):
    monkeypatch.setattr(schedules, "SCHEDULES", list(DECLARED))
    return schedules.SCHEDULES


def _rows():
    return {s.name: (s.func, s.cron, s.schedule_type, s.repeats)
            for s in Schedule.objects.filter(name__startswith=MANAGED_PREFIX)}


def test_first_sync_creates_every_declared_schedule(declared):
    assert sync_schedules() == {"created": 2, "updated": 0, "deleted": 0, "unchanged": 0}
    assert _rows() == {
        "ptd:housekeeping": ("ptd.tasks.housekeeping", "17 * * * *", Schedule.CRON, -1),
        "ptd:nightly": ("ptd.tasks.housekeeping", "30 1 * * *", Schedule.CRON, -1),
    }
    housekeeping = Schedule.objects.get(name="ptd:housekeeping")
    assert housekeeping.next_run > timezone.now()
    assert timezone.localtime(housekeeping.next_run).minute == 17


def test_second_sync_changes_nothing_and_keeps_next_run(declared):
    sync_schedules()
    next_runs = dict(Schedule.objects.values_list("name", "next_run"))
    ids = dict(Schedule.objects.values_list("name", "pk"))

    assert sync_schedules() == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 2}
    assert sync_schedules() == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 2}
    assert dict(Schedule.objects.values_list("name", "next_run")) == next_runs
    assert dict(Schedule.objects.values_list("name", "pk")) == ids
    assert Schedule.objects.count() == 2


def test_a_changed_declaration_updates_the_row(declared):
    sync_schedules()
    declared[1] = Declared("nightly", "ptd.tasks.housekeeping", "45 2 * * *", "nightly, later")

    assert sync_schedules() == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 1}
    assert _rows()["ptd:nightly"] == ("ptd.tasks.housekeeping", "45 2 * * *", Schedule.CRON, -1)
    assert sync_schedules() == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 2}


def test_a_row_edited_by_hand_is_put_back(declared):
    sync_schedules()
    Schedule.objects.filter(name="ptd:housekeeping").update(cron="0 0 * * *", func="ptd.tasks.other")

    assert sync_schedules() == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 1}
    assert _rows()["ptd:housekeeping"] == ("ptd.tasks.housekeeping", "17 * * * *", Schedule.CRON, -1)


def test_an_updated_schedule_gets_its_next_run(declared):
    sync_schedules()
    declared[0] = Declared("housekeeping", "ptd.tasks.housekeeping", "5 * * * *", "prune")
    sync_schedules()

    row = Schedule.objects.get(name="ptd:housekeeping")
    assert row.next_run is not None
    assert timezone.now() < row.next_run <= timezone.now() + timedelta(hours=1)
    assert timezone.localtime(row.next_run).minute == 5


def test_undeclared_ptd_rows_are_deleted_and_others_left_alone(declared):
    sync_schedules()
    Schedule.objects.create(name="ptd:retired", func="ptd.tasks.housekeeping", schedule_type=Schedule.CRON,
                            cron="0 3 * * *")
    foreign = Schedule.objects.create(name="someone-elses", func="ptd.tasks.housekeeping",
                                      schedule_type=Schedule.HOURLY)
    unnamed = Schedule.objects.create(func="ptd.tasks.housekeeping", schedule_type=Schedule.DAILY)

    assert sync_schedules() == {"created": 0, "updated": 0, "deleted": 1, "unchanged": 2}
    assert set(_rows()) == {"ptd:housekeeping", "ptd:nightly"}
    assert Schedule.objects.filter(pk__in=[foreign.pk, unnamed.pk]).count() == 2
    foreign.refresh_from_db()
    assert (foreign.name, foreign.schedule_type) == ("someone-elses", Schedule.HOURLY)


def test_a_removed_declaration_deletes_its_row(declared):
    sync_schedules()
    del declared[1]
    assert sync_schedules() == {"created": 0, "updated": 0, "deleted": 1, "unchanged": 1}
    assert set(_rows()) == {"ptd:housekeeping"}


def test_the_real_declarations_are_valid_and_sync():
    names = [d.name for d in SCHEDULES]
    assert names and len(names) == len(set(names))
    base = datetime(2026, 11, 25, 12, 0)
    for d in SCHEDULES:
        assert croniter.is_valid(d.cron), d
        module, _, attr = d.func.rpartition(".")
        assert callable(getattr(import_module(module), attr)), d.func
        assert croniter(d.cron, base).get_next(datetime) > base
        assert d.why
    assert sync_schedules()["created"] == len(SCHEDULES)
    assert sync_schedules() == {"created": 0, "updated": 0, "deleted": 0, "unchanged": len(SCHEDULES)}
