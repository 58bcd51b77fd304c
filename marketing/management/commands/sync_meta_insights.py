from django.core.management.base import BaseCommand

from marketing.services import meta_insights_sync
from ptd.commands import day_arg, workspace_arg


class Command(BaseCommand):
    help = ("Pull Meta ad-level daily insights into AdInsight (resumable). Default window: the last synced "
            "date minus 3 days to today; 90 days on the first run.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="ptd")
        parser.add_argument("--since", help="first day, YYYY-MM-DD")
        parser.add_argument("--until", help="last day, YYYY-MM-DD (default today)")

    def handle(self, *args, workspace, since, until, **options):
        since = day_arg(since, "--since") if since else None
        until = day_arg(until, "--until") if until else None
        totals = meta_insights_sync(workspace=workspace_arg(workspace), since=since, until=until)
        self.stdout.write(f"synced Meta insights {totals['since']} … {totals['until']}: {totals['rows']:,} ad-days "
                          f"in {totals['requests']:,} requests")
