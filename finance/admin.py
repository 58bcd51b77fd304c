from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone

from finance.models import (Customer, Dispute, FraudAlert, Invoice, Payment, Payout, Refund, StripeEvent, Subscription,
                            format_minor)
from ptd.admin_base import MatchedFilter, ReadOnlyWorkspaceAdmin, WorkspaceAdmin, admin_workspace_ids
from ptd.models import Role

# Everything but fraud alerts mirrors Stripe and is written by ingestion only: read-only here.


def money(field: str, description: str):
    """A list column showing a minor-unit amount in its currency (12345 → AED 123.45)."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        value = getattr(obj, field)
        return None if value is None else format_minor(value, obj.currency)

    return column


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created", "type", "event_id", "status", "attempts", "livemode", "received_at", "processed_at",
                    "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "livemode", "type"]
    search_fields = ["=event_id", "type", "last_error"]
    date_hierarchy = "created"
    list_select_related = ["workspace"]
    readonly_fields = ["payload"]
    show_full_result_count = False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["stripe_id", "name", "email", "contact", "lifetime_value", "deleted", "livemode", "created",
                    "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", MatchedFilter, "deleted", "livemode"]
    search_fields = ["=stripe_id", "email", "phone_e164", "name", "contact__email_normalized"]
    date_hierarchy = "created"
    list_select_related = ["workspace", "contact"]
    raw_id_fields = ["contact"]

    lifetime_value = money("lifetime_value_minor", "lifetime value")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created", "stripe_id", "amount", "status", "refunded", "disputed", "customer", "contact",
                    "risk_level", "livemode", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", MatchedFilter, "status", "disputed", "livemode", "currency", "risk_level"]
    search_fields = ["=stripe_id", "=payment_intent_id", "=card_fingerprint", "=card_last4", "customer__email",
                     "email", "contact__email_normalized", "description", "failure_code"]
    date_hierarchy = "created"
    list_select_related = ["workspace", "customer", "contact"]
    raw_id_fields = ["customer", "contact", "deal"]
    show_full_result_count = False

    amount = money("amount_minor", "amount")
    refunded = money("amount_refunded_minor", "refunded")


@admin.register(Refund)
class RefundAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created", "stripe_id", "amount", "status", "reason", "payment", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "reason"]
    search_fields = ["=stripe_id", "=charge_id", "payment__stripe_id"]
    date_hierarchy = "created"
    list_select_related = ["workspace", "payment"]
    raw_id_fields = ["payment"]

    amount = money("amount_minor", "amount")


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created", "stripe_id", "number", "customer", "contact", "amount_due", "amount_paid", "status",
                    "due_date", "paid_at", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status"]
    search_fields = ["=stripe_id", "number", "customer__email", "contact__email_normalized"]
    date_hierarchy = "created"
    list_select_related = ["workspace", "customer", "contact"]
    raw_id_fields = ["customer", "subscription", "contact"]

    amount_due = money("amount_due_minor", "amount due")
    amount_paid = money("amount_paid_minor", "amount paid")


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created", "stripe_id", "plan_name", "customer", "contact", "status", "amount", "interval",
                    "interval_count", "current_period_end", "cancel_at_period_end", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "interval", "cancel_at_period_end"]
    search_fields = ["=stripe_id", "plan_name", "=price_id", "customer__email", "contact__email_normalized"]
    date_hierarchy = "created"
    list_select_related = ["workspace", "customer", "contact"]
    raw_id_fields = ["customer", "contact"]

    amount = money("amount_minor", "amount per interval")


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created", "stripe_id", "amount", "reason", "status", "evidence_due_by", "payment", "workspace",
                    "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "reason"]
    search_fields = ["=stripe_id", "=charge_id", "payment__stripe_id"]
    date_hierarchy = "created"
    list_select_related = ["workspace", "payment"]
    raw_id_fields = ["payment"]

    amount = money("amount_minor", "amount")


@admin.register(Payout)
class PayoutAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["arrival_date", "stripe_id", "amount", "status", "failure_code", "created", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status"]
    search_fields = ["=stripe_id", "failure_code"]
    date_hierarchy = "arrival_date"
    list_select_related = ["workspace"]

    amount = money("amount_minor", "amount")


@admin.register(FraudAlert)
class FraudAlertAdmin(WorkspaceAdmin):
    """Forensics raises alerts; people triage them (status, assignee, note) — in the list or the form."""

    list_display = ["title", "rule", "severity", "status", "assignee", "payment", "customer", "contact", "created_at",
                    "resolved_at", "workspace", "is_demo"]
    list_display_links = ["title"]
    list_editable = ["status", "assignee"]
    list_filter = ["workspace", "is_demo", "status", "severity", "rule"]
    search_fields = ["title", "rule", "evidence_key", "payment__stripe_id", "customer__email",
                     "contact__email_normalized"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace", "assignee", "payment", "customer", "contact"]
    readonly_fields = ["workspace", "rule", "evidence_key", "evidence", "payment", "customer", "contact",
                       "created_at", "resolved_at"]
    fields = ["workspace", "rule", "title", "severity", "status", "assignee", "resolution_note", "evidence_key",
              "evidence", "payment", "customer", "contact", "created_at", "resolved_at"]

    def has_add_permission(self, request):
        return False  # only forensics raises alerts

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            # Finance is admin-only, so an alert goes to an admin of a workspace this person administers.
            kwargs["queryset"] = get_user_model().objects.filter(
                is_active=True, memberships__role=Role.ADMIN,
                memberships__workspace_id__in=admin_workspace_ids(request.user),
            ).distinct().order_by("username")
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "assignee" and field is not None:
            # Evaluate the choices once per request, not once per list_editable row.
            if not hasattr(request, "_fraud_assignee_choices"):
                request._fraud_assignee_choices = list(field.choices)
            field.choices = request._fraud_assignee_choices
        return field

    def save_model(self, request, obj, form, change):
        if obj.status in FraudAlert.CLOSED_STATUSES:
            obj.resolved_at = obj.resolved_at or timezone.now()
        else:
            obj.resolved_at = None
        obj._actor = request.user  # recorded in the audit log by ptd.signals when it tracks this model
        super().save_model(request, obj, form, change)
