"""The first-touch rollup (FirstTouchDay): each local day's first-touch credit on the cash basis per first touch,
the rows of `marketing.attribution.first_touch_sql` by day — what the money map, marketing intelligence and the
attribution war room sum over a period (`attribution.cash_sums`) instead of a month of leads, deals and payments.

Kept exact like the daily measures (ptd.rollups, a day table of theirs): the triggers that mark the measures' days
dirty already mark the days of the outcomes' own tables (contacts, deal funnel, payments, refunds, disputes). Two
writes change the credit of rows they do not touch, and mark those rows' days under this table's name:
- a contact whose first touch or first payment moves: every day of its deals, payments, refunds and disputes
  (its own lead day is marked by the contacts' trigger);
- a payment moved to another contact: the days of its refunds and disputes.
Readers compute the dirty days from the raw rows; rollups_refresh folds them back in; rollups_rebuild rebuilds.
"""

from datetime import UTC, date, datetime
from functools import reduce
from operator import or_
from zoneinfo import ZoneInfo

from django.db import connection, connections
from django.db.models import Q

from clients.models import Contact, DealFunnel
from finance.models import Dispute, Payment, Refund
from marketing.attribution import CASH_CREDIT_SOURCES, OUTCOMES, first_touch_sql
from marketing.models import FirstTouchDay
from ptd.models import Role, Workspace
from ptd.rollups import changed_rows_sql, day_spans, day_table, dirty_days_sql, statement_triggers
from ptd.scoping import Scope

TABLE = FirstTouchDay._meta.db_table
CONTACTS, FUNNELS, PAYMENTS = Contact._meta.db_table, DealFunnel._meta.db_table, Payment._meta.db_table
REFUNDS, DISPUTES = Refund._meta.db_table, Dispute._meta.db_table
# What decides a contact's credit: its first touch (when and which ad) and its conversion.
CREDIT_FIELDS = ("first_touch_at", "first_touch_ad_id", "first_touch_adset_id", "first_touch_campaign_id",
                 "first_paid_at")
EVERY_ROW = [(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))]
TRIGGER = "marketing_credit_days"


def first_touch_days_store(*, workspace: Workspace, runs: list[tuple[date, date]] | None) -> int:
    """Replace the rollup's rows of the runs of days (every day when None) with the raw rows' sums, in one
    INSERT … SELECT; returns the rows written."""
    rows = FirstTouchDay.objects.filter(workspace=workspace)
    if runs is not None:
        rows = rows.filter(reduce(or_, (Q(day__range=run) for run in runs)))
    rows.delete()
    whole_workspace = Scope(user_id=0, workspace=workspace, role=Role.ADMIN, staff_id=None)
    spans = EVERY_ROW if runs is None else day_spans(runs, ZoneInfo(workspace.timezone))
    sql, params = first_touch_sql(whole_workspace, None, "cash", None, OUTCOMES, spans=spans)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (workspace_id, day, late_day, ad, adset, campaign, {', '.join(OUTCOMES)}) "
                       f"SELECT %s, q.* FROM ({sql}) q", [workspace.pk, *params])
        return cursor.rowcount


day_table(TABLE, sources=CASH_CREDIT_SOURCES, store=first_touch_days_store)


# ---- the triggers ----

def _money_times(payments: str) -> str:
    """(workspace_id, t): the times of the refunds and disputes of the payments `payments` selects (their ids)."""
    return f"""SELECT r.workspace_id, r.created AS t FROM {REFUNDS} r WHERE r.payment_id IN ({payments})
        UNION ALL SELECT d.workspace_id, d.created FROM {DISPUTES} d WHERE d.payment_id IN ({payments})"""


def _outcome_times(contacts: str) -> str:
    """(workspace_id, t): the times that place the outcomes of the contacts `contacts` selects (their ids) on
    their days, other than their creation."""
    their_payments = f"SELECT p.id FROM {PAYMENTS} p WHERE p.contact_id IN ({contacts})"
    return f"""SELECT f.workspace_id, t.t FROM {FUNNELS} f
            CROSS JOIN LATERAL unnest(ARRAY[f.deal_created_at, f.booked_at, f.held_at, f.closed_won_at]) AS t(t)
            WHERE f.contact_id IN ({contacts})
        UNION ALL SELECT p.workspace_id, p.created FROM {PAYMENTS} p WHERE p.contact_id IN ({contacts})
        UNION ALL {_money_times(their_payments)}"""


def _watches() -> dict[str, tuple[str, str]]:
    """Table → (the rows an UPDATE changed that matter, SQL of the (workspace_id, t) times whose days to mark)."""
    moved_contacts = f"SELECT id FROM {changed_rows_sql(CREDIT_FIELDS)} c"
    moved_payments = (f"SELECT id FROM {changed_rows_sql(('contact_id',))} n "
                      f"UNION SELECT id FROM {changed_rows_sql(('contact_id',), 'old_rows', 'new_rows')} o")
    return {CONTACTS: (moved_contacts, _outcome_times(moved_contacts)),
            PAYMENTS: (moved_payments, _money_times(moved_payments))}


def install_triggers(using: str = "default") -> None:
    """The UPDATE statement triggers that mark the days a contact's or payment's move changes (after every
    migrate)."""
    with connections[using].cursor() as cursor:
        for table, (moved, times) in _watches().items():
            function = f"{TRIGGER}_{table}"
            cursor.execute(f"""
                CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF EXISTS ({moved}) THEN
                        {dirty_days_sql(table=TABLE, column="t", rows=times)};
                    END IF;
                    RETURN NULL;
                END $$""")
            statement_triggers(cursor, table=table, name=lambda op, function=function: function,
                               call=lambda op, function=function: f"{function}()", ops=("UPDATE",))
