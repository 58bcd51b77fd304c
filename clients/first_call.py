"""Each lead's first call (DESIGN §7a, speed to first call and SLA compliance): `Contact.first_call_at`, the
earliest call with the lead that was an attempt or reached them — outbound, or inbound and answered — whoever
made it. Stored on the contact so a month of 80,000 leads is read without looking up each lead's calls.

A statement-level trigger on calls keeps it (every write path: CallGear and HubSpot upserts, the identity
back-fill that links a call to its contact later, deletes), installed after every `migrate`;
`contacts_first_call_refresh` applies the same statement in bulk (the demo loader, whose COPY fires no triggers)."""

from django.db import connection, connections

from clients.models import Call, CallDirection, CallOutcome, Contact
from ptd.rollups import TRANSITIONS, statement_triggers

CONTACTS, CALLS = Contact._meta.db_table, Call._meta.db_table
FIRST_CALL = f"(c.direction = '{CallDirection.OUTBOUND.value}' OR c.outcome = '{CallOutcome.ANSWERED.value}')"


def _update(contacts: str) -> str:
    """The one definition: set first_call_at of the contacts selected by `contacts` (SQL on alias k)."""
    return f"""
        UPDATE {CONTACTS} t SET first_call_at = f.first
        FROM (SELECT k.id, (SELECT min(c.started_at) FROM {CALLS} c
                            WHERE c.contact_id = k.id AND {FIRST_CALL}) AS first
              FROM {CONTACTS} k WHERE {contacts}) f
        WHERE t.id = f.id AND t.first_call_at IS DISTINCT FROM f.first"""


def contacts_first_call_refresh(*, workspace_id: int, contact_ids: list[int] | None = None) -> int:
    """Recompute first_call_at for some contacts (all of the workspace's when None); returns the rows changed.
    The whole workspace is one pass over its calls grouped by contact (a million contacts in seconds, where the
    per-contact form of the trigger would look up each one)."""
    with connection.cursor() as cursor:
        if contact_ids is not None:
            cursor.execute(_update("k.workspace_id = %s AND k.id = ANY(%s)"), [workspace_id, list(contact_ids)])
            return cursor.rowcount
        cursor.execute(f"""
            WITH first AS (SELECT c.contact_id, min(c.started_at) AS first FROM {CALLS} c
                           WHERE c.workspace_id = %s AND c.contact_id IS NOT NULL AND {FIRST_CALL}
                           GROUP BY c.contact_id)
            UPDATE {CONTACTS} t SET first_call_at = first.first
            FROM {CONTACTS} k LEFT JOIN first ON first.contact_id = k.id
            WHERE k.workspace_id = %s AND t.id = k.id AND t.first_call_at IS DISTINCT FROM first.first""",
                       [workspace_id, workspace_id])
        return cursor.rowcount


TRIGGER = "clients_first_call"


def install_trigger(using: str = "default") -> None:
    touched = {"INSERT": "SELECT contact_id FROM new_rows", "DELETE": "SELECT contact_id FROM old_rows",
               "UPDATE": "SELECT contact_id FROM new_rows UNION SELECT contact_id FROM old_rows"}
    with connections[using].cursor() as cursor:
        for op in TRANSITIONS:
            cursor.execute(f"""
                CREATE OR REPLACE FUNCTION {TRIGGER}_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    {_update(f"k.id IN ({touched[op]})")};
                    RETURN NULL;
                END $$""")
        statement_triggers(cursor, table=CALLS, name=lambda op: f"{TRIGGER}_{op.lower()}",
                           call=lambda op: f"{TRIGGER}_{op.lower()}()")
