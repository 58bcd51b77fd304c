"""Each contact's first paid touch (DESIGN §7a ad leads, true ROAS; first-touch attribution): the earliest of its
paid touches (`marketing.attribution.paid_touches_sql`: AnyTrack events naming an ad, ad set or campaign, and the
contact's own first-touch ids at its creation), stored on the contact as `first_touch_at` and the touch's Meta ids
as received (they are resolved to ad set and campaign when read, so a later Meta structure sync applies at once).
Stored so a month of first-touch attribution reads one row per contact instead of every contact's events.

Statement-level triggers keep it on every write path: a contact inserted or its touch fields (creation time, ad
ids, UTMs) changed; events inserted, re-linked to another contact or deleted; site visits recorded, changed or
deleted, and browsers identified as (or moved to) a contact. `contacts_first_touch_refresh` applies
the same statement in bulk (the demo loader, whose COPY fires no triggers; the migration that added the fields)."""

from django.db import connection, connections

from clients.models import Contact, Deal, DealFunnel
from marketing.attribution import paid_touches_sql
from marketing.models import AttributionEvent, VisitSession, Visitor
from ptd.rollups import changed_rows_sql, dirty_days_sql, statement_triggers

CONTACTS, EVENTS, VISITS = Contact._meta.db_table, AttributionEvent._meta.db_table, VisitSession._meta.db_table
DEALS, FUNNELS = Deal._meta.db_table, DealFunnel._meta.db_table
STORED = ("first_touch_at", "first_touch_ad_id", "first_touch_adset_id", "first_touch_campaign_id")
# What a contact's own touch is made of: a change to any of these can move its first touch.
TOUCH_FIELDS = ("created_at", "fb_ad_id", "fb_adset_id", "fb_campaign_id", "utm_content", "utm_term",
                "utm_campaign")
VISIT_FIELDS = ("visitor_id", "started_at", "utm_content", "utm_term", "utm_campaign")


def _update(condition: str, *, into: str = "") -> str:
    """The one definition: store the first paid touch of the contacts that `condition` selects (a template naming
    the contact's id as {id}, its workspace as {ws}; see paid_touches_sql), and mark dirty for the rollups the
    creation days of their deals and the days their deals entered booked, held and won (ad deals and the ad
    funnel count the deals of contacts with a first paid touch). Selects the number of contacts changed (`into` a
    PL/pgSQL variable, in a trigger)."""
    touches = paid_touches_sql(condition)
    their_deals = f"SELECT d.* FROM {DEALS} d JOIN moved ON d.contact_id = moved.id"
    # Through the deals: the funnel rows' own contact column is younger than migrations that call this.
    their_steps = (f"SELECT f.workspace_id, s.t FROM ({their_deals}) d JOIN {FUNNELS} f ON f.deal_id = d.id "
                   "CROSS JOIN LATERAL unnest(ARRAY[f.booked_at, f.held_at, f.closed_won_at]) AS s(t)")
    return f"""
        WITH moved AS (
            UPDATE {CONTACTS} t SET first_touch_at = f.touched_at, first_touch_ad_id = COALESCE(f.ad, ''),
                   first_touch_adset_id = COALESCE(f.adset, ''), first_touch_campaign_id = COALESCE(f.campaign, '')
            FROM {CONTACTS} k
            LEFT JOIN (SELECT DISTINCT ON (p.contact_id) p.contact_id, p.touched_at, p.ad, p.adset, p.campaign
                       FROM ({touches}) p ORDER BY p.contact_id, p.touched_at, p.source_rank, p.source_pk) f
                   ON f.contact_id = k.id
            WHERE t.id = k.id AND {condition.format(id="k.id", ws="k.workspace_id", time="k.created_at")}
              AND ({", ".join(f"t.{name}" for name in STORED)}) IS DISTINCT FROM
                  (f.touched_at, COALESCE(f.ad, ''), COALESCE(f.adset, ''), COALESCE(f.campaign, ''))
            RETURNING t.id),
        marked AS ({dirty_days_sql(table=DEALS, column="created_at", rows=their_deals)} RETURNING 1),
        marked_steps AS ({dirty_days_sql(table=FUNNELS, column="t", rows=their_steps)} RETURNING 1)
        SELECT count(*) {into} FROM moved"""


def contacts_first_touch_refresh(*, workspace_id: int, contact_ids: list[int] | None = None) -> int:
    """Recompute the first paid touch of some contacts (all of the workspace's when None); returns the rows
    changed."""
    # The condition appears once per source of touches and once for the contacts updated.
    if contact_ids is None:
        sql, params = _update("{ws} = %s"), [workspace_id] * 4
    else:
        sql, params = _update("{ws} = %s AND {id} = ANY(%s)"), [workspace_id, list(contact_ids)] * 4
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


TRIGGER = "marketing_first_touch"


def _watches() -> dict[str, dict[str, str]]:
    """Per table and write, the contacts whose first touch the write may move (SQL over the transition tables
    new_rows / old_rows). Updates count only when a touch field changed: contacts and visits are updated all the
    time (syncs, heartbeats), and the stored columns' own update must not start again."""
    visitors = Visitor._meta.db_table
    return {
        CONTACTS: {"INSERT": "SELECT id FROM new_rows",
                   "UPDATE": f"SELECT id FROM {changed_rows_sql(TOUCH_FIELDS)} changed"},
        EVENTS: {"INSERT": "SELECT contact_id FROM new_rows", "DELETE": "SELECT contact_id FROM old_rows",
                 "UPDATE": "SELECT contact_id FROM new_rows UNION SELECT contact_id FROM old_rows"},
        VISITS: {op: f"SELECT vi.contact_id FROM ({rows}) r JOIN {visitors} vi ON vi.id = r.visitor_id" for op, rows in (
            ("INSERT", "SELECT visitor_id FROM new_rows"), ("DELETE", "SELECT visitor_id FROM old_rows"),
            ("UPDATE", f"SELECT visitor_id FROM {changed_rows_sql(VISIT_FIELDS)} n "
                       f"UNION SELECT visitor_id FROM {changed_rows_sql(VISIT_FIELDS, 'old_rows', 'new_rows')} o"))},
        visitors: {"UPDATE": f"SELECT contact_id FROM {changed_rows_sql(('contact_id',))} n "
                             f"UNION SELECT contact_id FROM {changed_rows_sql(('contact_id',), 'old_rows', 'new_rows')} o"},
    }


def install_triggers(using: str = "default") -> None:
    """The statement triggers of every table a paid touch comes from (after every migrate); triggers of this name
    that the definition no longer has are dropped."""
    watches = _watches()
    wanted = {(table, f"{TRIGGER}_{table}_{op.lower()}") for table, writes in watches.items() for op in writes}
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE t.tgname LIKE %s", [TRIGGER + "%"])
        for table, name in set(cursor.fetchall()) - wanted:
            cursor.execute(f'DROP TRIGGER "{name}" ON "{table}"')
        for table, writes in watches.items():
            for op, contacts in writes.items():
                cursor.execute(f"""
                    CREATE OR REPLACE FUNCTION {TRIGGER}_{table}_{op.lower()}() RETURNS trigger
                    LANGUAGE plpgsql AS $$
                    DECLARE moved_count bigint;
                    BEGIN
                        IF EXISTS ({contacts}) THEN
                            {_update(f"{{id}} IN ({contacts})", into="INTO moved_count")};
                        END IF;
                        RETURN NULL;
                    END $$""")
            statement_triggers(cursor, table=table, name=lambda op, table=table: f"{TRIGGER}_{table}_{op.lower()}",
                               call=lambda op, table=table: f"{TRIGGER}_{table}_{op.lower()}()", ops=tuple(writes))
