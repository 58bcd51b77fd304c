"""Daily measures of the finance app (ptd.rollups): collected payments and refunds in AED minor units, the parts
of net revenue and lifetime revenue (finance.metrics)."""

from django.db.models import Q

from finance.models import Payment, Refund
from ptd.rollups import measure

measure("collected_minor", model=Payment, day="created", total="amount_minor",
        where=lambda: Q(status__in=Payment.COLLECTED_STATUSES, currency="AED"))
measure("refunded_minor", model=Refund, day="created", total="amount_minor",
        where=lambda: Q(status="succeeded", currency="AED"))
