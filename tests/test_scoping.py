"""Role scoping within one workspace (DESIGN §1, §2.4): through ptd.scoping.scoped and through the pages.

The world: two coaches and two setters; contacts split between them; calls made by each setter; deals
owned by the coaches; Stripe payments and Meta ad insights, which only admins and viewers may see.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from clients.models import Call, Contact, Deal, Staff
from finance.models import Payment
from marketing.models import Ad, AdInsight, AdSet, Campaign
from ptd.models import Membership
from ptd.scoping import Scope, scoped

pytestmark = pytest.mark.django_db



@dataclass
class World:
    coach1: Staff
    coach2: Staff
    setter1: Staff
    setter2: Staff
    contacts: dict
    calls: dict
    deals: dict
    payments: list
    insights: list
    users: dict


def _scope(user, workspace) -> Scope:
    return Scope.of(Membership.objects.select_related("workspace").get(user=user, workspace=workspace))


@pytest.fixture
def world(workspace, make_staff, make_user):
    now = timezone.now()
    coach1, coach2 = make_staff(workspace, "coach", name="Coach One"), make_staff(workspace, "coach", name="Coach Two")
    setter1 = make_staff(workspace, "setter", name="Setter One")
    setter2 = make_staff(workspace, "setter", name="Setter Two")

    def contact(name, owner, coach):
        return Contact.objects.create(workspace=workspace, first_name=name, email_normalized=f"{name.lower()}@example.com",
                                      created_at=now, owner=owner, coach=coach)

    contacts = {
        "aisha": contact("Aisha", setter1, coach1),  # setter1's lead, coach1's client
        "omar": contact("Omar", setter2, coach2),  # setter2's lead, coach2's client
        "layla": contact("Layla", setter1, None),  # setter1's lead, no coach yet
        "khalid": contact("Khalid", None, coach1),  # unowned, coach1's client
    }

    def call(source_id, staff, who):
        return Call.objects.create(workspace=workspace, source_id=source_id, staff=staff, contact=contacts[who],
                                   started_at=now, outcome="answered")

    calls = {
        "s1-aisha": call("1", setter1, "aisha"),
        "s2-omar": call("2", setter2, "omar"),
        "s1-omar": call("3", setter1, "omar"),  # setter1 called setter2's lead
    }
    deals = {
        "aisha": Deal.objects.create(workspace=workspace, hubspot_id="d1", contact=contacts["aisha"], owner=coach1,
                                     stage_id="closedwon", amount=Decimal("6600"), created_at=now),
        "omar": Deal.objects.create(workspace=workspace, hubspot_id="d2", contact=contacts["omar"], owner=coach2,
                                    stage_id="122237508", created_at=now),
    }
    payments = [
        Payment.objects.create(workspace=workspace, stripe_id=f"ch_{i}", contact=contacts["aisha"], created=now,
                               amount_minor=660000, status="succeeded")
        for i in range(2)
    ]
    campaign = Campaign.objects.create(workspace=workspace, meta_id="120", name="Summer Shred")
    adset = AdSet.objects.create(workspace=workspace, meta_id="121", campaign=campaign, name="Women 25-40")
    ad = Ad.objects.create(workspace=workspace, meta_id="122", adset=adset, campaign=campaign, name="Reel")
    insights = [
        AdInsight.objects.create(workspace=workspace, ad=ad, adset=adset, campaign=campaign, date=date(2026, 11, d),
                                 spend=Decimal("250.00"))
        for d in (1, 2, 3)
    ]
    users = {
        "admin": make_user(workspace, "admin"),
        "viewer": make_user(workspace, "viewer"),
        "coach1": make_user(workspace, "coach", staff=coach1),
        "coach2": make_user(workspace, "coach", staff=coach2),
        "setter1": make_user(workspace, "setter", staff=setter1),
        "setter2": make_user(workspace, "setter", staff=setter2),
        "coach_unlinked": make_user(workspace, "coach"),
        "setter_unlinked": make_user(workspace, "setter"),
    }
    return World(coach1, coach2, setter1, setter2, contacts, calls, deals, payments, insights, users)


def _names(qs) -> set[str]:
    return set(qs.values_list("first_name", flat=True))


def _call_keys(world, qs) -> set[str]:
    by_pk = {c.pk: key for key, c in world.calls.items()}
    return {by_pk[pk] for pk in qs.values_list("pk", flat=True)}


CONTACTS_BY_USER = {
    "admin": {"Aisha", "Omar", "Layla", "Khalid"},
    "viewer": {"Aisha", "Omar", "Layla", "Khalid"},
    "coach1": {"Aisha", "Khalid"},
    "coach2": {"Omar"},
    "setter1": {"Aisha", "Layla"},
    "setter2": {"Omar"},
    "coach_unlinked": set(),
    "setter_unlinked": set(),
}


@pytest.mark.parametrize("who,expected", sorted(CONTACTS_BY_USER.items()))
def test_contacts_by_role(world, workspace, who, expected):
    assert _names(scoped(Contact, _scope(world.users[who], workspace))) == expected


CALLS_BY_USER = {
    "admin": {"s1-aisha", "s2-omar", "s1-omar"},
    "viewer": {"s1-aisha", "s2-omar", "s1-omar"},
    "setter1": {"s1-aisha", "s1-omar"},  # the calls they made, whoever owns the lead
    "setter2": {"s2-omar"},
    "coach1": {"s1-aisha"},  # calls to their own clients
    "coach2": {"s2-omar", "s1-omar"},
    "coach_unlinked": set(),
    "setter_unlinked": set(),
}


@pytest.mark.parametrize("who,expected", sorted(CALLS_BY_USER.items()))
def test_calls_by_role(world, workspace, who, expected):
    assert _call_keys(world, scoped(Call, _scope(world.users[who], workspace))) == expected


def test_deals_follow_the_coach_who_owns_them_and_the_setter_who_owns_the_lead(world, workspace):
    def deals(who):
        return set(scoped(Deal, _scope(world.users[who], workspace)).values_list("hubspot_id", flat=True))

    assert deals("admin") == {"d1", "d2"}
    assert deals("coach1") == {"d1"}
    assert deals("coach2") == {"d2"}
    assert deals("setter1") == {"d1"}
    assert deals("setter2") == {"d2"}
    assert deals("coach_unlinked") == set()


@pytest.mark.parametrize("who,payments,insights", [
    ("admin", 2, 3), ("viewer", 2, 3),
    ("coach1", 0, 0), ("coach2", 0, 0), ("setter1", 0, 0), ("setter2", 0, 0),
])
def test_finance_and_ad_spend_only_for_admin_and_viewer(world, workspace, who, payments, insights):
    scope = _scope(world.users[who], workspace)
    assert scoped(Payment, scope).count() == payments
    assert scoped(AdInsight, scope).count() == insights


def test_scoped_narrows_a_queryset_and_never_widens_it(world, workspace):
    coach1 = _scope(world.users["coach1"], workspace)
    assert _names(scoped(Contact.objects.filter(first_name__in=["Aisha", "Omar"]), coach1)) == {"Aisha"}
    assert _names(scoped(Contact.objects.none(), _scope(world.users["admin"], workspace))) == set()


@pytest.mark.parametrize("who,pii", [("admin", True), ("coach1", True), ("setter1", True), ("viewer", False)])
def test_only_viewers_lose_pii(world, workspace, who, pii):
    scope = _scope(world.users[who], workspace)
    assert scope.can_see_pii is pii
    assert scope.is_admin is (who == "admin")


def test_scope_carries_the_linked_staff(world, workspace):
    assert _scope(world.users["coach1"], workspace).staff_id == world.coach1.pk
    assert _scope(world.users["setter2"], workspace).staff_id == world.setter2.pk
    assert _scope(world.users["coach_unlinked"], workspace).staff_id is None


# --- the same rules through the pages ------------------------------------------------------------------------------


def _home_counts(client) -> dict[str, int]:
    response = client.get("/data/")
    assert response.status_code == 200
    return {s.label: s.count for s in response.context["sources"]}


@pytest.mark.parametrize("who,contacts,calls,deals,payments,insights", [
    ("admin", 4, 3, 2, 2, 3),
    ("viewer", 4, 3, 2, 2, 3),
    ("coach1", 2, 1, 1, 0, 0),
    ("coach2", 1, 2, 1, 0, 0),
    ("setter1", 2, 2, 1, 0, 0),
    ("setter2", 1, 1, 1, 0, 0),
    ("coach_unlinked", 0, 0, 0, 0, 0),
    ("setter_unlinked", 0, 0, 0, 0, 0),
])
def test_data_page_counts_by_role(world, client_for, who, contacts, calls, deals, payments, insights):
    counts = _home_counts(client_for(world.users[who]))
    # A role that may see no rows of a source gets no card or a zero, never someone else's count.
    assert counts.get("Contacts", 0) == contacts
    assert counts.get("Calls", 0) == calls
    assert counts.get("Deals", 0) == deals
    assert counts.get("Payments", 0) == payments
    assert counts.get("Daily ad insights", 0) == insights
    if who in ("admin", "viewer"):
        assert {"Contacts", "Calls", "Deals", "Payments", "Daily ad insights"} <= set(counts)


def test_data_page_renders_the_scoped_count(world, client_for):
    """The number in the HTML is the scoped one (not only the context)."""
    content = client_for(world.users["coach2"]).get("/data/").content.decode()
    assert '<a href="' not in content.split('id="sources"')[1].split("</section>")[0]  # no admin links for a coach
    assert '<p class="source-count">1</p>' in content  # coach2's one contact
    assert '<p class="source-count">4</p>' not in content  # the workspace's four contacts are not shown


def test_data_partial_is_scoped_too(world, client_for):
    response = client_for(world.users["setter2"]).get("/data/?partial=sources", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert {s.label: s.count for s in response.context["sources"]}["Contacts"] == 1
    assert b"<html" not in response.content  # the partial, not the page
    assert b'id="sources"' in response.content


@pytest.mark.parametrize("who,leads,revenue", [
    ("admin", "4", "AED 13,200"),
    ("viewer", "4", "AED 13,200"),
    ("coach1", "2", "—"),
    ("coach2", "1", "—"),
    ("coach_unlinked", "0", "—"),
])
def test_executive_page_by_role(world, client_for, who, leads, revenue):
    response = client_for(world.users[who]).get("/")
    assert response.status_code == 200
    values = {k.name: k for k in (*response.context["money"].kpis, *response.context["acquisition"].kpis)}
    assert (values["new_leads"].display, values["cash_collected"].display) == (leads, revenue)
    if who.startswith("coach"):
        assert values["cash_collected"].empty_reason == "finance figures are not shown to your role"


@pytest.mark.parametrize("who", ["setter1", "setter_unlinked"])
def test_setters_are_sent_from_the_executive_page_to_their_own(world, client_for, who):
    response = client_for(world.users[who]).get("/")
    assert response.status_code == 302 and response["Location"] == "/setter-activity-today/"


def test_data_page_query_count_is_bounded(world, client_for, django_assert_max_num_queries):
    client = client_for(world.users["admin"])
    client.get("/data/")  # warm the session and caches
    with django_assert_max_num_queries(25):
        response = client.get("/data/")
    assert response.status_code == 200
    assert {s.label: s.count for s in response.context["sources"]}["Contacts"] == 4


def test_per_request_computes_once_per_request_scope_and_never_caches_a_longer_lived_one(workspace, make_user):
    """A request's scope keeps what a `per_request` function computed (per arguments); a scope held longer (a
    websocket, an agent, a test) recomputes every time, so it never reads stale rows."""
    from ptd.scoping import per_request

    calls = []

    @per_request
    def figure(access, period, *, model="first"):
        calls.append((period, model))
        return len(calls)

    membership = Membership.objects.select_related("workspace").get(user=make_user(workspace, "admin"))
    request_scope = Scope.of(membership, per_request=True)
    assert [figure(request_scope, "p"), figure(request_scope, "p"), figure(access=request_scope, period="p")] == [1, 1, 2]
    assert figure(request_scope, "q") == 3 and figure(request_scope, "p", model="last") == 4
    assert Scope.of(membership, per_request=True) == request_scope  # the memo is not part of what a scope is
    held = Scope.of(membership)
    assert [figure(held, "p"), figure(held, "p")] == [5, 6]
