"""Coach performance: one snapshot per coach per day (seed 001 §5), built set-based by
clients.coach_performance from that day's health scores, packages, sessions and interventions, so that
leaderboards, trends and red flags are cheap reads of a few small rows."""

from django.db import models

from ptd.models import WorkspaceModel

MONEY = {"max_digits": 12, "decimal_places": 2}
SCORE = {"max_digits": 5, "decimal_places": 2}


class CoachSnapshot(WorkspaceModel):
    """What one coach's portfolio looked like on one day. See clients.coach_performance for every definition
    (active and churned clients, at-risk revenue, intervention success) and the performance score formula."""

    coach = models.ForeignKey("clients.Staff", on_delete=models.CASCADE, related_name="coach_snapshots")
    date = models.DateField()
    # portfolio
    active_clients = models.PositiveIntegerField(default=0)
    zone_purple = models.PositiveIntegerField(default=0)
    zone_green = models.PositiveIntegerField(default=0)
    zone_yellow = models.PositiveIntegerField(default=0)
    zone_red = models.PositiveIntegerField(default=0)
    avg_health = models.DecimalField(**SCORE, null=True, blank=True, help_text="mean total of active clients")
    health_stddev = models.DecimalField(**SCORE, null=True, blank=True, help_text="population standard deviation")
    avg_churn_risk = models.DecimalField(**SCORE, null=True, blank=True)
    improving = models.PositiveIntegerField(default=0)
    declining = models.PositiveIntegerField(default=0)
    sessions_per_client_28d = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True,
                                                  help_text="attended sessions in 28 days per active client")
    at_risk_revenue = models.DecimalField(**MONEY, default=0,
                                          help_text="AED: package value remaining of active clients in yellow/red")
    churned_clients = models.PositiveIntegerField(default=0, help_text="lost in the last 30 days")
    # interventions led by the coach (assigned to them), completed in the last 90 days
    interventions_done = models.PositiveIntegerField(default=0)
    interventions_measured = models.PositiveIntegerField(default=0, help_text="done, with a 30-day health delta")
    interventions_successful = models.PositiveIntegerField(default=0, help_text="positive 30-day health delta")
    intervention_success_rate = models.DecimalField(**SCORE, null=True, blank=True,
                                                    help_text="% of measured interventions that succeeded")
    # ranking
    performance_score = models.DecimalField(**SCORE, null=True, blank=True, help_text="0–100 composite")
    score_parts = models.JSONField(default=dict, blank=True, help_text="each part 0–100 and its effective weight")
    rank = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 = best that day")
    rank_change = models.SmallIntegerField(null=True, blank=True,
                                           help_text="places gained since 7 days earlier (negative: lost)")
    red_flags = models.JSONField(default=list, blank=True)
    best_clients = models.JSONField(default=list, blank=True)
    worst_clients = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    ROLE_SCOPE = {"coach": "coach"}

    class Meta:
        app_label = "clients"
        ordering = ["-date", "rank"]
        constraints = [models.UniqueConstraint(fields=["coach", "date"], name="coachsnapshot_unique_coach_date")]
        indexes = [models.Index(fields=["workspace", "date", "rank"])]

    def __str__(self):
        return f"{self.coach_id} {self.date}: score {self.performance_score} (rank {self.rank})"

    @property
    def zone_counts(self) -> dict[str, int]:
        return {"purple": self.zone_purple, "green": self.zone_green, "yellow": self.zone_yellow,
                "red": self.zone_red}
