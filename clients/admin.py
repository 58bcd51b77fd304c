from django.contrib import admin

from clients.models import (Alert, Appointment, Call, CoachSnapshot, Contact, Deal, DealStageHistory, HealthConfig,
                            HealthScore, Interaction, Intervention, Package, PipelineStage, Staff, Survey,
                            SurveyResponse, TrainingSession)
from ptd.admin_base import MatchedFilter, ReadOnlyWorkspaceAdmin, WorkspaceAdmin


@admin.register(Staff)
class StaffAdmin(WorkspaceAdmin):
    list_display = ["name", "kind", "email", "hubspot_owner_id", "is_active", "monthly_target", "workspace", "is_demo"]
    list_filter = ["workspace", "kind", "is_active", "is_demo"]
    search_fields = ["name", "email", "hubspot_owner_id"]
    list_select_related = ["workspace"]


@admin.register(PipelineStage)
class PipelineStageAdmin(WorkspaceAdmin):
    list_display = ["label", "stage_id", "funnel_step", "pipeline", "display_order", "workspace"]
    list_editable = ["funnel_step", "display_order"]
    list_filter = ["workspace", "pipeline", "funnel_step"]
    search_fields = ["label", "stage_id"]
    list_select_related = ["workspace"]


@admin.register(HealthConfig)
class HealthConfigAdmin(WorkspaceAdmin):
    list_display = ["workspace", "weight_engagement", "weight_financial", "weight_relationship",
                    "weight_package_health", "weight_momentum", "purple_min", "green_min", "yellow_min"]
    list_select_related = ["workspace"]
    change_list_template = "admin/clients/healthconfig/change_list.html"

    def changelist_view(self, request, extra_context=None):
        """Beside the weights: each administered workspace's churn model and its backtest."""
        from clients.churn import latest_model
        from ptd.admin_base import admin_workspace_ids
        from ptd.models import Workspace

        models = []
        for workspace in Workspace.objects.filter(pk__in=admin_workspace_ids(request.user)):
            model = latest_model(workspace)
            models.append({"workspace": workspace, "meta": model.meta if model else None})
        return super().changelist_view(request, {**(extra_context or {}), "churn_models": models})


@admin.register(Contact)
class ContactAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["__str__", "email_normalized", "phone_e164", "lifecycle_stage", "owner", "coach", "created_at",
                    "source", "workspace", "is_demo"]
    list_filter = ["workspace", "lifecycle_stage", "source", "is_demo"]
    search_fields = ["first_name", "last_name", "email_normalized", "phone_e164", "hubspot_id"]
    date_hierarchy = "created_at"
    list_select_related = ["owner", "coach", "workspace"]
    show_full_result_count = False


class StageHistoryInline(admin.TabularInline):
    model = DealStageHistory
    fields = ["stage_id", "entered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Deal)
class DealAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["__str__", "contact", "owner", "stage_id", "amount", "cash_collected", "created_at", "close_date",
                    "workspace", "is_demo"]
    list_filter = ["workspace", "stage_id", "is_demo"]
    search_fields = ["name", "hubspot_id", "contact__email_normalized"]
    date_hierarchy = "created_at"
    list_select_related = ["contact", "owner", "workspace"]
    raw_id_fields = ["contact"]
    inlines = [StageHistoryInline]
    show_full_result_count = False


@admin.register(Call)
class CallAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["started_at", "staff", "contact", "direction", "outcome", "talk_seconds", "source", "workspace"]
    list_filter = ["workspace", MatchedFilter, "source", "direction", "outcome", "is_demo"]
    search_fields = ["source_id", "contact_phone_e164", "contact__email_normalized"]
    date_hierarchy = "started_at"
    list_select_related = ["staff", "contact", "workspace"]
    raw_id_fields = ["contact"]
    show_full_result_count = False


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["scheduled_at", "kind", "status", "contact", "staff", "booked_by", "source", "workspace"]
    list_filter = ["workspace", "kind", "status", "source", "is_demo"]
    date_hierarchy = "scheduled_at"
    list_select_related = ["contact", "staff", "booked_by", "workspace"]
    raw_id_fields = ["contact"]
    show_full_result_count = False


@admin.register(Package)
class PackageAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["contact", "name", "sessions_used", "sessions_purchased", "value", "starts_on", "expires_on",
                    "workspace"]
    list_filter = ["workspace", "name", "is_demo"]
    date_hierarchy = "starts_on"
    list_select_related = ["contact", "workspace"]
    raw_id_fields = ["contact"]
    show_full_result_count = False


@admin.register(TrainingSession)
class TrainingSessionAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["starts_at", "contact", "coach", "status", "workspace"]
    list_filter = ["workspace", "status", "is_demo"]
    date_hierarchy = "starts_at"
    list_select_related = ["contact", "coach", "workspace"]
    raw_id_fields = ["contact", "package"]
    show_full_result_count = False


@admin.register(HealthScore)
class HealthScoreAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["date", "contact", "total", "zone", "churn_risk", "trend", "workspace"]
    list_filter = ["workspace", "zone", "trend", "is_demo"]
    date_hierarchy = "date"
    list_select_related = ["contact", "workspace"]
    raw_id_fields = ["contact"]
    show_full_result_count = False


@admin.register(Intervention)
class InterventionAdmin(WorkspaceAdmin):
    list_display = ["contact", "kind", "priority", "status", "assigned_to", "due_at", "created_at", "workspace"]
    list_editable = ["assigned_to"]  # status changes go through the workflow (clients.interventions)
    list_filter = ["workspace", "status", "priority", "kind"]
    search_fields = ["contact__first_name", "contact__last_name", "trigger"]
    list_select_related = ["contact", "assigned_to", "workspace"]
    raw_id_fields = ["contact"]


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["occurred_at", "contact", "staff", "channel", "direction", "sentiment", "workspace"]
    list_filter = ["workspace", "channel", "sentiment", "is_demo"]
    date_hierarchy = "occurred_at"
    list_select_related = ["contact", "staff", "workspace"]
    raw_id_fields = ["contact"]
    show_full_result_count = False


@admin.register(Survey)
class SurveyAdmin(WorkspaceAdmin):
    list_display = ["name", "kind", "question", "is_active", "created_at", "workspace"]
    list_filter = ["workspace", "kind", "is_active"]
    search_fields = ["name", "question"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["responded_at", "survey", "contact", "score", "workspace"]
    list_filter = ["workspace", "survey", "is_demo"]
    date_hierarchy = "responded_at"
    list_select_related = ["survey", "contact", "workspace"]
    raw_id_fields = ["contact"]


@admin.register(Alert)
class AlertAdmin(WorkspaceAdmin):
    list_display = ["created_at", "kind", "severity", "title", "contact", "staff", "resolved_at", "workspace"]
    list_filter = ["workspace", "kind", "severity"]
    search_fields = ["title", "body"]
    list_select_related = ["contact", "staff", "workspace"]
    raw_id_fields = ["contact"]


@admin.register(CoachSnapshot)
class CoachSnapshotAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["date", "coach", "rank", "rank_change", "performance_score", "active_clients", "avg_health",
                    "zone_red", "at_risk_revenue", "churned_clients", "intervention_success_rate", "workspace"]
    list_filter = ["workspace", "coach"]
    date_hierarchy = "date"
    list_select_related = ["coach", "workspace"]
    ordering = ["-date", "rank"]
