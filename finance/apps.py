from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = "Finance (Stripe)"

    def ready(self):
        from django.db.models.signals import post_migrate

        post_migrate.connect(_install_first_payment_trigger, sender=self, dispatch_uid="finance_first_payment")


def _install_first_payment_trigger(sender, using="default", **kwargs):
    """After every migrate (the test database's too), payments keep their contact's first_paid_at."""
    from finance.first_payment import FIRST_PAYMENT

    FIRST_PAYMENT.install(using)
