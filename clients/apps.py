from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Clients, sales and health"

    def ready(self):
        from clients.funnel import connect_signals

        connect_signals()
