"""Identity: every inbound record is matched to a Contact by normalised email, then E.164 phone,
then source ids (DESIGN §5). Unmatched records stay stored and are linked when a match appears."""

from __future__ import annotations

from django.db.models import Q

from clients.models import Contact
from ptd.identity import normalize_email, normalize_phone
from ptd.models import Workspace


def contact_match(*, workspace: Workspace, email: str = "", phone: str = "", hubspot_id: str = "") -> Contact | None:
    """The contact these keys identify, preferring email over phone over HubSpot id; one query."""
    email, phone = normalize_email(email), normalize_phone(phone)
    conditions = Q()
    if email:
        conditions |= Q(email_normalized=email)
    if phone:
        conditions |= Q(phone_e164=phone)
    if hubspot_id:
        conditions |= Q(hubspot_id=str(hubspot_id))
    if not conditions:
        return None
    candidates = list(Contact.objects.filter(conditions, workspace=workspace).order_by("created_at", "pk")[:20])

    def rank(c: Contact) -> int:
        return 0 if email and c.email_normalized == email else 1 if phone and c.phone_e164 == phone else 2

    return min(candidates, key=rank) if candidates else None


def contacts_by_keys(*, workspace: Workspace, emails=(), phones=()) -> tuple[dict[str, int], dict[str, int]]:
    """Set-based matching for batches: {email: contact_id}, {phone: contact_id} (oldest contact wins)."""
    emails = {e for e in (normalize_email(x) for x in emails) if e}
    phones = {p for p in (normalize_phone(x) for x in phones) if p}
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    if emails or phones:
        rows = (Contact.objects.filter(Q(email_normalized__in=emails) | Q(phone_e164__in=phones), workspace=workspace)
                .order_by("-created_at", "-pk").values_list("pk", "email_normalized", "phone_e164"))
        for pk, email, phone in rows:  # newest first, so the oldest overwrites last
            if email in emails:
                by_email[email] = pk
            if phone in phones:
                by_phone[phone] = pk
    return by_email, by_phone


def identity_backfill(*, contact: Contact) -> dict[str, int]:
    """Link records that arrived before this contact existed (payments, calls, attribution, …)."""
    from finance.services import finance_link_contact
    from marketing.services import marketing_link_contact

    linked = {}
    if contact.phone_e164:
        from clients.models import Call

        linked["calls"] = Call.objects.filter(workspace_id=contact.workspace_id, contact__isnull=True,
                                              contact_phone_e164=contact.phone_e164).update(contact=contact)
    linked.update(finance_link_contact(contact=contact))
    linked.update(marketing_link_contact(contact=contact))
    return linked


def identity_backfill_contacts(*, workspace: Workspace, contact_ids: list[int]) -> dict[str, int]:
    """Set-based, after a batch of contacts was written: link every unmatched call, attribution event and
    Stripe record whose phone or email now matches a contact."""
    from django.db.models import Exists, OuterRef, Subquery

    from clients.models import Call
    from finance.services import finance_link_contacts
    from marketing.services import marketing_link_contacts_workspace

    same_phone = Contact.objects.filter(workspace=workspace, phone_e164=OuterRef("contact_phone_e164"))
    oldest = same_phone.order_by("created_at", "pk").values("pk")[:1]
    linked = {"calls": Call.objects.filter(workspace=workspace, contact__isnull=True).exclude(contact_phone_e164="")
              .filter(Exists(same_phone)).update(contact=Subquery(oldest))}
    linked.update(marketing_link_contacts_workspace(workspace=workspace))
    linked.update(finance_link_contacts(workspace=workspace, contact_ids=contact_ids))
    return linked
