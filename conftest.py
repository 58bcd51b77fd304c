"""Shared test set-up: PostgreSQL (embedded or DATABASE_URL) as in production, an in-memory channel
layer (one process), and factories for workspaces, staff and users with a role."""

import pytest
from django.conf import settings


def pytest_configure(config):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # No persistent connections: the live server's thread would keep the test database open at teardown.
    for alias in settings.DATABASES.values():
        alias["CONN_MAX_AGE"] = 0
    # Tests make many users: the production password hasher would make the suite take minutes longer.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test servers speak plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def workspace(db):
    """The default workspace (made by a data migration; transactional tests flush it, so recreate it)."""
    from ptd.models import Workspace
    from ptd.services import workspace_ensure_defaults

    ws, _ = Workspace.objects.get_or_create(slug="ptd", defaults={"name": "PTD Fitness"})
    workspace_ensure_defaults(workspace=ws)
    return ws


@pytest.fixture
def other_workspace(db):
    from ptd.services import workspace_create

    return workspace_create(name="PTD Abu Dhabi", slug="abu-dhabi")


@pytest.fixture
def make_staff(db):
    from clients.models import Staff

    def make(workspace, kind="coach", name=None, **extra):
        return Staff.objects.create(workspace=workspace, kind=kind, name=name or f"{kind} {Staff.objects.count() + 1}",
                                    **extra)

    return make


@pytest.fixture
def make_user(db):
    from ptd.models import User
    from ptd.services import membership_set

    def make(workspace, role, staff=None, username=None, **extra):
        user = User.objects.create_user(username=username or f"{role}-{User.objects.count() + 1}",
                                        password="correct horse battery staple", **extra)
        membership_set(user=user, workspace=workspace, role=role, staff=staff)
        return user

    return make


@pytest.fixture
def client_for(client):
    """A test client logged in as `user` (force_login: the login form itself is tested separately)."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture(autouse=True)
def _fresh_webhook_workspace_cache():
    """Each test's database is rolled back; workspaces cached by the receivers must not outlive it."""
    from ptd.webhooks import _workspaces

    _workspaces.clear()


@pytest.fixture(autouse=True)
def rescore_requests(monkeypatch):
    """Debounced health rescoring would start a timer thread that outlives the test's database: record
    the requests instead (tests of the mechanism itself call the real function)."""
    from clients import health

    class Requests(list):
        real = staticmethod(health.health_rescore_soon)

    requests = Requests()
    monkeypatch.setattr(health, "health_rescore_soon",
                        lambda *, workspace_id, contact_ids: requests.append((workspace_id, set(contact_ids))))
    return requests


@pytest.fixture
def hs(monkeypatch):
    """A loopback fake HubSpot (tests/fakes/hubspot.py) that the app's HubSpot client talks to."""
    from tests.fakes.hubspot import FakeHubSpot

    with FakeHubSpot(token="pat-test") as fake:
        monkeypatch.setenv("HUBSPOT_API_BASE", fake.url)
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-test")
        yield fake
