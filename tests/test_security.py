"""Security of the shell (issue 2, "Users, roles, security"): login required everywhere, /healthz, the
websocket, Django admin and the settings page by role, credentials encrypted at rest and masked, audit log,
login throttling, CSP and the workspace switcher."""

import json
import logging
import re

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

from ptd.credentials import credential_get, credential_set
from ptd.crypto import UndecryptableCredential, decrypt
from ptd.models import AuditLog, CredentialKind, IntegrationCredential, Membership, User
from ptd.services import membership_set

SECRET = "sk_test_51NzQxLsupersecretvalueA1B2"  # last four: A1B2
MASKED = "•" * 8 + "A1B2"



# --- login required everywhere --------------------------------------------------------------------------------------

PUBLIC_ROUTES = {  # reachable without signing in, on purpose
    "healthz", "accounts/login/", "accounts/password_reset/", "accounts/password_reset/done/",
    "accounts/reset/<uidb64>/<token>/", "accounts/reset/done/",
}
WEBHOOK_PREFIX = "webhooks/"  # authenticated by the sender's signature or path token, not a login
# Found by these tests: drf-spectacular's views are DRF APIViews (exempt from LoginRequiredMiddleware) and
# serve with SERVE_PERMISSIONS = AllowAny by default.


def _routes(patterns=None, prefix=""):
    """Every route of ptd.urls outside Django admin, as a string with converters / regex groups left in."""
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(p.pattern).lstrip("^").rstrip("$")
        if isinstance(p, URLResolver):
            if route != "admin/":
                yield from _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route


def _concrete(route: str) -> str:
    """A path that `route` matches: every parameter filled with a harmless value."""
    path = route.replace("<drf_format_suffix:format>", ".json")
    path = re.sub(r"\\\.\(\?P<format>[^)]*\)/\?", ".json", path)  # DRF's format suffix regex
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
    path = re.sub(r"<(?:int:)?\w+>", "1", path)
    path = re.sub(r"<\w+:\w+>", "x", path)
    path = path.replace("^", "").replace("$", "")
    return "/" + path


def _route_params():
    params = []
    for route in sorted(set(_routes())):
        if route in PUBLIC_ROUTES or route.startswith(WEBHOOK_PREFIX):
            continue
        params.append(pytest.param(route, id=route or "home"))
    return params


def test_concrete_paths_resolve_to_their_routes():
    from django.urls import resolve

    routes = sorted(set(_routes()))
    assert "" in routes and "settings/" in routes
    for route in routes:
        resolve(_concrete(route))  # raises Resolver404 if the filled-in path is wrong


@pytest.mark.django_db
@pytest.mark.parametrize("route", _route_params())
def test_every_non_public_url_refuses_anonymous_users(client, route):
    path = _concrete(route)
    for response in (client.get(path), client.post(path)):
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/?next=")
        else:
            assert response.status_code in (401, 403), (path, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(r for r in set(_routes()) if r.startswith(WEBHOOK_PREFIX)))
def test_webhooks_refuse_unsigned_requests(client, workspace, route):
    from ptd.models import WebhookEvent

    response = client.post(_concrete(route).replace("/x/", "/ptd/"), data=b'{"id": "evt_forged"}',
                           content_type="application/json")
    assert 400 <= response.status_code < 500, (route, response.status_code)
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/settings/", "/accounts/password_change/"])
def test_pages_redirect_anonymous_users_to_login_with_next(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/", "/admin/clients/contact/", "/admin/ptd/integrationcredential/"])
def test_admin_redirects_anonymous_users_to_a_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert re.match(r"^/(admin|accounts)/login/\?next=" + re.escape(path) + "$", response["Location"])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/"])
def test_api_docs_and_schema_refuse_anonymous_users(client, path):
    response = client.get(path)
    assert response.status_code in (302, 401, 403)
    if response.status_code == 302:
        assert "/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["coach", "setter", "viewer"])
def test_api_docs_follow_the_navigation_rule(workspace, make_user, client_for, role):
    assert client_for(make_user(workspace, role)).get("/api/docs/").status_code == 403


@pytest.mark.django_db
def test_login_page_and_static_files_are_public(client):
    login = client.get("/accounts/login/")
    assert login.status_code == 200
    assert b'name="password"' in login.content
    css = client.get("/static/css/app.css")
    assert css.status_code == 200


# --- /healthz -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_is_public_and_reports_each_part(client):
    response = client.get("/healthz")
    assert response.status_code == 503  # no worker cluster runs in tests
    body = response.json()
    assert body["status"] == "unhealthy"
    assert set(body["checks"]) == {"database", "channel_layer", "worker"}
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    assert body["checks"]["channel_layer"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is False
    assert "manage.py worker" in body["checks"]["worker"]["detail"]


@pytest.mark.django_db
def test_healthz_is_200_when_a_worker_cluster_reports(client, monkeypatch):
    from django_q.status import Stat

    monkeypatch.setattr(Stat, "get_all", classmethod(lambda cls, *a, **k: [object()]))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["worker"] == {"ok": True, "detail": "ok (1 cluster)"}


# --- websocket ------------------------------------------------------------------------------------------------------


def _connect(headers):
    from ptd.asgi import application

    async def run():
        communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
        result = await communicator.connect(timeout=3)
        if result[0]:
            await communicator.disconnect()
        return result

    return async_to_sync(run)()


def _session_cookie(client) -> tuple[bytes, bytes]:
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.mark.django_db(transaction=True)
def test_websocket_refuses_anonymous_users():
    assert _connect([ORIGIN]) == (False, 4401)
    assert _connect([ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}=forged".encode())]) == (False, 4401)


@pytest.mark.django_db(transaction=True)
def test_websocket_refuses_users_without_a_workspace(client_for):
    user = User.objects.create_user(username="nobody", password="x" * 12)
    assert _connect([ORIGIN, _session_cookie(client_for(user))]) == (False, 4403)


@pytest.mark.django_db(transaction=True)
def test_websocket_accepts_members_only_from_our_origin(workspace, make_user, client_for):
    cookie = _session_cookie(client_for(make_user(workspace, "viewer")))
    assert _connect([ORIGIN, cookie]) == (True, None)
    # Cross-site websocket hijacking: a page on another site cannot ride the session cookie.
    connected, _ = _connect([(b"origin", b"https://evil.example"), cookie])
    assert connected is False


# --- Django admin and the settings page, by role --------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_role_opens_django_admin_without_being_staff(workspace, make_user, client_for):
    user = make_user(workspace, "admin")
    assert not user.is_staff and not user.is_superuser
    client = client_for(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"PTD Vital Suite administration" in response.content
    assert client.get("/admin/clients/pipelinestage/").status_code == 200
    # Users and workspaces span workspaces: superusers only.
    assert client.get("/admin/ptd/user/").status_code == 403
    assert client.get("/admin/ptd/workspace/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["coach", "setter", "viewer"])
@pytest.mark.parametrize("path", ["/admin/", "/admin/clients/contact/", "/admin/ptd/integrationcredential/"])
def test_other_roles_are_refused_by_django_admin(workspace, make_user, make_staff, client_for, role, path):
    staff = make_staff(workspace, role) if role != "viewer" else None
    response = client_for(make_user(workspace, role, staff=staff)).get(path)
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"] == f"/admin/login/?next={path}"


@pytest.mark.django_db
def test_superuser_without_membership_opens_admin(client_for):
    superuser = User.objects.create_superuser(username="root", password="x" * 12, email="root@example.com")
    assert client_for(superuser).get("/admin/ptd/workspace/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("role,status", [("admin", 200), ("coach", 403), ("setter", 403), ("viewer", 403)])
def test_settings_page_by_role(workspace, make_user, client_for, role, status):
    assert client_for(make_user(workspace, role)).get("/settings/").status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["coach", "setter", "viewer"])
def test_other_roles_cannot_store_credentials(workspace, make_user, client_for, role):
    response = client_for(make_user(workspace, role)).post(
        "/settings/", {"kind": "STRIPE_SECRET_KEY", "value": SECRET, "mode": "live"})
    assert response.status_code == 403
    assert not IntegrationCredential.objects.exists()


# --- credentials ----------------------------------------------------------------------------------------------------


@pytest.fixture
def no_env_credentials(monkeypatch):
    for kind in CredentialKind.values:
        monkeypatch.delenv(kind, raising=False)


def _stored_column(credential_pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value_encrypted FROM ptd_integrationcredential WHERE id = %s", [credential_pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest(workspace, no_env_credentials, caplog):
    with caplog.at_level(logging.DEBUG):
        credential = credential_set(workspace=workspace, kind="STRIPE_SECRET_KEY", value=f"  {SECRET}\n", mode="live",
                                    actor=None)
    column = _stored_column(credential.pk)
    assert SECRET not in column
    assert "A1B2" not in column
    assert column.startswith("gAAAA")  # a Fernet token
    assert decrypt(column) == SECRET
    assert credential_get(workspace=workspace, kind="STRIPE_SECRET_KEY") == SECRET  # stripped of whitespace
    assert credential_get(workspace=workspace, kind="HUBSPOT_ACCESS_TOKEN") == ""
    assert SECRET not in caplog.text
    # Saving the same value again gives a different token (random IV), and the same plaintext back.
    again = credential_set(workspace=workspace, kind="STRIPE_SECRET_KEY", value=SECRET, mode="live", actor=None)
    assert again.pk == credential.pk
    assert _stored_column(credential.pk) != column
    assert credential_get(workspace=workspace, kind="STRIPE_SECRET_KEY") == SECRET


@pytest.mark.django_db
def test_credential_input_is_validated(workspace):
    with pytest.raises(ValueError, match="unknown credential"):
        credential_set(workspace=workspace, kind="NOT_A_KEY", value=SECRET, actor=None)
    with pytest.raises(ValueError, match="mode must be one of test, live"):
        credential_set(workspace=workspace, kind="STRIPE_SECRET_KEY", value=SECRET, mode="prod", actor=None)
    with pytest.raises(ValueError, match="cannot be empty"):
        credential_set(workspace=workspace, kind="STRIPE_SECRET_KEY", value="   ", actor=None)
    assert not IntegrationCredential.objects.exists()


@pytest.mark.django_db
def test_rotated_secret_key_still_decrypts_and_a_foreign_key_does_not(workspace, settings, no_env_credentials):
    credential_set(workspace=workspace, kind="META_ACCESS_TOKEN", value=SECRET, actor=None)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key-" + "x" * 40, [old_key]
    assert credential_get(workspace=workspace, kind="META_ACCESS_TOKEN") == SECRET
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(UndecryptableCredential):
        credential_get(workspace=workspace, kind="META_ACCESS_TOKEN")


@pytest.mark.django_db
def test_settings_page_shows_only_the_masked_value(workspace, make_user, client_for, no_env_credentials):
    credential_set(workspace=workspace, kind="STRIPE_SECRET_KEY", value=SECRET, mode="live", actor=None)
    response = client_for(make_user(workspace, "admin")).get("/settings/")
    content = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in content
    assert SECRET[:-4] not in content
    assert MASKED in content
    row = {r.kind: r for r in response.context["credentials"]}["STRIPE_SECRET_KEY"]
    assert (row.source, row.masked, row.mode) == ("stored", MASKED, "live")


@pytest.mark.django_db
def test_admin_saves_a_credential_through_the_settings_page(workspace, make_user, client_for, no_env_credentials):
    admin = make_user(workspace, "admin")
    response = client_for(admin).post("/settings/", {"kind": "HUBSPOT_ACCESS_TOKEN", "value": SECRET, "mode": "test"})
    assert response.status_code == 302
    assert response["Location"] == "/settings/"
    stored = IntegrationCredential.objects.get(workspace=workspace, kind="HUBSPOT_ACCESS_TOKEN")
    assert stored.updated_by == admin
    assert SECRET not in _stored_column(stored.pk)
    assert credential_get(workspace=workspace, kind="HUBSPOT_ACCESS_TOKEN") == SECRET


@pytest.mark.django_db
def test_settings_page_rejects_an_unknown_credential_with_400(workspace, make_user, client_for):
    response = client_for(make_user(workspace, "admin")).post("/settings/", {"kind": "NOPE", "value": SECRET})
    assert response.status_code == 400
    assert b"unknown credential" in response.content
    assert not IntegrationCredential.objects.exists()


@pytest.mark.django_db
def test_admin_changelist_and_change_form_show_only_the_masked_value(workspace, make_user, client_for,
                                                                    no_env_credentials):
    credential = credential_set(workspace=workspace, kind="STRIPE_WEBHOOK_SECRET", value=SECRET, actor=None)
    client = client_for(make_user(workspace, "admin"))
    changelist = client.get("/admin/ptd/integrationcredential/")
    assert changelist.status_code == 200
    assert SECRET not in changelist.content.decode()
    assert MASKED in changelist.content.decode()
    change = client.get(f"/admin/ptd/integrationcredential/{credential.pk}/change/")
    assert change.status_code == 200
    assert SECRET not in change.content.decode()
    assert credential.value_encrypted not in change.content.decode()


@pytest.mark.django_db
def test_admin_add_form_stores_encrypted_and_audits(workspace, make_user, client_for, no_env_credentials):
    admin = make_user(workspace, "admin")
    response = client_for(admin).post("/admin/ptd/integrationcredential/add/", {
        "workspace": workspace.pk, "kind": "ANTHROPIC_API_KEY", "mode": "live", "value": SECRET})
    assert response.status_code == 302, response.content[:2000]
    stored = IntegrationCredential.objects.get(workspace=workspace, kind="ANTHROPIC_API_KEY")
    assert (stored.mode, stored.updated_by) == ("live", admin)
    assert SECRET not in _stored_column(stored.pk)
    assert credential_get(workspace=workspace, kind="ANTHROPIC_API_KEY") == SECRET
    entry = AuditLog.objects.get(action="credential.created", object_id=str(stored.pk))
    assert entry.actor == admin
    assert SECRET not in json.dumps(entry.detail)


@pytest.mark.django_db
def test_environment_overrides_the_stored_value_for_the_default_workspace_only(
        workspace, other_workspace, make_user, client_for, monkeypatch, no_env_credentials):
    env_secret = "sk_live_fromtheenvironmentZ9Y8"
    credential_set(workspace=workspace, kind="STRIPE_SECRET_KEY", value=SECRET, actor=None)
    credential_set(workspace=other_workspace, kind="STRIPE_SECRET_KEY", value=SECRET, actor=None)
    monkeypatch.setenv("STRIPE_SECRET_KEY", env_secret)

    assert credential_get(workspace=workspace, kind="STRIPE_SECRET_KEY") == env_secret
    assert credential_get(workspace=other_workspace, kind="STRIPE_SECRET_KEY") == SECRET

    content = client_for(make_user(workspace, "admin")).get("/settings/").content.decode()
    assert env_secret not in content and SECRET not in content
    assert "•" * 8 + "Z9Y8" in content
    other = client_for(make_user(other_workspace, "admin")).get("/settings/")
    row = {r.kind: r for r in other.context["credentials"]}["STRIPE_SECRET_KEY"]
    assert (row.source, row.masked) == ("stored", MASKED)


@pytest.mark.django_db
def test_credential_changes_are_audited_without_the_secret(workspace, make_user, no_env_credentials):
    actor = make_user(workspace, "admin")
    credential = credential_set(workspace=workspace, kind="CALLGEAR_ACCESS_TOKEN", value=SECRET, actor=actor)
    credential_set(workspace=workspace, kind="CALLGEAR_ACCESS_TOKEN", value=SECRET + "2", mode="live", actor=actor)
    entries = list(AuditLog.objects.filter(object_type="IntegrationCredential").order_by("at", "pk"))
    assert [(e.action, e.actor, e.object_id, e.detail) for e in entries] == [
        ("credential.created", actor, str(credential.pk), {"kind": "CALLGEAR_ACCESS_TOKEN", "mode": "test"}),
        ("credential.updated", actor, str(credential.pk), {"kind": "CALLGEAR_ACCESS_TOKEN", "mode": "live"}),
    ]
    assert all(e.workspace == workspace for e in entries)


@pytest.mark.django_db
def test_role_changes_are_audited(workspace, make_user, make_staff):
    actor = make_user(workspace, "admin")
    user = make_user(workspace, "viewer", username="promoted")
    membership = Membership.objects.get(user=user, workspace=workspace)
    created = AuditLog.objects.get(action="membership.created", object_id=str(membership.pk))
    assert created.detail == {"user": "promoted", "role": "viewer", "previous_role": None}

    membership_set(user=user, workspace=workspace, role="coach", staff=make_staff(workspace, "coach"), actor=actor)
    changed = AuditLog.objects.get(action="membership.role_changed", object_id=str(membership.pk))
    assert changed.actor == actor
    assert changed.workspace == workspace
    assert changed.detail == {"user": "promoted", "role": "coach", "previous_role": "viewer"}
    # Re-saving the same role is not a role change.
    membership_set(user=user, workspace=workspace, role="coach", actor=actor)
    assert AuditLog.objects.filter(action="membership.role_changed", object_id=str(membership.pk)).count() == 1


@pytest.mark.django_db
def test_role_change_through_django_admin_is_audited_with_its_actor(workspace, make_user, client_for):
    admin = make_user(workspace, "admin")
    user = make_user(workspace, "viewer", username="edited")
    membership = Membership.objects.get(user=user, workspace=workspace)
    response = client_for(admin).post(f"/admin/ptd/membership/{membership.pk}/change/", {
        "user": user.pk, "workspace": workspace.pk, "role": "admin", "staff": ""})
    assert response.status_code == 302, response.content[:3000]
    membership.refresh_from_db()
    assert membership.role == "admin"
    entry = AuditLog.objects.get(action="membership.role_changed", object_id=str(membership.pk))
    assert (entry.actor, entry.detail["role"], entry.detail["previous_role"]) == (admin, "admin", "viewer")


# --- login throttling -----------------------------------------------------------------------------------------------


def _login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_repeated_failures_lock_the_account_out(client, workspace, make_user):
    make_user(workspace, "admin", username="target")
    for attempt in range(1, settings.AXES_FAILURE_LIMIT):
        response = _login(client, "target", "wrong password")
        assert response.status_code == 200, attempt  # the form again, with an error
        assert b"Sign-in locked" not in response.content
    locking = _login(client, "target", "wrong password")
    assert locking.status_code == 429
    refused = _login(client, "target", "correct horse battery staple")
    assert refused.status_code == 429
    assert b"Sign-in locked" in refused.content
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_fewer_failures_than_the_limit_do_not_lock_out(client, workspace, make_user):
    make_user(workspace, "admin", username="careful")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "careful", "wrong password").status_code == 200
    response = _login(client, "careful", "correct horse battery staple")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_lockout_is_per_username(client, workspace, make_user):
    make_user(workspace, "admin", username="victim")
    make_user(workspace, "coach", username="colleague")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "victim", "wrong password")
    assert _login(client, "victim", "correct horse battery staple").status_code == 429
    assert _login(client, "colleague", "correct horse battery staple").status_code == 302


# --- CSP and security headers ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [True, False])
def test_csp_header_with_a_script_nonce_used_by_the_page(client, workspace, make_user, signed_in):
    if signed_in:
        client.force_login(make_user(workspace, "admin"))
    path = "/" if signed_in else "/accounts/login/"
    response = client.get(path)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    nonce = re.search(r"'nonce-([^']+)'", script_src).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert f'nonce="{nonce}"'.encode() in response.content
    # A fresh nonce on every response.
    assert client.get(path)["Content-Security-Policy"] != csp


@pytest.mark.django_db
def test_security_headers_and_hsts_over_https(workspace, make_user, client_for):
    client = client_for(make_user(workspace, "viewer"))
    response = client.get("/", secure=True)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


# --- workspace switcher ---------------------------------------------------------------------------------------------


def _active_name(response) -> str:
    match = re.search(r'class="workspace-name"[^>]*>(?:<span[^>]*>[^<]*</span>)?\s*([^<]+)<', response.content.decode())
    return match.group(1).strip()


@pytest.mark.django_db
def test_switcher_changes_the_active_workspace(workspace, other_workspace, make_user, client_for):
    user = make_user(workspace, "admin")
    membership_set(user=user, workspace=other_workspace, role="viewer")
    client = client_for(user)
    first = client.get("/")
    assert b'name="workspace"' in first.content  # two memberships: the switcher is there
    assert _active_name(first) == "PTD Abu Dhabi"  # memberships are ordered by workspace name

    response = client.post("/workspace/switch/", {"workspace": "ptd", "next": "/settings/"})
    assert response.status_code == 302
    assert response["Location"] == "/settings/"
    home = client.get("/")
    assert _active_name(home) == "PTD Fitness"
    assert home.context["role"] == "admin"
    assert client.get("/settings/").status_code == 200  # admin here ...

    client.post("/workspace/switch/", {"workspace": "abu-dhabi"})
    assert _active_name(client.get("/")) == "PTD Abu Dhabi"
    assert client.get("/settings/").status_code == 403  # ... viewer there


@pytest.mark.django_db
def test_switcher_refuses_a_workspace_the_user_is_not_member_of(workspace, other_workspace, make_user, client_for):
    from ptd.services import workspace_create

    workspace_create(name="PTD Sharjah", slug="sharjah")
    user = make_user(workspace, "admin")
    membership_set(user=user, workspace=other_workspace, role="admin")
    client = client_for(user)
    client.post("/workspace/switch/", {"workspace": "ptd"})

    for slug in ("sharjah", "nope", ""):
        response = client.post("/workspace/switch/", {"workspace": slug})
        assert response.status_code == 400
    assert _active_name(client.get("/")) == "PTD Fitness"


@pytest.mark.django_db
def test_switcher_never_redirects_off_site(workspace, other_workspace, make_user, client_for):
    user = make_user(workspace, "admin")
    membership_set(user=user, workspace=other_workspace, role="admin")
    client = client_for(user)
    response = client.post("/workspace/switch/", {"workspace": "ptd", "next": "https://evil.example/phish"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/workspace/switch/").status_code == 405


@pytest.mark.django_db
def test_single_workspace_user_sees_no_switcher(workspace, make_user, client_for):
    response = client_for(make_user(workspace, "admin")).get("/")
    assert response.status_code == 200
    assert b"workspace-switch" not in response.content
    assert _active_name(response) == "PTD Fitness"
