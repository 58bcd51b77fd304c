"""Django admin limited by workspace: a person who is admin of some workspaces sees and edits only
those workspaces' rows; superusers see all. Other roles cannot open the admin at all."""

from django.contrib import admin

from ptd.models import Role, Workspace


def admin_workspace_ids(user) -> list[int]:
    if not user.is_active or not user.is_authenticated:
        return []
    cached = getattr(user, "_admin_workspace_ids", None)  # asked once per model on every admin page
    if cached is None:
        rows = Workspace.objects.all() if user.is_superuser else Workspace.objects.filter(
            memberships__user=user, memberships__role=Role.ADMIN)
        cached = user._admin_workspace_ids = list(rows.values_list("pk", flat=True))
    return cached


class PtdAdminSite(admin.AdminSite):
    site_header = "PTD Vital Suite administration"
    site_title = "PTD Vital Suite admin"
    index_title = "Configuration and records"

    def has_permission(self, request):
        return bool(admin_workspace_ids(request.user))


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """Users and workspaces span workspaces, so only superusers manage them."""

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class WorkspaceFilter(admin.SimpleListFilter):
    """The workspace filter, offering only the workspaces this admin administers (names included)."""

    title = "workspace"
    parameter_name = "workspace__id__exact"

    def lookups(self, request, model_admin):
        return list(Workspace.objects.filter(pk__in=admin_workspace_ids(request.user)).values_list("pk", "name"))

    def queryset(self, request, queryset):
        return queryset.filter(workspace_id=self.value()) if self.value() else queryset


class MatchedFilter(admin.SimpleListFilter):
    """Identity review: rows not yet matched to a contact are linked when a matching contact appears."""

    title = "matched to a contact"
    parameter_name = "matched"

    def lookups(self, request, model_admin):
        return [("yes", "Matched"), ("no", "Unmatched")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(contact__isnull=self.value() == "no")
        return queryset


def _has_workspace(model) -> bool:
    return any(f.name == "workspace" for f in model._meta.concrete_fields)


class WorkspaceAdmin(admin.ModelAdmin):
    """ModelAdmin for WorkspaceModel rows (and any model with a `workspace` FK)."""

    workspace_path = "workspace"

    def get_list_filter(self, request):
        return [WorkspaceFilter if f == "workspace" else f for f in super().get_list_filter(request)]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.workspace_path}__in": admin_workspace_ids(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Choices (dropdowns and raw ids alike) come only from the workspaces this person administers."""
        allowed = admin_workspace_ids(request.user)
        if db_field.related_model is Workspace:
            kwargs["queryset"] = Workspace.objects.filter(pk__in=allowed)
        elif _has_workspace(db_field.related_model):
            kwargs["queryset"] = db_field.related_model._default_manager.filter(workspace_id__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if _has_workspace(db_field.related_model):
            kwargs["queryset"] = db_field.related_model._default_manager.filter(
                workspace_id__in=admin_workspace_ids(request.user))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _is_workspace_admin(self, request) -> bool:
        return bool(admin_workspace_ids(request.user))

    def has_module_permission(self, request):
        return self._is_workspace_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._is_workspace_admin(request)

    def has_add_permission(self, request):
        return self._is_workspace_admin(request)

    def has_change_permission(self, request, obj=None):
        return self._is_workspace_admin(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_workspace_admin(request)


class ReadOnlyWorkspaceAdmin(WorkspaceAdmin):
    """Source records that only ingestion writes: admins look, they do not edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
