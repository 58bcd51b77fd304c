from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from clients.calls import calls_sync_callgear
from ptd.commands import workspace_arg


def _datetime(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DD HH:MM)") from None


class Command(BaseCommand):
    help = ("Pull CallGear calls (get.calls_report) into Call (resumable). Default window: the latest call "
            "start seen minus an hour to now; 90 days on the first run.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="ptd")
        parser.add_argument("--since", type=_datetime, help="start, YYYY-MM-DD[ HH:MM] in the workspace timezone")

    def handle(self, *args, workspace, since, **options):
        if isinstance(since, str):  # call_command(since="…") skips the parser's type
            since = _datetime(since)
        totals = calls_sync_callgear(workspace=workspace_arg(workspace), since=since)
        self.stdout.write(f"synced CallGear calls since {totals['since']}: {totals['calls']:,} calls in "
                          f"{totals['requests']:,} requests")
