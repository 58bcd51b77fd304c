"""Who is a member on which days (the MemberSpan rollup): a contact is a member while a package of theirs is in date
with sessions remaining, or an active/trialing Stripe subscription of theirs exists, from its creation day on (the
statuses and session counts are today's, as the active_members KPI defines). Each contact's spans are the stretches
between the days their packages and subscriptions start and end, each with the remaining value of the packages in
date, so the members at a day are one index range, each once.

Statement-level triggers on packages and subscriptions recompute the spans of the contacts a write touches, whatever
wrote it (syncs, bulk upserts, the admin); `member_spans_refresh` rebuilds a workspace in one pass (the demo loader,
whose COPY fires no triggers; the migration that added the table). The tests hold it equal to the definition."""

from django.db import connection, connections

from clients.models import MemberSpan, Package
from finance.models import Subscription, SubscriptionStatus
from ptd.models import RollupDirty, Workspace
from ptd.rollups import changed_rows_sql, statement_triggers

SPANS, PACKAGES, SUBSCRIPTIONS = MemberSpan._meta.db_table, Package._meta.db_table, Subscription._meta.db_table
MEMBER_STATUSES = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.TRIALING.value)
# What moves a row in or out of a contact's spans, or changes their value.
PACKAGE_FIELDS = ("contact_id", "starts_on", "expires_on", "sessions_used", "sessions_purchased", "value")
SUBSCRIPTION_FIELDS = ("contact_id", "status", "created")
TRIGGER = "clients_member_span"


def _store(contacts: str) -> list[str]:
    """Statements replacing the spans of the contacts `contacts` selects (a condition on a table's workspace_id and
    contact_id columns, alias x): delete theirs, then cut each one's membership intervals at every day one starts or
    ends after (an open subscription ends on 9999-12-31) and keep the stretches some interval covers."""
    statuses = ", ".join(f"'{s}'" for s in MEMBER_STATUSES)
    intervals = f"""
        SELECT x.workspace_id, x.contact_id, x.is_demo, x.starts_on AS first, x.expires_on AS last,
               x.value * (x.sessions_purchased - x.sessions_used) / x.sessions_purchased AS remaining, false AS subscribed
        FROM {PACKAGES} x WHERE x.sessions_used < x.sessions_purchased AND {contacts}
        UNION ALL
        SELECT x.workspace_id, x.contact_id, x.is_demo, (x.created AT TIME ZONE w.timezone)::date, DATE '9999-12-31',
               0, true
        FROM {SUBSCRIPTIONS} x JOIN {Workspace._meta.db_table} w ON w.id = x.workspace_id
        WHERE x.contact_id IS NOT NULL AND x.status IN ({statuses}) AND {contacts}"""
    return [f"DELETE FROM {SPANS} x WHERE {contacts}", f"""
        WITH intervals AS ({intervals}),
        cuts AS (SELECT contact_id, first AS day FROM intervals UNION SELECT contact_id, last + 1 FROM intervals),
        stretches AS (SELECT contact_id, day AS first, lead(day) OVER (PARTITION BY contact_id ORDER BY day) - 1 AS last
                      FROM cuts)
        INSERT INTO {SPANS} (workspace_id, is_demo, contact_id, starts_on, ends_on, remaining, subscribed)
        SELECT i.workspace_id, bool_and(i.is_demo), s.contact_id, s.first, s.last, sum(i.remaining), bool_or(i.subscribed)
        FROM stretches s JOIN intervals i ON i.contact_id = s.contact_id AND i.first <= s.first AND i.last >= s.first
        WHERE s.last IS NOT NULL
        GROUP BY i.workspace_id, s.contact_id, s.first, s.last
        ON CONFLICT (contact_id, starts_on) DO UPDATE SET ends_on = EXCLUDED.ends_on, remaining = EXCLUDED.remaining,
            subscribed = EXCLUDED.subscribed, is_demo = EXCLUDED.is_demo"""]


def _mark_changed(contacts: str) -> str:
    """An INSERT marking dirty, under the spans' table, the earliest day up to today of the spans of the contacts
    `contacts` selects: run before and after their spans are replaced, it dates what a write changed for the stored
    member figures of periods ending from then on (clients.member_periods)."""
    return f"""
        INSERT INTO {RollupDirty._meta.db_table} (workspace_id, source, day)
        SELECT x.workspace_id, '{SPANS}', min(x.starts_on)
        FROM {SPANS} x JOIN {Workspace._meta.db_table} w ON w.id = x.workspace_id
        WHERE {contacts} AND x.starts_on <= (now() AT TIME ZONE w.timezone)::date
        GROUP BY x.workspace_id
        ON CONFLICT DO NOTHING"""


def member_spans_refresh(*, workspace_id: int) -> int:
    """Rebuild a workspace's spans from its packages and subscriptions; returns the spans stored."""
    with connection.cursor() as cursor:
        for statement in _store("x.workspace_id = %s"):
            cursor.execute(statement, [workspace_id] * statement.count("%s"))
        return cursor.rowcount


def install(using: str = "default") -> None:
    """The packages' and subscriptions' insert, update and delete triggers (after every migrate): each recomputes the
    spans of the contacts its rows name, before and after. An update counts only for the rows it changed in what
    membership reads: Stripe and HubSpot re-send unchanged rows all day."""
    with connections[using].cursor() as cursor:
        for table, fields in ((PACKAGES, PACKAGE_FIELDS), (SUBSCRIPTIONS, SUBSCRIPTION_FIELDS)):
            def moved(rows: str, other: str, fields=fields) -> str:
                return f"SELECT contact_id FROM {changed_rows_sql(fields, rows, other)} c"

            touched = {"INSERT": "SELECT contact_id FROM new_rows", "DELETE": "SELECT contact_id FROM old_rows",
                       "UPDATE": f"{moved('new_rows', 'old_rows')} UNION {moved('old_rows', 'new_rows')}"}
            for op, rows in touched.items():
                name = f"{TRIGGER}_{table}_{op.lower()}"
                mark = _mark_changed("x.contact_id = ANY(touched)")
                body = ";\n".join([mark, *_store("x.contact_id = ANY(touched)"), mark])
                cursor.execute(f"""
                    CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                    DECLARE touched bigint[];
                    BEGIN
                        SELECT array_agg(DISTINCT contact_id) INTO touched FROM ({rows}) r WHERE contact_id IS NOT NULL;
                        IF touched IS NOT NULL THEN
                            {body};
                        END IF;
                        RETURN NULL;
                    END $$""")
            statement_triggers(cursor, table=table, name=lambda op, table=table: f"{TRIGGER}_{table}_{op.lower()}",
                               call=lambda op, table=table: f"{TRIGGER}_{table}_{op.lower()}()")
