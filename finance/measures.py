"""Daily measures of the finance app (ptd.rollups): collected payments and refunds in AED minor units, the parts
of net revenue and lifetime revenue, and the failed payment attempts and disputes opened each day (finance.metrics)."""

from django.db.models import Q

from finance.models import Dispute, Payment, PaymentStatus, Refund
from ptd.rollups import measure

measure("collected_minor", model=Payment, day="created", total="amount_minor",
        where=lambda: Q(status__in=Payment.COLLECTED_STATUSES, currency="AED"))
measure("refunded_minor", model=Refund, day="created", total="amount_minor",
        where=lambda: Q(status="succeeded", currency="AED"))
# Attempts, whatever the currency: a declined card is a failure in any currency.
measure("failed_payments", model=Payment, day="created", where=lambda: Q(status=PaymentStatus.FAILED))
measure("disputes_opened", model=Dispute, day="created")
