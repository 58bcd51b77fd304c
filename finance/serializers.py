"""API representations of Stripe money (read-only): amounts in minor units as Stripe sends them, plus
the same amount as a decimal string in major units."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finance.models import THREE_DECIMAL, ZERO_DECIMAL, Payment
from ptd.api import ScopedModelSerializer


def minor_to_major(amount_minor: int | None, currency: str) -> str | None:
    """(12345, "AED") → "123.45"; zero- and three-decimal currencies ("JPY", "KWD") too."""
    if amount_minor is None:
        return None
    code = (currency or "").upper()
    places = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return f"{Decimal(amount_minor).scaleb(-places):.{places}f}"


class PaymentSerializer(ScopedModelSerializer):
    amount = serializers.SerializerMethodField(help_text="amount_minor in major units, as a decimal string")

    class Meta:
        model = Payment
        fields = [
            "id", "stripe_id", "payment_intent_id", "livemode", "created", "source_updated_at", "customer", "contact",
            "amount_minor", "currency", "amount", "status", "failure_code", "failure_message", "fee_minor",
            "net_minor", "amount_refunded_minor", "disputed", "card_brand", "card_country", "risk_level",
            "risk_score", "description", "is_demo",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "decimal", "example": "123.45"})
    def get_amount(self, payment: Payment) -> str | None:
        return minor_to_major(payment.amount_minor, payment.currency)
