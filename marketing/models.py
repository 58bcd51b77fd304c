"""Marketing: Meta ad structure and daily insights, AnyTrack attribution events, Meta Conversions API
outbound (events, batches, mappings, schedule) and first-party site tracking (visitors, sessions,
events, daily stats, funnels).

Money is AED as Decimal; currency codes are stored upper-case ISO 4217 ("AED")."""

from django.db import models
from django.utils import timezone

from ptd.models import Mode, WorkspaceModel

MONEY = {"max_digits": 12, "decimal_places": 2}
# Meta returns rates with more precision than money: keep 4 places so CPC/CTR round-trip.
RATE = {"max_digits": 12, "decimal_places": 4, "null": True, "blank": True}
CONTACT_SCOPE = {"coach": "contact__coach", "setter": "contact__owner"}


class MetaStatus(models.TextChoices):
    """The configured status of a campaign, ad set or ad, stored verbatim as Meta sends it."""

    ACTIVE = "ACTIVE", "Active"
    PAUSED = "PAUSED", "Paused"
    DELETED = "DELETED", "Deleted"
    ARCHIVED = "ARCHIVED", "Archived"


class UtmFields(models.Model):
    """The five UTM parameters, shared by every model that records a landing."""

    utm_source = models.CharField(max_length=120, blank=True)
    utm_medium = models.CharField(max_length=120, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True


# --- Meta ad structure and insights --------------------------------------------------------------


class Campaign(WorkspaceModel):
    """A Meta ad campaign."""

    meta_id = models.CharField(max_length=40)
    account_id = models.CharField(max_length=40, blank=True, help_text="Ad account id without the act_ prefix")
    name = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=MetaStatus.choices, default=MetaStatus.ACTIVE)
    effective_status = models.CharField(max_length=40, blank=True, help_text="Meta's effective_status, verbatim")
    objective = models.CharField(max_length=40, blank=True, help_text="e.g. OUTCOME_LEADS, OUTCOME_SALES")
    daily_budget = models.DecimalField(**MONEY, null=True, blank=True, help_text="AED (Meta sends minor units)")
    lifetime_budget = models.DecimalField(**MONEY, null=True, blank=True, help_text="AED")
    created_time = models.DateTimeField(null=True, blank=True, help_text="Source creation time")
    start_time = models.DateTimeField(null=True, blank=True)
    stop_time = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "meta_id"], name="campaign_unique_meta_id")]
        indexes = [models.Index(fields=["workspace", "status"], name="campaign_ws_status")]

    def __str__(self):
        return self.name or f"campaign {self.meta_id}"


class AdSet(WorkspaceModel):
    """A Meta ad set: targeting and (without campaign budget optimisation) the budget."""

    meta_id = models.CharField(max_length=40)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="adsets")
    name = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=MetaStatus.choices, default=MetaStatus.ACTIVE)
    effective_status = models.CharField(max_length=40, blank=True)
    optimization_goal = models.CharField(max_length=40, blank=True)
    daily_budget = models.DecimalField(**MONEY, null=True, blank=True, help_text="AED")
    lifetime_budget = models.DecimalField(**MONEY, null=True, blank=True, help_text="AED")
    created_time = models.DateTimeField(null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ad set"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "meta_id"], name="adset_unique_meta_id")]
        indexes = [models.Index(fields=["workspace", "status"], name="adset_ws_status")]

    def __str__(self):
        return self.name or f"ad set {self.meta_id}"


class Ad(WorkspaceModel):
    """A Meta ad: the unit insights, attribution and leads are joined on (by meta_id)."""

    meta_id = models.CharField(max_length=40)
    adset = models.ForeignKey(AdSet, on_delete=models.CASCADE, related_name="ads")
    # Denormalised from adset so per-campaign roll-ups need no extra join.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="ads")
    name = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=MetaStatus.choices, default=MetaStatus.ACTIVE)
    effective_status = models.CharField(max_length=40, blank=True)
    creative_id = models.CharField(max_length=40, blank=True)
    created_time = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "meta_id"], name="ad_unique_meta_id")]
        indexes = [models.Index(fields=["workspace", "status"], name="ad_ws_status")]

    def __str__(self):
        return self.name or f"ad {self.meta_id}"


class AdInsight(WorkspaceModel):
    """One ad's Meta-reported delivery and results for one day (Insights level=ad, time_increment=1)."""

    ad = models.ForeignKey(Ad, on_delete=models.CASCADE, related_name="insights")
    # Denormalised from ad so spend by campaign / ad set over a period is one indexed scan.
    adset = models.ForeignKey(AdSet, on_delete=models.CASCADE, related_name="insights")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="insights")
    date = models.DateField(help_text="Meta's date_start, in the ad account's timezone")
    spend = models.DecimalField(**MONEY, default=0, help_text="AED")
    impressions = models.PositiveBigIntegerField(default=0)
    reach = models.PositiveBigIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    link_clicks = models.PositiveIntegerField(default=0, help_text="inline_link_clicks")
    leads = models.PositiveIntegerField(default=0)
    purchases = models.PositiveIntegerField(default=0)
    purchase_value = models.DecimalField(**MONEY, default=0, help_text="AED, Meta-claimed")
    meta_roas = models.DecimalField(**RATE, help_text="purchase_roas as Meta reports it")
    cpc = models.DecimalField(**RATE, help_text="AED per click")
    cpm = models.DecimalField(**RATE, help_text="AED per 1,000 impressions")
    ctr = models.DecimalField(**RATE, help_text="percent, as Meta reports it")
    frequency = models.DecimalField(**RATE)
    raw = models.JSONField(default=dict, blank=True, help_text="The insight row as received (actions, action_values, …)")
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["ad", "date"], name="adinsight_unique_ad_date"),
            models.CheckConstraint(condition=models.Q(spend__gte=0), name="adinsight_spend_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["workspace", "date"], name="adinsight_ws_date"),
            models.Index(fields=["workspace", "campaign", "date"], name="adinsight_ws_campaign_date"),
            models.Index(fields=["workspace", "adset", "date"], name="adinsight_ws_adset_date"),
        ]

    def __str__(self):
        return f"{self.ad_id} {self.date}: AED {self.spend}"


# --- Attribution ---------------------------------------------------------------------------------


class AttributionEvent(WorkspaceModel, UtmFields):
    """A conversion or touch reported by an attribution tool (AnyTrack), with the click and ad ids."""

    source = models.CharField(max_length=20, default="anytrack")
    external_id = models.CharField(max_length=255, help_text="Dedup key from the source, e.g. clickId+eventName+txn")
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="attribution_events"
    )
    # The identity keys the source sent, normalised, so a contact created later is linked (identity backfill).
    email_normalized = models.CharField(max_length=254, blank=True)
    phone_e164 = models.CharField(max_length=20, blank=True)
    click_id = models.CharField(max_length=255, blank=True)
    transaction_id = models.CharField(max_length=255, blank=True)
    fbclid = models.CharField(max_length=255, blank=True)
    fbc = models.CharField(max_length=255, blank=True)
    fbp = models.CharField(max_length=255, blank=True)
    campaign_id = models.CharField(max_length=40, blank=True, help_text="Meta campaign id")
    adset_id = models.CharField(max_length=40, blank=True, help_text="Meta ad set id")
    ad_id = models.CharField(max_length=40, blank=True, help_text="Meta ad id")
    event_name = models.CharField(max_length=60)
    value = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3, default="AED")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    raw = models.JSONField(default=dict, blank=True)

    ROLE_SCOPE = CONTACT_SCOPE

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "source", "external_id"], name="attribution_unique_external_id")
        ]
        indexes = [
            models.Index(fields=["workspace", "occurred_at"], name="attribution_ws_occurred"),
            models.Index(fields=["workspace", "event_name", "occurred_at"], name="attribution_ws_event"),
            models.Index(fields=["workspace", "ad_id"], name="attribution_ws_ad"),
            models.Index(fields=["workspace", "campaign_id"], name="attribution_ws_campaign"),
            models.Index(fields=["contact", "occurred_at"], name="attribution_contact_occurred"),
            # Identity backfill scans only the unmatched events.
            models.Index(fields=["workspace", "email_normalized"], condition=models.Q(contact__isnull=True),
                         name="attribution_unmatched"),
        ]

    def __str__(self):
        return f"{self.source} {self.event_name} {self.occurred_at:%Y-%m-%d %H:%M}"


# --- Meta Conversions API (outbound) ---------------------------------------------------------------


class MetaEventName(models.TextChoices):
    PURCHASE = "Purchase", "Purchase"
    LEAD = "Lead", "Lead"
    COMPLETE_REGISTRATION = "CompleteRegistration", "Complete registration"
    SCHEDULE = "Schedule", "Schedule"
    VIEW_CONTENT = "ViewContent", "View content"
    ADD_TO_CART = "AddToCart", "Add to cart"


class ActionSource(models.TextChoices):
    EMAIL = "email", "Email"
    WEBSITE = "website", "Website"
    APP = "app", "App"
    PHONE_CALL = "phone_call", "Phone call"
    CHAT = "chat", "Chat"
    PHYSICAL_STORE = "physical_store", "Physical store"
    SYSTEM_GENERATED = "system_generated", "System generated"
    BUSINESS_MESSAGING = "business_messaging", "Business messaging"
    OTHER = "other", "Other"


class ValueSource(models.TextChoices):
    NONE = "none", "No value"
    FIXED = "fixed", "Fixed value"
    DEAL_AMOUNT = "deal_amount", "Deal amount"
    PAYMENT_AMOUNT = "payment_amount", "Payment amount"
    PACKAGE_VALUE = "package_value", "Package value"


class EventMapping(WorkspaceModel):
    """A rule turning a CRM change (a HubSpot deal stage, a lifecycle change, …) into a Meta event."""

    source_event = models.CharField(max_length=100, help_text="e.g. a HubSpot deal stage id or a lifecycle stage")
    meta_event_name = models.CharField(max_length=30, choices=MetaEventName.choices)
    description = models.CharField(max_length=200, blank=True)
    value_source = models.CharField(max_length=20, choices=ValueSource.choices, default=ValueSource.NONE)
    fixed_value = models.DecimalField(**MONEY, null=True, blank=True, help_text="AED, when value source is fixed")
    currency = models.CharField(max_length=3, default="AED")
    action_source = models.CharField(max_length=20, choices=ActionSource.choices, default=ActionSource.SYSTEM_GENERATED)
    event_source_url = models.URLField(max_length=1000, blank=True)
    custom_parameters = models.JSONField(default=dict, blank=True, help_text="Extra custom_data keys sent with the event")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source_event", "meta_event_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "source_event", "meta_event_name"], name="eventmapping_unique_source_event"
            ),
            models.CheckConstraint(
                condition=~models.Q(value_source="fixed") | models.Q(fixed_value__isnull=False),
                name="eventmapping_fixed_has_value",
            ),
        ]

    def __str__(self):
        return f"{self.source_event} → {self.meta_event_name}"


def default_send_times() -> list[str]:
    return ["09:00", "13:00", "18:00"]


def default_days_of_week() -> list[int]:
    return [0, 1, 2, 3, 4, 5, 6]  # Monday = 0, as datetime.weekday()


class BatchConfig(WorkspaceModel):
    """When and how queued CAPI events are sent (one row per workspace; times in the workspace timezone)."""

    enabled = models.BooleanField(default=True)
    send_times = models.JSONField(default=default_send_times, blank=True, help_text='List of "HH:MM"')
    days_of_week = models.JSONField(default=default_days_of_week, blank=True, help_text="0 = Monday … 6 = Sunday")
    max_batch_size = models.PositiveIntegerField(default=1000, help_text="Meta accepts at most 1,000 events a request")
    min_batch_size = models.PositiveIntegerField(
        default=1, help_text="Wait for this many events unless the oldest is close to Meta's 7-day limit"
    )
    retry_max_attempts = models.PositiveSmallIntegerField(default=5)
    backoff_base_seconds = models.PositiveIntegerField(default=60, help_text="Delay before retry n is base × 2^(n−1)")
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.TEST)
    test_event_code = models.CharField(max_length=40, blank=True, help_text="Sent in test mode (Events Manager)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CAPI batch config"
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="batchconfig_one_per_workspace"),
            models.CheckConstraint(
                condition=models.Q(max_batch_size__gte=1, max_batch_size__lte=1000), name="batchconfig_max_size_range"
            ),
            models.CheckConstraint(
                condition=models.Q(min_batch_size__gte=1, min_batch_size__lte=models.F("max_batch_size")),
                name="batchconfig_min_le_max",
            ),
        ]

    def __str__(self):
        state = "on" if self.enabled else "off"
        return f"CAPI batches {state} · {self.mode} · {', '.join(self.send_times or [])}"


class CapiBatchStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partly failed"
    FAILED = "failed", "Failed"


class CapiBatch(WorkspaceModel):
    """One run of the CAPI sender: which events it took and how Meta answered."""

    TRIGGERS = [("schedule", "Schedule"), ("manual", "Manual"), ("retry", "Retry")]
    trigger = models.CharField(max_length=10, choices=TRIGGERS, default="schedule")
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.TEST)
    status = models.CharField(max_length=10, choices=CapiBatchStatus.choices, default=CapiBatchStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    events_total = models.PositiveIntegerField(default=0)
    events_sent = models.PositiveIntegerField(default=0)
    events_failed = models.PositiveIntegerField(default=0)
    response_summary = models.JSONField(
        default=dict, blank=True, help_text="events_received, fbtrace_ids and error codes per request"
    )

    class Meta:
        verbose_name = "CAPI batch"
        verbose_name_plural = "CAPI batches"
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["workspace", "started_at"], name="capibatch_ws_started")]

    def __str__(self):
        return f"CAPI batch {self.started_at:%Y-%m-%d %H:%M} ({self.events_sent}/{self.events_total} sent)"


class CapiStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead"


class CapiEvent(WorkspaceModel):
    """A server event queued for Meta CAPI; Meta deduplicates on event_id + event_name, and so do we."""

    event_id = models.CharField(max_length=100, help_text="Order / transaction id, shared with the browser pixel")
    event_name = models.CharField(max_length=30, choices=MetaEventName.choices)
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="capi_events"
    )
    mapping = models.ForeignKey(EventMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    source_ref = models.CharField(max_length=100, blank=True, help_text="What produced it, e.g. deal:123 or ch_…")
    event_time = models.DateTimeField(help_text="Meta rejects the whole request if any event is older than 7 days")
    action_source = models.CharField(max_length=20, choices=ActionSource.choices, default=ActionSource.SYSTEM_GENERATED)
    event_source_url = models.URLField(max_length=1000, blank=True)
    user_data = models.JSONField(default=dict, blank=True, help_text="Already normalised and SHA-256 hashed")
    custom_data = models.JSONField(default=dict, blank=True)
    # Copied from custom_data so value totals need no JSON parsing.
    value = models.DecimalField(**MONEY, null=True, blank=True)
    currency = models.CharField(max_length=3, default="AED")
    status = models.CharField(max_length=10, choices=CapiStatus.choices, default=CapiStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.TEST)
    batch = models.ForeignKey(CapiBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "CAPI event"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "event_id", "event_name"], name="capievent_unique_event")
        ]
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="capievent_ws_created"),
            models.Index(fields=["workspace", "status", "created_at"], name="capievent_ws_status_created"),
            models.Index(fields=["workspace", "event_time"], name="capievent_ws_event_time"),
            models.Index(fields=["contact", "event_time"], name="capievent_contact_time"),
            # The sender's queue: small even at a million sent events a day.
            models.Index(
                fields=["workspace", "mode", "next_attempt_at"],
                condition=models.Q(status__in=["pending", "failed"]),
                name="capievent_queue",
            ),
        ]

    def __str__(self):
        return f"{self.event_name} {self.event_id} ({self.status})"


# --- Site tracking (seed 004: vibeTrack / vibeIdentify / heartbeat) --------------------------------


class Visitor(WorkspaceModel):
    """A browser seen by the tracking snippet; linked to a Contact once vibeIdentify names it."""

    anonymous_id = models.CharField(max_length=64)
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="site_visitors"
    )
    identified_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    # First touch
    first_landing_page = models.CharField(max_length=1000, blank=True)
    first_referrer = models.CharField(max_length=1000, blank=True)
    first_utm_source = models.CharField(max_length=120, blank=True)
    first_utm_medium = models.CharField(max_length=120, blank=True)
    first_utm_campaign = models.CharField(max_length=200, blank=True)
    first_utm_content = models.CharField(max_length=200, blank=True)
    first_utm_term = models.CharField(max_length=200, blank=True)
    first_fbclid = models.CharField(max_length=255, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")

    ROLE_SCOPE = CONTACT_SCOPE

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [models.UniqueConstraint(fields=["workspace", "anonymous_id"], name="visitor_unique_anonymous_id")]
        indexes = [
            models.Index(fields=["workspace", "last_seen_at"], name="visitor_ws_last_seen"),
            models.Index(fields=["workspace", "first_seen_at"], name="visitor_ws_first_seen"),
            models.Index(fields=["contact"], name="visitor_contact"),
        ]

    def __str__(self):
        return f"visitor {self.anonymous_id[:12]}" + (f" ({self.contact_id})" if self.contact_id else "")


class VisitSession(WorkspaceModel, UtmFields):
    """One visit: opened on the first page view, kept alive by 30-second heartbeats."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    last_heartbeat_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    landing_page = models.CharField(max_length=1000, blank=True)
    referrer = models.CharField(max_length=1000, blank=True)
    fbclid = models.CharField(max_length=255, blank=True)
    page_views = models.PositiveIntegerField(default=0)
    duration_seconds = models.PositiveIntegerField(default=0)

    ROLE_SCOPE = {"coach": "visitor__contact__coach", "setter": "visitor__contact__owner"}

    class Meta:
        verbose_name = "visit session"
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["workspace", "session_id"], name="visitsession_unique_id")]
        indexes = [
            models.Index(fields=["workspace", "started_at"], name="visitsession_ws_started"),
            # "Online now" = heartbeat within the last minute.
            models.Index(fields=["workspace", "last_heartbeat_at"], name="visitsession_ws_heartbeat"),
            models.Index(fields=["visitor", "started_at"], name="visitsession_visitor_started"),
        ]

    def __str__(self):
        return f"session {self.session_id[:12]} {self.started_at:%Y-%m-%d %H:%M}"


class SiteEvent(WorkspaceModel):
    """A page view or custom event (vibeTrack) from the tracking snippet."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="events")
    session = models.ForeignKey(VisitSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    client_event_id = models.CharField(
        max_length=64, null=True, blank=True, help_text="Set by the snippet so a resent event is stored once"
    )
    name = models.CharField(max_length=100)
    url = models.CharField(max_length=1000, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()

    ROLE_SCOPE = {"coach": "visitor__contact__coach", "setter": "visitor__contact__owner"}

    class Meta:
        verbose_name = "site event"
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "client_event_id"], name="siteevent_unique_client_id")
        ]
        indexes = [
            models.Index(fields=["workspace", "occurred_at"], name="siteevent_ws_occurred"),
            models.Index(fields=["workspace", "name", "occurred_at"], name="siteevent_ws_name_occurred"),
            models.Index(fields=["visitor", "occurred_at"], name="siteevent_visitor_occurred"),
        ]

    def __str__(self):
        return f"{self.name} {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class DailySiteStats(WorkspaceModel):
    """One day's site-tracking totals, computed after midnight in the workspace timezone."""

    date = models.DateField()
    visitors = models.PositiveIntegerField(default=0)
    new_visitors = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    page_views = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    identified = models.PositiveIntegerField(default=0, help_text="Visitors linked to a contact that day")
    avg_session_seconds = models.PositiveIntegerField(default=0)
    bounce_rate = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, help_text="% of sessions with a single page view"
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "daily site stats"
        verbose_name_plural = "daily site stats"
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "date"], name="dailysitestats_unique_date"),
            models.CheckConstraint(
                condition=models.Q(bounce_rate__gte=0, bounce_rate__lte=100), name="dailysitestats_bounce_pct"
            ),
        ]

    def __str__(self):
        return f"{self.date}: {self.visitors} visitors, {self.sessions} sessions"


class Funnel(WorkspaceModel):
    """An ordered list of site event names whose step-to-step conversion the analytics page shows."""

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    steps = models.JSONField(default=list, help_text="Event names in order, e.g. [\"page_view\", \"book_click\"]")
    window_days = models.PositiveSmallIntegerField(default=30, help_text="A visitor must finish within this many days")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="funnel_unique_name")]

    def __str__(self):
        return self.name


class FirstTouchDay(models.Model):
    """The first-touch credit of one local day on the cash basis (marketing.first_touch_days), per first touch:
    the outcomes dated that day (leads created, deals created and first entering booked / held / won, collected
    payments, refunds, withdrawn disputes; money in minor units) of the contacts whose stored first paid touch
    came before their first payment. What the money pages sum over a period instead of reading a month of
    outcomes. Derived rows, kept equal to the raw rows by RollupDirty and rollups_refresh like DailyRollup."""

    workspace = models.ForeignKey("ptd.Workspace", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    late_day = models.DateField(null=True, help_text="Set when the first touch came after `day`: the cell counts only "
                                                     "in periods ending on or after this day (the touch's own day)")
    ad = models.CharField(max_length=40, null=True)  # the touch's Meta ids as received, None when absent
    adset = models.CharField(max_length=40, null=True)
    campaign = models.CharField(max_length=40, null=True)
    leads = models.BigIntegerField()
    booked = models.BigIntegerField()
    held = models.BigIntegerField()
    deals = models.BigIntegerField()
    won = models.BigIntegerField()
    cash = models.BigIntegerField()
    refunds = models.BigIntegerField()
    disputed = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "day"], name="first_touch_day_ws_day")]
