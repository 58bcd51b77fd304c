from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = "Marketing and site tracking"

    def ready(self):
        from django.db.models.signals import post_migrate

        post_migrate.connect(_install_first_touch_triggers, sender=self, dispatch_uid="marketing_first_touch")


def _install_first_touch_triggers(sender, using="default", **kwargs):
    """After every migrate (the test database's too), events and contacts keep each contact's first paid touch, and
    the first-touch rollup learns which days a moved touch or payment changes."""
    from marketing import first_touch, first_touch_days

    first_touch.install_triggers(using)
    first_touch_days.install_triggers(using)
