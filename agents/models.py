"""AI agents: Atlas (internal analyst, web) and Lisa (WhatsApp booking agent). Conversations with their
messages and tool calls, long-term memory, the knowledge base for retrieval, insights the agents raise
on their own, and actions they prepare for a person to approve.

Conversations, memory and actions are admin-only here; a non-admin's own conversations are selected
by user in agents.selectors. The knowledge base is readable by every role."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from ptd.models import WorkspaceModel

ADMIN_ONLY = frozenset({"admin"})
EVERY_ROLE = frozenset({"admin", "viewer", "coach", "setter"})


class Agent(models.TextChoices):
    ATLAS = "atlas", "Atlas"
    LISA = "lisa", "Lisa"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    WHATSAPP = "whatsapp", "WhatsApp"


class Conversation(WorkspaceModel):
    """A thread with one agent: a staff user on the web (Atlas) or a lead on WhatsApp (Lisa)."""

    agent = models.CharField(max_length=10, choices=Agent.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="agent_conversations"
    )
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="agent_conversations"
    )
    external_id = models.CharField(max_length=64, blank=True, help_text="WhatsApp wa_id of the other party")
    title = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True)

    ROLE_SCOPE_ALL = ADMIN_ONLY

    class Meta:
        ordering = ["-last_message_at", "-started_at"]
        indexes = [
            models.Index(fields=["workspace", "last_message_at"], name="conversation_ws_last_msg"),
            models.Index(fields=["workspace", "user", "last_message_at"], name="conversation_ws_user_last"),
            models.Index(fields=["workspace", "channel", "external_id"], name="conversation_ws_external"),
        ]

    def __str__(self):
        return self.title or f"{self.get_agent_display()} · {self.get_channel_display()} · {self.started_at:%Y-%m-%d}"


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool result"


class Message(WorkspaceModel):
    """One turn of a conversation."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    external_id = models.CharField(max_length=128, blank=True, help_text="WhatsApp wamid: a redelivery is stored once")
    llm_model = models.CharField(max_length=60, blank=True, help_text="Model that wrote an assistant turn")
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    ROLE_SCOPE_ALL = ADMIN_ONLY

    class Meta:
        ordering = ["conversation", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], condition=~models.Q(external_id=""), name="message_unique_external_id"
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="message_conversation_created"),
            models.Index(fields=["workspace", "created_at"], name="message_ws_created"),
        ]

    def __str__(self):
        text = self.content if len(self.content) <= 60 else self.content[:59] + "…"
        return f"{self.role}: {text}"


class ToolCallStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DENIED = "denied", "Denied (not allowed for this user)"


class ToolCall(WorkspaceModel):
    """A tool the agent called while writing a message, with what it asked for and what it got."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tool_calls")
    tool_use_id = models.CharField(max_length=64, blank=True, help_text="The model's tool_use id")
    tool_name = models.CharField(max_length=80)
    arguments = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ToolCallStatus.choices, default=ToolCallStatus.PENDING)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    ROLE_SCOPE_ALL = ADMIN_ONLY

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "tool_name", "created_at"], name="toolcall_ws_tool_created"),
            models.Index(fields=["workspace", "status", "created_at"], name="toolcall_ws_status_created"),
        ]

    def __str__(self):
        return f"{self.tool_name} ({self.status})"


class MemoryScope(models.TextChoices):
    USER = "user", "One user"
    WORKSPACE = "workspace", "Whole workspace"


class AgentMemory(WorkspaceModel):
    """A fact an agent keeps between conversations, for one user or for the whole workspace."""

    agent = models.CharField(max_length=10, choices=Agent.choices)
    scope = models.CharField(max_length=10, choices=MemoryScope.choices, default=MemoryScope.WORKSPACE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="agent_memories"
    )
    key = models.CharField(max_length=120)
    value = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    ROLE_SCOPE_ALL = ADMIN_ONLY

    class Meta:
        verbose_name_plural = "agent memories"
        ordering = ["agent", "key"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "agent", "scope", "user", "key"], name="agentmemory_unique_key"),
            # NULLs are distinct in a unique index, so workspace-wide keys need their own constraint.
            models.UniqueConstraint(
                fields=["workspace", "agent", "key"], condition=models.Q(user__isnull=True),
                name="agentmemory_unique_workspace_key",
            ),
            models.CheckConstraint(
                condition=models.Q(scope="user", user__isnull=False) | models.Q(scope="workspace", user__isnull=True),
                name="agentmemory_scope_matches_user",
            ),
        ]

    def __str__(self):
        return f"{self.agent} · {self.scope} · {self.key}"


class KnowledgeDocument(WorkspaceModel):
    """A document the agents retrieve from (policies, packages, FAQs, playbooks)."""

    title = models.CharField(max_length=200)
    source = models.CharField(max_length=500, blank=True, help_text="Where it came from: a URL, a file name, …")
    content = models.TextField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the content: the same text is stored once")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    ROLE_SCOPE_ALL = EVERY_ROLE

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "content_hash"], name="knowledgedoc_unique_hash")
        ]

    def __str__(self):
        return self.title


class KnowledgeChunk(WorkspaceModel):
    """A retrievable slice of a document with its embedding."""

    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    # A list of floats: pgvector is not available on every PostgreSQL this runs on.
    embedding = models.JSONField(null=True, blank=True)
    embedding_model = models.CharField(max_length=80, blank=True, help_text="Only compare vectors of one model")

    ROLE_SCOPE_ALL = EVERY_ROLE

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="knowledgechunk_unique_ordinal")]

    def __str__(self):
        return f"{self.document_id} #{self.ordinal}"


class InsightSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class ProactiveInsight(WorkspaceModel):
    """Something an agent noticed without being asked (a ROAS drop, a coach's no-show spike, …)."""

    agent = models.CharField(max_length=10, choices=Agent.choices, default=Agent.ATLAS)
    kind = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=InsightSeverity.choices, default=InsightSeverity.INFO)
    evidence = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=128, blank=True, help_text="Same fingerprint, same insight: raised once")
    created_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "fingerprint"], condition=~models.Q(fingerprint=""),
                name="insight_unique_fingerprint",
            )
        ]
        indexes = [models.Index(fields=["workspace", "dismissed_at", "created_at"], name="insight_ws_open_created")]

    def __str__(self):
        return self.title


class ActionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"


class PreparedAction(WorkspaceModel):
    """A change an agent wants to make (update HubSpot, message a client, …); it runs only once approved."""

    kind = models.CharField(max_length=60)
    description = models.TextField()
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ActionStatus.choices, default=ActionStatus.PROPOSED)
    proposed_by_agent = models.CharField(max_length=10, choices=Agent.choices)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="prepared_actions"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="decided_agent_actions",
        help_text="Who approved or rejected it",
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)

    ROLE_SCOPE_ALL = ADMIN_ONLY

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "status", "created_at"], name="preparedaction_ws_status")]

    def __str__(self):
        return f"{self.kind}: {self.description[:60]} ({self.status})"
