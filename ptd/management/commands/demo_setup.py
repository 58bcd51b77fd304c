from django.core.management import call_command
from django.core.management.base import BaseCommand

from ptd.models import Workspace
from ptd.services import workspace_ensure_defaults


class Command(BaseCommand):
    help = "First-run set-up for `make run`: the default workspace, demo data when the database is empty."

    def handle(self, *args, **options):
        from clients.models import Contact

        workspace = Workspace.objects.get(slug="ptd")
        workspace_ensure_defaults(workspace=workspace)
        if Contact.objects.filter(workspace=workspace).exists():
            self.stdout.write("data present: demo dataset not loaded")
            return
        self.stdout.write("empty database: loading the demo dataset…")
        call_command("demo_data", workspace="ptd", stdout=self.stdout, stderr=self.stderr)
        # What the schedules would produce over the next day, so the pages have scores to show at once.
        from clients.coach_tasks import build_coach_snapshots
        from clients.intervention_tasks import open_interventions

        call_command("train_churn_model", workspace="ptd", stdout=self.stdout, stderr=self.stderr)
        call_command("score_health", workspace="ptd", stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(open_interventions())
        self.stdout.write(build_coach_snapshots())
