from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ptd import embedded_db


class Command(BaseCommand):
    help = "Manage the embedded PostgreSQL in PTD_DATA_DIR: start, status or stop."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "status", "stop"])

    def handle(self, *args, action, **options):
        if settings.DATABASES["default"]["ENGINE"] != "ptd.dbbackend":
            raise CommandError("DATABASE_URL is set: this process uses that server, not the embedded one.")
        if action == "start":
            conn = embedded_db.ensure_running()
            self.stdout.write(f"running; socket directory {conn.host}")
        elif action == "status":
            self.stdout.write(embedded_db.status())
        else:
            was_running = embedded_db.stop()
            self.stdout.write("stopped" if was_running else "was not running")
