"""Every periodic task, declared once (DESIGN §8), in Asia/Dubai time. `sync_schedules()` runs when the
worker starts (`manage.py worker`) and makes django-q2's Schedule table match this list."""

from dataclasses import dataclass

from django.db import transaction

MANAGED_PREFIX = "ptd:"


@dataclass(frozen=True)
class Declared:
    name: str
    func: str
    cron: str
    why: str


SCHEDULES = [
    # Channel-layer rows and login attempts pile up; keep the tables small.
    Declared("housekeeping", "ptd.tasks.housekeeping", "17 * * * *", "prune expired live-update and login rows"),
    # Failed webhook events whose backoff has passed go back on the queue.
    Declared("webhook-retry", "ptd.inbox.webhook_retry_due", "* * * * *", "retry failed webhook events"),
    # Meta restates recent days: re-read from the last synced date minus 3 days, hourly.
    Declared("hubspot-sync", "clients.tasks.sync_hubspot", "*/2 * * * *", "HubSpot changes every 2 minutes"),
    Declared("meta-insights", "marketing.tasks.sync_meta_insights", "5 * * * *", "Meta insights hourly"),
    # CallGear notifications are hints; this pull is what guarantees every call arrives.
    Declared("callgear-sync", "clients.tasks.sync_callgear", "*/5 * * * *", "CallGear calls every 5 minutes"),
    # Webhooks carry Stripe changes as they happen; this nightly pull fills any gap (server TIME_ZONE: Dubai).
    Declared("health-daily", "clients.health.score_health_daily", "0 9 * * *", "every client's health (DESIGN §8: 09:00)"),
    Declared("coach-snapshots", "clients.coach_tasks.build_coach_snapshots", "30 9 * * *",
             "coach snapshots after the 09:00 health scoring"),
    # A zone downgrade or new critical flag becomes an intervention within 5 minutes of scoring (DESIGN §8).
    Declared("interventions-open", "clients.intervention_tasks.open_interventions", "*/5 * * * *",
             "open interventions for the latest scored day"),
    # After the 09:00 scoring, so the scores of day c + 7 / c + 30 exist.
    Declared("intervention-outcomes", "clients.intervention_tasks.measure_intervention_outcomes", "40 9 * * *",
             "7- and 30-day intervention outcomes"),
    Declared("intervention-reminders", "clients.intervention_tasks.intervention_reminders", "10 * * * *",
             "alerts for overdue interventions"),
    Declared("stripe-sync", "finance.tasks.sync_stripe", "30 1 * * *", "Stripe backfill (DESIGN §8: 01:30)"),
    # After the 01:30 backfill; new Stripe events also trigger a scan of their workspace (finance.ingest).
    Declared("stripe-forensics", "finance.tasks.stripe_forensics", "0 2 * * *", "Stripe forensics (DESIGN §8: 02:00)"),
    # After forensics, so the night's payments are in the values written back to HubSpot.
    Declared("hubspot-enrichment", "finance.tasks.hubspot_enrichment", "30 2 * * *",
             "Stripe lifetime value, last payment and failed payments onto HubSpot contacts"),
    # Writes refresh the rows they touch; the nightly rebuild corrects anything that bypassed them.
    Declared("rollups", "clients.funnel.deal_funnel_rebuild", "0 3 * * *", "rebuild the deal funnel rollup (03:00)"),
    # The daily measures read the deal funnel, so they are rebuilt after it. Between rebuilds, triggers mark what
    # writes touch and this refresh folds it in (readers compute marked days from the raw rows meanwhile).
    Declared("daily-rollups", "ptd.rollups.rollups_rebuild", "15 3 * * *", "rebuild the daily measures (03:15)"),
    Declared("daily-rollups-refresh", "ptd.rollups.rollups_refresh_all", "* * * * *",
             "fold the days written since into the daily measures"),
]


@transaction.atomic
def sync_schedules() -> dict[str, int]:
    """Create, update or remove our schedules; untouched rows keep their next_run."""
    from django_q.models import Schedule

    counts = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}
    wanted = {MANAGED_PREFIX + d.name: d for d in SCHEDULES}
    existing = {s.name: s for s in Schedule.objects.filter(name__startswith=MANAGED_PREFIX)}
    for name, declared in wanted.items():
        row = existing.get(name)
        if row is None:
            Schedule.objects.create(name=name, func=declared.func, schedule_type=Schedule.CRON, cron=declared.cron,
                                    repeats=-1)
            counts["created"] += 1
        elif (row.func, row.cron, row.schedule_type) != (declared.func, declared.cron, Schedule.CRON):
            # django-q computes next_run only for new rows: recompute it for the changed cron.
            row.func, row.cron, row.schedule_type = declared.func, declared.cron, Schedule.CRON
            row.next_run = row.calculate_next_run()
            row.save()
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    stale = [name for name in existing if name not in wanted]
    counts["deleted"] = Schedule.objects.filter(name__in=stale).delete()[0]
    return counts
