"""DealFunnel: one row per deal with when it first entered each funnel step — a rollup of DealStageHistory
that keeps the funnel pages fast at a million deals (a period's cohort is one index range). Rebuilt at 03:00
and refreshed for the changed deals whenever stage history is written (clients.funnel.deal_funnel_refresh);
tests hold it equal to the live computation from history."""

from django.db import models

from ptd.models import WorkspaceModel

STEP_FIELDS = ["lead_at", "booked_at", "held_at", "qualified_at", "package_selected_at", "payment_pending_at",
               "closed_won_at", "closed_lost_at"]


# The sales coach tracker sums these per owner over a period and six months: read from the index alone.
COVERED = {"held_at": ["owner"], "closed_lost_at": ["owner"], "closed_won_at": ["owner", "amount", "cash_collected"]}


class DealFunnel(WorkspaceModel):
    deal = models.OneToOneField("clients.Deal", on_delete=models.CASCADE, primary_key=True, related_name="funnel")
    # Rank of the deal's current stage in the funnel order (0 lead … 6 closed won), -1 closed lost, null unmapped.
    current_rank = models.SmallIntegerField(null=True)
    # Copies of the deal's columns the funnel measures group and sum by, so they read this table alone.
    deal_created_at = models.DateTimeField(null=True, help_text="The deal's creation time (cohort of conversion rate)")
    owner = models.ForeignKey("clients.Staff", null=True, on_delete=models.SET_NULL, related_name="+")
    # Whose deal: attribution and the ad funnel read a period's funnel rows with their contact's first touch,
    # without joining a million deals.
    contact = models.ForeignKey("clients.Contact", null=True, on_delete=models.SET_NULL, related_name="+")
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    cash_collected = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    lead_at = models.DateTimeField(null=True)
    booked_at = models.DateTimeField(null=True)
    held_at = models.DateTimeField(null=True)
    qualified_at = models.DateTimeField(null=True)
    package_selected_at = models.DateTimeField(null=True)
    payment_pending_at = models.DateTimeField(null=True)
    closed_won_at = models.DateTimeField(null=True)
    closed_lost_at = models.DateTimeField(null=True)

    ROLE_SCOPE = {"coach": "owner", "setter": "contact__owner"}

    class Meta:
        # Time first: a period's rows are one range whether the query filters the funnel's workspace (the daily
        # measures) or reaches the funnel through a join from deals (the setter and funnel selectors).
        indexes = [models.Index(fields=[f, "workspace"], name=f"dealfunnel_{f}", include=COVERED.get(f))
                   for f in [*STEP_FIELDS, "deal_created_at"]]

    def __str__(self):
        return f"funnel of deal {self.deal_id}"
