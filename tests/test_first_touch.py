"""Each contact's stored first paid touch (marketing.first_touch): kept by triggers on every write path — a contact
inserted or its ids changed (one row or a bulk update), AnyTrack events inserted, re-linked and deleted — equal to
the definition (marketing.attribution.paid_touches_sql), and repaired by the bulk refresh."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clients.models import Contact
from marketing.first_touch import contacts_first_touch_refresh
from marketing.models import AttributionEvent

DUBAI = ZoneInfo("Asia/Dubai")
AD, ADSET, CAMPAIGN = "320001", "220001", "120001"

pytestmark = pytest.mark.django_db


def at(day, hour=12):
    return datetime(2026, 10, day, hour, tzinfo=DUBAI)


def stored(contact) -> tuple:
    contact.refresh_from_db()
    return (contact.first_touch_at, contact.first_touch_ad_id, contact.first_touch_adset_id,
            contact.first_touch_campaign_id)


def event(workspace, contact, when, name="e1", **ids):
    return AttributionEvent.objects.create(workspace=workspace, external_id=name, contact=contact, event_name="Lead",
                                           occurred_at=when, **ids)


def test_a_contact_created_with_ad_ids_stores_them_and_one_without_stores_none(workspace):
    paid = Contact.objects.create(workspace=workspace, created_at=at(5), fb_ad_id=AD, fb_campaign_id=CAMPAIGN)
    organic = Contact.objects.create(workspace=workspace, created_at=at(5), utm_source="google")
    assert stored(paid) == (at(5), AD, "", CAMPAIGN)
    assert stored(organic) == (None, "", "", "")


def test_ids_carried_by_utms_count_when_they_look_like_meta_ids(workspace):
    person = Contact.objects.create(workspace=workspace, created_at=at(5), utm_content="spring-promo")
    assert stored(person)[0] is None  # a UTM that is not a Meta id is no paid touch
    Contact.objects.filter(pk=person.pk).update(utm_content=AD, utm_campaign=CAMPAIGN)
    assert stored(person) == (at(5), AD, "", CAMPAIGN)


def test_an_earlier_event_becomes_the_first_touch_until_it_is_deleted(workspace):
    person = Contact.objects.create(workspace=workspace, created_at=at(5), fb_ad_id=AD)
    early = event(workspace, person, at(3), adset_id=ADSET)
    assert stored(person) == (at(3), "", ADSET, "")
    event(workspace, person, at(4), name="e2", campaign_id=CAMPAIGN)  # later than the first: nothing moves
    assert stored(person) == (at(3), "", ADSET, "")
    early.delete()
    assert stored(person) == (at(4), "", "", CAMPAIGN)
    AttributionEvent.objects.filter(contact=person).delete()
    assert stored(person) == (at(5), AD, "", "")


def test_an_event_with_no_ad_id_is_not_a_paid_touch(workspace):
    person = Contact.objects.create(workspace=workspace, created_at=at(5))
    event(workspace, person, at(3), utm_source="facebook")
    assert stored(person)[0] is None


def test_relinking_an_event_moves_the_touch_to_its_new_contact(workspace):
    """Identity resolution links an unmatched event later, or moves it from a duplicate contact."""
    first = Contact.objects.create(workspace=workspace, created_at=at(5))
    second = Contact.objects.create(workspace=workspace, created_at=at(6))
    unmatched = AttributionEvent.objects.create(workspace=workspace, external_id="u", event_name="Lead",
                                                occurred_at=at(2), ad_id=AD)
    AttributionEvent.objects.filter(pk=unmatched.pk).update(contact=first)
    assert stored(first) == (at(2), AD, "", "")
    AttributionEvent.objects.filter(pk=unmatched.pk).update(contact=second)
    assert stored(first)[0] is None and stored(second) == (at(2), AD, "", "")


def test_bulk_updates_of_many_contacts_store_each_ones_touch(workspace):
    people = Contact.objects.bulk_create([Contact(workspace=workspace, created_at=at(day)) for day in range(1, 11)])
    Contact.objects.filter(pk__in=[p.pk for p in people]).update(fb_campaign_id=CAMPAIGN)
    assert [stored(p) for p in people] == [(at(day), "", "", CAMPAIGN) for day in range(1, 11)]


def test_the_refresh_finds_nothing_to_change_and_repairs_damage(workspace, other_workspace):
    person = Contact.objects.create(workspace=workspace, created_at=at(5), fb_ad_id=AD)
    elsewhere = Contact.objects.create(workspace=other_workspace, created_at=at(5), fb_ad_id=AD)
    event(workspace, person, at(1), campaign_id=CAMPAIGN)
    assert contacts_first_touch_refresh(workspace_id=workspace.pk) == 0
    # Writing the stored columns alone fires no recomputation (that is what ends the triggers' own update).
    Contact.objects.filter(pk__in=[person.pk, elsewhere.pk]).update(first_touch_at=None, first_touch_ad_id="")
    assert contacts_first_touch_refresh(workspace_id=workspace.pk, contact_ids=[person.pk]) == 1
    assert stored(person) == (at(1), "", "", CAMPAIGN)
    assert stored(elsewhere)[0] is None  # another workspace: untouched until its own refresh
    assert contacts_first_touch_refresh(workspace_id=other_workspace.pk) == 1
    assert stored(elsewhere) == (at(5), AD, "", "")


def visit(workspace, visitor, when, name="s1", **utms):
    from marketing.models import VisitSession

    return VisitSession.objects.create(workspace=workspace, visitor=visitor, session_id=name, started_at=when,
                                       last_heartbeat_at=when, **utms)


def test_a_site_visit_from_an_ad_counts_once_its_browser_is_identified(workspace):
    """The snippet records the visit's UTMs (the ad URL macros put Meta ids there); the visit becomes the contact's
    touch when vibeIdentify links the browser, and moves with the browser."""
    from marketing.models import Visitor

    person = Contact.objects.create(workspace=workspace, created_at=at(5))
    other = Contact.objects.create(workspace=workspace, created_at=at(5))
    browser = Visitor.objects.create(workspace=workspace, anonymous_id="anon-1", first_seen_at=at(2),
                                     last_seen_at=at(2))
    session = visit(workspace, browser, at(2), utm_content=AD, utm_campaign=CAMPAIGN)
    visit(workspace, browser, at(1), name="s0", utm_source="google")  # an organic visit is no paid touch
    assert stored(person)[0] is None  # anonymous so far
    Visitor.objects.filter(pk=browser.pk).update(contact=person, identified_at=at(5))
    assert stored(person) == (at(2), AD, "", CAMPAIGN)
    Visitor.objects.filter(pk=browser.pk).update(last_seen_at=at(6))  # a heartbeat moves nothing
    assert stored(person) == (at(2), AD, "", CAMPAIGN)
    Visitor.objects.filter(pk=browser.pk).update(contact=other)  # identity corrected
    assert stored(person)[0] is None and stored(other) == (at(2), AD, "", CAMPAIGN)
    session.delete()
    assert stored(other)[0] is None


def test_the_first_collected_payment_is_kept_on_the_contact(workspace):
    """Attribution's conversion (finance.first_payment): the earliest collected Stripe payment, kept through
    inserts, status changes, re-linking and deletes."""
    from finance.first_payment import FIRST_PAYMENT
    from finance.models import Payment

    person = Contact.objects.create(workspace=workspace, created_at=at(1))
    failed = Payment.objects.create(workspace=workspace, stripe_id="ch_1", contact=person, amount_minor=100,
                                    created=at(3), status="failed")
    assert Contact.objects.get(pk=person.pk).first_paid_at is None  # a failed charge converts no one
    later = Payment.objects.create(workspace=workspace, stripe_id="ch_2", contact=person, amount_minor=100,
                                   created=at(9), status="succeeded")
    assert Contact.objects.get(pk=person.pk).first_paid_at == at(9)
    Payment.objects.filter(pk=failed.pk).update(status="succeeded")  # a retried charge settles
    assert Contact.objects.get(pk=person.pk).first_paid_at == at(3)
    Payment.objects.filter(pk=failed.pk).update(contact=None)  # identity corrected: not theirs after all
    assert Contact.objects.get(pk=person.pk).first_paid_at == at(9)
    later.delete()
    assert Contact.objects.get(pk=person.pk).first_paid_at is None
    assert FIRST_PAYMENT.refresh(workspace_id=workspace.pk) == 0


def test_no_trigger_joins_the_two_transition_tables():
    """A write's old and new rows carry no statistics: joined, PostgreSQL may loop over one for each row of the
    other (a 120,000-contact update ran for minutes). The triggers compare them with a hashed set difference."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'marketing_first_touch%%'")
        bodies = dict(cursor.fetchall())
    assert len(bodies) == 9  # contacts ×2, events ×3, visits ×3, browsers ×1
    assert not [name for name, body in bodies.items() if "JOIN old_rows" in body or "JOIN new_rows" in body]


def test_a_first_touch_arriving_later_makes_the_contacts_deals_ad_deals_at_once(workspace, make_user):
    """Ad deals and the ad funnel's steps (rollup measures) count the deals of contacts with a first paid touch on
    the deal's creation day and the days it entered booked, held and won: a touch that arrives after the rollups
    were stored marks those days dirty, so the stored totals move at once."""
    from clients.funnel import deal_funnel_refresh
    from clients.models import Deal, DealFunnel, DealStageHistory
    from ptd import rollups
    from ptd.models import RollupDirty
    from ptd.periods import resolve_period
    from ptd.scoping import Scope

    person = Contact.objects.create(workspace=workspace, created_at=at(5))
    deal = Deal.objects.create(workspace=workspace, hubspot_id="d1", contact=person, created_at=at(6),
                               stage_id="122237276")
    DealStageHistory.objects.bulk_create([DealStageHistory(workspace=workspace, deal=deal, stage_id=stage, entered_at=when)
                                          for stage, when in (("122237508", at(8)), ("122237276", at(9)))])
    deal_funnel_refresh(workspace_id=workspace.pk, deal_ids=[deal.pk])
    rollups.rollups_rebuild_workspace(workspace=workspace)
    admin = Scope.of(make_user(workspace, "admin").memberships.select_related("workspace").get())
    october = resolve_period("custom", today=at(25).date(), tz=DUBAI, date_from="2026-10-01", date_to="2026-10-31")
    measures = ["ad_deals", "ad_entered_booked", "ad_entered_held", "ad_entered_closed_won"]
    assert rollups.totals(measures, october, admin) == dict.fromkeys(measures, 0)
    event(workspace, person, at(7), ad_id=AD)
    assert RollupDirty.objects.filter(source=Deal._meta.db_table, day=at(6).date()).exists()
    assert set(RollupDirty.objects.filter(source=DealFunnel._meta.db_table).values_list("day", flat=True)) >= {
        at(8).date(), at(9).date()}
    moved = {"ad_deals": 1, "ad_entered_booked": 1, "ad_entered_held": 1, "ad_entered_closed_won": 0}
    assert rollups.totals(measures, october, admin) == moved
    rollups.rollups_refresh(workspace=workspace)
    assert rollups.totals(measures, october, admin) == moved
