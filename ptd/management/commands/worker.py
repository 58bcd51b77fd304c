from django.core.management import call_command
from django.core.management.base import BaseCommand

from ptd.schedules import sync_schedules


class Command(BaseCommand):
    help = "Start the django-q2 worker cluster after syncing the schedules declared in ptd/schedules.py."

    def handle(self, *args, **options):
        counts = sync_schedules()
        self.stdout.write("schedules: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        call_command("qcluster")
