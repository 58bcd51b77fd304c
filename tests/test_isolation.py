"""Isolation between two workspaces (DESIGN §1): a member of one never sees the other's rows — not through
ptd.scoping, the pages, Django admin, nor websocket messages."""

import re
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone

from clients.models import Call, Contact, Deal, Staff
from finance.models import Payment
from ptd.live import publish_now
from ptd.models import Membership
from ptd.scoping import Scope, scoped



def _contacts(workspace, coach, setter, names):
    now = timezone.now()
    return [
        Contact.objects.create(workspace=workspace, first_name=name, last_name="Testperson", hubspot_id=str(i),
                               email_normalized=f"{name.lower()}@example.com", created_at=now, coach=coach,
                               owner=setter)
        for i, name in enumerate(names)
    ]


@pytest.fixture
def two(workspace, other_workspace, make_staff, make_user):
    """Workspace A (ptd) with 3 contacts and B (abu-dhabi) with 2; the same HubSpot ids in both."""
    coach_a, setter_a = make_staff(workspace, "coach", name="Alpha Coach"), make_staff(workspace, "setter")
    coach_b, setter_b = make_staff(other_workspace, "coach", name="Bravo Coach"), make_staff(other_workspace, "setter")
    a = _contacts(workspace, coach_a, setter_a, ["Amelia", "Anwar", "Astrid"])
    b = _contacts(other_workspace, coach_b, setter_b, ["Bashir", "Bianca"])
    now = timezone.now()
    for ws, contacts, setter in ((workspace, a, setter_a), (other_workspace, b, setter_b)):
        for i, contact in enumerate(contacts):
            Call.objects.create(workspace=ws, source_id=f"call-{i}", contact=contact, staff=setter, started_at=now,
                                outcome="answered")
            Deal.objects.create(workspace=ws, hubspot_id=f"deal-{i}", contact=contact, owner=contact.coach,
                                stage_id="closedwon", amount=Decimal("3000"), created_at=now)
            Payment.objects.create(workspace=ws, stripe_id=f"ch_{i}", contact=contact, created=now,
                                   amount_minor=300000, status="succeeded")
    return {
        "A": workspace, "B": other_workspace, "a": a, "b": b,
        "coach_a": coach_a, "coach_b": coach_b, "setter_a": setter_a, "setter_b": setter_b,
        "admin_a": make_user(workspace, "admin", username="admin-a"),
        "admin_b": make_user(other_workspace, "admin", username="admin-b"),
        "viewer_b": make_user(other_workspace, "viewer", username="viewer-b"),
        "coach_user_a": make_user(workspace, "coach", staff=coach_a, username="coach-a"),
        "coach_user_b": make_user(other_workspace, "coach", staff=coach_b, username="coach-b"),
    }


def _scope(user, workspace) -> Scope:
    return Scope.of(Membership.objects.select_related("workspace").get(user=user, workspace=workspace))


# --- scoped ---------------------------------------------------------------------------------------------------------


MEMBERS = [("admin_a", "A"), ("admin_b", "B"), ("viewer_b", "B"), ("coach_user_b", "B")]


@pytest.mark.django_db
@pytest.mark.parametrize("who,ws,model", [
    (who, ws, model) for who, ws in MEMBERS for model in (Contact, Call, Deal, Payment, Staff)
    if not (who.startswith("coach") and model is Payment)  # coaches see no payments at all (test_scoping)
])
def test_scoped_rows_all_belong_to_the_members_workspace(two, model, who, ws):
    rows = scoped(model, _scope(two[who], two[ws]))
    assert rows.exists()
    assert set(rows.values_list("workspace_id", flat=True)) == {two[ws].pk}


@pytest.mark.django_db
def test_scoped_contacts_per_workspace(two):
    def names(who, ws):
        return sorted(scoped(Contact, _scope(two[who], two[ws])).values_list("first_name", flat=True))

    assert names("admin_a", "A") == ["Amelia", "Anwar", "Astrid"]
    assert names("admin_b", "B") == ["Bashir", "Bianca"]
    assert names("coach_user_b", "B") == ["Bashir", "Bianca"]
    # Same HubSpot id "0" in both workspaces: each member gets their own.
    assert scoped(Contact.objects.filter(hubspot_id="0"), _scope(two["admin_b"], two["B"])).get().first_name == "Bashir"


@pytest.mark.django_db
def test_staff_link_to_another_workspace_is_refused_and_would_leak_nothing(two, make_user):
    from django.core.exceptions import ValidationError

    from ptd.models import User
    from ptd.services import membership_set

    user = User.objects.create_user(username="crossed", password="x" * 12)
    with pytest.raises(ValidationError) as excinfo:
        membership_set(user=user, workspace=two["B"], role="coach", staff=two["coach_a"])
    assert "staff" in excinfo.value.message_dict
    assert not Membership.objects.filter(user=user).exists()

    # A row written around the service (e.g. raw SQL) still cannot see A's rows from B.
    Membership.objects.create(user=user, workspace=two["B"], role="coach", staff=two["coach_a"])
    scope = _scope(user, two["B"])
    assert scope.staff_id == two["coach_a"].pk
    assert not scoped(Contact, scope).exists()
    assert not scoped(Call, scope).exists()
    assert not scoped(Deal, scope).exists()


# --- pages ----------------------------------------------------------------------------------------------------------


def _home(client) -> tuple[dict, str]:
    """The "Your data" counts per source (and the page's HTML)."""
    response = client.get("/data/")
    assert response.status_code == 200
    return {s.label: s.count for s in response.context["sources"]}, response.content.decode()


def _executive(client) -> dict[str, str]:
    """The executive page's KPI values by name (default period: the last 30 days, which holds "now"), with the
    clients-and-health section the page loads after itself."""
    response = client.get("/")
    health = client.get("/", {"partial": "clients-health"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and health.status_code == 200
    groups = [response.context["money"], response.context["acquisition"], health.context["clients_health"]]
    return {k.name: k.display for group in groups for k in group.kpis}


@pytest.mark.django_db
@pytest.mark.parametrize("who,contacts,payments,workspace_name", [
    ("admin_a", 3, 3, "PTD Fitness"),
    ("admin_b", 2, 2, "PTD Abu Dhabi"),
    ("viewer_b", 2, 2, "PTD Abu Dhabi"),
])
def test_data_page_counts_only_the_members_workspace(two, client_for, who, contacts, payments, workspace_name):
    counts, content = _home(client_for(two[who]))
    assert counts["Contacts"] == contacts
    assert counts["Payments"] == payments
    assert counts["Deals"] == contacts
    active = re.search(r'class="workspace-name"[^>]*>(?:<span[^>]*>[^<]*</span>)?\s*([^<]+)<', content).group(1)
    assert active.strip() == workspace_name
    assert two["A" if workspace_name == "PTD Abu Dhabi" else "B"].name not in content


@pytest.mark.django_db
@pytest.mark.parametrize("who,leads,revenue", [
    ("admin_a", "3", "AED 9,000"),
    ("admin_b", "2", "AED 6,000"),
    ("viewer_b", "2", "AED 6,000"),
    ("coach_user_b", "2", "—"),  # coach: own clients, no finance
])
def test_executive_page_counts_only_the_members_workspace(two, client_for, who, leads, revenue):
    values = _executive(client_for(two[who]))
    assert (values["new_leads"], values["cash_collected"]) == (leads, revenue)


@pytest.mark.django_db
def test_coach_data_page_counts_only_own_clients_of_own_workspace(two, client_for):
    counts, _ = _home(client_for(two["coach_user_b"]))
    assert counts["Contacts"] == 2
    assert counts["Deals"] == 2


@pytest.mark.django_db
def test_member_of_both_sees_each_workspace_only_while_it_is_active(two, make_user, client_for):
    from ptd.services import membership_set

    user = make_user(two["A"], "admin", username="both")
    membership_set(user=user, workspace=two["B"], role="admin")
    client = client_for(user)

    client.post("/workspace/switch/", {"workspace": "ptd"})
    assert _home(client)[0]["Contacts"] == 3
    assert _executive(client)["new_leads"] == "3"
    client.post("/workspace/switch/", {"workspace": "abu-dhabi"})
    assert _home(client)[0]["Contacts"] == 2
    assert _executive(client)["new_leads"] == "2"


# --- API -----------------------------------------------------------------------------------------------------------


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint,model", [("contacts", Contact), ("deals", Deal), ("calls", Call),
                                            ("payments", Payment)])
def test_api_lists_only_the_members_workspace(two, client_for, endpoint, model):
    client = client_for(two["admin_b"])
    ids = {row["id"] for row in _results(client.get(f"/api/{endpoint}/"))}
    assert ids == set(model.objects.filter(workspace=two["B"]).values_list("pk", flat=True))
    assert len(ids) == 2


@pytest.mark.django_db
def test_api_cannot_fetch_another_workspaces_row(two, client_for):
    client = client_for(two["admin_b"])
    assert client.get(f"/api/contacts/{two['b'][0].pk}/").status_code == 200
    response = client.get(f"/api/contacts/{two['a'][0].pk}/")
    assert response.status_code == 404
    assert "Amelia" not in response.content.decode()


@pytest.mark.django_db
def test_api_refuses_to_switch_into_a_workspace_the_user_is_not_member_of(two, client_for):
    client = client_for(two["admin_b"])
    for response in (client.get("/api/contacts/", {"workspace": "ptd"}),
                     client.get("/api/contacts/", headers={"X-Workspace": "ptd"})):
        assert response.status_code in (403, 404)
        assert "Amelia" not in response.content.decode()


@pytest.mark.django_db
def test_api_with_a_token_is_isolated_too(two):
    from django.test import Client
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=two["viewer_b"])
    client = Client(headers={"Authorization": f"Token {token.key}"})
    rows = _results(client.get("/api/contacts/"))
    assert {r["id"] for r in rows} == {c.pk for c in two["b"]}
    assert all("email_normalized" not in r for r in rows)  # a viewer gets no PII


# --- Django admin ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_changelist_shows_only_own_workspace_contacts(two, client_for):
    response = client_for(two["admin_b"]).get("/admin/clients/contact/")
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert sorted(c.first_name for c in shown) == ["Bashir", "Bianca"]
    content = response.content.decode()
    assert "Bashir" in content and "Bianca" in content
    for name in ("Amelia", "Anwar", "Astrid", "amelia@example.com"):
        assert name not in content


@pytest.mark.django_db
@pytest.mark.parametrize("path,count_b", [("/admin/finance/payment/", 2), ("/admin/clients/call/", 2),
                                          ("/admin/clients/deal/", 2), ("/admin/clients/staff/", 2)])
def test_admin_changelists_of_other_models_are_limited_too(two, client_for, path, count_b):
    response = client_for(two["admin_b"]).get(path)
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert len(rows) == count_b
    assert {r.workspace_id for r in rows} == {two["B"].pk}


@pytest.mark.django_db
def test_admin_search_does_not_reach_into_another_workspace(two, client_for):
    response = client_for(two["admin_b"]).get("/admin/clients/contact/", {"q": "amelia@example.com"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


@pytest.mark.django_db
def test_admin_cannot_open_another_workspaces_contact(two, client_for):
    client = client_for(two["admin_b"])
    own = client.get(f"/admin/clients/contact/{two['b'][0].pk}/change/")
    assert own.status_code == 200
    assert "Bashir" in own.content.decode()

    other = client.get(f"/admin/clients/contact/{two['a'][0].pk}/change/")
    assert other.status_code in (302, 404)
    if other.status_code == 302:
        assert other["Location"] == "/admin/"
    assert "Amelia" not in other.content.decode()
    # ... nor its history, nor delete it.
    assert client.get(f"/admin/clients/contact/{two['a'][0].pk}/history/").status_code in (302, 404)
    deleted = client.post(f"/admin/finance/payment/{Payment.objects.filter(workspace=two['A']).first().pk}/delete/",
                          {"post": "yes"})
    assert deleted.status_code in (302, 403, 404)
    assert Payment.objects.filter(workspace=two["A"]).count() == 3


@pytest.mark.django_db
def test_admin_add_form_offers_no_staff_of_another_workspace(two, client_for):
    client = client_for(two["admin_b"])
    for path in ("/admin/clients/intervention/add/", "/admin/clients/alert/add/"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Bravo Coach" in response.content.decode()
        assert "Alpha Coach" not in response.content.decode(), path


@pytest.mark.django_db
def test_admin_changelist_does_not_name_other_workspaces(two, client_for):
    response = client_for(two["admin_b"]).get("/admin/clients/contact/")
    assert response.status_code == 200
    assert "PTD Fitness" not in response.content.decode()


# --- websocket ------------------------------------------------------------------------------------------------------


def _communicator(client):
    from ptd.asgi import application

    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return WebsocketCommunicator(application, "/ws/live/",
                                 headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())])


async def _connect(client):
    communicator = _communicator(client)
    connected, _ = await communicator.connect()
    assert connected
    return communicator, await communicator.receive_json_from(timeout=2)


WS_DB = pytest.mark.django_db(transaction=True)


@WS_DB
def test_websocket_change_in_a_reaches_members_of_a_only(two, client_for):
    admin_a, admin_b, viewer_b = (client_for(two[k]) for k in ("admin_a", "admin_b", "viewer_b"))

    async def scenario():
        a, hello_a = await _connect(admin_a)
        b, hello_b = await _connect(admin_b)
        vb, hello_vb = await _connect(viewer_b)
        assert hello_a == {"type": "hello", "workspace": "ptd", "role": "admin"}
        assert hello_b == {"type": "hello", "workspace": "abu-dhabi", "role": "admin"}
        assert hello_vb == {"type": "hello", "workspace": "abu-dhabi", "role": "viewer"}

        await sync_to_async(publish_now)(workspace_id=two["A"].pk, topics=["contacts", "deals", "contacts"])
        assert await a.receive_json_from(timeout=2) == {"type": "changed", "topics": ["contacts", "deals"]}
        assert await b.receive_nothing(timeout=0.2)
        assert await vb.receive_nothing(timeout=0.05)

        await sync_to_async(publish_now)(workspace_id=two["B"].pk, topics=["payments"])
        assert await b.receive_json_from(timeout=2) == {"type": "changed", "topics": ["payments"]}
        assert await vb.receive_json_from(timeout=2) == {"type": "changed", "topics": ["payments"]}
        assert await a.receive_nothing(timeout=0.2)
        for communicator in (a, b, vb):
            await communicator.disconnect()

    async_to_sync(scenario)()


@WS_DB
def test_websocket_staff_changes_reach_that_coach_only(two, client_for, make_staff, make_user):
    other_coach = make_user(two["A"], "coach", staff=make_staff(two["A"], "coach"), username="other-coach")
    coach_a, coach_other, coach_b = client_for(two["coach_user_a"]), client_for(other_coach), client_for(two["coach_user_b"])

    async def scenario():
        mine, _ = await _connect(coach_a)
        theirs, _ = await _connect(coach_other)
        other_ws, _ = await _connect(coach_b)
        # A change about coach_a's records in A; the same staff id sent to B's groups must not reach A either.
        await sync_to_async(publish_now)(workspace_id=two["A"].pk, topics=["sessions"], staff_ids=[two["coach_a"].pk])
        assert await mine.receive_json_from(timeout=2) == {"type": "changed", "topics": ["sessions"]}
        assert await theirs.receive_nothing(timeout=0.2)
        assert await other_ws.receive_nothing(timeout=0.05)
        # Workspace-wide changes go to admins and viewers, not to every coach.
        await sync_to_async(publish_now)(workspace_id=two["A"].pk, topics=["contacts"])
        assert await mine.receive_nothing(timeout=0.2)
        await sync_to_async(publish_now)(workspace_id=two["B"].pk, topics=["sessions"], staff_ids=[two["coach_a"].pk])
        assert await mine.receive_nothing(timeout=0.2)
        for communicator in (mine, theirs, other_ws):
            await communicator.disconnect()

    async_to_sync(scenario)()


@WS_DB
def test_websocket_follows_the_active_workspace_of_the_session(two, make_user, client_for):
    from ptd.services import membership_set

    user = make_user(two["A"], "admin", username="both-ws")
    membership_set(user=user, workspace=two["B"], role="viewer")
    client = client_for(user)
    assert client.post("/workspace/switch/", {"workspace": "abu-dhabi"}).status_code == 302

    async def scenario():
        communicator, hello = await _connect(client)
        assert hello == {"type": "hello", "workspace": "abu-dhabi", "role": "viewer"}
        await sync_to_async(publish_now)(workspace_id=two["A"].pk, topics=["contacts"])
        assert await communicator.receive_nothing(timeout=0.2)
        await sync_to_async(publish_now)(workspace_id=two["B"].pk, topics=["contacts"])
        assert await communicator.receive_json_from(timeout=2) == {"type": "changed", "topics": ["contacts"]}
        await communicator.disconnect()

    async_to_sync(scenario)()


@WS_DB
def test_disconnected_socket_leaves_its_groups(two, client_for):
    admin_a = client_for(two["admin_a"])

    async def scenario():
        communicator, _ = await _connect(admin_a)
        layer = get_channel_layer()
        group = f"live.ws{two['A'].pk}.all"
        assert len(layer.groups.get(group, {})) == 1
        await communicator.disconnect()
        assert len(layer.groups.get(group, {})) == 0

    async_to_sync(scenario)()
