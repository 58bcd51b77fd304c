"""Enrichment: what Stripe knows about a client, written back to their HubSpot contact so setters and coaches
see it in the CRM — lifetime value (workspace currency, AED), the day of the last payment, and how many payments
failed.

Only contacts with a HubSpot id, only payments of the Stripe mode the workspace runs in (test payments never
reach a live CRM), and only contacts whose values changed since the last push: HubSpotEnrichment keeps what was
sent. Values are computed with one GROUP BY; contacts go to HubSpot's batch update a hundred at a time, and what
HubSpot accepted is recorded after each batch, so a run stopped by an error resumes with what is left. The three
properties are custom contact properties that must exist in the HubSpot portal (type number, date, number).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from hubspot.crm.contacts import (ApiException, BatchInputSimplePublicObjectBatchInput,
                                  SimplePublicObjectBatchInput)
from urllib3.exceptions import MaxRetryError

from clients.integrations import hubspot as hubspot_api
from clients.models import Contact
from finance.forensics import stripe_livemode
from finance.models import HubSpotEnrichment, Payment, PaymentStatus
from finance.services import minor_exponent
from ptd.models import CredentialKind, Workspace
from ptd.sync import SyncFailed, require_credential, sync_run

log = logging.getLogger(__name__)

PROPERTY_LIFETIME_VALUE = "ptd_lifetime_value"
PROPERTY_LAST_PAYMENT_DATE = "ptd_last_payment_date"
PROPERTY_FAILED_PAYMENTS = "ptd_failed_payments"
BATCH_SIZE = 100  # HubSpot's limit for one batch request
SYNC_SOURCE = "hubspot-enrichment"


@dataclass(frozen=True)
class ContactValues:
    contact_id: int
    hubspot_id: str
    lifetime_value_minor: int
    currency: str
    last_payment_date: date | None
    failed_payments: int

    def as_stored(self) -> tuple:
        return (self.hubspot_id, self.lifetime_value_minor, self.currency, self.last_payment_date,
                self.failed_payments)


def hubspot_properties(values: ContactValues) -> dict[str, str]:
    """HubSpot property values are strings: a decimal amount in major units, an ISO day ("" clears it)."""
    places = minor_exponent(values.currency)
    return {
        PROPERTY_LIFETIME_VALUE: f"{Decimal(values.lifetime_value_minor).scaleb(-places):.{places}f}",
        PROPERTY_LAST_PAYMENT_DATE: values.last_payment_date.isoformat() if values.last_payment_date else "",
        PROPERTY_FAILED_PAYMENTS: str(values.failed_payments),
    }


def enrichment_changes(*, workspace: Workspace, livemode: bool) -> list[ContactValues]:
    """The contacts whose values differ from what was last pushed (or were never pushed), in contact order.
    A contact with a push on record and no payment any more (they moved to another contact) is reset to zero."""
    tz = ZoneInfo(workspace.timezone)
    currency = workspace.currency.upper()
    collected = Q(status__in=Payment.COLLECTED_STATUSES)
    per_contact = (
        Payment.objects.filter(workspace=workspace, livemode=livemode, contact__isnull=False,
                               contact__hubspot_id__isnull=False).exclude(contact__hubspot_id="").order_by()
        .values("contact_id", "contact__hubspot_id")
        .annotate(net=Coalesce(Sum(F("amount_minor") - F("amount_refunded_minor"),
                                   filter=collected & Q(currency=currency)), 0),
                  last=Max("created", filter=collected), failed=Count("pk", filter=Q(status=PaymentStatus.FAILED)))
    )
    wanted = {row["contact_id"]: ContactValues(
        row["contact_id"], row["contact__hubspot_id"], row["net"], currency,
        row["last"].astimezone(tz).date() if row["last"] else None, row["failed"]) for row in per_contact}
    stored = {row[0]: row[1:] for row in HubSpotEnrichment.objects.filter(workspace=workspace).order_by().values_list(
        "contact_id", "hubspot_id", "lifetime_value_minor", "currency", "last_payment_date", "failed_payments")}
    orphaned = set(stored) - set(wanted)
    if orphaned:
        current_ids = dict(Contact.objects.filter(pk__in=orphaned).exclude(hubspot_id__isnull=True)
                           .exclude(hubspot_id="").values_list("pk", "hubspot_id"))
        wanted.update({pk: ContactValues(pk, hubspot_id, 0, currency, None, 0)
                       for pk, hubspot_id in current_ids.items()})
    return [values for pk, values in sorted(wanted.items()) if stored.get(pk) != values.as_stored()]


@transaction.atomic
def _enrichment_record(*, workspace: Workspace, sent: list[ContactValues]) -> None:
    now = timezone.now()
    HubSpotEnrichment.objects.bulk_create(
        [HubSpotEnrichment(workspace=workspace, contact_id=v.contact_id, hubspot_id=v.hubspot_id,
                           lifetime_value_minor=v.lifetime_value_minor, currency=v.currency,
                           last_payment_date=v.last_payment_date, failed_payments=v.failed_payments, pushed_at=now)
         for v in sent],
        update_conflicts=True, unique_fields=["contact"],
        update_fields=["hubspot_id", "lifetime_value_minor", "currency", "last_payment_date", "failed_payments",
                       "pushed_at"],
    )


def _error_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body).get("message") or exc.reason)[:300]
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason or "")[:300]


def _batch_update(api, batch: list[ContactValues]) -> set[str]:
    """One batch update; returns the HubSpot ids it accepted (a 207 names the ones it refused)."""
    body = BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=v.hubspot_id, properties=hubspot_properties(v)) for v in batch])
    response = api.crm.contacts.batch_api.update(batch_input_simple_public_object_batch_input=body)
    for error in getattr(response, "errors", None) or []:
        log.warning("HubSpot refused enrichment of contacts %s: %s", (error.context or {}).get("ids"), error.message)
    return {str(result.id) for result in response.results or []}


def hubspot_enrichment_push(*, workspace: Workspace) -> int:
    """Write changed Stripe values onto HubSpot contacts; returns how many contacts HubSpot accepted. Raises
    SyncFailed (one line) when HubSpot is not configured, refuses the token or a batch, or keeps rate-limiting
    after the client's retries; the batches accepted before are kept."""
    token = require_credential(workspace=workspace, kind=CredentialKind.HUBSPOT_ACCESS_TOKEN,
                               what="HubSpot access token")
    changes = enrichment_changes(workspace=workspace, livemode=stripe_livemode(workspace=workspace))
    api = hubspot_api.client(token)
    accepted = 0
    with sync_run(workspace=workspace, source=SYNC_SOURCE):
        for start in range(0, len(changes), BATCH_SIZE):
            batch = changes[start:start + BATCH_SIZE]
            try:
                ids = _batch_update(api, batch)
            except ApiException as exc:
                if exc.status in (401, 403):
                    raise SyncFailed(f"HubSpot rejected the access token ({exc.status}): check HUBSPOT_ACCESS_TOKEN "
                                     "and the private app's crm.objects.contacts.write scope") from exc
                raise SyncFailed(f"HubSpot refused the enrichment batch ({exc.status}): {_error_message(exc)} — the "
                                 f"contact properties {PROPERTY_LIFETIME_VALUE}, {PROPERTY_LAST_PAYMENT_DATE} and "
                                 f"{PROPERTY_FAILED_PAYMENTS} must exist in HubSpot") from exc
            except MaxRetryError as exc:
                raise SyncFailed(f"HubSpot kept refusing after {hubspot_api.RETRIES} retries ({exc.reason}); "
                                 f"{accepted} contacts were updated, the next run sends the rest") from exc
            _enrichment_record(workspace=workspace, sent=[v for v in batch if v.hubspot_id in ids])
            accepted += len(ids)
    return accepted
