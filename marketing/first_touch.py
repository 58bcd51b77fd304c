"""Each contact's first paid touch (DESIGN §7a ad leads, true ROAS; first-touch attribution): the earliest of its
paid touches (`marketing.attribution.paid_touches_sql`: AnyTrack events naming an ad, ad set or campaign, and the
contact's own first-touch ids at its creation), stored on the contact as `first_touch_at` and the touch's Meta ids
as received (they are resolved to ad set and campaign when read, so a later Meta structure sync applies at once).
Stored so a month of first-touch attribution reads one row per contact instead of every contact's events.

Statement-level triggers keep it on every write path: events inserted, re-linked to another contact or deleted; a
contact inserted or its touch fields (creation time, ad ids, UTMs) changed. `contacts_first_touch_refresh` applies
the same statement in bulk (the demo loader, whose COPY fires no triggers; the migration that added the fields)."""

from django.db import connection, connections

from clients.models import Contact
from marketing.attribution import paid_touches_sql
from marketing.models import AttributionEvent
from ptd.rollups import TRANSITIONS, statement_triggers

CONTACTS, EVENTS = Contact._meta.db_table, AttributionEvent._meta.db_table
STORED = ("first_touch_at", "first_touch_ad_id", "first_touch_adset_id", "first_touch_campaign_id")
# What a contact's own touch is made of: a change to any of these can move its first touch.
TOUCH_FIELDS = ("created_at", "fb_ad_id", "fb_adset_id", "fb_campaign_id", "utm_content", "utm_term",
                "utm_campaign")


def _update(condition: str) -> str:
    """The one definition: store the first paid touch of the contacts that `condition` selects (a template naming
    the contact's id as {id}, its workspace as {ws}; see paid_touches_sql)."""
    touches = paid_touches_sql(condition)
    return f"""
        UPDATE {CONTACTS} t SET first_touch_at = f.touched_at, first_touch_ad_id = COALESCE(f.ad, ''),
               first_touch_adset_id = COALESCE(f.adset, ''), first_touch_campaign_id = COALESCE(f.campaign, '')
        FROM {CONTACTS} k
        LEFT JOIN (SELECT DISTINCT ON (p.contact_id) p.contact_id, p.touched_at, p.ad, p.adset, p.campaign
                   FROM ({touches}) p ORDER BY p.contact_id, p.touched_at, p.source_rank, p.source_pk) f
               ON f.contact_id = k.id
        WHERE t.id = k.id AND {condition.format(id="k.id", ws="k.workspace_id", time="k.created_at")}
          AND ({", ".join(f"t.{name}" for name in STORED)}) IS DISTINCT FROM
              (f.touched_at, COALESCE(f.ad, ''), COALESCE(f.adset, ''), COALESCE(f.campaign, ''))"""


def contacts_first_touch_refresh(*, workspace_id: int, contact_ids: list[int] | None = None) -> int:
    """Recompute the first paid touch of some contacts (all of the workspace's when None); returns the rows
    changed."""
    # The condition appears three times: the events, the contacts' own touches, the contacts updated.
    if contact_ids is None:
        sql, params = _update("{ws} = %s"), [workspace_id] * 3
    else:
        sql, params = _update("{ws} = %s AND {id} = ANY(%s)"), [workspace_id, list(contact_ids)] * 3
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


TRIGGER = "marketing_first_touch"


def install_triggers(using: str = "default") -> None:
    """The events' and the contacts' statement triggers (after every migrate)."""
    event_contacts = {"INSERT": "SELECT contact_id FROM new_rows", "DELETE": "SELECT contact_id FROM old_rows",
                      "UPDATE": "SELECT contact_id FROM new_rows UNION SELECT contact_id FROM old_rows"}
    changed = " OR ".join(f"n.{field} IS DISTINCT FROM o.{field}" for field in TOUCH_FIELDS)
    # A contact UPDATE that changes no touch field does nothing, so the UPDATE these functions run (which changes
    # only the stored first touch) ends there instead of firing itself again.
    contact_bodies = {
        "INSERT": _update("{id} IN (SELECT id FROM new_rows)") + ";",
        "UPDATE": f"""
            IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed}) THEN
                {_update(f"{{id}} IN (SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed})")};
            END IF;""",
    }
    with connections[using].cursor() as cursor:
        for op in TRANSITIONS:
            cursor.execute(f"""
                CREATE OR REPLACE FUNCTION {TRIGGER}_event_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    {_update(f"{{id}} IN ({event_contacts[op]})")};
                    RETURN NULL;
                END $$""")
        statement_triggers(cursor, table=EVENTS, name=lambda op: f"{TRIGGER}_event_{op.lower()}",
                           call=lambda op: f"{TRIGGER}_event_{op.lower()}()")
        for op, body in contact_bodies.items():
            cursor.execute(f"""
                CREATE OR REPLACE FUNCTION {TRIGGER}_contact_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    {body}
                    RETURN NULL;
                END $$""")
        # A deleted contact takes its first touch with it: no DELETE trigger.
        statement_triggers(cursor, table=CONTACTS, name=lambda op: f"{TRIGGER}_contact_{op.lower()}",
                           call=lambda op: f"{TRIGGER}_contact_{op.lower()}()", ops=tuple(contact_bodies))
