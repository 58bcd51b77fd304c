"""A loopback fake of the Stripe v1 read API, plus webhook event helpers (integrations.md §1).

    with FakeStripe(api_key="sk_test_x") as fs:
        cus = fs.add_customer(email="a@example.com", phone="+971501234567")
        pi, ch = fs.add_payment(12345, customer=cus["id"])          # AED 123.45
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": fs.url}, max_network_retries=0)
        list(client.v1.charges.list({"limit": 10}).auto_paging_iter())

    body, header = signed_event(make_event("charge.succeeded", ch), "whsec_test")

Wire format:
- `GET /v1/{resource}` for customers, charges, payment_intents, refunds, invoices, subscriptions, disputes,
  payouts, events, balance_transactions -> `{"object":"list","data":[...],"has_more":bool,"url":"/v1/<resource>"}`,
  newest first; `has_more` is exact (false when the page ends on the last object), as on Stripe.
  `limit` (1-100, default 10), `starting_after` / `ending_before` (object ids; not both), `created` or
  `created[gt|gte|lt|lte]`, `expand[]=data.customer`-style expansion, and each resource's usual filters
  (customer, payment_intent, charge, status, email, subscription, type). Unknown parameters get Stripe's
  400 "Received unknown parameter". Subscriptions exclude `canceled` unless `status=canceled|all`, as on Stripe.
- `GET /v1/{resource}/{id}` -> the object, or 404 `resource_missing`.
- Succeeded charges, refunds, payouts and disputes have real `balance_transaction` objects (fee / net), so
  `expand[]=data.balance_transaction` works.
- Objects follow stripe-python 16.1.0 (API 2026-10-28.endive): ids with prefixes cus_ ch_ pi_ re_ in_ sub_ dp_ po_
  evt_, amounts in minor units, lowercase currency (default "aed"), `created` in unix seconds. Invoices link to
  subscriptions through `parent.subscription_details.subscription`; `payments` appears only when expanded;
  subscription periods live on the items.
- Auth: `Authorization: Bearer sk_...` (or Basic with the key as user); 401 otherwise. Only GET is served.
- Faults: `fail_next(status=429)` answers Stripe's `rate_limit` error; `rate_limit_next(should_retry=True)` adds
  `Stripe-Should-Retry`, which is what makes stripe-python retry (it never retries a plain 429).

Objects are stored in `fs.objects[resource][id]` (plain dicts; edit them freely or use `fs.update`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import stripe as stripe_sdk

from .server import FakeServer, RecordedRequest, Response, route

__all__ = ["FakeStripe", "make_event", "signed_event", "API_VERSION"]

API_VERSION = "2026-10-28.endive"
RESOURCES = {  # resource path -> (id prefix, object name)
    "customers": ("cus", "customer"), "charges": ("ch", "charge"), "payment_intents": ("pi", "payment_intent"),
    "refunds": ("re", "refund"), "invoices": ("in", "invoice"), "subscriptions": ("sub", "subscription"),
    "disputes": ("dp", "dispute"), "payouts": ("po", "payout"), "events": ("evt", "event"),
    "balance_transactions": ("txn", "balance_transaction"),
}
_PREFIX_TO_RESOURCE = {prefix: name for name, (prefix, _) in RESOURCES.items()}
_FILTERS = {
    "customers": {"email"}, "charges": {"customer", "payment_intent", "transfer_group"},
    "payment_intents": {"customer"}, "refunds": {"charge", "payment_intent"},
    "invoices": {"customer", "status", "subscription", "collection_method"},
    "subscriptions": {"customer", "status", "collection_method"}, "disputes": {"charge", "payment_intent"},
    "payouts": {"status", "destination"}, "events": {"type"},
    "balance_transactions": {"payout", "source", "type", "currency"},
}
_RANGE_FILTERS = {"created", "arrival_date"}


def _now() -> int:
    return int(time.time())


def _error(status: int, message: str, type_: str = "invalid_request_error", **extra) -> Response:
    return Response(status, {"error": {"message": message, "type": type_, **extra}})


def make_event(type: str, obj: dict, event_id: str | None = None, created: int | None = None, *,
               previous_attributes: dict | None = None, api_version: str = API_VERSION, livemode: bool = False,
               request_id: str | None = None, pending_webhooks: int = 1) -> dict:
    """A real-shaped Event dict; `data.previous_attributes` is present only when given (as on *.updated events)."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "api_version": api_version,
        "created": created if created is not None else _now(), "data": data, "livemode": livemode,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id or f"req_{uuid.uuid4().hex[:14]}", "idempotency_key": str(uuid.uuid4())},
        "type": type,
    }


def signed_event(payload: dict | str | bytes, secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
    """(raw body bytes, Stripe-Signature header). A dict is serialized the way Stripe sends it (indent=2)."""
    if isinstance(payload, dict):
        payload = json.dumps(payload, indent=2)
    text = payload.decode() if isinstance(payload, bytes) else payload
    header = stripe_sdk.WebhookSignature.generate_signature_header(
        text, secret, timestamp=timestamp if timestamp is not None else _now())
    return text.encode(), header


class FakeStripe(FakeServer):
    def __init__(self, api_key: str | None = "sk_test_x", *, currency: str = "aed", start_time: int | None = None,
                 fee_percent: float = 2.9, fee_fixed: int = 100):
        """api_key=None accepts any sk_/rk_ key. Objects without `created` get increasing timestamps from
        `start_time` (default: now - 1 day), one second apart, so list order is deterministic. Succeeded charges
        get a balance transaction with fee = round(amount * fee_percent / 100) + fee_fixed (minor units)."""
        super().__init__()
        self.api_key = api_key
        self.currency = currency
        self.fee_percent, self.fee_fixed = fee_percent, fee_fixed
        self.objects: dict[str, dict[str, dict]] = {name: {} for name in RESOURCES}
        self._clock = start_time if start_time is not None else _now() - 86400
        self._seq = 0
        self._order: dict[str, int] = {}  # id -> insertion sequence (tie-break for equal `created`)

    make_event = staticmethod(make_event)
    signed_event = staticmethod(signed_event)

    # ------------------------------------------------------------------ generic store helpers
    def new_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_fake{self._seq:010d}"

    def _created(self, created: int | None) -> int:
        if created is not None:
            return int(created)
        self._clock += 1
        return self._clock

    def add(self, resource: str, obj: dict) -> dict:
        """Store a ready object dict (fills id, object and created if missing). Returns it."""
        prefix, name = RESOURCES[resource]
        with self.lock:
            obj.setdefault("id", self.new_id(prefix))
            obj.setdefault("object", name)
            obj["created"] = self._created(obj.get("created"))
            obj.setdefault("livemode", False)
            self._seq += 1
            self._order[obj["id"]] = self._seq
            self.objects[resource][obj["id"]] = obj
            return obj

    def get(self, resource_or_id: str, id: str | None = None) -> dict:
        if id is None:
            id = resource_or_id
            resource_or_id = _PREFIX_TO_RESOURCE[id.split("_", 1)[0]]
        return self.objects[resource_or_id][id]

    def update(self, resource: str, id: str, **fields) -> dict:
        with self.lock:
            obj = self.objects[resource][id]
            obj.update(fields)
            return obj

    def _ref(self, prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:24]}"

    def add_balance_transaction(self, amount: int, source: str, type: str, *, fee: int = 0,
                                currency: str | None = None, created: int | None = None,
                                reporting_category: str | None = None, status: str = "available") -> dict:
        """The ledger entry behind a charge / refund / payout / dispute (what `expand[]=data.balance_transaction`
        returns). Amounts are signed: refunds and payouts are negative."""
        created = self._created(created)
        details = [{"amount": fee, "application": None, "currency": currency or self.currency,
                    "description": "Stripe processing fees", "type": "stripe_fee"}] if fee else []
        return self.add("balance_transactions", {
            "id": self.new_id("txn"), "object": "balance_transaction", "amount": amount,
            "available_on": created + 2 * 86400, "balance_type": "payments", "created": created,
            "currency": currency or self.currency, "description": None, "exchange_rate": None, "fee": fee,
            "fee_details": details, "net": amount - fee, "reporting_category": reporting_category or type,
            "source": source, "status": status, "type": type})

    # ------------------------------------------------------------------ real-shaped builders
    def add_customer(self, *, email: str | None = None, name: str | None = None, phone: str | None = None,
                     created: int | None = None, id: str | None = None, metadata: dict | None = None, **extra) -> dict:
        obj = {"id": id or self.new_id("cus"), "object": "customer", "address": None, "balance": 0,
               "created": created, "currency": None, "default_source": None, "delinquent": False,
               "description": None, "discount": None, "email": email, "invoice_prefix": uuid.uuid4().hex[:8].upper(),
               "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                    "rendering_options": None},
               "livemode": False, "metadata": metadata or {}, "name": name, "next_invoice_sequence": 1,
               "phone": phone, "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None}
        return self.add("customers", {**obj, **extra})

    def add_charge(self, amount: int, *, currency: str | None = None, customer: str | None = None,
                   status: str = "succeeded", payment_intent: str | None = None, created: int | None = None,
                   id: str | None = None, email: str | None = None, name: str | None = None,
                   phone: str | None = None, description: str | None = None, metadata: dict | None = None,
                   failure_code: str | None = None, failure_message: str | None = None, **extra) -> dict:
        ok = status == "succeeded"
        if not ok and status == "failed" and failure_code is None:
            failure_code, failure_message = "card_declined", "Your card was declined."
        created = self._created(created)
        cid = id or self.new_id("ch")
        txn = self.add_balance_transaction(
            amount, cid, "charge", fee=round(amount * self.fee_percent / 100) + self.fee_fixed,
            currency=currency, created=created, status="pending")["id"] if ok else None
        obj = {
            "id": cid, "object": "charge", "amount": amount,
            "amount_captured": amount if ok else 0, "amount_refunded": 0, "application": None,
            "application_fee": None, "application_fee_amount": None,
            "balance_transaction": txn,
            "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                            "postal_code": None, "state": None},
                                "email": email, "name": name, "phone": phone, "tax_id": None},
            "calculated_statement_descriptor": "PTD FITNESS", "captured": ok, "created": created,
            "currency": currency or self.currency, "customer": customer, "description": description,
            "disputed": False, "failure_balance_transaction": None, "failure_code": failure_code,
            "failure_message": failure_message, "fraud_details": {}, "livemode": False, "metadata": metadata or {},
            "on_behalf_of": None,
            "outcome": ({"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                         "network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                         "risk_score": 12, "seller_message": "Payment complete.", "type": "authorized"} if ok else
                        {"advice_code": "try_again_later", "network_advice_code": None, "network_decline_code": None,
                         "network_status": "declined_by_network", "reason": "generic_decline",
                         "risk_level": "normal", "risk_score": 40,
                         "seller_message": "The bank did not return any further details with this decline.",
                         "type": "issuer_declined"}),
            "paid": ok, "payment_intent": payment_intent, "payment_method": self._ref("pm"),
            "payment_method_details": {"card": {"brand": "visa", "country": "AE", "exp_month": 12, "exp_year": 2030,
                                                "funding": "credit", "last4": "4242", "network": "visa"},
                                       "type": "card"},
            "radar_options": {}, "receipt_email": email, "receipt_number": None,
            "receipt_url": f"https://pay.stripe.com/receipts/payment/{uuid.uuid4().hex}", "refunded": False,
            "review": None, "shipping": None, "source": None, "source_transfer": None, "statement_descriptor": None,
            "statement_descriptor_suffix": None, "status": status, "transfer_data": None, "transfer_group": None,
        }
        return self.add("charges", {**obj, **extra})

    def add_payment_intent(self, amount: int, *, currency: str | None = None, customer: str | None = None,
                           status: str = "succeeded", latest_charge: str | None = None, created: int | None = None,
                           id: str | None = None, receipt_email: str | None = None, description: str | None = None,
                           metadata: dict | None = None, last_payment_error: dict | None = None, **extra) -> dict:
        pid = id or self.new_id("pi")
        obj = {
            "id": pid, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_details": {"tip": {}}, "amount_received": amount if status == "succeeded" else 0,
            "application": None, "application_fee_amount": None, "automatic_payment_methods": None,
            "canceled_at": None, "cancellation_reason": None, "capture_method": "automatic_async",
            "client_secret": f"{pid}_secret_{uuid.uuid4().hex[:20]}", "confirmation_method": "automatic",
            "created": created, "currency": currency or self.currency, "customer": customer,
            "description": description, "last_payment_error": last_payment_error, "latest_charge": latest_charge,
            "livemode": False, "metadata": metadata or {}, "next_action": None, "on_behalf_of": None,
            "payment_method": self._ref("pm") if status == "succeeded" else None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"], "processing": None, "receipt_email": receipt_email, "review": None,
            "setup_future_usage": None, "shipping": None, "source": None, "statement_descriptor": None,
            "statement_descriptor_suffix": None, "status": status, "transfer_data": None, "transfer_group": None,
        }
        return self.add("payment_intents", {**obj, **extra})

    def add_payment(self, amount: int, *, customer: str | None = None, succeeded: bool = True,
                    created: int | None = None, currency: str | None = None, email: str | None = None,
                    name: str | None = None, phone: str | None = None, metadata: dict | None = None
                    ) -> tuple[dict, dict]:
        """A PaymentIntent and its charge, linked both ways (the usual modern flow). Returns (pi, charge)."""
        with self.lock:
            created = self._created(created)
            pi = self.add_payment_intent(amount, currency=currency, customer=customer, created=created,
                                         status="succeeded" if succeeded else "requires_payment_method",
                                         receipt_email=email, metadata=metadata)
            ch = self.add_charge(amount, currency=currency, customer=customer, payment_intent=pi["id"],
                                 status="succeeded" if succeeded else "failed", created=created, email=email,
                                 name=name, phone=phone, metadata=metadata)
            pi["latest_charge"] = ch["id"]
            if not succeeded:
                pi["last_payment_error"] = {"charge": ch["id"], "code": "card_declined",
                                            "decline_code": "generic_decline", "message": ch["failure_message"],
                                            "type": "card_error"}
            return pi, ch

    def add_refund(self, charge: str, amount: int | None = None, *, status: str = "succeeded",
                   reason: str | None = None, created: int | None = None, id: str | None = None, **extra) -> dict:
        """Refund (part of) a charge; updates the charge's amount_refunded / refunded like Stripe does."""
        with self.lock:
            ch = self.objects["charges"][charge]
            amount = ch["amount"] - ch["amount_refunded"] if amount is None else amount
            created = self._created(created)
            rid = id or self.new_id("re")
            txn = self.add_balance_transaction(-amount, rid, "refund", currency=ch["currency"],
                                               created=created)["id"] if status == "succeeded" else None
            obj = {"id": rid, "object": "refund", "amount": amount, "balance_transaction": txn, "charge": charge,
                   "created": created, "currency": ch["currency"],
                   "destination_details": {"card": {"reference": None, "reference_status": "pending",
                                                    "reference_type": "acquirer_reference_number",
                                                    "type": "refund"}, "type": "card"},
                   "metadata": {}, "payment_intent": ch["payment_intent"], "reason": reason,
                   "receipt_number": None, "source_transfer_reversal": None, "status": status,
                   "transfer_reversal": None}
            if status == "succeeded":
                ch["amount_refunded"] += amount
                ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
            return self.add("refunds", {**obj, **extra})

    def add_dispute(self, charge: str, *, amount: int | None = None, reason: str = "fraudulent",
                    status: str = "needs_response", created: int | None = None, id: str | None = None,
                    **extra) -> dict:
        with self.lock:
            ch = self.objects["charges"][charge]
            created = self._created(created)
            did, amount = id or self.new_id("dp"), ch["amount"] if amount is None else amount
            withdrawal = self.add_balance_transaction(-amount, did, "adjustment", currency=ch["currency"],
                                                      created=created, reporting_category="dispute")
            obj = {"id": did, "object": "dispute", "amount": amount,
                   "balance_transactions": [dict(withdrawal)],
                   "charge": charge, "created": created, "currency": ch["currency"],
                   "enhanced_eligibility_types": [], "evidence": {"customer_email_address": None,
                                                                  "customer_name": None, "uncategorized_text": None},
                   "evidence_details": {"due_by": created + 7 * 86400, "enhanced_eligibility": {},
                                        "has_evidence": False, "past_due": False, "submission_count": 0},
                   "is_charge_refundable": False, "livemode": False, "metadata": {}, "network_reason_code": "10.4",
                   "payment_intent": ch["payment_intent"],
                   "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
                                                       "network_reason_code": "10.4"}, "type": "card"},
                   "reason": reason, "status": status}
            ch["disputed"] = True
            return self.add("disputes", {**obj, **extra})

    def add_subscription(self, customer: str, *, amount: int = 50000, interval: str = "month",
                         status: str = "active", created: int | None = None, id: str | None = None,
                         current_period_start: int | None = None, current_period_end: int | None = None,
                         cancel_at_period_end: bool = False, canceled_at: int | None = None,
                         metadata: dict | None = None, **extra) -> dict:
        with self.lock:
            created = self._created(created)
            sid = id or self.new_id("sub")
            start = current_period_start or created
            end = current_period_end or start + (365 if interval == "year" else 30) * 86400
            price = {"id": self._ref("price"), "object": "price", "active": True, "billing_scheme": "per_unit",
                     "created": created, "currency": self.currency, "livemode": False, "lookup_key": None,
                     "metadata": {}, "nickname": None, "product": self._ref("prod"),
                     "recurring": {"interval": interval, "interval_count": 1, "meter": None,
                                   "usage_type": "licensed"},
                     "tax_behavior": "unspecified", "type": "recurring", "unit_amount": amount,
                     "unit_amount_decimal": str(amount)}
            item = {"id": self._ref("si"), "object": "subscription_item", "created": created,
                    "current_period_end": end, "current_period_start": start, "discounts": [], "metadata": {},
                    "price": price, "quantity": 1, "subscription": sid, "tax_rates": []}
            obj = {"id": sid, "object": "subscription", "application": None, "billing_cycle_anchor": start,
                   "cancel_at": None, "cancel_at_period_end": cancel_at_period_end, "canceled_at": canceled_at,
                   "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                   "collection_method": "charge_automatically", "created": created, "currency": self.currency,
                   "customer": customer, "days_until_due": None, "default_payment_method": self._ref("pm"),
                   "description": None, "discounts": [],
                   "ended_at": canceled_at if status == "canceled" else None,
                   "items": {"object": "list", "data": [item], "has_more": False, "total_count": 1,
                             "url": f"/v1/subscription_items?subscription={sid}"},
                   "latest_invoice": None, "livemode": False, "metadata": metadata or {},
                   "pause_collection": None, "start_date": created, "status": status, "trial_end": None,
                   "trial_start": None}
            return self.add("subscriptions", {**obj, **extra})

    def add_invoice(self, customer: str, amount: int, *, status: str = "paid", subscription: str | None = None,
                    payment_intent: str | None = None, created: int | None = None, id: str | None = None,
                    metadata: dict | None = None, **extra) -> dict:
        """An invoice; `payment_intent` becomes an `invoice_payment` in `payments` (shown when expanded)."""
        with self.lock:
            created = self._created(created)
            iid = id or self.new_id("in")
            cus = self.objects["customers"].get(customer, {})
            paid = status == "paid"
            obj = {
                "id": iid, "object": "invoice", "account_country": "AE", "account_name": "PTD Fitness",
                "amount_due": amount, "amount_overpaid": 0, "amount_paid": amount if paid else 0,
                "amount_remaining": 0 if paid else amount, "attempt_count": 1 if paid else 0, "attempted": paid,
                "auto_advance": not paid,
                "billing_reason": "subscription_cycle" if subscription else "manual",
                "collection_method": "charge_automatically", "created": created, "currency": self.currency,
                "customer": customer, "customer_email": cus.get("email"), "customer_name": cus.get("name"),
                "customer_phone": cus.get("phone"), "description": None, "due_date": None,
                "hosted_invoice_url": f"https://invoice.stripe.com/i/{iid}", "invoice_pdf":
                    f"https://pay.stripe.com/invoice/{iid}/pdf",
                "lines": {"object": "list", "data": [{"id": self._ref("il"), "object": "line_item",
                                                      "amount": amount, "currency": self.currency,
                                                      "description": "1 × PT package", "quantity": 1}],
                          "has_more": False, "total_count": 1, "url": f"/v1/invoices/{iid}/lines"},
                "livemode": False, "metadata": metadata or {}, "number": f"PTD-{self._seq:04d}",
                "parent": ({"quote_details": None, "subscription_details": {"metadata": {},
                                                                            "subscription": subscription},
                            "type": "subscription_details"} if subscription else None),
                "period_end": created, "period_start": created, "status": status,
                "status_transitions": {"finalized_at": created, "marked_uncollectible_at": None,
                                       "paid_at": created if paid else None, "voided_at": None},
                "subtotal": amount, "total": amount, "webhooks_delivered_at": created,
                "_payments": [{"id": self._ref("inpay"), "object": "invoice_payment", "amount_paid":
                               amount if paid else None, "amount_requested": amount, "created": created,
                               "currency": self.currency, "invoice": iid, "is_default": True, "livemode": False,
                               "payment": {"payment_intent": payment_intent, "type": "payment_intent"},
                               "status": "paid" if paid else "open",
                               "status_transitions": {"canceled_at": None, "paid_at": created if paid else None}}]
                if payment_intent else [],
            }
            if subscription and subscription in self.objects["subscriptions"]:
                self.objects["subscriptions"][subscription]["latest_invoice"] = iid
            return self.add("invoices", {**obj, **extra})

    def add_payout(self, amount: int, *, status: str = "paid", arrival_date: int | None = None,
                   created: int | None = None, id: str | None = None, method: str = "standard",
                   failure_code: str | None = None, **extra) -> dict:
        with self.lock:
            created = self._created(created)
            pid = id or self.new_id("po")
            txn = self.add_balance_transaction(-amount, pid, "payout", created=created)
            obj = {"id": pid, "object": "payout", "amount": amount, "application_fee": None,
                   "application_fee_amount": None, "arrival_date": arrival_date or created + 2 * 86400,
                   "automatic": True, "balance_transaction": txn["id"], "created": created,
                   "currency": self.currency, "description": "STRIPE PAYOUT", "destination": "ba_fakebankaccount",
                   "failure_balance_transaction": None, "failure_code": failure_code,
                   "failure_message": None, "livemode": False, "metadata": {}, "method": method,
                   "original_payout": None, "reconciliation_status": "completed" if status == "paid" else
                   "not_applicable", "reversed_by": None, "source_type": "card", "statement_descriptor": None,
                   "status": status, "trace_id": {"status": "supported", "value": uuid.uuid4().hex[:16].upper()},
                   "type": "bank_account"}
            return self.add("payouts", {**obj, **extra})

    def add_event(self, type: str, obj: dict, **kwargs) -> dict:
        """make_event(...) and store it, so it is listed by GET /v1/events."""
        with self.lock:
            kwargs.setdefault("created", self._created(None))
            return self.add("events", make_event(type, obj, **kwargs))

    def rate_limit_next(self, times: int = 1, should_retry: bool | None = None, path_prefix: str | None = None):
        headers = {} if should_retry is None else {"Stripe-Should-Retry": "true" if should_retry else "false"}
        return self.fail_next(429, headers, None, times=times, path_prefix=path_prefix)

    # ------------------------------------------------------------------ FakeServer hooks
    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"error": {"code": "rate_limit", "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
                              "message": "Request rate limit exceeded. Learn more about rate limits here "
                                         "https://stripe.com/docs/rate-limits.",
                              "type": "invalid_request_error"}}
        if status == 409:
            return {"error": {"code": "lock_timeout", "doc_url": "https://stripe.com/docs/error-codes/lock-timeout",
                              "message": "This object cannot be accessed right now because another API request or "
                                         "Stripe process is currently accessing it.",
                              "type": "invalid_request_error"}}
        if status >= 500:
            return {"error": {"message": "An unknown error occurred", "type": "api_error"}}
        return {"error": {"message": f"HTTP {status}", "type": "invalid_request_error"}}

    def response_headers(self, req: RecordedRequest) -> dict[str, str]:
        return {"Request-Id": f"req_{uuid.uuid4().hex[:14]}",
                "Stripe-Version": req.headers.get("Stripe-Version") or API_VERSION}

    def authenticate(self, req: RecordedRequest) -> Response | None:
        auth = req.headers.get("Authorization", "")
        key = None
        if auth.startswith("Bearer "):
            key = auth[7:]
        elif auth.startswith("Basic "):
            import base64
            key = base64.b64decode(auth[6:]).decode(errors="replace").split(":")[0]
        if not key:
            return _error(401, "You did not provide an API key. You need to provide your API key in the "
                               "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                               "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or "
                               "we can help at https://support.stripe.com/.")
        valid = key == self.api_key if self.api_key else key.startswith(("sk_test_", "sk_live_", "rk_"))
        if not valid:
            return _error(401, f"Invalid API Key provided: {key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}")
        return None

    def not_found(self, req: RecordedRequest) -> Response:
        return _error(404, f"Unrecognized request URL ({req.method}: {req.path}). Please see "
                           "https://stripe.com/docs or we can help at https://support.stripe.com/.")

    # ------------------------------------------------------------------ serving
    def _public(self, obj: dict, expand: list[str]) -> dict:
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        for path in expand:
            self._expand(out, obj, path.split("."))
        return out

    def _expand(self, out: dict, stored: dict, parts: list[str]) -> None:
        head, rest = parts[0], parts[1:]
        if head == "payments" and stored.get("object") == "invoice":
            out["payments"] = {"object": "list", "data": stored.get("_payments", []), "has_more": False,
                               "url": f"/v1/invoices/{stored['id']}/payments"}
            return
        value = out.get(head)
        if isinstance(value, str) and value.split("_", 1)[0] in _PREFIX_TO_RESOURCE:
            target = self.objects[_PREFIX_TO_RESOURCE[value.split("_", 1)[0]]].get(value)
            if target is not None:
                out[head] = self._public(target, [".".join(rest)] if rest else [])
        elif isinstance(value, dict) and rest:
            self._expand(value, value, rest)

    @staticmethod
    def _expand_params(req: RecordedRequest) -> list[str]:
        out = []
        for key, values in req.query_lists.items():
            if re.fullmatch(r"expand\[\d*\]", key):
                out.extend(values)
        return out

    @route("GET", r"/v1/(?P<resource>[a-z_]+)")
    def list_objects(self, req: RecordedRequest, resource: str) -> Response:
        if resource not in RESOURCES:
            return self.not_found(req)
        params = {k: v for k, v in req.query.items() if not k.startswith("expand[")}
        ranges: dict[str, dict[str, int]] = {}
        filters: dict[str, str] = {}
        for key, value in params.items():
            m = re.fullmatch(r"(\w+)(?:\[(gt|gte|lt|lte)\])?", key)
            field, op = (m.group(1), m.group(2)) if m else (key, None)
            if field in ("limit", "starting_after", "ending_before"):
                continue
            if field in _RANGE_FILTERS and (resource == "payouts" or field == "created"):
                try:
                    ranges.setdefault(field, {})[op or "eq"] = int(value)
                except ValueError:
                    return _error(400, f"Invalid integer: {value}", param=key)
            elif field in _FILTERS[resource] and op is None:
                filters[field] = value
            else:
                return _error(400, f"Received unknown parameter: {key}", param=key)
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            return _error(400, f"Invalid integer: {params['limit']}", param="limit")
        if not 1 <= limit <= 100:
            return _error(400, f"This value must be {'greater' if limit < 1 else 'less'} than or equal to "
                               f"{1 if limit < 1 else 100} (it currently is '{limit}')", param="limit")
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            return _error(400, "You may only specify one of these parameters: ending_before, starting_after.")
        ordered = sorted(self.objects[resource].values(),
                         key=lambda o: (o["created"], self._order.get(o["id"], 0)), reverse=True)
        cursor = after or before
        if cursor:
            pos = next((i for i, o in enumerate(ordered) if o["id"] == cursor), None)
            if pos is None:
                return _error(400, f"No such {RESOURCES[resource][1]}: '{cursor}'", code="resource_missing",
                              param="starting_after" if after else "ending_before")
            ordered = ordered[pos + 1:] if after else ordered[:pos]
        matching = [o for o in ordered if self._keep(resource, o, filters, ranges)]
        page = matching[-limit:] if before else matching[:limit]
        expand = [p[5:] for p in self._expand_params(req) if p.startswith("data.")]
        return Response(200, {"object": "list", "data": [self._public(o, expand) for o in page],
                              "has_more": len(matching) > limit, "url": f"/v1/{resource}"})

    @staticmethod
    def _keep(resource: str, obj: dict, filters: dict[str, str], ranges: dict[str, dict[str, int]]) -> bool:
        for field, bounds in ranges.items():
            value = obj.get(field)
            for op, bound in bounds.items():
                if value is None or not {"eq": value == bound, "gt": value > bound, "gte": value >= bound,
                                         "lt": value < bound, "lte": value <= bound}[op]:
                    return False
        status = filters.get("status")
        if resource == "subscriptions" and status is None and obj.get("status") == "canceled":
            return False
        for field, wanted in filters.items():
            if field == "status" and resource == "subscriptions" and wanted == "all":
                continue
            if field == "subscription":
                have = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
            else:
                have = obj.get(field)
            if isinstance(have, dict):
                have = have.get("id")
            if field == "email":
                if (have or "").lower() != wanted.lower():
                    return False
            elif have != wanted:
                return False
        return True

    @route("GET", r"/v1/(?P<resource>[a-z_]+)/(?P<object_id>[^/]+)")
    def retrieve(self, req: RecordedRequest, resource: str, object_id: str) -> Response:
        if resource not in RESOURCES:
            return self.not_found(req)
        obj = self.objects[resource].get(object_id)
        if obj is None:
            return _error(404, f"No such {RESOURCES[resource][1]}: '{object_id}'", code="resource_missing",
                          doc_url="https://stripe.com/docs/error-codes/resource-missing", param="id")
        return Response(200, self._public(obj, self._expand_params(req)))
