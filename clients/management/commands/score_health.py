from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand
from django.utils import timezone

from clients.health import score_health
from ptd.commands import day_arg, workspace_arg


class Command(BaseCommand):
    help = "Score every client's health for a day (default today) and store one row per client."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: today in the workspace's time zone)")
        parser.add_argument("--client", type=int, action="append", help="only this contact id (repeatable)")
        parser.add_argument("--workspace", default="ptd")

    def handle(self, *args, date, client, workspace, **options):
        ws = workspace_arg(workspace)
        if date:
            day = day_arg(date)
        else:
            day = timezone.now().astimezone(ZoneInfo(ws.timezone)).date()
        result = score_health(workspace=ws, day=day, contact_ids=client)
        self.stdout.write(f"scored {result['clients']:,} clients of {ws.slug} for {day} in {result['total_s']} s "
                          f"(churn risk: {result['churn_risk_source']})")
