"""sync_hubspot through hubspot-api-client against the loopback fake HubSpot."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clients.models import Appointment, Call, Contact, Deal, PipelineStage, Staff
from ptd.models import SyncState


def seed(hs, n_contacts=250):
    base = datetime(2026, 10, 1, tzinfo=UTC)
    setter = hs.add_owner("sam@ptd.ae", "Sam", "Setter", id=501)
    hs.add_pipeline("default", "Sales", [("122237508", "Assessment booked", 0.2, False),
                                         ("122237276", "Assessment held", 0.4, False),
                                         ("closedwon", "Closed won", 1.0, True),
                                         ("closedlost", "Closed lost", 0.0, True)])
    for i in range(n_contacts):
        hs.add_contact(email=f"Lead{i}@Example.com ", phone="050 123 4567" if i == 0 else f"+9715{i:08d}"[:13],
                       firstname=f"Lead{i}", lifecyclestage="lead", hubspot_owner_id=setter["id"],
                       created=base + timedelta(minutes=i), updated=base + timedelta(minutes=i))
    deal = hs.add_deal(dealname="Lead0 — 24 sessions", amount="6600.00", dealstage="122237276",
                       hubspot_owner_id=setter["id"], hs_date_entered_122237508="2026-10-02T10:00:00.000Z",
                       hs_date_entered_122237276="2026-10-04T10:00:00.000Z",
                       created=base + timedelta(days=1), updated=base + timedelta(days=3))
    first_contact = next(iter(hs.objects["contacts"]))
    hs.associate("deals", deal["id"], "contacts", first_contact)
    call = hs.add_call(hs_timestamp="2026-10-01T12:00:00.000Z", hs_call_direction="OUTBOUND",
                       hs_call_status="COMPLETED", hs_call_duration="95000", hs_call_to_number="+971501234567",
                       hubspot_owner_id=setter["id"], updated=base + timedelta(hours=2))
    hs.associate("calls", call["id"], "contacts", first_contact)
    meeting = hs.add_meeting(hs_meeting_start_time="2026-10-04T10:00:00.000Z", hs_meeting_outcome="COMPLETED",
                             hubspot_owner_id=setter["id"], updated=base + timedelta(hours=3))
    hs.associate("meetings", meeting["id"], "contacts", first_contact)
    return first_contact, deal


@pytest.mark.django_db
def test_backfill_then_incremental(hs, workspace, capsys):
    first_contact, deal = seed(hs)
    call_command("sync_hubspot")
    out = capsys.readouterr().out
    assert "250 contacts" in out and "1 deals" in out
    assert Contact.objects.filter(workspace=workspace).count() == 250
    lead0 = Contact.objects.get(hubspot_id=first_contact)
    assert lead0.email_normalized == "lead0@example.com"  # trimmed and lower-cased
    assert lead0.phone_e164 == "+971501234567"  # national format read as UAE
    assert lead0.owner.name == "Sam Setter"
    stored_deal = Deal.objects.get(hubspot_id=deal["id"])
    assert stored_deal.stage_id == "122237276" and stored_deal.contact == lead0
    assert str(stored_deal.amount) == "6600.00"
    assert list(stored_deal.stage_history.order_by("entered_at").values_list("stage_id", flat=True)) == [
        "122237508", "122237276"]
    assert Call.objects.get(source="hubspot").talk_seconds == 95
    assert Appointment.objects.get(source="hubspot").status == "held"
    assert PipelineStage.objects.get(workspace=workspace, stage_id="closedwon", pipeline="default").funnel_step == "closed_won"
    state = SyncState.objects.get(workspace=workspace, source="hubspot")
    assert state.cursor["contacts"]["backfilled"] and state.last_success_at and not state.last_error

    # Incremental: only what changed since the cursor is asked for, through search.
    hs.clear_requests()
    hs.update("contacts", first_contact, {"lifecyclestage": "customer"})
    call_command("sync_hubspot")
    assert Contact.objects.get(hubspot_id=first_contact).lifecycle_stage == "customer"
    assert hs.requests_to("/crm/v3/objects/contacts/search", "POST")
    assert not hs.requests_to("/crm/v3/objects/contacts?", "GET")


@pytest.mark.django_db
def test_search_walks_windows_past_ten_thousand(hs, workspace, monkeypatch):
    """HubSpot refuses to page a search past 10,000 results: the sync restarts the window instead."""
    from clients.integrations import hubspot as hubspot_api

    seed(hs, n_contacts=30)
    call_command("sync_hubspot")
    monkeypatch.setattr(hubspot_api, "SEARCH_RESULT_CAP", 10)  # a small cap, same mechanism
    hs.search_result_cap = 10
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(30):
        hs.update("contacts", list(hs.objects["contacts"])[i], {"firstname": f"Renamed{i}"},
                  updated=base + timedelta(seconds=i))
    call_command("sync_hubspot")
    assert Contact.objects.filter(first_name__startswith="Renamed").count() == 30


@pytest.mark.django_db
def test_rate_limit_is_retried(hs, workspace):
    seed(hs, n_contacts=3)
    hs.rate_limit_next(times=1, retry_after=1)
    call_command("sync_hubspot")
    assert Contact.objects.count() == 3


@pytest.mark.django_db
def test_missing_or_rejected_token_is_one_line(hs, workspace, monkeypatch):
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    with pytest.raises(CommandError, match="HubSpot access token is not configured for workspace ptd"):
        call_command("sync_hubspot")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "wrong")
    with pytest.raises(CommandError, match=r"HubSpot rejected the access token \(401\)"):
        call_command("sync_hubspot")
    assert "rejected" in SyncState.objects.get(workspace=workspace, source="hubspot").last_error


@pytest.mark.django_db
def test_existing_contact_adopts_hubspot_id(hs, workspace):
    """A contact first known from another source is not duplicated when HubSpot sends it."""
    Contact.objects.create(workspace=workspace, email_normalized="lead0@example.com",
                           created_at=datetime(2026, 9, 1, tzinfo=UTC))
    seed(hs, n_contacts=2)
    call_command("sync_hubspot")
    assert Contact.objects.filter(email_normalized="lead0@example.com").count() == 1
    assert Contact.objects.get(email_normalized="lead0@example.com").hubspot_id is not None
    assert Staff.objects.get(hubspot_owner_id="501").kind == "setter"
