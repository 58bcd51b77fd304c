from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Count

from agents.models import (AgentMemory, Conversation, KnowledgeChunk, KnowledgeDocument, Message, PreparedAction,
                           ProactiveInsight, ToolCall)
from ptd.admin_base import ReadOnlyWorkspaceAdmin, WorkspaceAdmin, admin_workspace_ids

# Conversations, tool calls, insights and prepared actions are written by the agents, and approving an
# action must run it, which only agents.services does: read-only here. Memory can be corrected by hand.
# The knowledge base is read-only because adding a document also chunks and embeds it (a service).


def _clip(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "role", "content", "tokens_in", "tokens_out"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["__str__", "agent", "channel", "user", "contact", "started_at", "last_message_at", "workspace",
                    "is_demo"]
    list_filter = ["workspace", "is_demo", "agent", "channel"]
    search_fields = ["title", "=external_id", "user__username", "contact__email_normalized", "contact__phone_e164"]
    date_hierarchy = "started_at"
    list_select_related = ["workspace", "user", "contact"]
    raw_id_fields = ["user", "contact"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created_at", "conversation", "role", "excerpt", "llm_model", "tokens_in", "tokens_out",
                    "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "role", "conversation__agent"]
    search_fields = ["content", "=external_id"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace", "conversation"]
    raw_id_fields = ["conversation"]
    show_full_result_count = False

    @admin.display(description="content")
    def excerpt(self, obj):
        return _clip(obj.content)


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created_at", "tool_name", "status", "duration_ms", "message", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "tool_name"]
    search_fields = ["tool_name", "=tool_use_id", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace", "message"]
    raw_id_fields = ["message"]
    readonly_fields = ["arguments", "result"]
    show_full_result_count = False


@admin.register(AgentMemory)
class AgentMemoryAdmin(WorkspaceAdmin):
    list_display = ["agent", "scope", "user", "key", "excerpt", "updated_at", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "agent", "scope"]
    search_fields = ["key", "value", "user__username"]
    date_hierarchy = "updated_at"
    list_select_related = ["workspace", "user"]

    @admin.display(description="value")
    def excerpt(self, obj):
        return _clip(obj.value)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = get_user_model().objects.filter(
                memberships__workspace_id__in=admin_workspace_ids(request.user)
            ).distinct().order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["title", "source", "chunk_count", "content_hash", "updated_at", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo"]
    search_fields = ["title", "source", "=content_hash"]
    date_hierarchy = "updated_at"
    list_select_related = ["workspace"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_chunks=Count("chunks"))

    @admin.display(description="chunks", ordering="_chunks")
    def chunk_count(self, obj):
        return obj._chunks


@admin.register(KnowledgeChunk)
class KnowledgeChunkAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["document", "ordinal", "excerpt", "token_count", "embedding_model", "dimensions", "workspace",
                    "is_demo"]
    list_filter = ["workspace", "is_demo", "embedding_model"]
    search_fields = ["text", "document__title"]
    list_select_related = ["workspace", "document"]
    raw_id_fields = ["document"]
    exclude = ["embedding"]  # hundreds of floats: shown as its length instead
    readonly_fields = ["dimensions"]

    @admin.display(description="text")
    def excerpt(self, obj):
        return _clip(obj.text)

    @admin.display(description="embedding dims")
    def dimensions(self, obj):
        return len(obj.embedding) if obj.embedding else None


@admin.register(ProactiveInsight)
class ProactiveInsightAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created_at", "title", "kind", "severity", "agent", "dismissed_at", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "severity", "kind", "agent"]
    search_fields = ["title", "body", "kind"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace"]
    readonly_fields = ["evidence"]


@admin.register(PreparedAction)
class PreparedActionAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created_at", "kind", "excerpt", "status", "proposed_by_agent", "approved_by", "decided_at",
                    "executed_at", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "kind", "proposed_by_agent"]
    search_fields = ["kind", "description"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace", "approved_by"]
    raw_id_fields = ["conversation", "approved_by"]
    readonly_fields = ["payload", "result"]

    @admin.display(description="description")
    def excerpt(self, obj):
        return _clip(obj.description)
