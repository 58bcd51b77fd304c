"""Who trained when, per client and month (the AttendedMonth rollup of attended sessions): the days of each month a
client attended, as bits, so "who trained in a period" (the Executive page's active client rate) reads one row
per client and month instead of every session.

Statement-level triggers on the sessions recompute the (client, month) pairs a write touches, whatever wrote it
(the sessions feed's bulk upserts, the admin); `attended_months_refresh` rebuilds a workspace in one grouped pass
(the demo loader, whose COPY fires no triggers; the migration that added the table). The tests hold it equal to
the sessions."""

from calendar import monthrange
from datetime import date

from django.db import connection, connections

from clients.models import AttendedMonth, Contact, SessionStatus, TrainingSession
from ptd.models import Workspace
from ptd.periods import Period
from ptd.rollups import changed_rows_sql, statement_triggers
from ptd.scoping import Scope, scoped

MONTHS, SESSIONS, WORKSPACES = AttendedMonth._meta.db_table, TrainingSession._meta.db_table, Workspace._meta.db_table
TRIGGER = "clients_attended_month"
ATTENDED = SessionStatus.ATTENDED.value
# What moves a session between (client, month) pairs or in and out of them.
SESSION_FIELDS = ("contact_id", "starts_at", "status")
LOCAL_MONTH = "date_trunc('month', {s}.starts_at AT TIME ZONE w.timezone)::date"


def day_masks(first_day: date, last_day: date) -> list[tuple[date, int]]:
    """(first day of month, bits of the days from first_day to last_day in that month) for each month the days
    span."""
    out, month = [], first_day.replace(day=1)
    while month <= last_day:
        month_end = month.replace(day=monthrange(month.year, month.month)[1])
        low, high = max(first_day, month).day, min(last_day, month_end).day
        out.append((month, (1 << high) - (1 << (low - 1))))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return out


def attended_in_sql(access: Scope, period: Period) -> tuple[str, list]:
    """SELECT contact_id: the clients `access` may see who attended a session in the period, once per month they did
    (to test clients against, not to count). They are limited through the contact: having trained is client state,
    like being subscribed, so a setter's subscribed leads are seen training too."""
    if period.tz.key != access.workspace.timezone:  # the rollup's days are the workspace's local days
        raise ValueError(f"period in {period.tz.key}, workspace in {access.workspace.timezone}")
    masks = day_masks(period.first_day, period.last_day)
    months = AttendedMonth.objects.filter(workspace_id=access.workspace.pk, month__in=[m for m, _ in masks])
    if access.role not in Contact.ROLE_SCOPE_ALL:
        months = months.filter(contact__in=scoped(Contact, access).values("pk"))
    rows, params = months.values("contact_id", "month", "days").order_by().query.sql_with_params()
    values = ", ".join(["(%s::date, %s::integer)"] * len(masks))
    return (f"SELECT a.contact_id FROM ({rows}) a JOIN (VALUES {values}) m (month, mask) ON m.month = a.month "
            f"WHERE a.days & m.mask <> 0", [*params, *(x for pair in masks for x in pair)])


def _recompute(pairs: str) -> list[str]:
    """Statements recomputing the pairs that `pairs` selects (contact_id, month and the workspace's time zone as
    tz): each pair's bits from its attended sessions (an index range per pair), and the pairs left without any
    removed."""
    in_month = (f"s.contact_id = p.contact_id AND s.status = '{ATTENDED}' "
                "AND s.starts_at >= (p.month::timestamp AT TIME ZONE p.tz) "
                "AND s.starts_at < ((p.month + interval '1 month')::timestamp AT TIME ZONE p.tz)")
    return [f"""
        INSERT INTO {MONTHS} (workspace_id, is_demo, contact_id, month, days)
        SELECT s.workspace_id, bool_and(s.is_demo), s.contact_id, p.month,
               bit_or(1 << (extract(day FROM s.starts_at AT TIME ZONE p.tz)::integer - 1))
        FROM ({pairs}) p JOIN {SESSIONS} s ON {in_month}
        GROUP BY s.workspace_id, s.contact_id, p.month
        ON CONFLICT (contact_id, month) DO UPDATE SET days = EXCLUDED.days, is_demo = EXCLUDED.is_demo""",
            f"""
        DELETE FROM {MONTHS} t USING ({pairs}) p
        WHERE t.contact_id = p.contact_id AND t.month = p.month
          AND NOT EXISTS (SELECT 1 FROM {SESSIONS} s WHERE {in_month})"""]


def _pairs(rows: str) -> str:
    """The (client, month) pairs of session rows (workspace_id, contact_id, starts_at), with the time zone."""
    return (f"SELECT DISTINCT r.contact_id, {LOCAL_MONTH.format(s='r')} AS month, w.timezone AS tz "
            f"FROM ({rows}) r JOIN {WORKSPACES} w ON w.id = r.workspace_id")


def install(using: str = "default") -> None:
    """The sessions' insert, update and delete triggers (after every migrate). An update counts only for the
    sessions it moved (client, start or status), before and after: the feed re-sends unchanged rows all day."""
    def moved(rows: str, other: str) -> str:
        return (f"SELECT r.workspace_id, r.contact_id, r.starts_at FROM {rows} r "
                f"WHERE r.id IN (SELECT id FROM {changed_rows_sql(SESSION_FIELDS, rows, other)} c)")

    touched = {"INSERT": "SELECT workspace_id, contact_id, starts_at FROM new_rows",
               "DELETE": "SELECT workspace_id, contact_id, starts_at FROM old_rows",
               "UPDATE": f"{moved('new_rows', 'old_rows')} UNION ALL {moved('old_rows', 'new_rows')}"}
    with connections[using].cursor() as cursor:
        for op, rows in touched.items():
            body = ";\n".join(_recompute(_pairs(rows)))
            cursor.execute(f"""
                CREATE OR REPLACE FUNCTION {TRIGGER}_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    {body};
                    RETURN NULL;
                END $$""")
        statement_triggers(cursor, table=SESSIONS, name=lambda op: f"{TRIGGER}_{op.lower()}",
                           call=lambda op: f"{TRIGGER}_{op.lower()}()")


def attended_months_refresh(*, workspace_id: int) -> int:
    """Rebuild a workspace's rows from its attended sessions in one grouped pass; returns the rows stored."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {MONTHS} WHERE workspace_id = %s", [workspace_id])
        cursor.execute(f"""
            INSERT INTO {MONTHS} (workspace_id, is_demo, contact_id, month, days)
            SELECT s.workspace_id, bool_and(s.is_demo), s.contact_id, {LOCAL_MONTH.format(s='s')},
                   bit_or(1 << (extract(day FROM s.starts_at AT TIME ZONE w.timezone)::integer - 1))
            FROM {SESSIONS} s JOIN {WORKSPACES} w ON w.id = s.workspace_id
            WHERE s.workspace_id = %s AND s.status = %s
            GROUP BY s.workspace_id, s.contact_id, {LOCAL_MONTH.format(s='s')}""", [workspace_id, ATTENDED])
        return cursor.rowcount
