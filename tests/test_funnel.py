"""The deal funnel (clients.funnel): stage volumes and cohort conversions, hand-computed."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clients.funnel import conversion
from clients.models import Contact, Deal, DealStageHistory
from ptd.periods import resolve_period

DUBAI = ZoneInfo("Asia/Dubai")
NOV = resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-11-01", date_to="2026-11-30")
BOOKED, HELD, WON, LOST = "122237508", "122237276", "closedwon", "closedlost"


def at(month, day):
    return datetime(2026, month, day, 12, tzinfo=DUBAI)


@pytest.fixture
def deals(workspace, make_staff):
    amy, ben = make_staff(workspace, "setter", name="Amy"), make_staff(workspace, "setter", name="Ben")

    def deal(name, owner, current, history):
        contact = Contact.objects.create(workspace=workspace, first_name=name, created_at=at(10, 1), owner=owner)
        d = Deal.objects.create(workspace=workspace, hubspot_id=name, contact=contact, stage_id=current,
                                created_at=history[0][1], amount=Decimal("1000"))
        for stage, when in history:
            DealStageHistory.objects.create(workspace=workspace, deal=d, stage_id=stage, entered_at=when)
        return d

    deal("d1", amy, WON, [(BOOKED, at(11, 3)), (HELD, at(11, 5)), (WON, at(11, 10))])
    deal("d2", amy, BOOKED, [(BOOKED, at(11, 4))])  # booked, never held: a ghost
    deal("d3", ben, WON, [(BOOKED, at(11, 6)), (WON, at(11, 12))])  # skipped "held" but won: it was held
    deal("d4", ben, LOST, [(BOOKED, at(11, 7)), (LOST, at(11, 9))])  # lost before the assessment
    deal("d5", ben, HELD, [(BOOKED, at(10, 20)), (HELD, at(11, 2))])  # booked in October: not in the cohort
    deal("d6", amy, HELD, [(BOOKED, at(11, 8))])  # moved to held without a history row yet
    deal("d7", amy, BOOKED, [(BOOKED, datetime(2026, 12, 1, 0, 30, tzinfo=DUBAI))])  # 1 Dec in Dubai: outside
    return amy, ben


def test_cohort_conversion_booked_to_held(workspace, deals):
    amy, ben = deals
    all_deals = Deal.objects.filter(workspace=workspace)
    result = conversion(all_deals, NOV, "booked", "held")
    assert (result.entered, result.converted) == (5, 3)  # d1 d2 d3 d4 d6 entered; d1 d3 d6 reached held
    assert result.rate == Decimal("60.0000")
    by_setter = conversion(all_deals, NOV, "booked", "held", group_by="contact__owner_id")
    assert {k: (v.entered, v.converted) for k, v in by_setter.items()} == {amy.pk: (3, 2), ben.pk: (2, 1)}


def test_conversion_of_nothing_is_unknown(workspace, deals):
    empty = resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-01-01", date_to="2026-01-31")
    result = conversion(Deal.objects.filter(workspace=workspace), empty, "booked", "held")
    assert (result.entered, result.converted, result.rate) == (0, 0, None)


def test_stage_volumes(workspace, deals, make_user):
    from ptd import rollups
    from ptd.scoping import Scope

    admin_scope = Scope.of(make_user(workspace, "admin").memberships.get())
    volumes = rollups.totals([f"entered_{s}" for s in ("booked", "held", "closed_won", "closed_lost", "qualified")],
                             NOV, admin_scope)
    assert volumes == {"entered_booked": 5, "entered_held": 2, "entered_closed_won": 2, "entered_closed_lost": 1,
                       "entered_qualified": 0}


def test_query_counts_do_not_grow_with_deals(workspace, deals, django_assert_max_num_queries):
    all_deals = Deal.objects.filter(workspace=workspace)
    with django_assert_max_num_queries(2):
        conversion(all_deals, NOV, "booked", "held", group_by="owner_id")


def _live_first_entries(workspace):
    """When each deal first entered each step, straight from stage history (the rollup's definition)."""
    from clients.funnel import STEP_ORDER, stage_ids

    step_of = {sid: step for step, ids in stage_ids(workspace.pk).items() for sid in ids}
    expected = {}
    for h in DealStageHistory.objects.filter(workspace=workspace):
        key = (h.deal_id, step_of[h.stage_id])
        expected[key] = min(expected.get(key, h.entered_at), h.entered_at)
    return {(deal, step): when for (deal, step), when in expected.items() if step in [*STEP_ORDER, "closed_lost"]}


def _rollup_entries(workspace):
    from clients.models import DealFunnel
    from clients.models_funnel import STEP_FIELDS

    return {(row.deal_id, f.removesuffix("_at")): getattr(row, f)
            for row in DealFunnel.objects.filter(workspace=workspace) for f in STEP_FIELDS if getattr(row, f)}


def test_rollup_equals_the_live_computation_and_the_rebuild_repairs_it(workspace, deals):
    from clients.funnel import deal_funnel_rebuild

    assert _rollup_entries(workspace) == _live_first_entries(workspace)  # kept current by the writes
    # A write that bypasses the ORM (bulk SQL) leaves the rollup stale until the 03:00 rebuild.
    DealStageHistory.objects.filter(workspace=workspace, stage_id=HELD).update(entered_at=at(11, 20))
    assert _rollup_entries(workspace) != _live_first_entries(workspace)
    assert "7 deals" in deal_funnel_rebuild()
    assert _rollup_entries(workspace) == _live_first_entries(workspace)


def test_rollup_rows_copy_their_deals_owner_contact_and_money(workspace, deals):
    from clients.models import DealFunnel

    copied = ("owner_id", "contact_id", "amount", "cash_collected")
    assert Deal.objects.filter(contact__isnull=False).exists()
    assert (set(DealFunnel.objects.filter(workspace=workspace).values_list("deal_id", *copied))
            == set(Deal.objects.filter(workspace=workspace).values_list("pk", *copied)))
