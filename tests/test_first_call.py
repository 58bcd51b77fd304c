"""Contact.first_call_at (clients.first_times.FIRST_CALL): kept equal to "the earliest outbound or answered call with the
lead" by the trigger on calls, whatever writes them."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clients.first_times import FIRST_CALL
from clients.models import Call, Contact

DUBAI = ZoneInfo("Asia/Dubai")
T0 = datetime(2026, 11, 20, 10, tzinfo=DUBAI)


def expected(contact: Contact):
    """The definition, by hand from the calls."""
    times = [c.started_at for c in Call.objects.filter(contact=contact)
             if c.direction == "outbound" or c.outcome == "answered"]
    return min(times) if times else None


def call(workspace, contact, minutes, direction="outbound", outcome="missed", n=[0]):
    n[0] += 1
    return Call.objects.create(workspace=workspace, source="callgear", source_id=f"fc{n[0]}", contact=contact,
                               direction=direction, outcome=outcome, started_at=T0 + timedelta(minutes=minutes))


@pytest.mark.django_db
def test_inserts_updates_deletes_and_late_links_keep_it(workspace):
    lead = Contact.objects.create(workspace=workspace, first_name="Lead", created_at=T0)
    other = Contact.objects.create(workspace=workspace, first_name="Other", created_at=T0)

    def check():
        for person in (lead, other):
            person.refresh_from_db()
            assert person.first_call_at == expected(person)

    call(workspace, lead, 30, direction="inbound", outcome="missed")  # an inbound missed call is not a first call
    check()
    assert lead.first_call_at is None
    late = call(workspace, lead, 20)  # outbound attempt
    check()
    assert lead.first_call_at == T0 + timedelta(minutes=20)
    call(workspace, lead, 5, direction="inbound", outcome="answered")
    check()
    assert lead.first_call_at == T0 + timedelta(minutes=5)
    # A bulk UPDATE moves the first call to the other lead (identity back-fill); a DELETE removes one.
    Call.objects.filter(contact=lead, started_at=T0 + timedelta(minutes=5)).update(contact=other)
    check()
    assert (lead.first_call_at, other.first_call_at) == (T0 + timedelta(minutes=20), T0 + timedelta(minutes=5))
    late.delete()
    check()
    assert lead.first_call_at is None


@pytest.mark.django_db
def test_the_bulk_refresh_repairs_what_bypassed_the_trigger(workspace):
    lead = Contact.objects.create(workspace=workspace, first_name="Lead", created_at=T0)
    call(workspace, lead, 15)
    Contact.objects.filter(pk=lead.pk).update(first_call_at=None)  # as a COPY without the column would leave it
    assert FIRST_CALL.refresh(workspace_id=workspace.pk) == 1
    lead.refresh_from_db()
    assert lead.first_call_at == T0 + timedelta(minutes=15)
    assert FIRST_CALL.refresh(workspace_id=workspace.pk) == 0
