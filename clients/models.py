"""People and their journey: leads and clients, staff, deals, calls, appointments, packages,
training sessions, health scores, interventions, interactions, surveys and alerts."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper

from ptd.models import WorkspaceModel

MONEY = {"max_digits": 12, "decimal_places": 2}


class StaffKind(models.TextChoices):
    SETTER = "setter", "Setter"
    COACH = "coach", "Coach"
    ADMIN = "admin", "Admin"


class Staff(WorkspaceModel):
    """A HubSpot owner: a setter who calls leads or a coach who runs sessions and closes assessments."""

    hubspot_owner_id = models.CharField(max_length=40, null=True, blank=True)
    name = models.CharField(max_length=120)
    email = models.EmailField(blank=True)
    kind = models.CharField(max_length=10, choices=StaffKind.choices)
    is_active = models.BooleanField(default=True)
    monthly_target = models.DecimalField(**MONEY, null=True, blank=True, help_text="AED of won deals a month")

    ROLE_SCOPE = {"coach": "pk", "setter": "pk"}

    class Meta:
        verbose_name_plural = "staff"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "hubspot_owner_id"], name="staff_unique_owner_id")
        ]
        indexes = [models.Index(fields=["workspace", "kind"])]

    def __str__(self):
        return f"{self.name} ({self.kind})"


class Contact(WorkspaceModel):
    """A person from first touch (lead) to client; identity by email, then E.164 phone, then source ids."""

    hubspot_id = models.CharField(max_length=40, null=True, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True, db_index=True)
    phone_e164 = models.CharField(max_length=20, blank=True, db_index=True)
    first_name = models.CharField(max_length=80, blank=True)
    last_name = models.CharField(max_length=80, blank=True)
    lifecycle_stage = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(db_index=True, help_text="When the source first saw this person")
    updated_at = models.DateTimeField(null=True, blank=True, help_text="Source last-modified time")
    owner = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_contacts")
    first_call_at = models.DateTimeField(null=True, blank=True, editable=False,
                                         help_text="First outbound or answered call (kept by clients.first_times)")
    coach = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="coached_contacts")
    # First-touch attribution
    source = models.CharField(max_length=60, blank=True)
    utm_source = models.CharField(max_length=120, blank=True)
    utm_medium = models.CharField(max_length=120, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    fbclid = models.CharField(max_length=255, blank=True)
    fbc = models.CharField(max_length=255, blank=True)
    fb_campaign_id = models.CharField(max_length=40, blank=True, db_index=True)
    fb_adset_id = models.CharField(max_length=40, blank=True)
    fb_ad_id = models.CharField(max_length=40, blank=True, db_index=True)
    # The earliest paid touch of any source (kept by marketing.first_touch): first-touch attribution reads it
    # instead of every contact's AnyTrack events.
    first_touch_at = models.DateTimeField(null=True, blank=True, editable=False,
                                          help_text="Earliest paid touch (kept by marketing.first_touch)")
    first_touch_ad_id = models.CharField(max_length=40, blank=True, default="", editable=False)
    first_touch_adset_id = models.CharField(max_length=40, blank=True, default="", editable=False)
    first_touch_campaign_id = models.CharField(max_length=40, blank=True, default="", editable=False)
    first_paid_at = models.DateTimeField(null=True, blank=True, editable=False,
                                         help_text="First collected Stripe payment (kept by finance.first_payment): "
                                                   "the conversion after which touches no longer count")

    ROLE_SCOPE = {"coach": "coach", "setter": "owner"}
    PII_FIELDS = ("email_normalized", "phone_e164", "first_name", "last_name")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["workspace", "hubspot_id"], name="contact_unique_hubspot_id")]
        indexes = [
            models.Index(fields=["workspace", "owner"]),
            models.Index(fields=["workspace", "coach"]),
            models.Index(fields=["workspace", "email_normalized"]),
            models.Index(fields=["workspace", "phone_e164"]),
            # Client search matches any part of a name, email or phone (`icontains` is UPPER(col) LIKE
            # UPPER('%term%')): trigram indexes answer it without reading a million contacts.
            *(GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=f"contact_{field}_trgm")
              for field in ("first_name", "last_name", "email_normalized")),
            GinIndex(OpClass("phone_e164", name="gin_trgm_ops"), name="contact_phone_e164_trgm"),
            # First-touch attribution reads a month's paying contacts' first touches from the index alone.
            models.Index(fields=["id"], include=["first_touch_at", "first_touch_ad_id", "first_touch_adset_id",
                                                 "first_touch_campaign_id", "first_paid_at"],
                         condition=models.Q(first_touch_at__isnull=False), name="contact_first_touch"),
            # A period's leads, with what attribution and speed to lead read of them from the index alone (the
            # money map's month of leads at 100,000 clients: ~40 ms less).
            models.Index(fields=["workspace", "created_at"],
                         include=["owner", "first_call_at", "first_touch_at", "first_touch_ad_id",
                                  "first_touch_adset_id", "first_touch_campaign_id", "first_paid_at"],
                         name="contact_created_cover"),
            # The contacts whose money attribution credits (touched by an ad by their first payment): a tenth of
            # the contacts, hashed whole rather than looked up payment by payment.
            models.Index(fields=["id"], include=["first_touch_at", "first_touch_ad_id", "first_touch_adset_id",
                                                 "first_touch_campaign_id", "first_paid_at"],
                         condition=models.Q(first_touch_at__lte=models.F("first_paid_at")), name="contact_ad_paid"),
        ]

    def __str__(self):
        return self.full_name or self.email_normalized or self.phone_e164 or f"contact {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class FunnelStep(models.TextChoices):
    LEAD = "lead", "Lead"
    BOOKED = "booked", "Assessment booked"
    HELD = "held", "Assessment held"
    QUALIFIED = "qualified", "Qualified"
    PACKAGE_SELECTED = "package_selected", "Package selected"
    PAYMENT_PENDING = "payment_pending", "Payment pending"
    CLOSED_WON = "closed_won", "Closed won"
    CLOSED_LOST = "closed_lost", "Closed lost"


class PipelineStage(WorkspaceModel):
    """Maps a HubSpot deal stage id (a string, never cast) to a step of our funnel."""

    pipeline = models.CharField(max_length=40, default="default")
    stage_id = models.CharField(max_length=60)
    label = models.CharField(max_length=120)
    funnel_step = models.CharField(max_length=20, choices=FunnelStep.choices)
    display_order = models.PositiveSmallIntegerField(default=0)

    ROLE_SCOPE_ALL = frozenset({"admin", "viewer", "coach", "setter"})

    class Meta:
        ordering = ["pipeline", "display_order"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "pipeline", "stage_id"], name="pipelinestage_unique_stage")
        ]

    def __str__(self):
        return f"{self.label} [{self.stage_id}] → {self.get_funnel_step_display()}"


class Deal(WorkspaceModel):
    hubspot_id = models.CharField(max_length=40, null=True, blank=True)
    name = models.CharField(max_length=200, blank=True)
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals")
    owner = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals")
    pipeline = models.CharField(max_length=40, default="default")
    stage_id = models.CharField(max_length=60, db_index=True)
    amount = models.DecimalField(**MONEY, null=True, blank=True, help_text="AED")
    cash_collected = models.DecimalField(**MONEY, default=0, help_text="AED")
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    close_date = models.DateTimeField(null=True, blank=True, db_index=True)
    closed_lost_reason = models.CharField(max_length=200, blank=True)

    ROLE_SCOPE = {"coach": "owner", "setter": "contact__owner"}

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "hubspot_id"], name="deal_unique_hubspot_id"),
            models.CheckConstraint(condition=models.Q(cash_collected__gte=0), name="deal_cash_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["workspace", "stage_id"]),
            models.Index(fields=["workspace", "owner", "created_at"]),
            models.Index(fields=["workspace", "close_date"]),
        ]

    def __str__(self):
        return self.name or f"deal {self.hubspot_id or self.pk}"


class DealStageHistory(WorkspaceModel):
    """When a deal entered each stage: stage volumes and cohort conversions are computed from this."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_history")
    stage_id = models.CharField(max_length=60)
    entered_at = models.DateTimeField()

    ROLE_SCOPE = {"coach": "deal__owner", "setter": "deal__contact__owner"}

    class Meta:
        verbose_name_plural = "deal stage history"
        ordering = ["deal", "entered_at"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "stage_id"], name="dealstage_unique_entry")
        ]
        indexes = [models.Index(fields=["workspace", "stage_id", "entered_at"])]

    def __str__(self):
        return f"{self.deal} entered {self.stage_id} at {self.entered_at:%Y-%m-%d %H:%M}"


class CallDirection(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    INBOUND = "inbound", "Inbound"


class CallOutcome(models.TextChoices):
    ANSWERED = "answered", "Answered"
    MISSED = "missed", "Missed"
    BUSY = "busy", "Busy"
    VOICEMAIL = "voicemail", "Voicemail"
    FAILED = "failed", "Failed"


class Call(WorkspaceModel):
    source = models.CharField(max_length=20, default="callgear")
    source_id = models.CharField(max_length=60, help_text="CallGear session id or HubSpot call id")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    direction = models.CharField(max_length=10, choices=CallDirection.choices, default=CallDirection.OUTBOUND)
    contact_phone_e164 = models.CharField(max_length=20, blank=True, help_text="The other party, for matching")
    started_at = models.DateTimeField()
    talk_seconds = models.PositiveIntegerField(default=0)
    wait_seconds = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=CallOutcome.choices)
    recording_url = models.URLField(max_length=500, blank=True)

    ROLE_SCOPE = {"setter": "staff", "coach": "contact__coach"}

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "source", "source_id"], name="call_unique_source_id")
        ]
        indexes = [
            models.Index(fields=["workspace", "started_at"]),
            models.Index(fields=["workspace", "staff", "started_at"]),
            models.Index(fields=["workspace", "contact", "started_at"]),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} call {self.started_at:%Y-%m-%d %H:%M} ({self.outcome})"


class AppointmentKind(models.TextChoices):
    ASSESSMENT = "assessment", "Assessment"
    SESSION = "session", "Session"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    HELD = "held", "Held"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


class Appointment(WorkspaceModel):
    source = models.CharField(max_length=20, default="hubspot")
    source_id = models.CharField(max_length=60)
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments")
    booked_by = models.ForeignKey(
        Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="booked_appointments"
    )
    kind = models.CharField(max_length=12, choices=AppointmentKind.choices, default=AppointmentKind.ASSESSMENT)
    booked_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)

    ROLE_SCOPE = {"coach": "staff", "setter": "booked_by"}

    class Meta:
        ordering = ["-scheduled_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "source", "source_id"], name="appointment_unique_source_id")
        ]
        indexes = [
            models.Index(fields=["workspace", "scheduled_at"]),
            models.Index(fields=["workspace", "staff", "scheduled_at"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.scheduled_at:%Y-%m-%d %H:%M} ({self.status})"


class Package(WorkspaceModel):
    source_id = models.CharField(max_length=60, null=True, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="packages")
    name = models.CharField(max_length=120, blank=True)
    sessions_purchased = models.PositiveIntegerField()
    sessions_used = models.PositiveIntegerField(default=0)
    value = models.DecimalField(**MONEY, help_text="AED")
    starts_on = models.DateField()
    expires_on = models.DateField()

    ROLE_SCOPE = {"coach": "contact__coach"}

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "source_id"], name="package_unique_source_id"),
            models.CheckConstraint(
                condition=models.Q(sessions_used__lte=models.F("sessions_purchased")), name="package_used_le_purchased"
            ),
            models.CheckConstraint(condition=models.Q(expires_on__gte=models.F("starts_on")), name="package_dates_order"),
        ]
        indexes = [
            # Covering: the members in force at a day (and their remaining value) are read from the index alone.
            models.Index(fields=["workspace", "expires_on"],
                         include=["starts_on", "sessions_used", "sessions_purchased", "contact", "value"],
                         name="package_ws_expires_cover"),
            models.Index(fields=["contact", "starts_on"]),
        ]

    def __str__(self):
        return f"{self.name or 'Package'} · {self.sessions_used}/{self.sessions_purchased} sessions"

    @property
    def sessions_remaining(self) -> int:
        return self.sessions_purchased - self.sessions_used


class MemberSpan(WorkspaceModel):
    """Days a contact is a member — a package in date with sessions remaining, or an active/trialing Stripe
    subscription from its creation day on — cut wherever the packages in date change, so each span has one remaining
    package value (Σ value × sessions left ÷ sessions bought, today's counts). A rollup of packages and subscriptions
    kept by statement triggers (clients.membership): "the members at day D" is one index range with no duplicates,
    where the packages and subscriptions in force had to be merged and made distinct (80,000 ids sorted per period at
    100,000 clients)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="Last day; 9999-12-31 while a subscription lasts")
    remaining = models.DecimalField(max_digits=18, decimal_places=6, help_text="AED left on the packages in date")
    subscribed = models.BooleanField(help_text="A subscription covers the span (setters see members through these)")

    ROLE_SCOPE = {"coach": "contact__coach"}

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "starts_on"], name="memberspan_unique")]
        indexes = [models.Index(fields=["workspace", "ends_on"], include=["starts_on", "contact", "remaining",
                                                                           "subscribed"], name="memberspan_ws_ends")]


class PeriodMemberFigures(models.Model):
    """The member figures of a reporting period (clients.metrics: active members, those who trained, average health,
    at-risk revenue), workspace-wide, stored for the named periods of today and their priors (clients.member_periods)
    so a page reads them instead of joining 80,000 members to their scores and sessions twice. Derived rows, kept
    exact by RollupDirty like DailyRollup: a mark under one of the figures' sources on a day up to the period's last
    day makes the stored row stale, and readers compute it live until rollups_refresh stores it again."""

    workspace = models.ForeignKey("ptd.Workspace", on_delete=models.CASCADE, related_name="+")
    first_day = models.DateField()
    last_day = models.DateField()
    members = models.IntegerField()
    trained = models.IntegerField()
    avg_health = models.DecimalField(max_digits=5, decimal_places=1, null=True)
    at_risk_revenue = models.DecimalField(max_digits=16, decimal_places=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "first_day", "last_day"],
                                               name="periodmemberfigures_unique")]


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ATTENDED = "attended", "Attended"
    NO_SHOW = "no_show", "No-show"
    LATE_CANCEL = "late_cancel", "Late cancel"
    CANCELLED = "cancelled", "Cancelled"


class TrainingSession(WorkspaceModel):
    """A session from the "AWS truth" sessions feed (REST endpoint and CSV import)."""

    source_id = models.CharField(max_length=60)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="training_sessions")
    coach = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_sessions")
    package = models.ForeignKey(Package, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_sessions")
    starts_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=SessionStatus.choices)

    ROLE_SCOPE = {"coach": "contact__coach"}

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "source_id"], name="trainingsession_unique_source_id")
        ]
        indexes = [
            models.Index(fields=["workspace", "starts_at"]),
            models.Index(fields=["contact", "starts_at"]),
            models.Index(fields=["workspace", "coach", "starts_at"]),
            # Who trained in a period and was not paid (trained but unpaid): read from the index alone.
            models.Index(fields=["workspace", "starts_at"], include=["contact"], condition=models.Q(status="attended"),
                         name="session_attended_ws_starts"),
        ]

    def __str__(self):
        return f"Session {self.starts_at:%Y-%m-%d %H:%M} ({self.status})"


class AttendedMonth(WorkspaceModel):
    """The local days of a month on which a client attended a session, as bits (bit d − 1 for day d): a rollup of
    TrainingSession kept by statement triggers (clients.attendance), so "who trained in a period" reads one row per
    client and month instead of every session (a month at 100,000 clients is 500,000 sessions, 70,000 rows here)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField(help_text="First day of the month, in the workspace's time zone")
    days = models.IntegerField(help_text="Bit d − 1 set: attended on day d")

    ROLE_SCOPE = {"coach": "contact__coach"}

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "month"], name="attendedmonth_unique")]
        indexes = [models.Index(fields=["workspace", "month"], include=["contact", "days"],
                                name="attendedmonth_ws_month")]


class Zone(models.TextChoices):
    PURPLE = "purple", "Purple"
    GREEN = "green", "Green"
    YELLOW = "yellow", "Yellow"
    RED = "red", "Red"


class Trend(models.TextChoices):
    IMPROVING = "improving", "Improving"
    STABLE = "stable", "Stable"
    DECLINING = "declining", "Declining"


class HealthConfig(WorkspaceModel):
    """Dimension weights and zone bands of the health score (one row per workspace)."""

    weight_engagement = models.DecimalField(max_digits=4, decimal_places=2, default=0.30)
    weight_financial = models.DecimalField(max_digits=4, decimal_places=2, default=0.20)
    weight_relationship = models.DecimalField(max_digits=4, decimal_places=2, default=0.15)
    weight_package_health = models.DecimalField(max_digits=4, decimal_places=2, default=0.20)
    weight_momentum = models.DecimalField(max_digits=4, decimal_places=2, default=0.15)
    purple_min = models.PositiveSmallIntegerField(default=85)
    green_min = models.PositiveSmallIntegerField(default=70)
    yellow_min = models.PositiveSmallIntegerField(default=50)

    class Meta:
        verbose_name = "health weights and zone bands"
        verbose_name_plural = "health weights and zone bands"
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="healthconfig_one_per_workspace"),
            models.CheckConstraint(
                condition=models.Q(purple_min__gt=models.F("green_min"), green_min__gt=models.F("yellow_min"),
                                   purple_min__lte=100),
                name="healthconfig_bands_ordered",
            ),
        ]

    def __str__(self):
        return f"Health weights and bands · {self.workspace.slug}"


class HealthScore(WorkspaceModel):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="health_scores")
    date = models.DateField()
    total = models.DecimalField(max_digits=5, decimal_places=2)
    engagement = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    financial = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    relationship = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    package_health = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    momentum = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    zone = models.CharField(max_length=6, choices=Zone.choices)
    churn_risk = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    churn_risk_source = models.CharField(max_length=20, blank=True, help_text="model version or 'rule-based'")
    trend = models.CharField(max_length=10, choices=Trend.choices, default=Trend.STABLE)
    week_over_week = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    model_version = models.CharField(max_length=40, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    ROLE_SCOPE = {"coach": "contact__coach"}

    class Meta:
        ordering = ["-date"]
        constraints = [models.UniqueConstraint(fields=["contact", "date"], name="healthscore_unique_contact_date")]
        indexes = [
            # Covering: a day's scores (zone counts, the members' average health and zones, the day's zone changes
            # ranked by churn risk) read from the index alone.
            models.Index(fields=["workspace", "date", "zone"], include=["contact", "total", "churn_risk", "id"],
                         name="healthscore_ws_day_cover"),
            models.Index(fields=["contact", "-date"]),
        ]

    def __str__(self):
        return f"{self.contact_id} {self.date}: {self.total} ({self.zone})"


class InterventionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    DISMISSED = "dismissed", "Dismissed"


class Priority(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class Intervention(WorkspaceModel):
    KINDS = [
        ("proactive_checkin", "Proactive check-in"),
        ("re_engagement", "Re-engagement"),
        ("upgrade_opportunity", "Upgrade opportunity"),
        ("coach_reassignment", "Coach reassignment"),
        ("special_promotion", "Special promotion"),
        ("emergency", "Emergency intervention"),
    ]
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="interventions")
    kind = models.CharField(max_length=24, choices=KINDS)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=12, choices=InterventionStatus.choices, default=InterventionStatus.OPEN)
    assigned_to = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="interventions")
    trigger = models.CharField(max_length=200, blank=True)
    root_cause = models.TextField(blank=True)
    recommended_action = models.TextField(blank=True)
    message_draft = models.TextField(blank=True)
    success_probability = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    priority_score = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True,
                                         help_text="urgency × revenue at risk (AED): the queue's order within a priority")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    due_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    outcome_notes = models.TextField(blank=True)
    health_delta_7d = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    health_delta_30d = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    sessions_recovered = models.IntegerField(null=True, blank=True)
    revenue_protected = models.DecimalField(**MONEY, null=True, blank=True)

    ROLE_SCOPE = {"coach": "assigned_to"}

    class Meta:
        ordering = ["status", "-created_at"]
        constraints = [
            # Never two open interventions of the same kind for one client.
            models.UniqueConstraint(fields=["contact", "kind"], condition=models.Q(status__in=["open", "in_progress"]),
                                    name="intervention_one_open_per_kind"),
        ]
        indexes = [
            models.Index(fields=["workspace", "status", "priority"]),
            models.Index(fields=["workspace", "assigned_to", "status"]),
            models.Index(fields=["workspace", "status", "-priority_score"], name="intervention_queue"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.contact_id} ({self.status})"


class Sentiment(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"


class Interaction(WorkspaceModel):
    """A touchpoint with a client (message, call note, email, in-person) with its sentiment."""

    CHANNELS = [("whatsapp", "WhatsApp"), ("call", "Call"), ("email", "Email"), ("in_person", "In person"),
                ("sms", "SMS"), ("note", "Note")]
    source_id = models.CharField(max_length=60, null=True, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="interactions")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="interactions")
    channel = models.CharField(max_length=12, choices=CHANNELS)
    direction = models.CharField(max_length=10, choices=CallDirection.choices, default=CallDirection.OUTBOUND)
    occurred_at = models.DateTimeField()
    summary = models.TextField(blank=True)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    sentiment_score = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True, help_text="−1 … 1")
    response_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Client's time to reply")

    ROLE_SCOPE = {"coach": "contact__coach"}

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [models.UniqueConstraint(fields=["workspace", "source_id"], name="interaction_unique_source_id")]
        indexes = [models.Index(fields=["contact", "-occurred_at"]), models.Index(fields=["workspace", "occurred_at"])]

    def __str__(self):
        return f"{self.get_channel_display()} {self.occurred_at:%Y-%m-%d} ({self.sentiment or 'unscored'})"


class Survey(WorkspaceModel):
    KINDS = [("nps", "NPS (0–10)"), ("csat", "CSAT (1–5)"), ("custom", "Custom")]
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=KINDS, default="nps")
    question = models.CharField(max_length=300)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    ROLE_SCOPE_ALL = frozenset({"admin", "viewer", "coach"})

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SurveyResponse(WorkspaceModel):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="survey_responses")
    score = models.SmallIntegerField()
    comment = models.TextField(blank=True)
    responded_at = models.DateTimeField()

    ROLE_SCOPE = {"coach": "contact__coach"}

    class Meta:
        ordering = ["-responded_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(score__gte=0, score__lte=10), name="surveyresponse_score_range")
        ]
        indexes = [models.Index(fields=["contact", "-responded_at"])]

    def __str__(self):
        return f"{self.survey} · {self.score}"


class Alert(WorkspaceModel):
    """A notification raised for a person to act on (zone drop, SLA breach, failed payment, …)."""

    SEVERITIES = [("info", "Info"), ("warning", "Warning"), ("critical", "Critical")]
    kind = models.CharField(max_length=40)
    severity = models.CharField(max_length=10, choices=SEVERITIES, default="warning")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    ROLE_SCOPE = {"coach": "staff", "setter": "staff"}

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "resolved_at", "severity"])]

    def __str__(self):
        return self.title


from clients.models_coach import CoachSnapshot  # noqa: E402,F401
from clients.models_funnel import DealFunnel  # noqa: E402,F401
