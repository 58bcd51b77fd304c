"""CallGear through the real JSON-RPC client (requests) against the loopback FakeCallGear: the pull sync
(`sync_callgear`: limit/offset paging, -32029 waits for the reset, resumable cursor, one line on bad
credentials), call fields and identity (national and international phone formats → one contact), and
the notification webhook (path token, stored once, processed by fetching that call)."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import ManagementUtility, call_command
from django.utils import timezone

from clients import calls as calls_module
from clients.integrations import callgear
from clients.models import Call, Contact
from ptd.inbox import webhook_process
from ptd.models import SyncState, WebhookEvent, WebhookStatus
from ptd.sync import SyncFailed
from tests.fakes.callgear import FakeCallGear

TOKEN, HOOK_TOKEN = "cg-api-token", "cg-hook-7d1e"
DUBAI = ZoneInfo("Asia/Dubai")


@pytest.fixture
def cg(monkeypatch):
    with FakeCallGear(access_token=TOKEN) as fake:
        monkeypatch.setenv("CALLGEAR_API_BASE", fake.api_url)
        monkeypatch.setenv("CALLGEAR_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("CALLGEAR_WEBHOOK_TOKEN", HOOK_TOKEN)
        yield fake
        assert not fake.errors, fake.errors[0]


@pytest.fixture
def slept(monkeypatch):
    """Limit waits are recorded, never slept."""
    waits = []
    monkeypatch.setattr(callgear, "default_sleep", waits.append)
    return waits


@pytest.fixture
def sync_worker(settings, monkeypatch):
    """django-q2 runs tasks in-process, so on_commit → enqueue → webhook_process happens in the test."""
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)


def ago(**delta) -> str:
    """A CallGear time ("YYYY-MM-DD hh:mm:ss", Dubai) some time before now."""
    return (timezone.now().astimezone(DUBAI) - timedelta(**delta)).strftime("%Y-%m-%d %H:%M:%S")


def reports(cg):
    return [r.json["params"] for r in cg.requests if r.json and r.json.get("method") == "get.calls_report"]


def test_paging_by_limit_and_offset(cg, workspace, monkeypatch):
    monkeypatch.setattr(calls_module, "PAGE_LIMIT", 2)
    for minutes in range(5, 0, -1):
        cg.add_call(start_time=ago(minutes=minutes))

    call_command("sync_callgear")

    params = reports(cg)
    assert [(p["limit"], p["offset"]) for p in params][-3:] == [(2, 0), (2, 2), (2, 4)]
    assert Call.objects.filter(workspace=workspace, source="callgear").count() == 5
    assert all(p["access_token"] == TOKEN and p["sort"] == [{"field": "start_time", "order": "asc"}]
               for p in params)


def test_default_request_asks_for_1000_a_page_over_at_most_3_months(cg, workspace):
    call_command("sync_callgear")
    params = reports(cg)
    assert {p["limit"] for p in params} == {1000}
    windows = [(datetime.fromisoformat(p["date_from"]), datetime.fromisoformat(p["date_till"])) for p in params]
    assert windows[0][0] < datetime.now() - timedelta(days=89)  # the first run backfills 90 days
    assert all(till - start <= timedelta(days=31) for start, till in windows)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))


def test_call_fields_staff_and_outcomes(cg, workspace, make_staff):
    agent = make_staff(workspace, kind="setter", name="Agent A")
    make_staff(workspace, kind="setter", name="Someone Else")
    answered = cg.add_call(id=101, start_time="2026-11-20 10:00:00", total_duration=110, talk_duration=95,
                           communication_id=777, call_records=["abc123"])
    missed = cg.add_call(id=102, start_time="2026-11-20 11:00:00", is_lost=True, direction="out",
                         employees=[{"employee_id": 9, "employee_full_name": "Unknown Person", "is_answered": False}])
    busy = cg.add_call(id=103, start_time="2026-11-20 12:00:00", is_lost=True, finish_reason="subscriber_busy",
                       employees=[])

    call_command("sync_callgear", since="2026-11-19")

    first = Call.objects.get(source_id="101")
    assert first.started_at == datetime(2026, 11, 20, 10, 0, tzinfo=DUBAI)
    assert (first.direction, first.outcome, first.talk_seconds, first.wait_seconds) == ("inbound", "answered", 95, 15)
    assert first.recording_url == "https://app.callgear.com/system/media/talk/777/abc123/"
    assert first.staff == agent
    second = Call.objects.get(source_id="102")
    assert (second.direction, second.outcome, second.staff, second.recording_url) == ("outbound", "missed", None, "")
    assert Call.objects.get(source_id="103").outcome == "busy"
    assert answered["id"] != missed["id"] != busy["id"]


def test_national_and_international_formats_match_one_contact(cg, workspace):
    sara = Contact.objects.create(workspace=workspace, created_at=timezone.now(), phone_e164="+971501234567")
    for number in ("0501234567", "971501234567", "+971 50 123 4567"):
        cg.add_call(start_time=ago(minutes=30), contact_phone_number=number)
    cg.add_call(start_time=ago(minutes=20), contact_phone_number="971509999999")

    call_command("sync_callgear")

    assert Call.objects.filter(contact=sara).count() == 3
    assert set(Call.objects.filter(contact=sara).values_list("contact_phone_e164", flat=True)) == {"+971501234567"}
    stranger = Call.objects.get(contact__isnull=True)
    assert stranger.contact_phone_e164 == "+971509999999"  # kept, matched when the contact appears


def test_limit_exceeded_waits_for_the_reset_then_continues(cg, workspace, slept, monkeypatch):
    monkeypatch.setattr(calls_module, "PAGE_LIMIT", 2)
    for minutes in (4, 3, 2, 1):
        cg.add_call(start_time=ago(minutes=minutes))
    call_command("sync_callgear", "--since", ago(hours=1))
    assert Call.objects.count() == 4
    Call.objects.all().delete()
    cg.clear_requests()

    cg.rate_limit_next(times=1, limit_type="minute", reset=7)
    call_command("sync_callgear", "--since", ago(hours=1))

    assert slept == [8.0]  # minute_reset (7 s) from the error's metadata.limits, plus a second
    assert Call.objects.count() == 4
    offsets = [p["offset"] for p in reports(cg)]
    assert offsets == [0, 0, 2]  # the refused request is repeated, then paging goes on


def test_daily_limit_is_not_waited_out(cg, workspace, slept):
    cg.rate_limit_next(times=1, limit_type="day", reset=40_000)
    with pytest.raises(SyncFailed, match="limit_exceeded.*Limit per day"):
        call_command("sync_callgear")
    assert slept == []
    assert "Limit per day" in SyncState.objects.get(workspace=workspace, source="callgear").last_error


def test_resync_is_idempotent_and_resumes_from_the_last_call_minus_an_hour(cg, workspace):
    cg.add_call(id=201, start_time=ago(hours=3))
    latest = cg.add_call(id=202, start_time=ago(hours=2))
    call_command("sync_callgear")
    state = SyncState.objects.get(workspace=workspace, source="callgear")
    assert state.cursor["last_start_time"] == datetime.strptime(latest["start_time"], "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=DUBAI).isoformat()

    cg.clear_requests()
    call_command("sync_callgear")
    [params] = reports(cg)
    assert params["date_from"] == (datetime.strptime(latest["start_time"], "%Y-%m-%d %H:%M:%S")
                                   - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert Call.objects.count() == 2


def test_a_contact_found_earlier_is_kept_when_the_number_changes(cg, workspace):
    """A match the identity backfill made is not undone by a re-sync that finds none."""
    cg.add_call(id=301, start_time=ago(minutes=10), contact_phone_number="971501111111")
    call_command("sync_callgear")
    lead = Contact.objects.create(workspace=workspace, created_at=timezone.now(), phone_e164="+971502222222")
    Call.objects.filter(source_id="301").update(contact=lead)
    call_command("sync_callgear")
    assert Call.objects.get(source_id="301").contact == lead


def _run_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "sync_callgear"]).execute()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(("SyncFailed", "CommandError"))]
    return exit_info.value.code, lines, err


@pytest.mark.django_db(transaction=True)
def test_missing_token_is_one_line_and_a_non_zero_exit(cg, workspace, monkeypatch, capsys):
    monkeypatch.delenv("CALLGEAR_ACCESS_TOKEN")
    code, lines, err = _run_command(capsys)
    assert code != 0 and len(lines) == 1 and "Traceback" not in err
    assert "CallGear access token is not configured for workspace ptd: set CALLGEAR_ACCESS_TOKEN" in lines[0]
    assert not cg.requests


@pytest.mark.django_db(transaction=True)
def test_rejected_token_is_one_line_and_a_non_zero_exit(cg, workspace, monkeypatch, capsys):
    monkeypatch.setenv("CALLGEAR_ACCESS_TOKEN", "revoked")
    code, lines, err = _run_command(capsys)
    assert code != 0 and len(lines) == 1 and "Traceback" not in err
    assert "CallGear rejected the access token (access_token_invalid: Access token is invalid)" in lines[0]


def test_the_task_syncs_configured_workspaces_only(cg, workspace, other_workspace):
    from clients.tasks import sync_callgear

    cg.add_call(start_time=ago(minutes=5))
    summary = sync_callgear()
    assert summary.startswith("ptd: ") and "1 calls" in summary
    assert not SyncState.objects.filter(workspace=other_workspace).exists()


# --- the notification webhook -----------------------------------------------------------------


def _notify(client, payload, token=HOOK_TOKEN):
    return client.post(f"/webhooks/callgear/{token}/", data=json.dumps(payload), content_type="application/json")


def test_wrong_token_is_404(client, cg, workspace):
    assert _notify(client, {"call_session_id": 1}, token="wrong").status_code == 404
    assert not WebhookEvent.objects.exists()


def test_notification_is_stored_processed_and_the_call_fetched(client, cg, workspace, sync_worker,
                                                               django_capture_on_commit_callbacks):
    sara = Contact.objects.create(workspace=workspace, created_at=timezone.now(), phone_e164="+971501234567")
    cg.add_call(id=4001, start_time=ago(minutes=40), contact_phone_number="0501234567")
    cg.add_call(id=4002, start_time=ago(minutes=30))
    payload = {"call_session_id": 4001, "event_type": "call_finished", "start_time": ago(minutes=40)}

    with django_capture_on_commit_callbacks(execute=True):
        response = _notify(client, payload)

    assert response.status_code == 200 and response.json() == {"received": True, "duplicate": False}
    event = WebhookEvent.objects.get(source="callgear")
    assert event.status == WebhookStatus.PROCESSED, event.last_error
    [params] = reports(cg)
    assert params["filter"] == {"field": "id", "operator": "=", "value": 4001}
    call = Call.objects.get()  # only the notified call
    assert (call.source_id, call.contact) == ("4001", sara)


def test_duplicate_notification_is_stored_once(client, cg, workspace, sync_worker,
                                               django_capture_on_commit_callbacks):
    cg.add_call(id=4003, start_time=ago(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        first = _notify(client, {"call_session_id": 4003})
    with django_capture_on_commit_callbacks(execute=True):
        second = _notify(client, {"call_session_id": 4003})
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert WebhookEvent.objects.filter(source="callgear").count() == 1
    assert len(reports(cg)) == 1
    assert Call.objects.count() == 1


def test_a_call_not_yet_in_the_report_is_retried(client, cg, workspace, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        _notify(client, {"call_session_id": 4999})
    event = WebhookEvent.objects.get()
    assert webhook_process(event.pk) == WebhookStatus.FAILED
    event.refresh_from_db()
    assert "not in the CallGear report yet" in event.last_error and event.next_attempt_at

    cg.add_call(id=4999, start_time=ago(minutes=1))
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert webhook_process(event.pk) == WebhookStatus.PROCESSED
    assert Call.objects.filter(source_id="4999").exists()


def test_stored_calls_are_announced_to_the_workspace_and_the_agent(cg, workspace, make_staff,
                                                                   django_capture_on_commit_callbacks):
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from ptd.live import staff_group, workspace_group

    agent = make_staff(workspace, kind="setter", name="Agent A")
    layer = get_channel_layer()
    channels = {}
    for group in (workspace_group(workspace.pk), staff_group(workspace.pk, agent.pk)):
        channels[group] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, channels[group])

    async def receive(channel):
        return await asyncio.wait_for(layer.receive(channel), timeout=2)

    cg.add_call(start_time=ago(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync_callgear")
    for channel in channels.values():
        assert async_to_sync(receive)(channel) == {"type": "changed", "topics": ["calls"]}


def test_upsert_is_set_based(workspace, django_assert_max_num_queries):
    from clients.calls import calls_upsert_from_callgear

    rows = [{"id": 9000 + n, "start_time": "2026-11-20 10:00:00", "direction": "in", "is_lost": False,
             "talk_duration": 30, "contact_phone_number": f"9715012{n:05d}",
             "employees": [{"employee_id": 7, "employee_full_name": "Agent A", "is_answered": True}]}
            for n in range(200)]
    with django_assert_max_num_queries(6):  # staff, contacts, known calls, one INSERT … ON CONFLICT (+ savepoint)
        assert calls_upsert_from_callgear(workspace=workspace, rows=rows) == 200
    with django_assert_max_num_queries(6):
        assert calls_upsert_from_callgear(workspace=workspace, rows=rows) == 200
    assert Call.objects.count() == 200
