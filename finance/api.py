"""Read API of Stripe money: /api/payments/ (admins and viewers only; coaches and setters get 403)."""

from finance.models import Payment
from finance.serializers import PaymentSerializer
from ptd.api import ScopedReadOnlyViewSet


class PaymentViewSet(ScopedReadOnlyViewSet):
    """Stripe payments (charges, or payment intents without a charge yet)."""

    queryset = Payment.objects.order_by("-created", "-pk")
    serializer_class = PaymentSerializer
    updated_fields = ("source_updated_at", "created")
    # The linked contact's email, or the Stripe customer's (unmatched payments have no contact yet).
    email_fields = ("contact__email_normalized", "customer__email")
    date_field = "created"
