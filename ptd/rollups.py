"""Daily rollups (DESIGN §8, "BI aggregation 03:00"): a measure — a count or sum of raw rows by the local day of
one of their times, optionally per staff member — stored per (day, staff) in DailyRollup, so a workspace-wide page
sums at most a few hundred rows instead of scanning a month of a million-row table.

A measure is defined once, as an ORM aggregate over its model (`@measure` below, in each app's `measures.py`).
The same definition builds the rollup and answers live, so the two cannot drift:

- Workspace-wide readers (admins, viewers) take the stored days that are clean and compute the dirty ones from
  the raw rows. Statement-level triggers on every source table (installed from this registry after `migrate`)
  mark the local days a write touched in RollupDirty — whatever wrote them: services, bulk upserts, the admin.
  So a page is exact the moment a write commits; `rollups_refresh` (every minute) folds the dirty days back in.
- Staff-scoped readers (a coach, a setter) compute their own rows live: they are few.
- `rollups_rebuild` (03:00, and after a demo load, which bypasses triggers) recomputes everything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from importlib import import_module
from zoneinfo import ZoneInfo

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Aggregate, Count, DateField, F, Model, Q, Sum, Value
from django.db.models.functions import TruncDate

from ptd.models import DailyRollup, RollupDirty, Workspace
from ptd.periods import Period
from ptd.scoping import Scope, scoped

# The modules that register measures and day tables.
MEASURE_MODULES = ["clients.measures", "finance.measures", "marketing.first_touch_days", "clients.member_periods"]
TRIGGER_PREFIX = "ptd_rollup_"
ALL_TIME = date(1970, 1, 1)  # first_day of "all time up to period end"


@dataclass(frozen=True)
class Measure:
    name: str
    model: type[Model]
    day_field: str  # the time (or date) whose local day a row counts on; may cross a relation ("funnel__held_at")
    kind: str  # "count" of rows or "sum" of `field`
    field: str
    where: Callable[[], Q]
    staff: str | None  # the field path of the staff dimension ("owner_id"), or none
    # Whether the rollup keeps a cell per staff member and day (worth it when they hold many rows each, like a
    # coach's sessions) or only the day's total (staff reads then go to the raw rows).
    store_per_staff: bool
    # Tables whose writes change the measure, with the time columns that say which days: what the triggers watch.
    sources: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def shape(self) -> tuple:
        """Measures of one shape are computed together, in one grouped query."""
        return self.model, self.day_field, self.staff

    def aggregate(self) -> Aggregate:
        where = self.where()
        return (Count if self.kind == "count" else Sum)(self.field, filter=where if where else None)


_MEASURES: dict[str, Measure] = {}
_loaded = False


def measure(name: str, *, model: type[Model], day: str, total: str | None = None, where=None,
            staff: str | None = None, store_per_staff: bool = False,
            sources: dict[str, Iterable[str]] | None = None) -> Measure:
    """Register a measure: the rows of `model` matching `where`, counted (or their `total` field summed) on the
    local day of `day`, per `staff`. `sources` defaults to the model's own table watched on `day`."""
    if name in _MEASURES:
        raise ValueError(f"measure {name!r} is defined twice")
    watched = sources or {model._meta.db_table: [day]}
    spec = Measure(name, model, day, "sum" if total else "count", total or "pk", where or (lambda: Q()), staff,
                   store_per_staff and staff is not None, tuple((table, tuple(columns)) for table, columns in watched.items()))
    _MEASURES[name] = spec
    return spec


def measures() -> dict[str, Measure]:
    global _loaded
    if not _loaded:
        for module in MEASURE_MODULES:
            import_module(module)
        _loaded = True
    return _MEASURES


@dataclass(frozen=True)
class DayTable:
    """A rollup with a table of its own, per local day, beside DailyRollup's measures (marketing.first_touch_days),
    kept by the same dirty marks: the days marked under any of `sources` are recomputed by
    store(workspace=…, runs=…), which replaces the rows of those runs of days (of every day when runs is None)
    and returns the rows written. Its readers compute the dirty days from the raw rows themselves."""

    name: str
    sources: tuple[str, ...]
    store: Callable[..., int]


_DAY_TABLES: dict[str, DayTable] = {}


def day_table(name: str, *, sources: Iterable[str], store: Callable[..., int]) -> DayTable:
    if name in _DAY_TABLES:
        raise ValueError(f"day table {name!r} is registered twice")
    _DAY_TABLES[name] = DayTable(name, tuple(sources), store)
    return _DAY_TABLES[name]


def day_tables() -> dict[str, DayTable]:
    measures()  # loads the modules that register them
    return _DAY_TABLES


# ---- computing from the raw rows ----

def _is_date(spec: Measure) -> bool:
    """Whether the measure's day field is a date (counted as is) rather than a time (converted to a local day)."""
    model, path = spec.model, spec.day_field.split("__")
    for hop in path[:-1]:
        model = model._meta.get_field(hop).related_model
    return model._meta.get_field(path[-1]).get_internal_type() == "DateField"


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days (first, last)."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def day_spans(runs: list[tuple[date, date]], tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Runs of local days (first, last) as [start, end) times."""
    return [(datetime.combine(first, time.min, tzinfo=tz), datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz))
            for first, last in runs]


def _on_days(spec: Measure, runs: list[tuple[date, date]], tz: ZoneInfo) -> Q:
    """Rows whose day is in one of the runs: index ranges on the stored time, no per-row conversion."""
    condition = Q(pk__in=[])
    if _is_date(spec):
        for first, last in runs:
            condition |= Q(**{f"{spec.day_field}__gte": first, f"{spec.day_field}__lte": last})
    else:
        for start, end in day_spans(runs, tz):
            condition |= Q(**{f"{spec.day_field}__gte": start, f"{spec.day_field}__lt": end})
    return condition


Row = tuple[date, "int | None", Decimal]


def _shape_queries(specs: Iterable[Measure], *, workspace_id: int, tz: ZoneInfo, access: Scope | None,
                   runs: list[tuple[date, date]] | None, stored: bool = False, per_day: bool = True):
    """(measures, staff field, grouped queryset) per shape of measure: rows (rollup_day, staff, m0, m1, …).
    `stored`: the grain the rollup keeps (the staff dimension only where store_per_staff); without `per_day`
    the rows are per staff over all the days (rollup_day None)."""
    shapes: dict[tuple, list[Measure]] = defaultdict(list)
    for spec in specs:
        model, day_field, staff = spec.shape
        shapes[model, day_field, staff if spec.store_per_staff or not stored else None].append(spec)
    if runs is not None and not runs:
        return
    for (model, day_field, staff), group in shapes.items():
        first = group[0]
        rows = scoped(model, access) if access else model.objects.filter(workspace_id=workspace_id)
        rows = rows.filter(_on_days(first, runs, tz)) if runs is not None else rows.filter(**{f"{day_field}__isnull": False})
        day = (F(day_field) if _is_date(first) else TruncDate(day_field, tzinfo=tz)) if per_day else Value(None, DateField())
        keys = ["rollup_day", *([staff] if staff else [])]
        aggregates = {f"m{i}": spec.aggregate() for i, spec in enumerate(group)}
        yield group, staff, rows.annotate(rollup_day=day).values(*keys).annotate(**aggregates).order_by()


def computed(specs: Iterable[Measure], *, workspace_id: int, tz: ZoneInfo, access: Scope | None = None,
             runs: list[tuple[date, date]] | None = None, per_day: bool = True) -> dict[str, list[Row]]:
    """Measure → its (day, staff, value) rows from the raw rows, on the runs of days (first, last) — all days
    when None — (day None without per_day): one grouped query per shape of measure."""
    specs = list(specs)
    out: dict[str, list[Row]] = {spec.name: [] for spec in specs}
    with connection.cursor() as cursor:
        for group, staff, query in _shape_queries(specs, workspace_id=workspace_id, tz=tz, access=access, runs=runs,
                                                  per_day=per_day):
            # Plain tuples by column alias: thousands of per-staff rows skip the ORM's per-row conversion.
            try:
                sql, params = query.query.sql_with_params()
            except EmptyResultSet:  # scoped to nothing (a role that sees none of the model)
                continue
            values = ", ".join(f"q.m{i}" for i in range(len(group)))
            staff_column = f"q.{connection.ops.quote_name(staff)}" if staff else "NULL"
            cursor.execute(f"SELECT q.rollup_day, {staff_column}, {values} FROM ({sql}) q", params)
            for day, staff_id, *sums in cursor.fetchall():
                for spec, value in zip(group, sums):
                    if value:
                        out[spec.name].append((day, staff_id, Decimal(value)))
    return out


# ---- reading ----

def workspace_wide(spec: Measure, access: Scope) -> bool:
    return access.role in spec.model.ROLE_SCOPE_ALL


def read(names: Iterable[str], period: Period, access: Scope, *, by: str | None = None,
         first_day: date | None = None) -> dict[str, dict]:
    """Measure → {key: value} over the period (from `first_day` instead when given: "all time up to period end"
    is first_day=ALL_TIME) as `access` may see it, the key being None (the total), the day (by="day") or the
    staff id (by="staff"). A workspace-wide reader of totals gets the stored days that are clean, summed in SQL
    (one statement for all the measures, which also returns the dirty days), plus the dirty days computed from
    the raw rows; per-staff reads of a measure not stored per staff, and staff-scoped readers, get the raw rows.
    Equal to `computed`."""
    specs = [measures()[name] for name in names]
    first, workspace_id = first_day or period.first_day, access.workspace.pk
    out: dict[str, dict] = {spec.name: defaultdict(Decimal) for spec in specs}

    def add(rows_of: dict[str, list[Row]], keep=lambda name, day: True):
        for name, rows in rows_of.items():
            for day, staff, value in rows:
                if keep(name, day):
                    out[name][{"day": day, "staff": staff}.get(by)] += value

    wide = [spec for spec in specs if workspace_wide(spec, access) and (by != "staff" or spec.store_per_staff)]
    add(computed([spec for spec in specs if spec not in wide], workspace_id=workspace_id, tz=period.tz,
                 access=access, runs=[(first, period.last_day)], per_day=by == "day"))
    if not wide:
        return out
    watch = [(spec.name, table) for spec in wide for table, _ in spec.sources]
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH dirty AS (SELECT source, day FROM {RollupDirty._meta.db_table}
                           WHERE workspace_id = %s AND source = ANY(%s) AND day BETWEEN %s AND %s),
                 watch AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS w(measure, source))
            SELECT NULL::text, source, day, NULL::bigint, NULL::numeric FROM dirty
            UNION ALL
            SELECT r.measure, NULL, {"r.day" if by == "day" else "NULL::date"},
                   {"r.staff_id" if by == "staff" else "NULL::bigint"}, SUM(r.value)
            FROM {DailyRollup._meta.db_table} r
            WHERE r.workspace_id = %s AND r.measure = ANY(%s) AND r.day BETWEEN %s AND %s
              AND NOT EXISTS (SELECT 1 FROM dirty d JOIN watch w ON w.source = d.source
                              WHERE w.measure = r.measure AND d.day = r.day)
            GROUP BY 1, 2, 3, 4""",
                       [workspace_id, sorted({t for _, t in watch}), first, period.last_day,
                        [m for m, _ in watch], [t for _, t in watch],
                        workspace_id, [spec.name for spec in wide], first, period.last_day])
        cells = cursor.fetchall()
    dirty: dict[str, set[date]] = defaultdict(set)
    for name, source, day, staff, value in cells:
        if name is None:
            dirty[source].add(day)
        else:
            out[name][{"day": day, "staff": staff}.get(by)] += value
    dirty_of = {spec.name: set().union(*(dirty[t] for t, _ in spec.sources)) for spec in wide}
    # The dirty days, computed together (a measure's rows outside its own dirty days are dropped).
    all_dirty = day_ranges(set().union(*dirty_of.values()))
    add(computed(wide, workspace_id=workspace_id, tz=period.tz, runs=all_dirty),
        keep=lambda name, day: day in dirty_of[name])
    return out


def totals(names: Iterable[str], period: Period, access: Scope, *, first_day: date | None = None) -> dict[str, Decimal]:
    return {name: sums.get(None, Decimal(0)) for name, sums in read(names, period, access, first_day=first_day).items()}


def total(name: str, period: Period, access: Scope, *, first_day: date | None = None) -> Decimal:
    return totals([name], period, access, first_day=first_day)[name]


def by_day(name: str, period: Period, access: Scope) -> dict[date, Decimal]:
    return read([name], period, access, by="day")[name]


def by_staff(names: Iterable[str], period: Period, access: Scope) -> dict[str, dict[int | None, Decimal]]:
    """Measure → staff id → value over the period (measures with a staff dimension)."""
    return read(names, period, access, by="staff")


# ---- writing ----

def _store(workspace: Workspace, specs: list[Measure], runs: list[tuple[date, date]] | None) -> int:
    """Insert the computed cells of `specs` on the runs of days (all days when None) in SQL, one INSERT … SELECT
    per shape: a rebuild moves no rows through Python. The cells are workspace totals per day: a day's cells per
    staff member would be nearly as many as the raw rows (1,400 coaches close a few deals a day each), so
    per-staff reads go to the raw rows, which the measures keep narrow (the DealFunnel rollup), unless the measure
    is stored per staff."""
    count = 0
    with connection.cursor() as cursor:
        for group, staff, query in _shape_queries(specs, workspace_id=workspace.pk, tz=ZoneInfo(workspace.timezone),
                                                  access=None, runs=runs, stored=True):
            sql, params = query.query.sql_with_params()
            cells = ", ".join(f"(%s, q.m{i}::numeric)" for i in range(len(group)))
            cursor.execute(f"""
                INSERT INTO {DailyRollup._meta.db_table} (workspace_id, measure, day, staff_id, value)
                SELECT %s, v.measure, q.rollup_day, {f"q.{connection.ops.quote_name(staff)}" if staff else "NULL"}, v.value
                FROM ({sql}) q CROSS JOIN LATERAL (VALUES {cells}) AS v(measure, value)
                WHERE v.value <> 0""", [workspace.pk, *params, *(spec.name for spec in group)])
            count += cursor.rowcount
    return count


@transaction.atomic
def rollups_refresh(*, workspace: Workspace) -> int:
    """Recompute the days the triggers marked dirty and clear the marks; returns the (source, day) marks done."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {RollupDirty._meta.db_table} WHERE workspace_id = %s RETURNING source, day",
                       [workspace.pk])
        dirty = cursor.fetchall()
    sources = {source for source, _ in dirty}
    stale = [spec for spec in measures().values() if any(table in sources for table, _ in spec.sources)]
    if stale:
        # Every stale measure is recomputed on every dirty day: exact for any day, and simpler than per measure.
        days = {day for _, day in dirty}
        DailyRollup.objects.filter(workspace=workspace, measure__in=[spec.name for spec in stale], day__in=days).delete()
        _store(workspace, stale, day_ranges(days))
    for table in day_tables().values():
        if days := {day for source, day in dirty if source in table.sources}:
            table.store(workspace=workspace, runs=day_ranges(days))
    return len(dirty)


@transaction.atomic
def rollups_rebuild_workspace(*, workspace: Workspace) -> int:
    """Every measure of the workspace from the raw rows; clears its dirty marks. Returns the cells stored."""
    RollupDirty.objects.filter(workspace=workspace).delete()
    DailyRollup.objects.filter(workspace=workspace).delete()
    cells = _store(workspace, list(measures().values()), None)
    return cells + sum(table.store(workspace=workspace, runs=None) for table in day_tables().values())


def rollups_refresh_all() -> str:
    """The every-minute task: fold the dirty days of every workspace back in."""
    done = {w.slug: rollups_refresh(workspace=w) for w in Workspace.objects.filter(
        pk__in=RollupDirty.objects.values("workspace_id"))}
    return f"rollups refreshed: {done}"


def rollups_rebuild() -> str:
    """The 03:00 rebuild of every workspace (the triggers keep the rollups exact between)."""
    done = {w.slug: rollups_rebuild_workspace(workspace=w) for w in Workspace.objects.all()}
    return f"rollups rebuilt: {done}"


# ---- the triggers ----

TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_PREFIX}mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    spec text;
    col text;
    is_date boolean;
    rel text;
BEGIN
    -- TG_ARGV: the watched columns, each "name" (a timestamp) or "name:date".
    FOREACH spec IN ARRAY TG_ARGV LOOP
        col := split_part(spec, ':', 1);
        is_date := split_part(spec, ':', 2) = 'date';
        FOREACH rel IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY['new_rows'] WHEN 'DELETE' THEN ARRAY['old_rows']
                                        ELSE ARRAY['new_rows', 'old_rows'] END LOOP
            EXECUTE format(
                'INSERT INTO {RollupDirty._meta.db_table} (workspace_id, source, day)
                 SELECT DISTINCT r.workspace_id, %L, %s
                 FROM %I r JOIN {Workspace._meta.db_table} w ON w.id = r.workspace_id
                 WHERE r.%I IS NOT NULL
                 ON CONFLICT DO NOTHING',
                TG_TABLE_NAME,
                CASE WHEN is_date THEN format('r.%I', col) ELSE format('(r.%I AT TIME ZONE w.timezone)::date', col) END,
                rel, col);
        END LOOP;
    END LOOP;
    RETURN NULL;
END $$;
"""


def dirty_days_sql(*, table: str, column: str, rows: str) -> str:
    """An INSERT marking dirty, for `table`'s measures, the local days of `column` (a time) of `rows` (SQL selecting
    rows of that table): what the triggers do, for a write elsewhere that changes what those rows count for (a
    contact's first touch decides whether its deals are ad deals)."""
    return f"""
        INSERT INTO {RollupDirty._meta.db_table} (workspace_id, source, day)
        SELECT DISTINCT r.workspace_id, '{table}', (r.{column} AT TIME ZONE w.timezone)::date
        FROM ({rows}) r JOIN {Workspace._meta.db_table} w ON w.id = r.workspace_id
        WHERE r.{column} IS NOT NULL
        ON CONFLICT DO NOTHING"""


def watched_tables() -> dict[str, list[str]]:
    """Table → the columns (with ":date" for date columns) its triggers watch, from every measure's sources."""
    from django.apps import apps

    by_table = {m._meta.db_table: m for m in apps.get_models()}
    out: dict[str, set[str]] = defaultdict(set)
    for spec in measures().values():
        for table, columns in spec.sources:
            model = by_table[table]
            for column in columns:
                field_ = next(f for f in model._meta.concrete_fields if f.column == column or f.name == column)
                out[table].add(field_.column + (":date" if field_.get_internal_type() == "DateField" else ""))
    return {table: sorted(columns) for table, columns in out.items()}


def install_triggers(using: str = "default") -> None:
    """(Re)create the dirty-marking triggers from the registry; drop ours on tables no measure watches any more."""
    from django.db import connections

    wanted = watched_tables()
    with connections[using].cursor() as cursor:
        cursor.execute(TRIGGER_FUNCTION)
        cursor.execute("SELECT tgname, relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE tgname LIKE %s", [TRIGGER_PREFIX + "%"])
        for name, table in cursor.fetchall():
            if table not in wanted:
                cursor.execute(f'DROP TRIGGER "{name}" ON "{table}"')
        for table, columns in wanted.items():
            args = ", ".join(f"'{c}'" for c in columns)
            statement_triggers(cursor, table=table, name=lambda op: f"{TRIGGER_PREFIX}{op.lower()}",
                               call=lambda op: f"{TRIGGER_PREFIX}mark_dirty({args})")


# Statement-level triggers see a write's rows as transition tables: new_rows (insert, update), old_rows (update,
# delete). PostgreSQL allows them on one event per trigger, hence three.
TRANSITIONS = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
               "DELETE": "OLD TABLE AS old_rows"}


def changed_rows_sql(fields: tuple[str, ...], rows: str = "new_rows", other: str = "old_rows") -> str:
    """SQL of the `rows` (id and `fields`) of an UPDATE's transition tables whose fields differ from their version
    in `other`: a set difference, hashed, never a join of the two transition tables (they carry no statistics,
    and a nested loop over a 100,000-row update took minutes)."""
    columns = ", ".join(("id", *fields))
    return f"(SELECT {columns} FROM {rows} EXCEPT SELECT {columns} FROM {other})"


def statement_triggers(cursor, *, table: str, name: Callable[[str], str], call: Callable[[str], str],
                       ops: tuple[str, ...] = tuple(TRANSITIONS)) -> None:
    """(Re)create an AFTER statement trigger on `table` for each of `ops` (INSERT, UPDATE, DELETE), each named
    name(op) and executing call(op) (a function call expression)."""
    for op in ops:
        refs = TRANSITIONS[op]
        cursor.execute(f'CREATE OR REPLACE TRIGGER "{name(op)}" AFTER {op} ON "{table}" REFERENCING {refs} '
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {call(op)}")
