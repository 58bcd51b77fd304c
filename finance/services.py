"""Writes of the finance app: Stripe objects, as Stripe sends them (dicts), mirrored into our models.

Every writer takes a list of objects (one from a webhook, a page from a sync) and a `source_time`: the
time of the Stripe event that carried them, or of the fetch. Writes are set-based (one INSERT … ON
CONFLICT per batch) and a row whose stored source time is newer is left alone, so events that arrive
out of order never undo each other. Currency codes are stored upper-case; amounts stay in minor units.

Identity: a customer is matched to a contact by email, then phone; a payment through its customer, else
its billing / receipt email or phone; unmatched rows keep contact NULL until `finance_link_contact`
(called by clients.identity.identity_backfill) links them. A payment with a contact links to that
contact's deal nearest in time (won or payment pending); a deal's cash_collected and a customer's
lifetime value are recomputed set-based whenever their payments or refunds change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection, models, transaction
from django.db.models import Exists, F, FloatField, Func, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Greatest, Least
from django.utils import timezone

from clients.funnel import deal_funnel_refresh
from clients.identity import contacts_by_keys
from clients.models import Contact, Deal, FunnelStep, PipelineStage
from finance.models import (THREE_DECIMAL, ZERO_DECIMAL, Customer, Dispute, DisputeStatus, FraudAlert,
                            FraudSeverity, FraudStatus, Interval, Invoice, InvoiceStatus, Payment, PaymentStatus,
                            Payout, PayoutStatus, Refund, RefundStatus, StripeEvent, Subscription, SubscriptionStatus)
from ptd.identity import normalize_email, normalize_phone
from ptd.live import publish
from ptd.models import AuditLog, Membership, Role, WebhookStatus, Workspace
from ptd.scoping import Scope

BATCH_ROWS = 500  # rows per INSERT statement (well under PostgreSQL's 65,535 parameters)
DEAL_STEPS = (FunnelStep.CLOSED_WON, FunnelStep.PAYMENT_PENDING)
REFUND_COUNTED = (RefundStatus.SUCCEEDED, RefundStatus.PENDING)

# When two writes carry the same source time (Stripe's event times are whole seconds), the one further
# along the object's life wins: a charge.succeeded never undoes a charge.refunded of the same second.
PAYMENT_RANK = {PaymentStatus.PENDING: 0, PaymentStatus.REQUIRES_ACTION: 1, PaymentStatus.PROCESSING: 2,
                PaymentStatus.FAILED: 3, PaymentStatus.CANCELED: 3, PaymentStatus.SUCCEEDED: 4,
                PaymentStatus.PARTIALLY_REFUNDED: 5, PaymentStatus.REFUNDED: 6}
REFUND_RANK = {RefundStatus.PENDING: 0, RefundStatus.REQUIRES_ACTION: 1, RefundStatus.SUCCEEDED: 2,
               RefundStatus.FAILED: 3, RefundStatus.CANCELED: 3}
INVOICE_RANK = {InvoiceStatus.DRAFT: 0, InvoiceStatus.OPEN: 1, InvoiceStatus.PAID: 2,
                InvoiceStatus.UNCOLLECTIBLE: 2, InvoiceStatus.VOID: 3}
PAYOUT_RANK = {PayoutStatus.PENDING: 0, PayoutStatus.IN_TRANSIT: 1, PayoutStatus.PAID: 2,
               PayoutStatus.FAILED: 3, PayoutStatus.CANCELED: 3}
DISPUTE_RANK = {DisputeStatus.WARNING_NEEDS_RESPONSE: 0, DisputeStatus.NEEDS_RESPONSE: 0,
                DisputeStatus.WARNING_UNDER_REVIEW: 1, DisputeStatus.UNDER_REVIEW: 1,
                DisputeStatus.WARNING_CLOSED: 2, DisputeStatus.WON: 2, DisputeStatus.LOST: 2,
                DisputeStatus.PREVENTED: 2}


# --- live updates -------------------------------------------------------------------------------

_held_topics: ContextVar[dict[int, set[str]] | None] = ContextVar("finance_held_topics", default=None)


def _publish(*, workspace_id: int, topics: list[str]) -> None:
    """Publish after commit, or hold the topics while a bulk sync runs (see `topics_held`)."""
    held = _held_topics.get()
    if held is None:
        publish(workspace_id=workspace_id, topics=topics)
    else:
        held.setdefault(workspace_id, set()).update(topics)


@contextmanager
def topics_held():
    """A backfill writes hundreds of pages: announce what changed once at the end, not once a page."""
    token = _held_topics.set({})
    try:
        yield
    finally:
        held = _held_topics.get() or {}
        _held_topics.reset(token)
        for workspace_id, topics in held.items():
            publish(workspace_id=workspace_id, topics=sorted(topics))


# --- reading Stripe's shapes (pure) --------------------------------------------------------------

def stripe_time(value) -> datetime | None:
    """Stripe times are Unix seconds (UTC)."""
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value), UTC)


def stripe_date(value) -> date | None:
    moment = stripe_time(value)
    return moment.date() if moment else None


def stripe_id(value) -> str:
    """An id field is a string, or the expanded object carrying it, or null."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def currency_code(value, default: str = "AED") -> str:
    return (value or default).upper()[:3]


def minor_exponent(currency: str) -> int:
    code = (currency or "").upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def _choice(value, choices, default):
    return value if value in choices.values else default


def _text(value, limit: int) -> str:
    return str(value or "")[:limit]


def charge_status(charge: dict) -> str:
    """Our payment status for a charge: refunds and captures folded in."""
    status = charge.get("status")
    if status == "failed":
        return PaymentStatus.FAILED
    if status != "succeeded":
        return PaymentStatus.PENDING
    if charge.get("captured") is False:
        return PaymentStatus.PENDING  # authorised, not yet captured: no money moved
    amount, refunded = int(charge.get("amount") or 0), int(charge.get("amount_refunded") or 0)
    if charge.get("refunded") or (amount and refunded >= amount):
        return PaymentStatus.REFUNDED
    return PaymentStatus.PARTIALLY_REFUNDED if refunded > 0 else PaymentStatus.SUCCEEDED


def intent_status(intent: dict) -> str:
    status = intent.get("status")
    if status == "succeeded":
        return PaymentStatus.SUCCEEDED
    if status == "processing":
        return PaymentStatus.PROCESSING
    if status == "requires_action":
        return PaymentStatus.REQUIRES_ACTION
    if status == "canceled":
        return PaymentStatus.CANCELED
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return PaymentStatus.FAILED
    return PaymentStatus.PENDING


def intent_latest_charge(intent: dict) -> str:
    latest = stripe_id(intent.get("latest_charge"))
    if not latest:  # API versions before 2022-11-15 listed the charges instead
        charges = ((intent.get("charges") or {}).get("data")) or []
        latest = stripe_id(charges[-1]) if charges else ""
    return latest


# --- the out-of-order-safe upsert ----------------------------------------------------------------

def _rank_sql(column: str, ranks: dict[str, int]) -> str:
    whens = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in ranks.items())
    return f"(CASE {column} {whens} ELSE 0 END)"


def _upsert(model: type[models.Model], rows: Iterable[dict], *, update_fields: Sequence[str],
            keep_fields: Sequence[str] = (), ranks: dict[str, int] | None = None) -> dict[str, int]:
    """INSERT … ON CONFLICT (workspace, stripe_id) DO UPDATE … WHERE the stored row is not newer.

    Rows are dicts keyed by attname and carry `source_updated_at`. A stored row with an older (or no)
    source time is overwritten; the same time overwrites only when `ranks` says the incoming status is
    at least as far along. `keep_fields` keep their stored value when the incoming one is NULL (links a
    later write cannot see). Returns {stripe_id: pk} of the rows inserted or updated."""
    latest: dict[tuple, dict] = {}
    for row in rows:  # one statement may not touch a row twice: keep the newest per key
        key = (row["workspace_id"], row["stripe_id"])
        held = latest.get(key)
        if held is None or row["source_updated_at"] >= held["source_updated_at"]:
            latest[key] = row
    rows = list(latest.values())
    if not rows:
        return {}
    opts = model._meta
    qn = connection.ops.quote_name
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    column = {f.attname: qn(f.column) for f in fields}
    table = qn(opts.db_table)
    sets = []
    for name in [*update_fields, "synced_at"]:
        if name in keep_fields:
            sets.append(f"{column[name]} = COALESCE(EXCLUDED.{column[name]}, {table}.{column[name]})")
        else:
            sets.append(f"{column[name]} = EXCLUDED.{column[name]}")
    stored, incoming = f"{table}.{column['source_updated_at']}", f"EXCLUDED.{column['source_updated_at']}"
    tie = "TRUE"
    if ranks:
        status = column["status"]
        tie = f"{_rank_sql('EXCLUDED.' + status, ranks)} >= {_rank_sql(table + '.' + status, ranks)}"
    where = f"{stored} IS NULL OR {stored} < {incoming} OR ({stored} = {incoming} AND {tie})"
    now = datetime.now(UTC)
    written: dict[str, int] = {}
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start:start + BATCH_ROWS]
        values_sql, params = [], []
        for row in chunk:
            for f in fields:
                if f.attname in row:
                    value = row[f.attname]
                elif f.attname == "synced_at":
                    value = now
                else:
                    value = f.get_default()  # the declared default, "" for text fields, else None
                params.append(f.get_db_prep_save(value, connection))
            values_sql.append(f"({', '.join(['%s'] * len(fields))})")
        sql = (f"INSERT INTO {table} ({', '.join(column[f.attname] for f in fields)}) VALUES {', '.join(values_sql)} "
               f"ON CONFLICT ({column['workspace_id']}, {column['stripe_id']}) DO UPDATE SET {', '.join(sets)} "
               f"WHERE {where} RETURNING {qn(opts.pk.column)}, {column['stripe_id']}")
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            written.update({sid: pk for pk, sid in cursor.fetchall()})
    return written


def _stubs(model: type[models.Model], *, workspace: Workspace, wanted: dict[str, dict]) -> dict[str, int]:
    """Make placeholder rows for ids referenced before their object arrived ({stripe_id: defaults});
    they carry no source time, so the real object always overwrites them. Returns {stripe_id: pk}."""
    if not wanted:
        return {}
    model.objects.bulk_create(
        [model(workspace=workspace, stripe_id=sid, **defaults) for sid, defaults in wanted.items()],
        ignore_conflicts=True,
    )
    return dict(model.objects.filter(workspace=workspace, stripe_id__in=list(wanted))
                .order_by().values_list("stripe_id", "pk"))


def _match(workspace: Workspace, pairs: list[tuple[str, str]]) -> list[int | None]:
    """Contact ids for (email, phone) pairs, email first; one query for the whole batch."""
    by_email, by_phone = contacts_by_keys(workspace=workspace, emails=[e for e, _ in pairs],
                                          phones=[p for _, p in pairs])
    return [by_email.get(email) or by_phone.get(phone) if (email or phone) else None for email, phone in pairs]


def _customer_refs(workspace: Workspace, objects: list[dict],
                   source_time: datetime) -> dict[str, tuple[int, int | None]]:
    """{customer stripe id: (pk, contact_id)} for the customers these objects name; unknown ones get a stub."""
    wanted = {stripe_id(o.get("customer")) for o in objects} - {""}
    if not wanted:
        return {}
    known = {sid: (pk, contact) for sid, pk, contact in Customer.objects.filter(
        workspace=workspace, stripe_id__in=wanted).order_by().values_list("stripe_id", "pk", "contact_id")}
    missing = wanted - set(known)
    if missing:
        created = {o["customer"]["id"]: o["customer"] for o in objects if isinstance(o.get("customer"), dict)}
        stubs = _stubs(Customer, workspace=workspace, wanted={
            sid: {"created": stripe_time((created.get(sid) or {}).get("created")) or source_time,
                  "currency": workspace.currency} for sid in missing})
        known.update({sid: (pk, None) for sid, pk in stubs.items()})
    return known


# --- customers -----------------------------------------------------------------------------------

@transaction.atomic
def customers_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                     deleted: bool = False) -> dict[str, int]:
    """Stripe customers → Customer, matched to a contact by email, then phone. Returns {stripe_id: pk} written."""
    keys = [(normalize_email(o.get("email")), normalize_phone(o.get("phone"))) for o in objects]
    contacts = _match(workspace, keys)
    rows = []
    for o, (email, phone), contact_id in zip(objects, keys, contacts, strict=True):
        rows.append({
            "workspace_id": workspace.pk, "stripe_id": o["id"], "livemode": bool(o.get("livemode")),
            "created": stripe_time(o.get("created")) or source_time, "source_updated_at": source_time,
            "email": email[:254], "phone_e164": phone, "name": _text(o.get("name"), 200),
            "currency": currency_code(o.get("currency"), workspace.currency), "contact_id": contact_id,
            "deleted": deleted or bool(o.get("deleted")),
        })
    written = _upsert(Customer, rows, update_fields=["livemode", "created", "source_updated_at", "email", "phone_e164",
                                                     "name", "currency", "contact_id", "deleted"],
                      keep_fields=["contact_id"])
    if written:
        _customers_propagate_contact(workspace=workspace, customer_ids=list(written.values()))
        _publish(workspace_id=workspace.pk, topics=["payments"])
    return written


def _customers_propagate_contact(*, workspace: Workspace, customer_ids: list[int]) -> int:
    """Give the unmatched payments, invoices and subscriptions of these customers the customer's contact."""
    contact_of = Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("contact_id")[:1])
    linked = Q(customer_id__in=customer_ids, contact__isnull=True, customer__contact__isnull=False)
    payment_ids = list(Payment.objects.filter(linked).order_by().values_list("pk", flat=True))
    count = Payment.objects.filter(pk__in=payment_ids).update(contact_id=contact_of)
    Invoice.objects.filter(linked).update(contact_id=contact_of)
    Subscription.objects.filter(linked).update(contact_id=contact_of)
    if payment_ids:
        _payments_after_change(workspace=workspace, payment_ids=payment_ids, relink=True)
    return count


# --- payments: charges and payment intents --------------------------------------------------------

def _payment_row(workspace: Workspace, obj: dict, *, source_time: datetime, livemode: bool) -> dict:
    billing = obj.get("billing_details") or {}
    return {
        "workspace_id": workspace.pk, "livemode": bool(obj.get("livemode", livemode)),
        "created": stripe_time(obj.get("created")) or source_time, "source_updated_at": source_time,
        "currency": currency_code(obj.get("currency"), workspace.currency),
        "description": _text(obj.get("description"), 500),
        "email": normalize_email(billing.get("email") or obj.get("receipt_email"))[:254],
        "phone_e164": normalize_phone(billing.get("phone")),
    }


def _link_payment_rows(workspace: Workspace, objects: list[dict], rows: list[dict], source_time: datetime) -> None:
    """Customer (stub if unseen) and contact for each row: the customer's contact, else billing email/phone."""
    customers = _customer_refs(workspace, objects, source_time)
    contacts = _match(workspace, [(r["email"], r["phone_e164"]) for r in rows])
    for o, row, by_billing in zip(objects, rows, contacts, strict=True):
        customer_pk, customer_contact = customers.get(stripe_id(o.get("customer")), (None, None))
        row["customer_id"] = customer_pk
        row["contact_id"] = customer_contact or by_billing


PAYMENT_UPDATE_FIELDS = ["livemode", "created", "source_updated_at", "payment_intent_id", "customer_id", "contact_id",
                         "amount_minor", "currency", "status", "failure_code", "failure_message", "fee_minor",
                         "net_minor", "amount_refunded_minor", "disputed", "card_fingerprint", "card_brand",
                         "card_last4", "card_country", "risk_level", "risk_score", "description", "email",
                         "phone_e164"]
PAYMENT_KEEP_FIELDS = ["customer_id", "contact_id", "fee_minor", "net_minor"]


@transaction.atomic
def charges_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                   livemode: bool = False) -> dict[str, int]:
    """Stripe charges → Payment (keyed by charge id). A row made earlier from the charge's payment intent
    becomes this charge's row, so a charge and its intent are one payment, never two."""
    objects = [o for o in objects if o.get("id")]
    if not objects:
        return {}
    orphaned = _payments_adopt_intent_rows(workspace=workspace, charge_of_intent={
        stripe_id(o.get("payment_intent")): o["id"] for o in objects if stripe_id(o.get("payment_intent"))})
    rows = []
    for o in objects:
        amount = int(o.get("amount") or 0)
        card = ((o.get("payment_method_details") or {}).get("card")) or {}
        outcome = o.get("outcome") or {}
        balance = o.get("balance_transaction") if isinstance(o.get("balance_transaction"), dict) else {}
        risk_score = outcome.get("risk_score")
        rows.append({
            **_payment_row(workspace, o, source_time=source_time, livemode=livemode),
            "stripe_id": o["id"], "payment_intent_id": stripe_id(o.get("payment_intent")),
            "amount_minor": amount, "status": charge_status(o),
            "amount_refunded_minor": min(amount, int(o.get("amount_refunded") or 0)),
            "failure_code": _text(o.get("failure_code"), 60), "failure_message": o.get("failure_message") or "",
            "fee_minor": balance.get("fee"), "net_minor": balance.get("net"), "disputed": bool(o.get("disputed")),
            "card_fingerprint": _text(card.get("fingerprint"), 64), "card_brand": _text(card.get("brand"), 20),
            "card_last4": _text(card.get("last4"), 4), "card_country": _text(card.get("country"), 2),
            "risk_level": _text(outcome.get("risk_level"), 20),
            "risk_score": int(risk_score) if risk_score is not None else None,
        })
    _link_payment_rows(workspace, objects, rows, source_time)
    written = _upsert(Payment, rows, update_fields=PAYMENT_UPDATE_FIELDS, keep_fields=PAYMENT_KEEP_FIELDS,
                      ranks=PAYMENT_RANK)
    # Refunds or disputes that arrived before their charge.
    charge_pks = dict(Payment.objects.filter(workspace=workspace, stripe_id__in=[o["id"] for o in objects])
                      .order_by().values_list("stripe_id", "pk"))
    orphan_refunds = Refund.objects.filter(workspace=workspace, payment__isnull=True, charge_id__in=list(charge_pks))
    refunded_ids = set(orphan_refunds.order_by().values_list("charge_id", flat=True))
    if refunded_ids:
        orphan_refunds.update(payment_id=Subquery(Payment.objects.filter(
            workspace=workspace, stripe_id=OuterRef("charge_id")).values("pk")[:1]))
    Dispute.objects.filter(workspace=workspace, payment__isnull=True, charge_id__in=list(charge_pks)).update(
        payment_id=Subquery(Payment.objects.filter(workspace=workspace, stripe_id=OuterRef("charge_id"))
                            .values("pk")[:1]))
    touched = set(written.values()) | {charge_pks[c] for c in refunded_ids}
    if touched or any(orphaned.values()):
        _payments_after_change(workspace=workspace, payment_ids=list(touched), relink=True, also=orphaned)
    return written


def _payments_adopt_intent_rows(*, workspace: Workspace, charge_of_intent: dict[str, str]) -> dict[str, set[int]]:
    """A payment first stored from its payment intent (keyed by the intent id) becomes its charge's row.
    Its source time is cleared so the charge, which knows more, always writes over it. Returns the deals
    and customers of intent rows removed as duplicates (their totals need recomputing)."""
    orphaned: dict[str, set[int]] = {"deals": set(), "customers": set()}
    if not charge_of_intent:
        return orphaned
    intent_rows = {sid: (pk, deal, customer) for sid, pk, deal, customer in Payment.objects.filter(
        workspace=workspace, stripe_id__in=list(charge_of_intent)).order_by().values_list(
        "stripe_id", "pk", "deal_id", "customer_id")}
    if not intent_rows:
        return orphaned
    charges_present = set(Payment.objects.filter(workspace=workspace, stripe_id__in=[
        charge_of_intent[i] for i in intent_rows]).order_by().values_list("stripe_id", flat=True))
    for intent, (pk, deal, customer) in intent_rows.items():  # rare: only intents seen before their charge
        charge = charge_of_intent[intent]
        if charge in charges_present:  # the charge row already is this payment: drop the duplicate
            Payment.objects.filter(pk=pk).delete()
            orphaned["deals"].update({deal} - {None})
            orphaned["customers"].update({customer} - {None})
        else:
            Payment.objects.filter(pk=pk).update(stripe_id=charge, source_updated_at=None)
    return orphaned


@transaction.atomic
def payment_intents_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                           livemode: bool = False) -> dict[str, int]:
    """Stripe payment intents → Payment, only while no charge row stands for them (keyed by intent id);
    once a charge exists the charge is the payment and the intent adds nothing (no double count)."""
    objects = [o for o in objects if o.get("id")]
    if not objects:
        return {}
    latest = {o["id"]: intent_latest_charge(o) for o in objects}
    charge_rows = set(Payment.objects.filter(workspace=workspace).filter(
        Q(stripe_id__in=[c for c in latest.values() if c])
        | (Q(payment_intent_id__in=list(latest)) & ~Q(stripe_id=F("payment_intent_id")))
    ).order_by().values_list("stripe_id", "payment_intent_id"))
    charged_ids = {sid for sid, _ in charge_rows}
    charged_intents = {pi for _, pi in charge_rows}
    fresh = [o for o in objects
             if not (latest[o["id"]] in charged_ids or (not latest[o["id"]] and o["id"] in charged_intents))]
    rows = []
    for o in fresh:
        status = intent_status(o)
        error = o.get("last_payment_error") or {}
        amount = int(o.get("amount_received") or 0) if status == PaymentStatus.SUCCEEDED else 0
        rows.append({
            **_payment_row(workspace, o, source_time=source_time, livemode=livemode),
            "stripe_id": o["id"], "payment_intent_id": o["id"], "amount_minor": amount or int(o.get("amount") or 0),
            "status": status, "amount_refunded_minor": 0, "disputed": False,
            "failure_code": _text(error.get("code") or error.get("decline_code"), 60),
            "failure_message": error.get("message") or "",
        })
    _link_payment_rows(workspace, fresh, rows, source_time)
    written = _upsert(Payment, rows, update_fields=[f for f in PAYMENT_UPDATE_FIELDS if f not in (
        "amount_refunded_minor", "disputed", "card_fingerprint", "card_brand", "card_last4", "card_country",
        "risk_level", "risk_score")], keep_fields=PAYMENT_KEEP_FIELDS, ranks=PAYMENT_RANK)
    if written:
        _payments_after_change(workspace=workspace, payment_ids=list(written.values()), relink=True)
    return written


# --- refunds -------------------------------------------------------------------------------------

@transaction.atomic
def refunds_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                   livemode: bool = False) -> dict[str, int]:
    """Stripe refunds → Refund, linked to their payment (by charge, else payment intent); the payment's
    refunded amount and status follow. A refund that arrives before its charge keeps charge_id and is
    linked when the charge lands."""
    objects = [o for o in objects if o.get("id")]
    if not objects:
        return {}
    charges = {stripe_id(o.get("charge")) for o in objects} - {""}
    intents = {stripe_id(o.get("payment_intent")) for o in objects} - {""}
    by_charge, by_intent = {}, {}
    for pk, sid, pi in Payment.objects.filter(workspace=workspace).filter(
            Q(stripe_id__in=charges) | Q(payment_intent_id__in=intents)
    ).order_by().values_list("pk", "stripe_id", "payment_intent_id"):
        by_charge[sid] = pk
        if pi:  # a refund names its charge; the intent is the fallback while only the intent's row exists
            by_intent.setdefault(pi, pk)
    rows = []
    for o in objects:
        charge, intent = stripe_id(o.get("charge")), stripe_id(o.get("payment_intent"))
        rows.append({
            "workspace_id": workspace.pk, "stripe_id": o["id"], "livemode": bool(o.get("livemode", livemode)),
            "created": stripe_time(o.get("created")) or source_time, "source_updated_at": source_time,
            "payment_id": by_charge.get(charge) or by_intent.get(intent), "charge_id": charge,
            "amount_minor": int(o.get("amount") or 0), "currency": currency_code(o.get("currency"), workspace.currency),
            "status": _choice(o.get("status"), RefundStatus, RefundStatus.PENDING),
            "reason": _text(o.get("reason"), 40),
        })
    written = _upsert(Refund, rows, update_fields=["livemode", "created", "source_updated_at", "payment_id",
                                                   "charge_id", "amount_minor", "currency", "status", "reason"],
                      keep_fields=["payment_id"], ranks=REFUND_RANK)
    payment_ids = set(Refund.objects.filter(pk__in=list(written.values()), payment__isnull=False)
                      .order_by().values_list("payment_id", flat=True))
    if payment_ids:
        _payments_after_change(workspace=workspace, payment_ids=list(payment_ids), relink=False)
    return written


# --- the numbers that follow payments -----------------------------------------------------------

def _payments_after_change(*, workspace: Workspace, payment_ids: list[int], relink: bool,
                           also: dict[str, set[int]] | None = None) -> None:
    """Fold refunds into the payments, relink their deals, recompute deal cash and customer LTV, publish.
    `also` names further deals and customers to recompute (those of payment rows just removed)."""
    also = also or {}
    _payments_apply_refunds(payment_ids=payment_ids)
    linked = Payment.objects.filter(pk__in=payment_ids, deal__isnull=False).order_by()
    deal_ids = set(linked.values_list("deal_id", flat=True)) | set(also.get("deals", ()))
    if relink:
        _payments_link_deals(payment_ids=payment_ids)
        deal_ids |= set(linked.all().values_list("deal_id", flat=True))
    topics = ["payments"]
    if deal_ids and _deals_recompute_cash(workspace=workspace, deal_ids=list(deal_ids)):
        topics.append("deals")
    customer_ids = set(Payment.objects.filter(pk__in=payment_ids, customer__isnull=False)
                       .order_by().values_list("customer_id", flat=True).distinct())
    customers_recompute_ltv(workspace_id=workspace.pk, customer_ids=customer_ids | set(also.get("customers", ())))
    _publish(workspace_id=workspace.pk, topics=topics)
    contact_ids = set(Payment.objects.filter(pk__in=payment_ids, contact__isnull=False).order_by()
                      .values_list("contact_id", flat=True).distinct())
    if contact_ids:  # money changed: the financial dimension of these clients' health
        from clients import health

        transaction.on_commit(lambda: health.health_rescore_soon(workspace_id=workspace.pk, contact_ids=contact_ids))


def _payments_apply_refunds(*, payment_ids: list[int]) -> None:
    """Refunds stored for a payment raise its refunded amount (never above the amount) and its status."""
    refunded = Subquery(Refund.objects.filter(payment_id=OuterRef("pk"), status__in=REFUND_COUNTED)
                        .values("payment_id").annotate(total=Sum("amount_minor")).values("total"))
    with_refunds = Payment.objects.filter(pk__in=payment_ids).filter(
        Exists(Refund.objects.filter(payment_id=OuterRef("pk"), status__in=REFUND_COUNTED)))
    with_refunds.update(amount_refunded_minor=Greatest(
        F("amount_refunded_minor"), Least(F("amount_minor"), Coalesce(refunded, Value(0)))))
    collected = Payment.objects.filter(pk__in=payment_ids, status__in=Payment.COLLECTED_STATUSES,
                                       amount_refunded_minor__gt=0)
    collected.update(status=models.Case(
        models.When(amount_refunded_minor__gte=F("amount_minor"), then=Value(PaymentStatus.REFUNDED)),
        default=Value(PaymentStatus.PARTIALLY_REFUNDED),
    ))


class _EpochDistance(Func):
    """|a − b| in seconds, for 'nearest in time'."""

    template = "ABS(EXTRACT(EPOCH FROM (%(expressions)s)))"
    arg_joiner = " - "
    output_field = FloatField()


def _payments_link_deals(*, payment_ids: list[int]) -> int:
    """Each payment → its contact's deal (won or payment pending) nearest in time; none without a contact."""
    eligible = PipelineStage.objects.filter(workspace_id=OuterRef("workspace_id"), pipeline=OuterRef("pipeline"),
                                            stage_id=OuterRef("stage_id"), funnel_step__in=DEAL_STEPS)
    nearest = (Deal.objects.filter(workspace_id=OuterRef("workspace_id"), contact_id=OuterRef("contact_id"))
               .filter(Exists(eligible))
               .annotate(distance=_EpochDistance(Coalesce("close_date", "created_at"), OuterRef("created")))
               .order_by("distance", "-created_at", "pk").values("pk")[:1])
    return Payment.objects.filter(pk__in=payment_ids).update(deal_id=Subquery(nearest))


def _deals_recompute_cash(*, workspace: Workspace, deal_ids: list[int]) -> int:
    """A deal's cash_collected = Σ its linked successful payments − their refunds, in the workspace
    currency (payments in another currency are not added to an AED figure). One UPDATE."""
    exponent = Decimal(10) ** minor_exponent(workspace.currency)
    net = Subquery(Payment.objects.filter(deal_id=OuterRef("pk"), status__in=Payment.COLLECTED_STATUSES,
                                          currency=workspace.currency.upper())
                   .values("deal_id").annotate(total=Sum(F("amount_minor") - F("amount_refunded_minor")))
                   .values("total"))
    money = models.DecimalField(max_digits=14, decimal_places=2)
    updated = Deal.objects.filter(pk__in=deal_ids, workspace=workspace).update(
        cash_collected=Cast(Cast(Coalesce(net, Value(0)), money) / Value(exponent, output_field=money), money))
    # A bulk UPDATE fires no signals: refresh the deals' funnel rows, whose triggers mark the daily measures
    # (cash on won deals) of their days.
    deal_funnel_refresh(workspace_id=workspace.pk, deal_ids=list(deal_ids))
    return updated


def customers_recompute_ltv(*, workspace_id: int, customer_ids: Iterable[int] | None = None) -> int:
    """Each customer's lifetime value, Σ (collected − refunded) over its collected payments: of some customers,
    or of every customer of the workspace (the demo loader, whose COPY bypasses the services)."""
    customers = Customer.objects.filter(workspace_id=workspace_id)
    if customer_ids is not None:
        customer_ids = list(customer_ids)
        if not customer_ids:
            return 0
        customers = customers.filter(pk__in=customer_ids)
    net = Subquery(Payment.objects.filter(customer_id=OuterRef("pk"), status__in=Payment.COLLECTED_STATUSES)
                   .values("customer_id").annotate(total=Sum(F("amount_minor") - F("amount_refunded_minor")))
                   .values("total"))
    return customers.update(lifetime_value_minor=Coalesce(net, Value(0)))


@transaction.atomic
def payments_relink_deals(*, workspace: Workspace, contact_ids: Iterable[int]) -> int:
    """For the clients app when a contact's deals change (a deal is won, moved, reassigned): relink that
    contact's payments to the nearest eligible deal and recompute the cash of every deal involved."""
    payment_ids = list(Payment.objects.filter(workspace=workspace, contact_id__in=list(contact_ids))
                       .order_by().values_list("pk", flat=True))
    if payment_ids:
        _payments_after_change(workspace=workspace, payment_ids=payment_ids, relink=True)
    return len(payment_ids)


# --- invoices and subscriptions ------------------------------------------------------------------

def _subscription_refs(workspace: Workspace, ids: set[str], source_time: datetime) -> dict[str, int]:
    ids -= {""}
    if not ids:
        return {}
    known = dict(Subscription.objects.filter(workspace=workspace, stripe_id__in=ids)
                 .order_by().values_list("stripe_id", "pk"))
    missing = ids - set(known)
    if missing:
        known.update(_stubs(Subscription, workspace=workspace, wanted={
            sid: {"created": source_time, "status": SubscriptionStatus.INCOMPLETE, "currency": workspace.currency}
            for sid in missing}))
    return known


def invoice_subscription_id(invoice: dict) -> str:
    """Where the invoice's subscription is: top level (API before 2025-03-31) or under parent."""
    if invoice.get("subscription"):
        return stripe_id(invoice.get("subscription"))
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return stripe_id(details.get("subscription"))


@transaction.atomic
def invoices_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                    livemode: bool = False) -> dict[str, int]:
    objects = [o for o in objects if o.get("id")]  # an upcoming invoice has no id: nothing to mirror
    if not objects:
        return {}
    customers = _customer_refs(workspace, objects, source_time)
    subscriptions = _subscription_refs(workspace, {invoice_subscription_id(o) for o in objects}, source_time)
    by_email = _match(workspace, [(normalize_email(o.get("customer_email")), normalize_phone(o.get("customer_phone")))
                                  for o in objects])
    rows = []
    for o, email_contact in zip(objects, by_email, strict=True):
        customer_pk, customer_contact = customers.get(stripe_id(o.get("customer")), (None, None))
        rows.append({
            "workspace_id": workspace.pk, "stripe_id": o["id"], "livemode": bool(o.get("livemode", livemode)),
            "created": stripe_time(o.get("created")) or source_time, "source_updated_at": source_time,
            "number": _text(o.get("number"), 60), "customer_id": customer_pk,
            "subscription_id": subscriptions.get(invoice_subscription_id(o)),
            "contact_id": customer_contact or email_contact,
            "amount_due_minor": int(o.get("amount_due") or 0), "amount_paid_minor": int(o.get("amount_paid") or 0),
            "currency": currency_code(o.get("currency"), workspace.currency),
            "status": _choice(o.get("status"), InvoiceStatus, InvoiceStatus.DRAFT),
            "due_date": stripe_time(o.get("due_date")),
            "paid_at": stripe_time((o.get("status_transitions") or {}).get("paid_at")),
        })
    written = _upsert(Invoice, rows, update_fields=[
        "livemode", "created", "source_updated_at", "number", "customer_id", "subscription_id", "contact_id",
        "amount_due_minor", "amount_paid_minor", "currency", "status", "due_date", "paid_at",
    ], keep_fields=["customer_id", "subscription_id", "contact_id"], ranks=INVOICE_RANK)
    if written:
        _publish(workspace_id=workspace.pk, topics=["payments"])
    return written


def _subscription_amount(sub: dict) -> tuple[int, str, int, str, str, datetime | None, datetime | None]:
    """(amount per interval, interval, interval_count, price id, plan name, period start, period end)."""
    items = ((sub.get("items") or {}).get("data")) or []
    amount, interval, count, price_id, plan_name = 0, "", 1, "", ""
    starts, ends = [], []
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        quantity = int(item.get("quantity") or 1)
        unit = price.get("unit_amount") if "unit_amount" in price else price.get("amount")
        amount += int(unit or 0) * quantity
        recurring = price.get("recurring") or ({"interval": price.get("interval"),
                                                "interval_count": price.get("interval_count")} if price else {})
        if not interval and recurring.get("interval"):
            interval, count = recurring["interval"], int(recurring.get("interval_count") or 1)
            price_id = stripe_id(price)
            product = price.get("product")
            plan_name = price.get("nickname") or (product.get("name") if isinstance(product, dict) else "") or ""
        if item.get("current_period_start"):  # API 2025-03-31 and later keep periods on the items
            starts.append(item["current_period_start"])
        if item.get("current_period_end"):
            ends.append(item["current_period_end"])
    start = stripe_time(sub.get("current_period_start") or (min(starts) if starts else None))
    end = stripe_time(sub.get("current_period_end") or (max(ends) if ends else None))
    if not plan_name and isinstance(sub.get("plan"), dict):
        plan_name = sub["plan"].get("nickname") or ""
    return amount, interval or Interval.MONTH, max(1, count), price_id, plan_name, start, end


@transaction.atomic
def subscriptions_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                         livemode: bool = False) -> dict[str, int]:
    objects = [o for o in objects if o.get("id")]
    if not objects:
        return {}
    customers = _customer_refs(workspace, objects, source_time)
    rows = []
    for o in objects:
        customer_pk, customer_contact = customers.get(stripe_id(o.get("customer")), (None, None))
        amount, interval, count, price_id, plan_name, start, end = _subscription_amount(o)
        rows.append({
            "workspace_id": workspace.pk, "stripe_id": o["id"], "livemode": bool(o.get("livemode", livemode)),
            "created": stripe_time(o.get("created")) or source_time, "source_updated_at": source_time,
            "customer_id": customer_pk, "contact_id": customer_contact,
            "status": _choice(o.get("status"), SubscriptionStatus, SubscriptionStatus.INCOMPLETE),
            "plan_name": _text(plan_name, 200), "price_id": _text(price_id, 255), "amount_minor": amount,
            "interval": _choice(interval, Interval, Interval.MONTH), "interval_count": count,
            "currency": currency_code(o.get("currency"), workspace.currency),
            "current_period_start": start, "current_period_end": end,
            "cancel_at_period_end": bool(o.get("cancel_at_period_end")),
            "canceled_at": stripe_time(o.get("canceled_at")), "ended_at": stripe_time(o.get("ended_at")),
        })
    written = _upsert(Subscription, rows, update_fields=[
        "livemode", "created", "source_updated_at", "customer_id", "contact_id", "status", "plan_name", "price_id",
        "amount_minor", "interval", "interval_count", "currency", "current_period_start", "current_period_end",
        "cancel_at_period_end", "canceled_at", "ended_at",
    ], keep_fields=["customer_id", "contact_id"])
    if written:
        _publish(workspace_id=workspace.pk, topics=["payments"])
    return written


# --- disputes, payouts, early fraud warnings -----------------------------------------------------

def _payments_by_charge(workspace: Workspace, objects: list[dict]) -> dict[str, tuple[int, int | None, int | None]]:
    """{charge id: (payment pk, customer pk, contact pk)} for the charges these objects name."""
    charges = {stripe_id(o.get("charge")) for o in objects} - {""}
    return {sid: (pk, cu, co) for sid, pk, cu, co in Payment.objects.filter(workspace=workspace, stripe_id__in=charges)
            .order_by().values_list("stripe_id", "pk", "customer_id", "contact_id")}


@transaction.atomic
def disputes_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                    livemode: bool = False) -> dict[str, int]:
    objects = [o for o in objects if o.get("id")]
    if not objects:
        return {}
    payments = _payments_by_charge(workspace, objects)
    rows = [{
        "workspace_id": workspace.pk, "stripe_id": o["id"], "livemode": bool(o.get("livemode", livemode)),
        "created": stripe_time(o.get("created")) or source_time, "source_updated_at": source_time,
        "payment_id": payments.get(stripe_id(o.get("charge")), (None,))[0], "charge_id": stripe_id(o.get("charge")),
        "amount_minor": int(o.get("amount") or 0), "currency": currency_code(o.get("currency"), workspace.currency),
        "reason": _text(o.get("reason"), 40),
        "status": _choice(o.get("status"), DisputeStatus, DisputeStatus.NEEDS_RESPONSE),
        "evidence_due_by": stripe_time((o.get("evidence_details") or {}).get("due_by")),
    } for o in objects]
    written = _upsert(Dispute, rows, update_fields=["livemode", "created", "source_updated_at", "payment_id",
                                                    "charge_id", "amount_minor", "currency", "reason", "status",
                                                    "evidence_due_by"],
                      keep_fields=["payment_id"], ranks=DISPUTE_RANK)
    if payments:
        Payment.objects.filter(pk__in=[p for p, _, _ in payments.values()], disputed=False).update(disputed=True)
    if written:
        _publish(workspace_id=workspace.pk, topics=["payments"])
    return written


@transaction.atomic
def payouts_upsert(*, workspace: Workspace, objects: list[dict], source_time: datetime,
                   livemode: bool = False) -> dict[str, int]:
    objects = [o for o in objects if o.get("id")]
    rows = [{
        "workspace_id": workspace.pk, "stripe_id": o["id"], "livemode": bool(o.get("livemode", livemode)),
        "created": stripe_time(o.get("created")) or source_time, "source_updated_at": source_time,
        "amount_minor": int(o.get("amount") or 0), "currency": currency_code(o.get("currency"), workspace.currency),
        "status": _choice(o.get("status"), PayoutStatus, PayoutStatus.PENDING),
        "arrival_date": stripe_date(o.get("arrival_date")), "failure_code": _text(o.get("failure_code"), 60),
        "failure_message": o.get("failure_message") or "",
    } for o in objects]
    written = _upsert(Payout, rows, update_fields=["livemode", "created", "source_updated_at", "amount_minor",
                                                   "currency", "status", "arrival_date", "failure_code",
                                                   "failure_message"], ranks=PAYOUT_RANK)
    if written:
        _publish(workspace_id=workspace.pk, topics=["payments"])
    return written


@transaction.atomic
def early_fraud_warnings_record(*, workspace: Workspace, objects: list[dict]) -> int:
    """radar.early_fraud_warning → one FraudAlert per warning (evidence_key = the warning id, so a
    redelivery or a second sight never raises it twice). Returns how many alerts are new."""
    objects = [o for o in objects if o.get("id")]
    if not objects:
        return 0
    payments = _payments_by_charge(workspace, objects)
    alerts = []
    for o in objects:
        charge = stripe_id(o.get("charge"))
        payment, customer, contact = payments.get(charge, (None, None, None))
        fraud_type = str(o.get("fraud_type") or "fraud").replace("_", " ")
        alerts.append(FraudAlert(
            workspace=workspace, rule="early_fraud_warning",
            severity=FraudSeverity.HIGH if o.get("actionable", True) else FraudSeverity.MEDIUM,
            title=f"Card issuer early fraud warning ({fraud_type}) on charge {charge or '?'}"[:200],
            evidence=o, evidence_key=o["id"], payment_id=payment, customer_id=customer, contact_id=contact,
            created_at=stripe_time(o.get("created")) or datetime.now(UTC),
        ))
    before = FraudAlert.objects.filter(workspace=workspace, rule="early_fraud_warning",
                                       evidence_key__in=[a.evidence_key for a in alerts]).count()
    FraudAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    created = len({a.evidence_key for a in alerts}) - before
    if created:
        _publish(workspace_id=workspace.pk, topics=["payments", "fraud"])
    return created


# --- raw events ----------------------------------------------------------------------------------

def stripe_event_record(*, workspace: Workspace, event: dict, status: str = WebhookStatus.PROCESSED) -> StripeEvent:
    """The event as received, once per (workspace, event id); a redelivery updates its outcome."""
    row, created = StripeEvent.objects.get_or_create(
        workspace=workspace, event_id=event["id"],
        defaults={"type": _text(event.get("type"), 100), "api_version": _text(event.get("api_version"), 40),
                  "livemode": bool(event.get("livemode")), "payload": event,
                  "created": stripe_time(event.get("created")) or datetime.now(UTC)},
    )
    row.status, row.attempts, row.processed_at, row.last_error = status, row.attempts + 1, datetime.now(UTC), ""
    row.save(update_fields=["status", "attempts", "processed_at", "last_error"])
    return row


# --- identity back-fill --------------------------------------------------------------------------

@transaction.atomic
def finance_link_contact(*, contact: Contact) -> dict[str, int]:
    """Link the unmatched customers, payments, invoices and subscriptions that this contact's email or
    phone identifies (called when a contact appears or gains a key). Returns counts per kind."""
    email, phone = contact.email_normalized, contact.phone_e164
    workspace_id = contact.workspace_id
    keys = Q()
    if email:
        keys |= Q(email=email)
    if phone:
        keys |= Q(phone_e164=phone)
    counts = {"stripe_customers": 0, "payments": 0, "invoices": 0, "subscriptions": 0}
    if not keys:
        return counts
    counts["stripe_customers"] = Customer.objects.filter(keys, workspace_id=workspace_id,
                                                         contact__isnull=True).update(contact=contact)
    ours = Q(customer__contact=contact)
    payment_ids = list(Payment.objects.filter(workspace_id=workspace_id, contact__isnull=True)
                       .filter(ours | keys).order_by().values_list("pk", flat=True))
    counts["payments"] = Payment.objects.filter(pk__in=payment_ids).update(contact=contact)
    counts["invoices"] = Invoice.objects.filter(ours, workspace_id=workspace_id,
                                                contact__isnull=True).update(contact=contact)
    counts["subscriptions"] = Subscription.objects.filter(ours, workspace_id=workspace_id,
                                                          contact__isnull=True).update(contact=contact)
    if payment_ids:
        _payments_after_change(workspace=contact.workspace, payment_ids=payment_ids, relink=True)
    elif any(counts.values()):
        _publish(workspace_id=workspace_id, topics=["payments"])
    return counts


def finance_link_contacts(*, workspace: Workspace, contact_ids: Iterable[int]) -> dict[str, int]:
    """finance_link_contact for those of these contacts whose email or phone an unmatched Stripe record
    carries: one query finds them, so a batch of thousands of new contacts costs little."""
    keys_email = set(Customer.objects.filter(workspace=workspace, contact__isnull=True).exclude(email="")
                     .values_list("email", flat=True)) | set(
        Payment.objects.filter(workspace=workspace, contact__isnull=True).exclude(email="").values_list("email", flat=True))
    keys_phone = set(Customer.objects.filter(workspace=workspace, contact__isnull=True).exclude(phone_e164="")
                     .values_list("phone_e164", flat=True)) | set(
        Payment.objects.filter(workspace=workspace, contact__isnull=True).exclude(phone_e164="")
        .values_list("phone_e164", flat=True))
    totals: dict[str, int] = {}
    if not keys_email and not keys_phone:
        return totals
    for contact in Contact.objects.filter(Q(email_normalized__in=keys_email) | Q(phone_e164__in=keys_phone),
                                          workspace=workspace, pk__in=list(contact_ids)):
        for kind, n in finance_link_contact(contact=contact).items():
            totals[kind] = totals.get(kind, 0) + n
    return totals


# --- working a fraud alert ----------------------------------------------------------------------

@transaction.atomic
def fraud_alert_update(*, alert_id: int, actor_access: Scope, status: str, assignee_id: int | None) -> FraudAlert:
    """Set a fraud alert's status and assignee (an admin of its workspace, or nobody). Only admins may; closing
    it (resolved, false positive) stamps resolved_at, reopening clears it. Raises PermissionError for other
    roles, FraudAlert.DoesNotExist for an alert of another workspace, ValueError for an unknown status or an
    assignee who is not an admin here."""
    if not actor_access.is_admin:
        raise PermissionError("Only admins can change a fraud alert.")
    alert = FraudAlert.objects.select_for_update().get(pk=alert_id, workspace=actor_access.workspace)
    if status not in FraudStatus.values:
        raise ValueError(f"unknown status {status!r}; valid: {', '.join(FraudStatus.values)}")
    if assignee_id is not None and not Membership.objects.filter(
            workspace=actor_access.workspace, user_id=assignee_id, role=Role.ADMIN).exists():
        raise ValueError("the assignee must be an admin of this workspace")
    before = {"status": alert.status, "assignee_id": alert.assignee_id}
    closing = status in FraudAlert.CLOSED_STATUSES
    if closing and alert.status not in FraudAlert.CLOSED_STATUSES:
        alert.resolved_at = timezone.now()
    elif not closing:
        alert.resolved_at = None
    alert.status, alert.assignee_id = status, assignee_id
    alert.save(update_fields=["status", "assignee", "resolved_at"])
    after = {"status": alert.status, "assignee_id": alert.assignee_id}
    if after != before:
        AuditLog.objects.create(workspace_id=alert.workspace_id, actor_id=actor_access.user_id,
                                action="fraud_alert.updated", object_type="FraudAlert", object_id=str(alert.pk),
                                detail={"from": before, "to": after})
        _publish(workspace_id=alert.workspace_id, topics=["fraud"])
    return alert
