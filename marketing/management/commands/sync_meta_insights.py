from datetime import date

from django.core.management.base import BaseCommand, CommandError

from marketing.services import meta_insights_sync
from ptd.commands import workspace_arg


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = ("Pull Meta ad-level daily insights into AdInsight (resumable). Default window: the last synced "
            "date minus 3 days to today; 90 days on the first run.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="ptd")
        parser.add_argument("--since", type=_date, help="first day, YYYY-MM-DD")
        parser.add_argument("--until", type=_date, help="last day, YYYY-MM-DD (default today)")

    def handle(self, *args, workspace, since, until, **options):
        # call_command(since="…") skips the parser's type
        since, until = (_date(v) if isinstance(v, str) else v for v in (since, until))
        totals = meta_insights_sync(workspace=workspace_arg(workspace), since=since, until=until)
        self.stdout.write(f"synced Meta insights {totals['since']} … {totals['until']}: {totals['rows']:,} ad-days "
                          f"in {totals['requests']:,} requests")
