from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PtdConfig(AppConfig):
    default = True
    name = "ptd"
    verbose_name = "Workspace, users and platform"

    def ready(self):
        from django.db.models.signals import post_migrate

        from ptd import signals  # noqa: F401  (audit log of role changes)

        post_migrate.connect(_install_rollup_triggers, dispatch_uid="ptd_rollup_triggers")


def _install_rollup_triggers(sender, using="default", **kwargs):
    """After every migrate (including the test database's; post_migrate follows the whole plan, so every
    app's tables exist), the rollup triggers match the measures."""
    if sender.name == "ptd":
        from ptd.rollups import install_triggers

        install_triggers(using)


class PtdAdminConfig(admin_apps.AdminConfig):
    """Django admin whose site admits workspace admins only (see ptd.admin_base)."""

    default = False
    default_site = "ptd.admin_base.PtdAdminSite"
