from django.core.management.base import BaseCommand, CommandError

from clients.churn import NotEnoughHistory, train
from ptd.commands import workspace_arg


class Command(BaseCommand):
    help = ("Train the churn model on the workspace's history (snapshots every --step-days, time-based backtest), "
            "store it in PTD_DATA_DIR/churn/ and print its backtest: auc=… precision_top_decile=… median_lead_days=…")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="ptd")
        parser.add_argument("--step-days", type=int, default=7, help="days between snapshots (default 7)")

    def handle(self, *args, workspace, step_days, **options):
        if step_days < 1:
            raise CommandError("--step-days must be at least 1")
        ws = workspace_arg(workspace)
        try:
            result = train(ws, step_days=step_days)
        except NotEnoughHistory as exc:
            raise CommandError(str(exc)) from None
        m = result.metrics
        lead = "n/a" if m["median_lead_days"] is None else m["median_lead_days"]
        self.stdout.write(f"auc={m['auc']:.3f} precision_top_decile={m['precision_top_decile']:.3f} "
                          f"median_lead_days={lead}")
