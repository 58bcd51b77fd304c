from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Clients, sales and health"

    def ready(self):
        from django.db.models.signals import post_migrate

        from clients.funnel import connect_signals

        connect_signals()
        post_migrate.connect(_install_first_call_trigger, sender=self, dispatch_uid="clients_first_call_trigger")


def _install_first_call_trigger(sender, using="default", **kwargs):
    """After every migrate (the test database's too), calls keep their contact's first_call_at and sessions their
    client's attended months; packages and subscriptions their contact's membership spans."""
    from clients import attendance, membership
    from clients.first_times import FIRST_CALL

    FIRST_CALL.install(using)
    attendance.install(using)
    membership.install(using)
