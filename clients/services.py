"""Writes of the clients app. HubSpot objects arrive as {"id", "properties", "associations"} dicts (all
property values are strings); every write is set-based and keyed by source id, and an older source
version never overwrites a newer one (ptd.bulk.upsert_newer)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction

from clients.identity import contacts_by_keys
from clients.funnel import deal_funnel_refresh
from clients.models import (Appointment, Call, Contact, Deal, DealStageHistory, FunnelStep, PipelineStage, Staff,
                            StaffKind)
from ptd.bulk import upsert_newer
from ptd.identity import normalize_email, normalize_phone
from ptd.live import publish
from ptd.models import Workspace


# --- parsing HubSpot's strings -------------------------------------------------------------------

def hs_datetime(value: str | None) -> datetime | None:
    """HubSpot sends ISO strings ("2026-11-02T10:00:00.000Z") or epoch milliseconds as strings."""
    if not value:
        return None
    value = str(value).strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def hs_decimal(value: str | None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _staff_ids(workspace: Workspace, owner_ids) -> dict[str, int]:
    wanted = {str(o) for o in owner_ids if o}
    if not wanted:
        return {}
    return dict(Staff.objects.filter(workspace=workspace, hubspot_owner_id__in=wanted)
                .values_list("hubspot_owner_id", "pk"))


def _contact_ids(workspace: Workspace, hubspot_ids) -> dict[str, int]:
    wanted = {str(h) for h in hubspot_ids if h}
    if not wanted:
        return {}
    return dict(Contact.objects.filter(workspace=workspace, hubspot_id__in=wanted).values_list("hubspot_id", "pk"))


# --- owners and pipelines ------------------------------------------------------------------------

@transaction.atomic
def staff_upsert_from_hubspot(*, workspace: Workspace, owners: list[dict]) -> int:
    """HubSpot owners become Staff; a new owner starts as a setter until an admin says otherwise."""
    rows = []
    for o in owners:
        name = f"{o.get('first_name') or ''} {o.get('last_name') or ''}".strip() or o.get("email") or f"Owner {o['id']}"
        rows.append({"workspace_id": workspace.pk, "hubspot_owner_id": str(o["id"]), "name": name,
                     "email": o.get("email") or "", "kind": StaffKind.SETTER, "is_active": not o.get("archived")})
    upsert_newer(Staff, rows, unique_fields=["workspace_id", "hubspot_owner_id"],
                 update_fields=["name", "email", "is_active"], version_field=None)
    return len(rows)


def _funnel_step_guess(stage: dict) -> str:
    meta = stage.get("metadata") or {}
    if str(meta.get("isClosed", "")).lower() == "true":
        return FunnelStep.CLOSED_WON if str(meta.get("probability")) in ("1", "1.0") else FunnelStep.CLOSED_LOST
    return FunnelStep.LEAD


@transaction.atomic
def pipeline_stages_upsert(*, workspace: Workspace, pipelines: list[dict]) -> int:
    """Stage labels and order follow HubSpot; an admin's funnel-step mapping is never overwritten."""
    rows = []
    for pipeline in pipelines:
        for stage in pipeline.get("stages") or []:
            rows.append({"workspace_id": workspace.pk, "pipeline": str(pipeline["id"]), "stage_id": str(stage["id"]),
                         "label": stage.get("label") or str(stage["id"]),
                         "display_order": int(stage.get("display_order") or stage.get("displayOrder") or 0),
                         "funnel_step": _funnel_step_guess(stage)})
    upsert_newer(PipelineStage, rows, unique_fields=["workspace_id", "pipeline", "stage_id"],
                 update_fields=["label", "display_order"], version_field=None)
    return len(rows)


# --- contacts ------------------------------------------------------------------------------------

CONTACT_FIELDS = {  # our field ← HubSpot property
    "first_name": "firstname", "last_name": "lastname", "lifecycle_stage": "lifecyclestage",
    "source": "hs_analytics_source", "utm_source": "utm_source", "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign", "utm_content": "utm_content", "utm_term": "utm_term", "fbclid": "fbclid",
    "fbc": "fbc", "fb_campaign_id": "fb_campaign_id", "fb_adset_id": "fb_adset_id", "fb_ad_id": "fb_ad_id",
}
CONTACT_UPDATE_FIELDS = [*CONTACT_FIELDS, "email_normalized", "phone_e164", "owner_id", "coach_id", "updated_at"]


def _contact_row(workspace: Workspace, obj: dict, staff: dict[str, int]) -> dict:
    p = obj["properties"]
    row = {field: (p.get(prop) or "")[:Contact._meta.get_field(field).max_length] for field, prop in CONTACT_FIELDS.items()}
    created = hs_datetime(p.get("createdate"))
    row.update(
        workspace_id=workspace.pk, hubspot_id=str(obj["id"]), email_normalized=normalize_email(p.get("email")),
        phone_e164=normalize_phone(p.get("phone")) or normalize_phone(p.get("mobilephone")),
        owner_id=staff.get(str(p.get("hubspot_owner_id") or "")), coach_id=staff.get(str(p.get("assigned_coach") or "")),
        created_at=created or datetime.now(UTC),
        updated_at=hs_datetime(p.get("hs_lastmodifieddate") or p.get("lastmodifieddate")) or created,
    )
    return row


@transaction.atomic
def contacts_upsert_from_hubspot(*, workspace: Workspace, objects: list[dict]) -> dict[str, int]:
    """Upsert HubSpot contacts; a contact we already know by email or phone (from another source)
    adopts the HubSpot id instead of being duplicated. Returns {hubspot_id: contact pk}."""
    from clients.identity import identity_backfill_contacts

    staff = _staff_ids(workspace, [o["properties"].get(k) for o in objects for k in ("hubspot_owner_id", "assigned_coach")])
    rows = [_contact_row(workspace, o, staff) for o in objects]
    known = _contact_ids(workspace, [r["hubspot_id"] for r in rows])
    strangers = [r for r in rows if r["hubspot_id"] not in known]
    if strangers:
        by_email, by_phone = contacts_by_keys(workspace=workspace, emails=[r["email_normalized"] for r in strangers],
                                              phones=[r["phone_e164"] for r in strangers])
        adopt = {}
        for r in strangers:
            pk = by_email.get(r["email_normalized"]) or by_phone.get(r["phone_e164"])
            if pk:
                adopt[pk] = r["hubspot_id"]
        for pk, hubspot_id in adopt.items():  # at most a handful: contacts created before HubSpot knew them
            Contact.objects.filter(pk=pk, hubspot_id__isnull=True).update(hubspot_id=hubspot_id)
    written = upsert_newer(Contact, rows, unique_fields=["workspace_id", "hubspot_id"],
                           update_fields=CONTACT_UPDATE_FIELDS, version_field="updated_at")
    identity_backfill_contacts(workspace=workspace, contact_ids=list(written.values()))
    publish(workspace_id=workspace.pk, topics=["contacts"], staff_ids=staff.values())
    return {key[1]: pk for key, pk in written.items()}


@transaction.atomic
def contact_property_set(*, workspace: Workspace, hubspot_id: str, prop: str, value: str | None,
                         occurred_at: datetime) -> bool:
    """Apply one property change unless the contact already holds a newer version."""
    contact = Contact.objects.select_for_update().filter(workspace=workspace, hubspot_id=hubspot_id).first()
    if contact is None:
        # Its creation may still be queued behind this change: fail, and the inbox retries with backoff.
        raise LookupError(f"contact {hubspot_id} is not stored yet")
    if contact.updated_at and contact.updated_at > occurred_at:
        return False
    if prop == "email":
        contact.email_normalized = normalize_email(value)
    elif prop in ("phone", "mobilephone"):
        contact.phone_e164 = normalize_phone(value) or contact.phone_e164
    elif prop in ("hubspot_owner_id", "assigned_coach"):
        staff_id = _staff_ids(workspace, [value]).get(str(value or ""))
        setattr(contact, "owner_id" if prop == "hubspot_owner_id" else "coach_id", staff_id)
    else:
        field = next((f for f, p in CONTACT_FIELDS.items() if p == prop), None)
        if field is None:
            return False
        setattr(contact, field, (value or "")[:Contact._meta.get_field(field).max_length])
    contact.updated_at = occurred_at
    contact.save()
    if prop in ("email", "phone", "mobilephone"):
        from clients.identity import identity_backfill

        identity_backfill(contact=contact)  # records that arrived before we knew this email or phone
    publish(workspace_id=workspace.pk, topics=["contacts"], staff_ids=[contact.owner_id, contact.coach_id])
    return True


@transaction.atomic
def contacts_delete(*, workspace: Workspace, hubspot_ids: list[str]) -> int:
    """A deleted (or privacy-deleted) HubSpot contact is removed with what hangs off it."""
    deleted = Contact.objects.filter(workspace=workspace, hubspot_id__in=[str(h) for h in hubspot_ids]).delete()[0]
    publish(workspace_id=workspace.pk, topics=["contacts"])
    return deleted


@transaction.atomic
def contacts_merge(*, workspace: Workspace, primary_hubspot_id: str, merged_hubspot_ids: list[str]) -> int:
    """HubSpot merged contacts: their records move to the primary contact, then they are removed."""
    primary = Contact.objects.filter(workspace=workspace, hubspot_id=str(primary_hubspot_id)).first()
    merged = list(Contact.objects.filter(workspace=workspace, hubspot_id__in=[str(m) for m in merged_hubspot_ids])
                  .exclude(pk=getattr(primary, "pk", None)))
    if primary is None or not merged:
        return 0
    merged_ids = [c.pk for c in merged]
    for relation in Contact._meta.related_objects:
        if relation.one_to_many or relation.one_to_one:
            relation.related_model._base_manager.filter(**{f"{relation.field.name}_id__in": merged_ids}).update(
                **{relation.field.name: primary})
    Contact.objects.filter(pk__in=merged_ids).delete()
    publish(workspace_id=workspace.pk, topics=["contacts", "deals"])
    return len(merged_ids)


@transaction.atomic
def hubspot_object_stub_create(*, workspace: Workspace, object_type: str, hubspot_id: str,
                               created_at: datetime) -> bool:
    """A contact or deal HubSpot says was created, known only by id until its properties arrive."""
    if object_type == "contacts":
        _, created = Contact.objects.get_or_create(workspace=workspace, hubspot_id=str(hubspot_id),
                                                   defaults={"created_at": created_at, "updated_at": created_at})
        topic = "contacts"
    else:
        _, created = Deal.objects.get_or_create(workspace=workspace, hubspot_id=str(hubspot_id),
                                                defaults={"created_at": created_at, "updated_at": created_at,
                                                          "stage_id": ""})
        topic = "deals"
    if created:
        publish(workspace_id=workspace.pk, topics=[topic])
    return created


# --- deals ---------------------------------------------------------------------------------------

def pipeline_stage_ids(workspace: Workspace) -> list[str]:
    return list(PipelineStage.objects.filter(workspace=workspace).values_list("stage_id", flat=True).distinct())


@transaction.atomic
def deals_upsert_from_hubspot(*, workspace: Workspace, objects: list[dict]) -> dict[str, int]:
    """Upsert deals with their contact, owner and stage history (hs_date_entered_<stage>)."""
    staff = _staff_ids(workspace, [o["properties"].get("hubspot_owner_id") for o in objects])
    contacts = _contact_ids(workspace, [c for o in objects for c in o["associations"].get("contacts", [])[:1]])
    rows = []
    for o in objects:
        p = o["properties"]
        created = hs_datetime(p.get("createdate")) or datetime.now(UTC)
        contact_hs = (o["associations"].get("contacts") or [None])[0]
        rows.append({
            "workspace_id": workspace.pk, "hubspot_id": str(o["id"]), "name": (p.get("dealname") or "")[:200],
            "contact_id": contacts.get(str(contact_hs)) if contact_hs else None,
            "owner_id": staff.get(str(p.get("hubspot_owner_id") or "")), "pipeline": p.get("pipeline") or "default",
            "stage_id": str(p.get("dealstage") or ""), "amount": hs_decimal(p.get("amount")),
            "created_at": created, "updated_at": hs_datetime(p.get("hs_lastmodifieddate")) or created,
            "close_date": hs_datetime(p.get("closedate")), "closed_lost_reason": (p.get("closed_lost_reason") or "")[:200],
        })
    written = upsert_newer(Deal, rows, unique_fields=["workspace_id", "hubspot_id"],
                           update_fields=["name", "contact_id", "owner_id", "pipeline", "stage_id", "amount",
                                          "updated_at", "close_date", "closed_lost_reason"],
                           version_field="updated_at")
    by_hs = {key[1]: pk for key, pk in written.items()}
    history = []
    for o in objects:
        deal_id = by_hs.get(str(o["id"]))
        if deal_id is None:
            continue
        for prop, value in o["properties"].items():
            if prop.startswith("hs_date_entered_") and (entered := hs_datetime(value)):
                history.append({"workspace_id": workspace.pk, "deal_id": deal_id,
                                "stage_id": prop.removeprefix("hs_date_entered_"), "entered_at": entered})
    upsert_newer(DealStageHistory, history, unique_fields=["deal_id", "stage_id"], update_fields=["entered_at"],
                 version_field=None)
    deal_funnel_refresh(workspace_id=workspace.pk, deal_ids=list(by_hs.values()))  # bulk SQL: no signals
    publish(workspace_id=workspace.pk, topics=["deals"], staff_ids=staff.values())
    return by_hs


@transaction.atomic
def deal_property_set(*, workspace: Workspace, hubspot_id: str, prop: str, value: str | None,
                      occurred_at: datetime) -> bool:
    """One deal property change; a stage change also records when the deal entered the stage."""
    deal = Deal.objects.select_for_update().filter(workspace=workspace, hubspot_id=hubspot_id).first()
    if deal is None:
        raise LookupError(f"deal {hubspot_id} is not stored yet")  # retried: its creation may be queued
    if prop == "dealstage" and value:
        DealStageHistory.objects.get_or_create(workspace=workspace, deal=deal, stage_id=str(value),
                                               defaults={"entered_at": occurred_at})
    if deal.updated_at and deal.updated_at > occurred_at:
        return False  # a newer version is already stored (history above is still right)
    fields = {"dealstage": "stage_id", "dealname": "name", "pipeline": "pipeline",
              "closed_lost_reason": "closed_lost_reason"}
    if prop in fields:
        setattr(deal, fields[prop], str(value or ""))
    elif prop == "amount":
        deal.amount = hs_decimal(value)
    elif prop == "closedate":
        deal.close_date = hs_datetime(value)
    elif prop == "hubspot_owner_id":
        deal.owner_id = _staff_ids(workspace, [value]).get(str(value or ""))
    else:
        return False
    deal.updated_at = occurred_at
    deal.save()
    publish(workspace_id=workspace.pk, topics=["deals"], staff_ids=[deal.owner_id])
    return True


@transaction.atomic
def deal_contact_associate(*, workspace: Workspace, deal_hubspot_id: str, contact_hubspot_id: str,
                           removed: bool) -> bool:
    deal = Deal.objects.filter(workspace=workspace, hubspot_id=str(deal_hubspot_id)).first()
    contact = Contact.objects.filter(workspace=workspace, hubspot_id=str(contact_hubspot_id)).first()
    if deal is None or contact is None:
        return False
    if removed:
        if deal.contact_id != contact.pk:
            return False
        deal.contact = None
    else:
        deal.contact = contact
    deal.save(update_fields=["contact"])
    publish(workspace_id=workspace.pk, topics=["deals"], staff_ids=[deal.owner_id])
    return True


@transaction.atomic
def deals_delete(*, workspace: Workspace, hubspot_ids: list[str]) -> int:
    deleted = Deal.objects.filter(workspace=workspace, hubspot_id__in=[str(h) for h in hubspot_ids]).delete()[0]
    publish(workspace_id=workspace.pk, topics=["deals"])
    return deleted


# --- calls and meetings (HubSpot engagements) ------------------------------------------------------

CALL_OUTCOMES = {"COMPLETED": "answered", "NO_ANSWER": "missed", "BUSY": "busy", "FAILED": "failed",
                 "CANCELED": "missed", "QUEUED": "missed", "RINGING": "missed", "IN_PROGRESS": "answered",
                 "CONNECTING": "missed"}


@transaction.atomic
def calls_upsert_from_hubspot(*, workspace: Workspace, objects: list[dict]) -> int:
    staff = _staff_ids(workspace, [o["properties"].get("hubspot_owner_id") for o in objects])
    contacts = _contact_ids(workspace, [c for o in objects for c in o["associations"].get("contacts", [])[:1]])
    rows = []
    for o in objects:
        p = o["properties"]
        started = hs_datetime(p.get("hs_timestamp")) or hs_datetime(p.get("hs_createdate"))
        if started is None:
            continue
        direction = "inbound" if (p.get("hs_call_direction") or "").upper() == "INBOUND" else "outbound"
        other_party = p.get("hs_call_from_number") if direction == "inbound" else p.get("hs_call_to_number")
        talk_ms = int(p.get("hs_call_duration") or 0) if str(p.get("hs_call_duration") or "0").isdigit() else 0
        outcome = CALL_OUTCOMES.get((p.get("hs_call_status") or "").upper(), "answered" if talk_ms else "missed")
        contact_hs = (o["associations"].get("contacts") or [None])[0]
        rows.append({
            "workspace_id": workspace.pk, "source": "hubspot", "source_id": str(o["id"]),
            "contact_id": contacts.get(str(contact_hs)) if contact_hs else None,
            "staff_id": staff.get(str(p.get("hubspot_owner_id") or "")), "direction": direction,
            "contact_phone_e164": normalize_phone(other_party), "started_at": started,
            "talk_seconds": talk_ms // 1000, "outcome": outcome,
            "recording_url": (p.get("hs_call_recording_url") or "")[:500],
        })
    upsert_newer(Call, rows, unique_fields=["workspace_id", "source", "source_id"],
                 update_fields=["contact_id", "staff_id", "direction", "contact_phone_e164", "started_at",
                                "talk_seconds", "outcome", "recording_url"], version_field=None)
    publish(workspace_id=workspace.pk, topics=["calls"], staff_ids=staff.values())
    return len(rows)


MEETING_STATUS = {"COMPLETED": "held", "NO_SHOW": "no_show", "CANCELED": "cancelled", "CANCELLED": "cancelled",
                  "SCHEDULED": "booked", "RESCHEDULED": "booked"}


@transaction.atomic
def meetings_upsert_from_hubspot(*, workspace: Workspace, objects: list[dict]) -> int:
    """HubSpot meetings are assessments (the sessions feed brings training sessions)."""
    staff = _staff_ids(workspace, [o["properties"].get("hubspot_owner_id") for o in objects])
    contacts = _contact_ids(workspace, [c for o in objects for c in o["associations"].get("contacts", [])[:1]])
    rows = []
    for o in objects:
        p = o["properties"]
        scheduled = hs_datetime(p.get("hs_meeting_start_time")) or hs_datetime(p.get("hs_createdate"))
        if scheduled is None:
            continue
        contact_hs = (o["associations"].get("contacts") or [None])[0]
        rows.append({
            "workspace_id": workspace.pk, "source": "hubspot", "source_id": str(o["id"]),
            "contact_id": contacts.get(str(contact_hs)) if contact_hs else None,
            "staff_id": staff.get(str(p.get("hubspot_owner_id") or "")), "kind": "assessment",
            "booked_at": hs_datetime(p.get("hs_createdate")), "scheduled_at": scheduled,
            "status": MEETING_STATUS.get((p.get("hs_meeting_outcome") or "SCHEDULED").upper(), "booked"),
        })
    upsert_newer(Appointment, rows, unique_fields=["workspace_id", "source", "source_id"],
                 update_fields=["contact_id", "staff_id", "booked_at", "scheduled_at", "status"], version_field=None)
    publish(workspace_id=workspace.pk, topics=["appointments"], staff_ids=staff.values())
    return len(rows)
