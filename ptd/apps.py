from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PtdConfig(AppConfig):
    default = True
    name = "ptd"
    verbose_name = "Workspace, users and platform"

    def ready(self):
        from ptd import signals  # noqa: F401  (audit log of role changes)


class PtdAdminConfig(admin_apps.AdminConfig):
    """Django admin whose site admits workspace admins only (see ptd.admin_base)."""

    default = False
    default_site = "ptd.admin_base.PtdAdminSite"
