from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from ptd.admin_base import ReadOnlyWorkspaceAdmin, SuperuserOnlyAdmin, WorkspaceAdmin
from ptd.credentials import credential_delete, credential_set
from ptd.models import (AuditLog, Benchmark, FunnelThreshold, IntegrationCredential, Membership, SyncState, User,
                        WebhookEvent, Workspace)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["staff"]


@admin.register(User)
class PtdUserAdmin(SuperuserOnlyAdmin, UserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_superuser", "last_login"]


@admin.register(Workspace)
class WorkspaceModelAdmin(SuperuserOnlyAdmin):
    list_display = ["name", "slug", "timezone", "currency", "plan", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(WorkspaceAdmin):
    list_display = ["user", "workspace", "role", "staff", "created_at"]
    list_filter = ["workspace", "role"]
    search_fields = ["user__username", "user__email", "staff__name"]
    list_select_related = ["user", "workspace", "staff"]
    autocomplete_fields = ["user", "staff"]

    def save_model(self, request, obj, form, change):
        obj._actor = request.user  # recorded in the audit log by ptd.signals
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        obj._actor = request.user
        super().delete_model(request, obj)


class CredentialForm(forms.ModelForm):
    value = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False,
                            help_text="Leave empty to keep the stored value. Stored encrypted; never shown again.")

    class Meta:
        model = IntegrationCredential
        fields = ["workspace", "kind", "mode"]

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("value"):
            self.add_error("value", "Enter the secret.")
        return cleaned


@admin.register(IntegrationCredential)
class IntegrationCredentialAdmin(WorkspaceAdmin):
    form = CredentialForm
    list_display = ["workspace", "kind", "masked", "mode", "updated_at", "updated_by"]
    list_filter = ["workspace", "kind", "mode"]
    readonly_fields = ["masked", "updated_at", "updated_by"]
    list_select_related = ["workspace", "updated_by"]

    @admin.display(description="value")
    def masked(self, obj):
        try:
            return obj.masked
        except Exception:
            return "unreadable — enter it again"

    def save_model(self, request, obj, form, change):
        value = form.cleaned_data.get("value")
        if not value:  # only the mode changed
            from ptd.crypto import decrypt

            value = decrypt(IntegrationCredential.objects.get(pk=obj.pk).value_encrypted)
        saved = credential_set(workspace=obj.workspace, kind=obj.kind, value=value, mode=obj.mode, actor=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        credential_delete(credential=obj, actor=request.user)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["at", "workspace", "actor", "action", "object_type", "object_id"]
    list_filter = ["workspace", "action", "object_type"]
    search_fields = ["object_id", "actor__username"]
    date_hierarchy = "at"
    list_select_related = ["workspace", "actor"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["received_at", "workspace", "source", "event_type", "status", "attempts", "dedup_key"]
    list_filter = ["workspace", "source", "status"]
    search_fields = ["dedup_key", "event_type"]
    date_hierarchy = "received_at"
    list_select_related = ["workspace"]
    exclude = ["body"]
    actions = ["replay"]

    @admin.action(description="Replay: process the selected events again")
    def replay(self, request, queryset):
        from ptd.inbox import webhook_replay

        count = webhook_replay(events=queryset)
        self.message_user(request, f"{count} event{'s' if count != 1 else ''} queued for processing again.")


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyWorkspaceAdmin):
    list_display = ["workspace", "source", "last_success_at", "records_synced", "last_error_at"]
    list_filter = ["workspace", "source"]
    list_select_related = ["workspace"]


@admin.register(FunnelThreshold)
class FunnelThresholdAdmin(WorkspaceAdmin):
    list_display = ["workspace", "from_step", "to_step", "owner", "healthy_min_pct", "warning_min_pct"]
    list_editable = ["healthy_min_pct", "warning_min_pct"]
    list_filter = ["workspace", "owner"]
    list_select_related = ["workspace"]


@admin.register(Benchmark)
class BenchmarkAdmin(WorkspaceAdmin):
    list_display = ["workspace", "key", "value", "unit", "description"]
    list_editable = ["value"]
    list_filter = ["workspace"]
    search_fields = ["key", "description"]
    list_select_related = ["workspace"]
