"""The studio's sessions feed (the seeds' "AWS truth"): sessions arrive as rows with the client's email
or phone, the coach, the start time and the status — by `POST /api/sessions/` or a CSV import. Each row
is checked on its own: good rows are imported, bad rows are reported with their reason, never half-written."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q

from clients.identity import contacts_by_keys
from clients.models import Package, Staff, TrainingSession
from ptd.bulk import upsert_newer
from ptd.identity import normalize_email, normalize_phone
from ptd.live import publish
from ptd.models import Workspace

STATUS_ALIASES = {"attended": "attended", "completed": "attended", "present": "attended", "no_show": "no_show",
                  "no-show": "no_show", "noshow": "no_show", "late_cancel": "late_cancel", "late-cancel": "late_cancel",
                  "cancelled": "cancelled", "canceled": "cancelled", "scheduled": "scheduled", "booked": "scheduled"}


@dataclass
class RowError:
    row: int  # line number in a CSV, index in a JSON list
    reason: str


@dataclass
class ImportResult:
    imported: int
    errors: list[RowError]


def _parse_start(value: str, tz: ZoneInfo) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def sessions_import(*, workspace: Workspace, rows: list[tuple[int, dict]]) -> ImportResult:
    """Validate every row, then upsert the good ones in one transaction. `rows` pairs a row number
    (for the report) with the row's fields: email, phone, coach, starts_at, status, id (optional)."""
    tz = ZoneInfo(workspace.timezone)
    errors: list[RowError] = []
    cleaned = []
    for number, row in rows:
        email, phone = normalize_email(row.get("email")), normalize_phone(row.get("phone"))
        starts = _parse_start(str(row.get("starts_at") or row.get("start") or ""), tz)
        status = STATUS_ALIASES.get(str(row.get("status") or "").strip().lower())
        if not email and not phone:
            errors.append(RowError(number, "needs the client's email or phone"))
        elif starts is None:
            errors.append(RowError(number, "starts_at must be a date and time like 2026-11-25 18:00 or ISO 8601"))
        elif status is None:
            errors.append(RowError(number, f"status must be one of {', '.join(sorted(set(STATUS_ALIASES.values())))}"))
        else:
            cleaned.append((number, email, phone, str(row.get("coach") or "").strip(), starts, status,
                            str(row.get("id") or "").strip()))
    by_email, by_phone = contacts_by_keys(workspace=workspace, emails=[c[1] for c in cleaned],
                                          phones=[c[2] for c in cleaned])
    coaches = _coaches(workspace, {c[3] for c in cleaned if c[3]})
    good = []
    for number, email, phone, coach, starts, status, source_id in cleaned:
        contact_id = by_email.get(email) or by_phone.get(phone)
        if contact_id is None:
            errors.append(RowError(number, f"no client with {'email ' + email if email else 'phone ' + phone}"))
            continue
        if coach and coach.lower() not in coaches:
            errors.append(RowError(number, f"no coach named or emailed {coach!r}"))
            continue
        key = source_id or hashlib.sha256(f"{contact_id}|{starts.isoformat()}".encode()).hexdigest()[:32]
        good.append({"workspace_id": workspace.pk, "source_id": key, "contact_id": contact_id,
                     "coach_id": coaches.get(coach.lower()), "starts_at": starts, "status": status})
    with transaction.atomic():
        _attach_packages(good, tz)
        upsert_newer(TrainingSession, good, unique_fields=["workspace_id", "source_id"],
                     update_fields=["contact_id", "coach_id", "package_id", "starts_at", "status"], version_field=None)
        if good:
            publish(workspace_id=workspace.pk, topics=["sessions"], staff_ids={g["coach_id"] for g in good})
            from clients import health

            contact_ids = {g["contact_id"] for g in good}
            transaction.on_commit(lambda: health.health_rescore_soon(workspace_id=workspace.pk, contact_ids=contact_ids))
    errors.sort(key=lambda e: e.row)
    return ImportResult(imported=len(good), errors=errors)


def _coaches(workspace: Workspace, names: set[str]) -> dict[str, int]:
    if not names:
        return {}
    lowered = {n.lower() for n in names}
    found = {}
    for pk, name, email in Staff.objects.filter(workspace=workspace).filter(
            Q(name__in=names) | Q(email__in=names)).values_list("pk", "name", "email"):
        for key in (name.lower(), (email or "").lower()):
            if key in lowered:
                found[key] = pk
    return found


def _attach_packages(rows: list[dict], tz: ZoneInfo) -> None:
    """A session belongs to the client's package in date on the session's day (the latest such)."""
    contact_ids = {r["contact_id"] for r in rows}
    packages: dict[int, list] = {}
    for pk, contact_id, starts_on, expires_on in (Package.objects.filter(contact_id__in=contact_ids)
                                                  .order_by("starts_on").values_list("pk", "contact_id", "starts_on",
                                                                                     "expires_on")):
        packages.setdefault(contact_id, []).append((pk, starts_on, expires_on))
    for r in rows:
        day = r["starts_at"].astimezone(tz).date()
        r["package_id"] = next((pk for pk, start, end in reversed(packages.get(r["contact_id"], []))
                                if start <= day <= end), None)


