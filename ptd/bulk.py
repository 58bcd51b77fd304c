"""Set-based upsert that respects source time: INSERT … ON CONFLICT DO UPDATE … WHERE the stored row is
not newer. Events arrive out of order; an older update must never overwrite a newer one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models


def upsert_newer(model: type[models.Model], rows: Iterable[dict], *, unique_fields: Sequence[str],
                 update_fields: Sequence[str], version_field: str | None) -> dict:
    """Insert or update rows (dicts keyed by attname); returns {unique key tuple: pk} of the rows written.
    Fields absent from a row fall back to model defaults on insert; on update only `update_fields` change,
    and only where the stored version is not newer than the incoming one (such rows are left out)."""
    # One statement may not touch a row twice: keep the newest row per key.
    latest: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[f] for f in unique_fields)
        held = latest.get(key)
        if held is None or not version_field or _not_older(row.get(version_field), held.get(version_field)):
            latest[key] = row
    rows = list(latest.values())
    if not rows:
        return {}
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    qn = connection.ops.quote_name
    values_sql, params = [], []
    for row in rows:
        placeholders = []
        for f in fields:
            if f.attname in row:
                value = row[f.attname]
            elif f.has_default():
                value = f.get_default()
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                from django.utils import timezone

                value = timezone.now()
            else:
                value = None
            params.append(f.get_db_prep_save(value, connection))
            placeholders.append("%s")
        values_sql.append(f"({', '.join(placeholders)})")
    column_of = {f.attname: f.column for f in fields}
    conflict = ", ".join(qn(column_of[f]) for f in unique_fields)
    updates = ", ".join(f"{qn(column_of[f])} = EXCLUDED.{qn(column_of[f])}" for f in update_fields)
    table = qn(opts.db_table)
    where = ""
    if version_field:
        v = qn(column_of[version_field])
        where = f" WHERE {table}.{v} IS NULL OR EXCLUDED.{v} IS NULL OR {table}.{v} <= EXCLUDED.{v}"
    sql = (f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) VALUES {', '.join(values_sql)} "
           f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}{where} RETURNING {qn(opts.pk.column)}, "
           + ", ".join(qn(column_of[f]) for f in unique_fields))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written = {tuple(r[1:]): r[0] for r in cursor.fetchall()}
    return written


def _not_older(incoming, held) -> bool:
    return held is None or (incoming is not None and incoming >= held)


def table(model: type[models.Model]) -> str:
    """The quoted table name, for raw SQL."""
    return connection.ops.quote_name(model._meta.db_table)


def fetch_rows(sql: str, params: dict | Sequence) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
