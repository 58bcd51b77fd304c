from django.contrib import admin

from marketing.models import (Ad, AdInsight, AdSet, AttributionEvent, BatchConfig, Campaign, CapiBatch, CapiEvent,
                              DailySiteStats, EventMapping, Funnel, SiteEvent, Visitor, VisitSession)
from ptd.admin_base import MatchedFilter, ReadOnlyWorkspaceAdmin, WorkspaceAdmin

# Ad structure, insights, attribution, CAPI events and tracking rows are written by ingestion and the
# CAPI sender only, so their admins are read-only; mappings, the batch schedule and funnels are settings.


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["name", "meta_id", "status", "effective_status", "objective", "daily_budget", "created_time",
                    "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "objective"]
    search_fields = ["name", "meta_id"]
    date_hierarchy = "created_time"
    list_select_related = ["workspace"]


@admin.register(AdSet)
class AdSetAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["name", "meta_id", "campaign", "status", "effective_status", "optimization_goal", "daily_budget",
                    "created_time", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status"]
    search_fields = ["name", "meta_id", "campaign__name", "campaign__meta_id"]
    date_hierarchy = "created_time"
    list_select_related = ["workspace", "campaign"]


@admin.register(Ad)
class AdAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["name", "meta_id", "adset", "campaign", "status", "effective_status", "created_time",
                    "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status"]
    search_fields = ["name", "meta_id", "adset__name", "campaign__name", "campaign__meta_id"]
    date_hierarchy = "created_time"
    list_select_related = ["workspace", "adset", "campaign"]


@admin.register(AdInsight)
class AdInsightAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["date", "ad", "campaign", "spend", "impressions", "reach", "clicks", "link_clicks", "leads",
                    "purchases", "purchase_value", "meta_roas", "ctr", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo"]
    search_fields = ["ad__name", "ad__meta_id", "adset__name", "campaign__name", "campaign__meta_id"]
    date_hierarchy = "date"
    list_select_related = ["workspace", "ad", "campaign"]
    readonly_fields = ["raw"]
    show_full_result_count = False


@admin.register(AttributionEvent)
class AttributionEventAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["occurred_at", "source", "event_name", "value", "currency", "contact", "campaign_id", "ad_id",
                    "utm_source", "workspace", "is_demo"]
    list_filter = ["workspace", MatchedFilter, "is_demo", "source", "event_name"]
    search_fields = ["external_id", "click_id", "transaction_id", "fbclid", "ad_id", "campaign_id",
                     "contact__email_normalized", "contact__phone_e164"]
    date_hierarchy = "occurred_at"
    list_select_related = ["workspace", "contact"]
    raw_id_fields = ["contact"]
    readonly_fields = ["raw"]
    show_full_result_count = False


@admin.register(EventMapping)
class EventMappingAdmin(WorkspaceAdmin):
    list_display = ["source_event", "meta_event_name", "value_source", "fixed_value", "action_source", "is_active",
                    "updated_at", "workspace", "is_demo"]
    list_editable = ["is_active"]
    list_filter = ["workspace", "is_demo", "meta_event_name", "value_source", "is_active"]
    search_fields = ["source_event", "description"]
    date_hierarchy = "updated_at"
    list_select_related = ["workspace"]


@admin.register(BatchConfig)
class BatchConfigAdmin(WorkspaceAdmin):
    list_display = ["workspace", "enabled", "mode", "send_times", "days_of_week", "max_batch_size", "min_batch_size",
                    "retry_max_attempts", "backoff_base_seconds", "updated_at", "is_demo"]
    list_filter = ["workspace", "is_demo", "enabled", "mode"]
    search_fields = ["workspace__name", "workspace__slug"]
    date_hierarchy = "updated_at"
    list_select_related = ["workspace"]


@admin.register(CapiBatch)
class CapiBatchAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["started_at", "finished_at", "trigger", "mode", "status", "events_total", "events_sent",
                    "events_failed", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "mode", "trigger"]
    search_fields = ["=id"]
    date_hierarchy = "started_at"
    list_select_related = ["workspace"]
    readonly_fields = ["response_summary"]


@admin.register(CapiEvent)
class CapiEventAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["created_at", "event_name", "event_id", "event_time", "status", "attempts", "next_attempt_at",
                    "mode", "value", "contact", "batch", "sent_at", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "status", "event_name", "mode", "action_source"]
    search_fields = ["event_id", "source_ref", "contact__email_normalized", "contact__phone_e164"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace", "contact", "batch"]
    raw_id_fields = ["contact", "mapping", "batch"]
    readonly_fields = ["user_data", "custom_data", "last_response"]
    show_full_result_count = False


@admin.register(Visitor)
class VisitorAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["anonymous_id", "contact", "first_seen_at", "last_seen_at", "country", "first_utm_source",
                    "first_utm_campaign", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo", "country"]
    search_fields = ["=anonymous_id", "contact__email_normalized", "contact__phone_e164", "first_utm_campaign"]
    date_hierarchy = "first_seen_at"
    list_select_related = ["workspace", "contact"]
    raw_id_fields = ["contact"]
    show_full_result_count = False


@admin.register(VisitSession)
class VisitSessionAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["session_id", "visitor", "started_at", "last_heartbeat_at", "ended_at", "page_views",
                    "duration_seconds", "landing_page", "utm_source", "utm_campaign", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo"]
    search_fields = ["=session_id", "=visitor__anonymous_id", "landing_page", "utm_campaign"]
    date_hierarchy = "started_at"
    list_select_related = ["workspace", "visitor"]
    raw_id_fields = ["visitor"]
    show_full_result_count = False


@admin.register(SiteEvent)
class SiteEventAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["occurred_at", "name", "url", "visitor", "session", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo"]
    search_fields = ["name", "url", "=visitor__anonymous_id", "=session__session_id"]
    date_hierarchy = "occurred_at"
    list_select_related = ["workspace", "visitor", "session"]
    raw_id_fields = ["visitor", "session"]
    readonly_fields = ["properties"]
    show_full_result_count = False


@admin.register(DailySiteStats)
class DailySiteStatsAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["date", "visitors", "new_visitors", "sessions", "page_views", "events", "identified",
                    "avg_session_seconds", "bounce_rate", "workspace", "is_demo"]
    list_filter = ["workspace", "is_demo"]
    search_fields = ["date"]
    date_hierarchy = "date"
    list_select_related = ["workspace"]


@admin.register(Funnel)
class FunnelAdmin(WorkspaceAdmin):
    list_display = ["name", "steps", "window_days", "is_active", "created_at", "workspace", "is_demo"]
    list_editable = ["is_active"]
    list_filter = ["workspace", "is_demo", "is_active"]
    search_fields = ["name", "description"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace"]
