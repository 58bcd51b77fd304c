"""Finance from Stripe: raw events, customers linked to contacts, payments, refunds, invoices,
subscriptions, disputes, payouts, and the fraud alerts raised by forensics.

Amounts are integers in the currency's minor unit, as Stripe sends them (AED 123.45 = 12345).
Currency codes are stored upper-case ISO 4217 ("AED"); Stripe sends them lower-case.
Finance is admin and viewer only: coaches and setters see none of it (empty ROLE_SCOPE)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from ptd.models import WebhookStatus, WorkspaceModel


ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())


def currency_field():
    return models.CharField(max_length=3, default="AED")


def format_minor(amount_minor: int, currency: str) -> str:
    """Minor units for display: (12345, "aed") → "AED 123.45"; zero- and three-decimal currencies too."""
    code = (currency or "").upper()
    places = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return f"{code} {Decimal(amount_minor).scaleb(-places):,.{places}f}"


class StripeObject(WorkspaceModel):
    """Fields every mirrored Stripe object has."""

    stripe_id = models.CharField(max_length=255)
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(help_text="Stripe's creation time")
    # Events arrive out of order: an event older than this one must not overwrite the row.
    source_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Time of the Stripe event (or fetch) that last wrote this row"
    )
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class StripeEvent(WorkspaceModel):
    """A Stripe event exactly as received (webhook or events backfill), processed once by a task."""

    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    api_version = models.CharField(max_length=40, blank=True)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    created = models.DateTimeField(help_text="Stripe's event time")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["workspace", "event_id"], name="stripeevent_unique_event_id")]
        indexes = [
            models.Index(fields=["workspace", "created"], name="stripeevent_ws_created"),
            models.Index(fields=["workspace", "type", "created"], name="stripeevent_ws_type_created"),
            models.Index(fields=["status", "received_at"], name="stripeevent_status_received"),
        ]

    def __str__(self):
        return f"{self.type} {self.event_id}"


class Customer(StripeObject):
    """A Stripe customer, linked to the Contact it is (matched by email, then phone)."""

    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_customers"
    )
    email = models.CharField(max_length=254, blank=True, help_text="Normalised (trimmed, lower-case)")
    phone_e164 = models.CharField(max_length=20, blank=True, help_text="E.164, for matching a contact later")
    name = models.CharField(max_length=200, blank=True)
    lifetime_value_minor = models.BigIntegerField(default=0, help_text="Successful payments − refunds, minor units")
    currency = currency_field()
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["workspace", "stripe_id"], name="customer_unique_stripe_id")]
        indexes = [
            models.Index(fields=["workspace", "email"], name="customer_ws_email"),
            models.Index(fields=["workspace", "phone_e164"], name="customer_ws_phone"),
            models.Index(fields=["workspace", "lifetime_value_minor"], name="customer_ws_ltv"),
            models.Index(fields=["contact"], name="customer_contact"),
        ]

    def __str__(self):
        return self.name or self.email or self.stripe_id


class PaymentStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    REQUIRES_ACTION = "requires_action", "Requires action"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


class Payment(StripeObject):
    """A charge (or a payment intent without one yet): the cash behind revenue metrics."""

    # Money was collected at `created` for these; refunds are subtracted at their own time (DESIGN §7a).
    COLLECTED_STATUSES = frozenset(
        {PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
    )

    payment_intent_id = models.CharField(max_length=255, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_payments"
    )
    # The contact's deal nearest in time (won or payment pending); its cash_collected sums these payments.
    deal = models.ForeignKey("clients.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    # Billing / receipt email and phone (normalised), so a payment without a customer can be matched later.
    email = models.CharField(max_length=254, blank=True)
    phone_e164 = models.CharField(max_length=20, blank=True)
    amount_minor = models.BigIntegerField()
    currency = currency_field()
    status = models.CharField(max_length=20, choices=PaymentStatus.choices)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.TextField(blank=True)
    fee_minor = models.BigIntegerField(null=True, blank=True, help_text="From the balance transaction, when known")
    net_minor = models.BigIntegerField(null=True, blank=True)
    amount_refunded_minor = models.BigIntegerField(default=0)
    disputed = models.BooleanField(default=False)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True, help_text="What the cardholder recognises on a statement")
    card_country = models.CharField(max_length=2, blank=True)
    risk_level = models.CharField(max_length=20, blank=True, help_text="Radar outcome.risk_level")
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Radar outcome.risk_score (0–100)")
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "stripe_id"], name="payment_unique_stripe_id"),
            models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="payment_amount_nonnegative"),
            models.CheckConstraint(
                condition=models.Q(amount_refunded_minor__gte=0, amount_refunded_minor__lte=models.F("amount_minor")),
                name="payment_refunded_in_range",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "created"], name="payment_ws_created"),
            models.Index(fields=["workspace", "status", "created"], name="payment_ws_status_created"),
            models.Index(fields=["contact", "created"], name="payment_contact_created"),
            models.Index(fields=["customer", "created"], name="payment_customer_created"),
            models.Index(fields=["workspace", "payment_intent_id"], name="payment_ws_intent"),
            models.Index(fields=["workspace", "card_fingerprint"], name="payment_ws_card"),
            # Who paid in a window (trained but unpaid, paying contacts), read from the index alone.
            models.Index(fields=["workspace", "created"], include=["contact"],
                         condition=models.Q(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED,
                                                        PaymentStatus.REFUNDED]),
                         name="payment_collected_ws_created"),
            models.Index(fields=["workspace", "email"], name="payment_ws_email"),
            models.Index(fields=["workspace", "phone_e164"], name="payment_ws_phone"),
        ]

    def __str__(self):
        return f"{self.stripe_id} {format_minor(self.amount_minor, self.currency)} ({self.status})"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REQUIRES_ACTION = "requires_action", "Requires action"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class Refund(StripeObject):
    """Money returned against a payment; counted in net revenue at its own creation time."""

    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="refunds")
    # Kept so a refund that arrives before its charge can be linked later.
    charge_id = models.CharField(max_length=255, blank=True)
    amount_minor = models.BigIntegerField()
    currency = currency_field()
    status = models.CharField(max_length=20, choices=RefundStatus.choices)
    reason = models.CharField(max_length=40, blank=True, help_text="duplicate, fraudulent, requested_by_customer, …")

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "stripe_id"], name="refund_unique_stripe_id"),
            models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="refund_amount_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["workspace", "created"], name="refund_ws_created"),
            models.Index(fields=["workspace", "status", "created"], name="refund_ws_status_created"),
            models.Index(fields=["workspace", "charge_id"], name="refund_ws_charge"),
        ]

    def __str__(self):
        return f"{self.stripe_id} {format_minor(self.amount_minor, self.currency)} ({self.status})"


class SubscriptionStatus(models.TextChoices):
    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


class Interval(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class Subscription(StripeObject):
    """A recurring plan; amount_minor is charged every interval_count × interval (MRR normalises it)."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriptions"
    )
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_subscriptions"
    )
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices)
    plan_name = models.CharField(max_length=200, blank=True)
    price_id = models.CharField(max_length=255, blank=True)
    amount_minor = models.BigIntegerField(default=0, help_text="Per interval, all items × quantity")
    interval = models.CharField(max_length=5, choices=Interval.choices, default=Interval.MONTH)
    interval_count = models.PositiveSmallIntegerField(default=1)
    currency = currency_field()
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "stripe_id"], name="subscription_unique_stripe_id"),
            models.CheckConstraint(condition=models.Q(interval_count__gte=1), name="subscription_interval_count_pos"),
        ]
        indexes = [
            models.Index(fields=["workspace", "status"], name="subscription_ws_status"),
            models.Index(fields=["workspace", "created"], name="subscription_ws_created"),
            models.Index(fields=["contact"], name="subscription_contact"),
        ]

    def __str__(self):
        return f"{self.plan_name or self.stripe_id} ({self.status})"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"
    VOID = "void", "Void"


class Invoice(StripeObject):
    """A Stripe invoice (one-off or for a subscription period)."""

    number = models.CharField(max_length=60, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices"
    )
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_invoices"
    )
    amount_due_minor = models.BigIntegerField(default=0)
    amount_paid_minor = models.BigIntegerField(default=0)
    currency = currency_field()
    status = models.CharField(max_length=15, choices=InvoiceStatus.choices)
    due_date = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["workspace", "stripe_id"], name="invoice_unique_stripe_id")]
        indexes = [
            models.Index(fields=["workspace", "created"], name="invoice_ws_created"),
            models.Index(fields=["workspace", "status", "due_date"], name="invoice_ws_status_due"),
            models.Index(fields=["workspace", "paid_at"], name="invoice_ws_paid_at"),
            models.Index(fields=["contact"], name="invoice_contact"),
        ]

    def __str__(self):
        return f"{self.number or self.stripe_id} ({self.status})"


class DisputeStatus(models.TextChoices):
    WARNING_NEEDS_RESPONSE = "warning_needs_response", "Warning: needs response"
    WARNING_UNDER_REVIEW = "warning_under_review", "Warning: under review"
    WARNING_CLOSED = "warning_closed", "Warning: closed"
    NEEDS_RESPONSE = "needs_response", "Needs response"
    UNDER_REVIEW = "under_review", "Under review"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    PREVENTED = "prevented", "Prevented"


class Dispute(StripeObject):
    """A chargeback against a payment."""

    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="disputes")
    charge_id = models.CharField(max_length=255, blank=True)
    amount_minor = models.BigIntegerField()
    currency = currency_field()
    reason = models.CharField(max_length=40, blank=True, help_text="fraudulent, product_not_received, …")
    status = models.CharField(max_length=25, choices=DisputeStatus.choices)
    evidence_due_by = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["workspace", "stripe_id"], name="dispute_unique_stripe_id")]
        indexes = [
            models.Index(fields=["workspace", "created"], name="dispute_ws_created"),
            models.Index(fields=["workspace", "status"], name="dispute_ws_status"),
        ]

    def __str__(self):
        return f"{self.stripe_id} {format_minor(self.amount_minor, self.currency)} ({self.status})"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_TRANSIT = "in_transit", "In transit"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class Payout(StripeObject):
    """Money Stripe sends from the balance to the bank account."""

    amount_minor = models.BigIntegerField()
    currency = currency_field()
    status = models.CharField(max_length=12, choices=PayoutStatus.choices)
    arrival_date = models.DateField(null=True, blank=True, help_text="Stripe's expected arrival day (UTC date)")
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["workspace", "stripe_id"], name="payout_unique_stripe_id")]
        indexes = [
            models.Index(fields=["workspace", "arrival_date"], name="payout_ws_arrival"),
            models.Index(fields=["workspace", "created"], name="payout_ws_created"),
        ]

    def __str__(self):
        return f"{self.stripe_id} {format_minor(self.amount_minor, self.currency)} ({self.status})"


class FraudSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class FraudStatus(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATING = "investigating", "Investigating"
    RESOLVED = "resolved", "Resolved"
    FALSE_POSITIVE = "false_positive", "False positive"


class FraudAlert(WorkspaceModel):
    """An anomaly found by Stripe forensics (card testing, refund abuse, payout change, …)."""

    CLOSED_STATUSES = frozenset({FraudStatus.RESOLVED, FraudStatus.FALSE_POSITIVE})

    rule = models.CharField(max_length=60, help_text="The forensics rule that raised it")
    severity = models.CharField(max_length=10, choices=FraudSeverity.choices, default=FraudSeverity.MEDIUM)
    status = models.CharField(max_length=15, choices=FraudStatus.choices, default=FraudStatus.OPEN)
    title = models.CharField(max_length=200)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="fraud_alerts"
    )
    evidence = models.JSONField(default=dict, blank=True)
    evidence_key = models.CharField(
        max_length=255, help_text="Identifies the evidence (e.g. sorted charge ids) so it never raises a second alert"
    )
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="fraud_alerts")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="fraud_alerts"
    )
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="fraud_alerts"
    )
    resolution_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "rule", "evidence_key"], name="fraudalert_unique_evidence")
        ]
        indexes = [
            models.Index(fields=["workspace", "status", "severity"], name="fraudalert_ws_status_sev"),
            models.Index(fields=["workspace", "created_at"], name="fraudalert_ws_created"),
            models.Index(fields=["assignee", "status"], name="fraudalert_assignee_status"),
        ]

    def __str__(self):
        return f"[{self.severity}] {self.title} ({self.status})"


class HubSpotEnrichment(WorkspaceModel):
    """What enrichment last wrote to a contact's HubSpot properties (finance.enrichment): a contact whose
    values are unchanged since is not sent again."""

    contact = models.OneToOneField("clients.Contact", on_delete=models.CASCADE, related_name="hubspot_enrichment")
    hubspot_id = models.CharField(max_length=40, help_text="The HubSpot contact the values were written to")
    lifetime_value_minor = models.BigIntegerField(help_text="Collected payments − refunds, workspace currency")
    currency = currency_field()
    last_payment_date = models.DateField(null=True, blank=True, help_text="Workspace-local day of the last payment")
    failed_payments = models.PositiveIntegerField()
    pushed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "pushed_at"], name="hsenrichment_ws_pushed")]

    def __str__(self):
        return f"{self.hubspot_id}: {format_minor(self.lifetime_value_minor, self.currency)}"
