"""CallGear calls (integrations.md §5): set-based upsert of `get.calls_report` rows into Call, the pull
sync behind `manage.py sync_callgear`, and the single-call fetch a CallGear notification triggers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from clients.identity import contacts_by_keys
from clients.models import Call, CallDirection, CallOutcome, Staff
from ptd.identity import normalize_email, normalize_phone
from ptd.live import publish
from ptd.models import CredentialKind, Workspace

log = logging.getLogger(__name__)

SOURCE = "callgear"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
RECORDING_URL = "https://app.callgear.com/system/media/talk/{communication_id}/{record}/"
BUSY_REASONS = {"subscriber_busy", "operator_busy", "busy"}
BATCH = 1000


def callgear_time(value, tz: ZoneInfo) -> datetime | None:
    """CallGear's "YYYY-MM-DD hh:mm:ss" (account time, read in the workspace timezone) → aware datetime."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value).strip()[:19], DATE_FORMAT).replace(tzinfo=tz)
    except ValueError:
        return None


def _int(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def call_outcome(row: dict) -> str:
    """Answered when the call was not lost and somebody talked; otherwise busy or missed by finish_reason."""
    if not row.get("is_lost") and _int(row.get("talk_duration")) > 0:
        return CallOutcome.ANSWERED
    reason = str(row.get("finish_reason") or "").lower()
    return CallOutcome.BUSY if reason in BUSY_REASONS or "busy" in reason else CallOutcome.MISSED


def recording_url(row: dict) -> str:
    records = row.get("call_records") or []
    if row.get("communication_id") and records:
        return RECORDING_URL.format(communication_id=row["communication_id"], record=records[0])[:500]
    return str(row.get("full_record_file_link") or "")[:500]


def answering_employee(row: dict) -> dict | None:
    """The employee who answered last (last_answered_employee_id, else is_answered), else the first listed."""
    employees = [e for e in row.get("employees") or [] if isinstance(e, dict)]
    last = row.get("last_answered_employee_id")
    for employee in employees:
        if last is not None and str(employee.get("employee_id")) == str(last):
            return employee
    answered = [e for e in employees if e.get("is_answered")]
    if answered:
        return answered[-1]
    return employees[0] if employees else None


def _staff_index(workspace: Workspace) -> tuple[dict[str, int], dict[str, int]]:
    """{lower-cased name: staff pk}, {email: staff pk}; a name two staff share matches neither."""
    by_name: dict[str, int | None] = {}
    by_email: dict[str, int] = {}
    for pk, name, email in Staff.objects.filter(workspace=workspace).values_list("pk", "name", "email"):
        key = " ".join((name or "").lower().split())
        if key:
            by_name[key] = None if key in by_name else pk
        if email := normalize_email(email):
            by_email.setdefault(email, pk)
    return {k: v for k, v in by_name.items() if v}, by_email


def _staff_for(employee: dict | None, by_name: dict[str, int], by_email: dict[str, int]) -> int | None:
    if not employee:
        return None
    email = normalize_email(employee.get("employee_email") or employee.get("email"))
    if email and email in by_email:
        return by_email[email]
    name = " ".join(str(employee.get("employee_full_name") or employee.get("employee_name") or "").lower().split())
    return by_name.get(name)


@transaction.atomic
def calls_upsert_from_callgear(*, workspace: Workspace, rows: list[dict]) -> int:
    """Upsert call report rows by (workspace, "callgear", id): three reads and one INSERT … ON CONFLICT per
    batch. Staff by the answering employee's email or name, contact by the caller's E.164 phone; a match
    found earlier (e.g. by the identity backfill) is kept when this row finds none."""
    tz = ZoneInfo(workspace.timezone)
    rows = [r for r in rows if r.get("id") is not None and callgear_time(r.get("start_time"), tz)]
    if not rows:
        return 0
    by_name, by_email = _staff_index(workspace)
    phones = {str(r["id"]): normalize_phone(str(r.get("contact_phone_number") or "")) for r in rows}
    _, by_phone = contacts_by_keys(workspace=workspace, phones=phones.values())
    known = {source_id: (contact_id, staff_id) for source_id, contact_id, staff_id in
             Call.objects.filter(workspace=workspace, source=SOURCE, source_id__in=list(phones))
             .values_list("source_id", "contact_id", "staff_id")}
    calls: dict[str, Call] = {}
    for r in rows:
        source_id = str(r["id"])
        phone = phones[source_id]
        kept_contact, kept_staff = known.get(source_id, (None, None))
        calls[source_id] = Call(
            workspace=workspace, source=SOURCE, source_id=source_id,
            contact_id=by_phone.get(phone) or kept_contact,
            staff_id=_staff_for(answering_employee(r), by_name, by_email) or kept_staff,
            direction=CallDirection.INBOUND if r.get("direction") == "in" else CallDirection.OUTBOUND,
            contact_phone_e164=phone, started_at=callgear_time(r["start_time"], tz),
            talk_seconds=_int(r.get("talk_duration")), wait_seconds=_int(r.get("wait_duration")),
            outcome=call_outcome(r), recording_url=recording_url(r),
        )
    Call.objects.bulk_create(
        list(calls.values()), update_conflicts=True, unique_fields=["workspace", "source", "source_id"],
        update_fields=["contact", "staff", "direction", "contact_phone_e164", "started_at", "talk_seconds",
                       "wait_seconds", "outcome", "recording_url"], batch_size=BATCH,
    )
    publish(workspace_id=workspace.pk, topics=["calls"], staff_ids={c.staff_id for c in calls.values() if c.staff_id})
    return len(calls)


# --- the pull sync ---------------------------------------------------------------------------------

BACKFILL_DAYS = 90
PAGE_LIMIT = 1000
CHUNK_DAYS = 30  # the API allows ≤ 3 months a request; shorter windows also keep offsets small
OVERLAP = timedelta(hours=1)  # re-read the last hour: calls still ongoing at the last sync are reported later
MAX_GAP = timedelta(days=1)


def callgear_client(*, workspace: Workspace, **kwargs):
    from clients.integrations.callgear import CallGearClient
    from ptd.sync import require_credential

    token = require_credential(workspace=workspace, kind=CredentialKind.CALLGEAR_ACCESS_TOKEN,
                               what="CallGear access token")
    return CallGearClient(access_token=token, **kwargs)


def _windows(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    windows = []
    while start < end:
        windows.append((start, min(end, start + size)))
        start += size
    return windows


def calls_sync_callgear(*, workspace: Workspace, since: datetime | None = None, client=None) -> dict:
    """Pull `get.calls_report` into Call. Default window: from the latest call start seen minus an hour
    (at most a day before the end of the last run; BACKFILL_DAYS on the first) to now, in ≤ 30-day chunks
    with limit/offset paging; the cursor moves after every page. Raises SyncFailed (one line)."""
    from clients.integrations.callgear import CallGearAuthError, CallGearError, CallGearWindowTooLarge
    from ptd.sync import SyncFailed, cursor_save, progress, sync_run

    tz = ZoneInfo(workspace.timezone)
    with sync_run(workspace=workspace, source=SOURCE) as state:
        client = client or callgear_client(workspace=workspace)
        now = timezone.now().astimezone(tz).replace(microsecond=0)
        cursor = dict(state.cursor or {})
        if since is None:
            last_start = _parse_iso(cursor.get("last_start_time"))
            until = _parse_iso(cursor.get("synced_until"))
            if until:
                since = max(last_start or until, until - MAX_GAP) - OVERLAP
            elif last_start:
                since = last_start - OVERLAP
            else:
                since = now - timedelta(days=BACKFILL_DAYS)
        since = since.astimezone(tz) if since.tzinfo else since.replace(tzinfo=tz)
        pending = _windows(since, now, timedelta(days=CHUNK_DAYS))
        totals = {"calls": 0, "requests": 0, "since": since.isoformat(), "until": now.isoformat()}
        with progress(None, f"CallGear calls since {since:%Y-%m-%d %H:%M}") as bar:
            while pending:
                start, end = pending.pop(0)
                try:
                    for rows, _offset, total in client.calls_pages(date_from=start, date_till=end, limit=PAGE_LIMIT):
                        totals["requests"] += 1
                        if bar.total is None and total:
                            bar.total = total
                        written = calls_upsert_from_callgear(workspace=workspace, rows=rows)
                        totals["calls"] += written
                        bar.update(len(rows))
                        starts = [s for s in (callgear_time(r.get("start_time"), tz) for r in rows) if s]
                        if previous := _parse_iso(cursor.get("last_start_time")):
                            starts.append(previous)
                        if starts:
                            cursor["last_start_time"] = max(starts).isoformat()
                        cursor_save(state=state, cursor=cursor, records=written)
                except CallGearWindowTooLarge:
                    if end - start <= timedelta(hours=1):
                        raise SyncFailed(f"CallGear: more calls between {start} and {end} than paging reaches")
                    middle = start + (end - start) / 2
                    pending[:0] = [(start, middle), (middle, end)]
                    continue
                except CallGearAuthError as exc:
                    raise SyncFailed(f"CallGear rejected the access token ({exc.mnemonic or exc.code}: "
                                     f"{_one_line(exc.rpc_message)}): set CALLGEAR_ACCESS_TOKEN or update it in "
                                     f"Settings → Integrations, and check the API IP whitelist") from exc
                except CallGearError as exc:
                    raise SyncFailed(_one_line(str(exc))) from exc
                cursor["synced_until"] = end.isoformat()
                cursor_save(state=state, cursor=cursor)
    return totals


def _parse_iso(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


# --- a notification names one call ------------------------------------------------------------------

NOTIFICATION_TIME_KEYS = ("start_time", "call_start_time", "notification_time", "finish_time", "event_time", "time")


def call_fetch_and_upsert(*, workspace: Workspace, call_id: str, payload: dict, client=None) -> int:
    """Fetch one call session by id through get.calls_report and upsert it. The window is the notification's
    own time ± 1 day when it carries one, else the last 2 days. Raises LookupError when the report does not
    have the call yet (the inbox retries with backoff)."""
    tz = ZoneInfo(workspace.timezone)
    client = client or callgear_client(workspace=workspace)
    now = timezone.now().astimezone(tz).replace(microsecond=0)
    stamp = next((t for t in (callgear_time(payload.get(k), tz) for k in NOTIFICATION_TIME_KEYS) if t), None)
    if stamp is not None:
        date_from, date_till = stamp - timedelta(days=1), min(now, stamp + timedelta(days=1))
    else:
        date_from, date_till = now - timedelta(days=2), now
    row = client.call_by_id(call_id=call_id, date_from=date_from, date_till=date_till)
    if row is None:
        raise LookupError(f"call {call_id} is not in the CallGear report yet")
    return calls_upsert_from_callgear(workspace=workspace, rows=[row])
