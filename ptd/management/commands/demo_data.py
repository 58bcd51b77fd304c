import time
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ptd.demo import loader
from ptd.demo.users import demo_users_ensure
from ptd.commands import day_arg, workspace_arg


class Command(BaseCommand):
    help = "Generate the flagged, deterministic demo dataset into a workspace, or --purge it."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=1000, help="clients who buy a package (default 1000)")
        parser.add_argument("--days", type=int, default=365, help="days of history ending today (default 365)")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--end", help="last day of the dataset, YYYY-MM-DD (default: today in the workspace)")
        parser.add_argument("--workspace", default="ptd", help="workspace slug (default ptd)")
        parser.add_argument("--purge", action="store_true", help="remove the demo rows and demo users instead")
        parser.add_argument("--no-users", action="store_true", help="do not create the demo logins")

    def handle(self, *args, clients, days, seed, end, workspace, purge, no_users, **options):
        ws = workspace_arg(workspace)
        if purge:
            removed = loader.purge(workspace_id=ws.pk)
            total = sum(removed.values())
            self.stdout.write(f"removed {total:,} demo rows from {ws.slug}: " +
                              ", ".join(f"{k} {v:,}" for k, v in sorted(removed.items())))
            return
        if clients < 1 or days < 30:
            raise CommandError("--clients must be at least 1 and --days at least 30")
        if end:
            end_day = day_arg(end, "--end")
        else:
            end_day = timezone.now().astimezone(ZoneInfo(ws.timezone)).date()
        from clients.models import Contact

        if Contact.objects.filter(workspace=ws, is_demo=True).exists():
            raise CommandError(f"{ws.slug} already holds demo data; run with --purge first")
        started = time.monotonic()
        progress = self._progress(clients)
        counts = loader.load(workspace_id=ws.pk, clients=clients, days=days, seed=seed, end=end_day,
                             progress=progress)
        elapsed = time.monotonic() - started
        self.stdout.write(f"\nloaded {sum(counts.values()):,} demo rows into {ws.slug} in {elapsed:.1f} s "
                          f"({clients:,} clients, {days} days to {end_day}, seed {seed})")
        for label, n in counts.items():
            self.stdout.write(f"  {label:<28} {n:>12,}")
        if not no_users:
            created, password = demo_users_ensure(workspace=ws)
            if created:
                self.stdout.write(f"demo logins created: {', '.join(created)} / password: {password}")

    def _progress(self, clients):
        if not self.stdout.isatty():
            return None
        from tqdm import tqdm

        from ptd.demo.generator import lead_count_for

        bar = tqdm(total=lead_count_for(clients), unit=" leads", file=self.stderr._out)

        def update(done):
            bar.update(done - bar.n)

        return update
