"""Loads the generated demo rows with PostgreSQL COPY in one transaction, and purges them.

Primary keys are handed out by the generator starting after each table's current maximum (tables are
locked for the load), and the identity sequences are moved past them at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from django.apps import apps
from django.db import connection, models, transaction
from django.utils import timezone

from ptd.demo.generator import Ids, Params, build_world, closing_rows, lead_chunks

# generator table key → model
TABLES = {
    "staff": "clients.Staff",
    "survey": "clients.Survey",
    "campaign": "marketing.Campaign",
    "adset": "marketing.AdSet",
    "ad": "marketing.Ad",
    "contact": "clients.Contact",
    "call": "clients.Call",
    "deal": "clients.Deal",
    "deal_stage": "clients.DealStageHistory",
    "appointment": "clients.Appointment",
    "customer": "finance.Customer",
    "subscription": "finance.Subscription",
    "invoice": "finance.Invoice",
    "package": "clients.Package",
    "session": "clients.TrainingSession",
    "payment": "finance.Payment",
    "refund": "finance.Refund",
    "dispute": "finance.Dispute",
    "attribution": "marketing.AttributionEvent",
    "interaction": "clients.Interaction",
    "survey_response": "clients.SurveyResponse",
    "insight": "marketing.AdInsight",
    "payout": "finance.Payout",
}


class _Copier:
    """COPY rows (dicts keyed by attname) into one model's table, filling defaults for absent fields."""

    def __init__(self, model: type[models.Model], workspace_id: int, now):
        self.model = model
        self.columns = []
        self.fillers: list[Callable[[dict], object]] = []
        for f in model._meta.concrete_fields:
            self.columns.append(f.column)
            self.fillers.append(self._filler(f, workspace_id, now))

    @staticmethod
    def _filler(f: models.Field, workspace_id: int, now) -> Callable[[dict], object]:
        name = f.attname
        if name == "workspace_id":
            return lambda row: workspace_id
        if name == "is_demo":
            return lambda row: True
        if isinstance(f, models.JSONField):
            default = f.get_default() if f.has_default() else None
            return lambda row: json.dumps(row.get(name, default), default=str)
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            return lambda row: row.get(name, now)
        if f.has_default():
            default = f.get_default()
            if isinstance(f, models.DateTimeField) and callable(f.default):
                default = now
            return lambda row: row.get(name, default)
        if f.null:
            return lambda row: row.get(name)
        if isinstance(f, (models.CharField, models.TextField)) and f.blank:
            return lambda row: row.get(name, "")
        return lambda row: row[name]

    def copy(self, cursor, rows: list[dict]) -> None:
        if not rows:
            return
        table = connection.ops.quote_name(self.model._meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        fillers = self.fillers
        with cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([fill(row) for fill in fillers])


def _model(key: str) -> type[models.Model]:
    return apps.get_model(TABLES[key])


def _can_skip_fk_triggers(cursor) -> bool:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    return bool(cursor.fetchone()[0])


@transaction.atomic
def load(*, workspace_id: int, clients: int, days: int, seed: int, end: date, progress=None) -> dict[str, int]:
    """Generate and load the dataset; returns row counts per table. All or nothing."""
    now = timezone.now()
    counts: dict[str, int] = {}
    copiers = {key: _Copier(_model(key), workspace_id, now) for key in TABLES}
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg cursor, for COPY
        tables = [connection.ops.quote_name(_model(k)._meta.db_table) for k in TABLES]
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE")
        if _can_skip_fk_triggers(cursor):
            # The generator builds consistent keys; skipping per-row FK triggers makes the load ~3× faster.
            cursor.execute("SET LOCAL session_replication_role = replica")
        starts = {}
        for key in TABLES:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {connection.ops.quote_name(_model(key)._meta.db_table)}")
            starts[key] = cursor.fetchone()[0]
        ids = Ids(starts)
        params = Params(clients=clients, days=days, seed=seed, end=end)
        world, rows = build_world(params, ids)

        def flush(batch: dict[str, list[dict]]) -> None:
            for key in TABLES:  # parents before children
                if batch.get(key):
                    copiers[key].copy(cursor, batch[key])
                    counts[key] = counts.get(key, 0) + len(batch[key])

        flush(rows)
        for chunk in lead_chunks(world, ids):
            flush(chunk)
            if progress:
                progress(counts.get("contact", 0))
        flush(closing_rows(world, ids))
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        for key in TABLES:
            table = _model(key)._meta.db_table
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM "
                f"{connection.ops.quote_name(table)}), 1))",
                [table],
            )
        from clients.attendance import attended_months_refresh
        from clients.funnel import deal_funnel_refresh
        from clients.membership import member_spans_refresh
        from finance.first_payment import FIRST_PAYMENT
        from finance.services import customers_recompute_ltv
        from marketing.first_touch import contacts_first_touch_refresh
        from ptd.models import DailyRollup, Workspace
        from ptd.rollups import rollups_rebuild_workspace

        # Statistics of what was just copied first: the builds below join these tables, and the planner would
        # otherwise take them for empty (this transaction's rows are not yet counted) and scan one per row of another.
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
        # COPY under replica mode fires no signals and no triggers: build what they would have kept current.
        deal_funnel_refresh(workspace_id=workspace_id)
        attended_months_refresh(workspace_id=workspace_id)
        member_spans_refresh(workspace_id=workspace_id)
        customers_recompute_ltv(workspace_id=workspace_id)
        FIRST_PAYMENT.refresh(workspace_id=workspace_id)
        contacts_first_touch_refresh(workspace_id=workspace_id)
        rollups_rebuild_workspace(workspace=Workspace.objects.get(pk=workspace_id))
        # Fresh statistics again (the builds filled columns and tables), so the first pages get good query plans.
        for table in [*tables, connection.ops.quote_name("clients_dealfunnel"),
                      connection.ops.quote_name("clients_attendedmonth"), connection.ops.quote_name("clients_memberspan"),
                      DailyRollup._meta.db_table]:
            cursor.execute(f"ANALYZE {table}")
    return {TABLES[k]: v for k, v in counts.items()}


def demo_models() -> list[type[models.Model]]:
    """Every model that carries the demo flag, children before parents for deletion."""
    from ptd.models import WorkspaceModel

    found = [m for m in apps.get_models() if issubclass(m, WorkspaceModel)]
    order = {apps.get_model(v): i for i, v in enumerate(TABLES.values())}
    return sorted(found, key=lambda m: -order.get(m, -1))


@transaction.atomic
def purge(*, workspace_id: int) -> dict[str, int]:
    """Delete exactly the demo rows of a workspace (and the demo users), nothing else."""
    from ptd.models import Membership, User

    removed: dict[str, int] = {}
    with connection.cursor() as cursor:
        # Memberships keep their user but lose the link to demo staff about to disappear.
        Membership.objects.filter(workspace_id=workspace_id, staff__is_demo=True).update(staff=None)
        models_in_order = demo_models()
        # Rows that are not demo but point at demo rows (e.g. a real call matched to a demo contact)
        # lose that link, as on_delete=SET_NULL would do.
        for model in models_in_order:
            for f in model._meta.concrete_fields:
                remote = getattr(f, "related_model", None)
                if f.many_to_one and remote is not None and remote in models_in_order and f.null:
                    model.objects.filter(workspace_id=workspace_id, is_demo=False, **{f"{f.name}__is_demo": True}).update(
                        **{f.name: None}
                    )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for model in models_in_order:
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE workspace_id = %s AND is_demo", [workspace_id])
            if cursor.rowcount:
                removed[model._meta.label] = cursor.rowcount
    demo_users = User.objects.filter(is_demo=True, memberships__workspace_id=workspace_id)
    removed["ptd.User"] = demo_users.count()
    User.objects.filter(pk__in=list(demo_users.values_list("pk", flat=True))).delete()
    return removed
