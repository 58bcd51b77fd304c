from django.core.management.base import BaseCommand

from clients.hubspot_sync import hubspot_sync
from ptd.commands import workspace_arg


class Command(BaseCommand):
    help = "Pull owners, pipelines, contacts, deals, calls and meetings from HubSpot (resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="ptd")
        parser.add_argument("--full", action="store_true", help="page through everything again, not just changes")

    def handle(self, *args, workspace, full, **options):
        counts = hubspot_sync(workspace=workspace_arg(workspace), full=full)
        self.stdout.write("synced from HubSpot: " + ", ".join(f"{n:,} {k}" for k, n in counts.items()))
