"""Platform models: workspaces, users and roles, credentials, webhook inbox, sync state, audit log,
funnel thresholds and benchmarks. Every domain model elsewhere derives from WorkspaceModel."""

from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class Workspace(models.Model):
    """One business or location: its own timezone, currency, credentials, webhook URLs and staff."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, default="Asia/Dubai")
    currency = models.CharField(max_length=3, default="AED")
    plan = models.CharField(max_length=40, default="standard")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    COACH = "coach", "Coach"
    SETTER = "setter", "Setter"
    VIEWER = "viewer", "Viewer"


class User(AbstractUser):
    """A person who logs in; what they may see comes from their Membership in the active workspace."""

    is_demo = models.BooleanField(default=False, editable=False, help_text="Created by demo_data; removed by --purge")

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_unique_ci", condition=~models.Q(email=""))]

    def __str__(self):
        return self.get_full_name() or self.username


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    staff = models.ForeignKey(
        "clients.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships",
        help_text="The setter or coach record whose leads, calls and clients this user sees.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique")]
        ordering = ["workspace__name"]

    def __str__(self):
        return f"{self.user} · {self.workspace.slug} · {self.role}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.staff_id and self.staff.workspace_id != self.workspace_id:
            raise ValidationError({"staff": "The staff record must belong to the same workspace."})


class WorkspaceModel(models.Model):
    """Base of every domain model: the owning workspace and the demo flag.

    ROLE_SCOPE maps a role to the lookup path of the Staff this row belongs to (coach → own clients,
    setter → own leads and calls); a role missing from it sees no rows unless ROLE_SCOPE_ALL has it.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    is_demo = models.BooleanField(default=False, db_index=True, editable=False)

    ROLE_SCOPE: dict[str, str] = {}
    ROLE_SCOPE_ALL: frozenset[str] = frozenset({Role.ADMIN, Role.VIEWER})

    class Meta:
        abstract = True


class AuditLog(models.Model):
    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["workspace", "-at"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type} {self.object_id}"


class CredentialKind(models.TextChoices):
    """Each credential, named by the environment variable that overrides it for the default workspace."""

    HUBSPOT_ACCESS_TOKEN = "HUBSPOT_ACCESS_TOKEN", "HubSpot private-app access token"
    HUBSPOT_CLIENT_SECRET = "HUBSPOT_CLIENT_SECRET", "HubSpot app client secret (webhook signatures)"
    STRIPE_SECRET_KEY = "STRIPE_SECRET_KEY", "Stripe secret key"
    STRIPE_WEBHOOK_SECRET = "STRIPE_WEBHOOK_SECRET", "Stripe webhook signing secret"
    META_PIXEL_ID = "META_PIXEL_ID", "Meta pixel (dataset) id"
    META_ACCESS_TOKEN = "META_ACCESS_TOKEN", "Meta access token"
    META_APP_SECRET = "META_APP_SECRET", "Meta app secret"
    META_AD_ACCOUNT_ID = "META_AD_ACCOUNT_ID", "Meta ad account id"
    ANYTRACK_WEBHOOK_TOKEN = "ANYTRACK_WEBHOOK_TOKEN", "AnyTrack webhook path token"
    CALLGEAR_ACCESS_TOKEN = "CALLGEAR_ACCESS_TOKEN", "CallGear Data API token"
    CALLGEAR_WEBHOOK_TOKEN = "CALLGEAR_WEBHOOK_TOKEN", "CallGear webhook path token"
    WHATSAPP_TOKEN = "WHATSAPP_TOKEN", "WhatsApp Cloud API token"
    WHATSAPP_APP_SECRET = "WHATSAPP_APP_SECRET", "WhatsApp app secret"
    WHATSAPP_VERIFY_TOKEN = "WHATSAPP_VERIFY_TOKEN", "WhatsApp webhook verify token"
    WHATSAPP_PHONE_NUMBER_ID = "WHATSAPP_PHONE_NUMBER_ID", "WhatsApp phone number id"
    ANTHROPIC_API_KEY = "ANTHROPIC_API_KEY", "Anthropic API key"
    TELEGRAM_BOT_TOKEN = "TELEGRAM_BOT_TOKEN", "Telegram bot token"
    SMTP_URL = "SMTP_URL", "SMTP URL"


class Mode(models.TextChoices):
    TEST = "test", "Test"
    LIVE = "live", "Live"


class IntegrationCredential(models.Model):
    """A secret of one workspace, encrypted at rest (ptd.crypto); read it through ptd.credentials."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(max_length=40, choices=CredentialKind.choices)
    value_encrypted = models.TextField(editable=False)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.TEST)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "kind"], name="credential_unique_kind")]
        ordering = ["workspace", "kind"]

    def __str__(self):
        return f"{self.workspace.slug} · {self.kind}"

    @property
    def masked(self) -> str:
        from ptd.crypto import decrypt, mask

        return mask(decrypt(self.value_encrypted))


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead"


class WebhookEvent(models.Model):
    """The raw inbound event, stored before processing so nothing is lost."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=20, db_index=True)
    dedup_key = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField()
    source_timestamp = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "source", "dedup_key"], name="webhook_dedup_unique")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.source} {self.event_type or ''} {self.dedup_key}".strip()


class SyncState(models.Model):
    """The resumable cursor and last outcome of one pull sync."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=40)
    cursor = models.JSONField(default=dict, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    records_synced = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "source"], name="syncstate_unique_source")]
        ordering = ["source"]

    def __str__(self):
        return f"{self.workspace.slug} · {self.source}"


class FunnelOwner(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SETTER = "setter", "Setter"
    COACH = "coach", "Coach"
    OPS = "ops", "Ops"


class FunnelThreshold(models.Model):
    """Healthy / warning floors of one funnel transition (DESIGN §6); below warning is critical."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    from_step = models.CharField(max_length=20)
    to_step = models.CharField(max_length=20)
    owner = models.CharField(max_length=10, choices=FunnelOwner.choices)
    healthy_min_pct = models.DecimalField(max_digits=5, decimal_places=2)
    warning_min_pct = models.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "from_step", "to_step"], name="threshold_unique_transition"),
            models.CheckConstraint(
                condition=models.Q(healthy_min_pct__gte=models.F("warning_min_pct")), name="threshold_healthy_ge_warning"
            ),
        ]
        ordering = ["workspace", "owner"]

    def __str__(self):
        return f"{self.from_step} → {self.to_step} ({self.owner})"

    def verdict(self, pct: Decimal) -> str:
        if pct >= self.healthy_min_pct:
            return "healthy"
        return "warning" if pct >= self.warning_min_pct else "critical"


class Benchmark(models.Model):
    """A named target the pages compare against (ROAS 3.0×, CPL AED 30, …)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=40)
    value = models.DecimalField(max_digits=12, decimal_places=2)
    unit = models.CharField(max_length=10, blank=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="benchmark_unique_key")]
        ordering = ["workspace", "key"]

    def __str__(self):
        return f"{self.key} = {self.value}{self.unit}"


class DailyRollup(models.Model):
    """A measure's workspace total for one local day, or one staff member's part of it (ptd.rollups): what the
    workspace-wide pages sum over a period instead of scanning the raw rows. Kept equal to the raw rows by RollupDirty and rollups_refresh.
    Derived rows (no demo flag): a demo purge marks its days dirty like any other delete."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    measure = models.CharField(max_length=63)
    day = models.DateField()
    staff_id = models.BigIntegerField(null=True, help_text="Per-staff measures only (see Measure.store_per_staff)")
    value = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "measure", "day", "staff_id"],
                                               nulls_distinct=False, name="rollup_unique_cell")]


class RollupDirty(models.Model):
    """A local day of a source table written since the rollups were last refreshed. Database triggers add the rows
    (every write path, bulk upserts included); rollups_refresh recomputes those days and deletes them; until then
    readers compute the dirty days from the raw rows, so a page is never stale."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=63, help_text="Table name")
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "source", "day"], name="rollup_dirty_unique")]
