"""Each contact's first collected Stripe payment (`Contact.first_paid_at`): attribution's conversion, after which a
contact's touches no longer earn credit (marketing.attribution). Kept like the first call (clients.first_times)."""

from clients.first_times import FirstTime
from finance.models import Payment

FIRST_PAYMENT = FirstTime(
    column="first_paid_at", table=Payment._meta.db_table, time="created",
    condition="s.status IN ({})".format(", ".join(f"'{status}'" for status in sorted(Payment.COLLECTED_STATUSES))),
    trigger="finance_first_payment")
