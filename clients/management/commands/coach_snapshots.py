from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max

from clients.coach_performance import coach_snapshots_build
from clients.models import HealthScore
from ptd.commands import day_arg, workspace_arg


class Command(BaseCommand):
    help = ("Build every coach's performance snapshot for a day (default: the latest day with health scores). "
            "--backfill N also builds the N days before, oldest first, so trends and rank changes have history.")

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: the latest day with health scores)")
        parser.add_argument("--workspace", default="ptd")
        parser.add_argument("--backfill", type=int, default=0, metavar="DAYS",
                            help="also build the DAYS days before --date (days without health scores are skipped)")

    def handle(self, *args, date, workspace, backfill, **options):
        ws = workspace_arg(workspace)
        if date:
            day = day_arg(date)
        else:
            day = HealthScore.objects.filter(workspace=ws).aggregate(d=Max("date"))["d"]
            if day is None:
                raise CommandError(f"{ws.slug} has no health scores yet: run score_health first")
        if backfill < 0:
            raise CommandError("--backfill must be 0 or more")
        days = [day - timedelta(days=n) for n in range(backfill, -1, -1)]
        scored = set(HealthScore.objects.filter(workspace=ws, date__in=days).values_list("date", flat=True).distinct())
        for d in days:
            if d not in scored and d != day:
                continue
            result = coach_snapshots_build(workspace=ws, day=d)
            self.stdout.write(f"{ws.slug} {d}: {result['coaches']} coaches, {result['ranked']} ranked, "
                              f"{result['red_flags']} red flags")
