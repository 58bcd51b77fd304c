"""A contact's first time of something, stored on the contact and kept by statement-level triggers on the table the
time comes from: the earliest row of that table for the contact matching a condition. Stored so a month of 100,000
contacts is read without looking up each one's rows.

Each is defined once (`FirstTime`) and used three ways: the triggers (every write path: syncs, bulk upserts,
identity back-fills that link a row to its contact later, deletes), installed after every `migrate`; `refresh` of
some contacts; and `refresh` of a whole workspace in one grouped pass (the demo loader, whose COPY fires no
triggers, and the migrations that add a column)."""

from dataclasses import dataclass

from django.db import connection, connections

from clients.models import Call, CallDirection, CallOutcome, Contact
from ptd.rollups import statement_triggers

CONTACTS = Contact._meta.db_table


@dataclass(frozen=True)
class FirstTime:
    column: str  # on the contact
    table: str  # where the time comes from; its rows have contact_id and workspace_id
    time: str  # the time column there
    condition: str  # SQL on alias s: which rows count
    trigger: str  # the triggers' (and their functions') name prefix

    def _update(self, contacts: str) -> str:
        """Set the column of the contacts selected by `contacts` (SQL on alias k), looking each one up."""
        return f"""
            UPDATE {CONTACTS} t SET {self.column} = f.first
            FROM (SELECT k.id, (SELECT min(s.{self.time}) FROM {self.table} s
                                WHERE s.contact_id = k.id AND {self.condition}) AS first
                  FROM {CONTACTS} k WHERE {contacts}) f
            WHERE t.id = f.id AND t.{self.column} IS DISTINCT FROM f.first"""

    def refresh(self, *, workspace_id: int, contact_ids: list[int] | None = None) -> int:
        """Recompute the column for some contacts (all of the workspace's when None); returns the rows changed.
        The whole workspace is one pass over its rows grouped by contact (a million contacts in seconds, where the
        per-contact form of the trigger would look up each one)."""
        with connection.cursor() as cursor:
            if contact_ids is not None:
                cursor.execute(self._update("k.workspace_id = %s AND k.id = ANY(%s)"), [workspace_id, list(contact_ids)])
                return cursor.rowcount
            cursor.execute(f"""
                WITH first AS (SELECT s.contact_id, min(s.{self.time}) AS first FROM {self.table} s
                               WHERE s.workspace_id = %s AND s.contact_id IS NOT NULL AND {self.condition}
                               GROUP BY s.contact_id)
                UPDATE {CONTACTS} t SET {self.column} = first.first
                FROM {CONTACTS} k LEFT JOIN first ON first.contact_id = k.id
                WHERE k.workspace_id = %s AND t.id = k.id AND t.{self.column} IS DISTINCT FROM first.first""",
                           [workspace_id, workspace_id])
            return cursor.rowcount

    def install(self, using: str = "default") -> None:
        """The source table's insert, update and delete triggers: each recomputes the contacts its rows name."""
        touched = {"INSERT": "SELECT contact_id FROM new_rows", "DELETE": "SELECT contact_id FROM old_rows",
                   "UPDATE": "SELECT contact_id FROM new_rows UNION SELECT contact_id FROM old_rows"}
        name = self.trigger
        with connections[using].cursor() as cursor:
            for op, contacts in touched.items():
                cursor.execute(f"""
                    CREATE OR REPLACE FUNCTION {name}_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        {self._update(f"k.id IN ({contacts})")};
                        RETURN NULL;
                    END $$""")
            statement_triggers(cursor, table=self.table, name=lambda op: f"{name}_{op.lower()}",
                               call=lambda op: f"{name}_{op.lower()}()")


# Speed to first call and SLA compliance (DESIGN §7a): the earliest call with the lead that was an attempt or
# reached them — outbound, or inbound and answered — whoever made it.
FIRST_CALL = FirstTime(
    column="first_call_at", table=Call._meta.db_table, time="started_at",
    condition=f"(s.direction = '{CallDirection.OUTBOUND.value}' OR s.outcome = '{CallOutcome.ANSWERED.value}')",
    trigger="clients_first_call")
