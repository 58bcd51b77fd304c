"""Settings → Integrations: each source's state, sync now, webhook addresses, unmatched records."""

from datetime import UTC, datetime

import pytest

from ptd.models import SyncState, WebhookEvent


@pytest.mark.django_db
def test_settings_shows_sources_and_unmatched(workspace, make_user, client_for, monkeypatch):
    from clients.models import Call

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-test-secret-1234")
    SyncState.objects.create(workspace=workspace, source="hubspot", last_success_at=datetime(2026, 11, 25, tzinfo=UTC),
                             records_synced=1234)
    SyncState.objects.create(workspace=workspace, source="stripe", last_error="Stripe rejected the key (401)",
                             last_error_at=datetime(2026, 11, 25, tzinfo=UTC))
    WebhookEvent.objects.create(workspace=workspace, source="hubspot", dedup_key="a", body=b"[]", status="dead")
    Call.objects.create(workspace=workspace, source_id="c1", started_at=datetime(2026, 11, 1, tzinfo=UTC),
                        outcome="missed")
    response = client_for(make_user(workspace, "admin")).get("/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "1,234" in html and "Stripe rejected the key (401)" in html
    assert "set STRIPE_SECRET_KEY" in html
    assert "/settings/sync/hubspot/" in html and "/settings/sync/stripe/" not in html  # only connected sources
    assert "http://testserver/webhooks/stripe/" in html
    assert "?matched=no" in html and "1 calls" in html
    assert "pat-test-secret-1234" not in html and "1234</" not in html.split("Credentials")[-1]


@pytest.mark.django_db
def test_sync_now_queues_the_source(workspace, make_user, client_for, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kw: queued.append(args))
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-test")
    admin = client_for(make_user(workspace, "admin"))
    response = admin.post("/settings/sync/hubspot/")
    assert response.status_code == 302
    assert queued == [("ptd.sync.sync_now", workspace.pk, "hubspot")]
    refused = admin.post("/settings/sync/stripe/", follow=True)
    assert "Stripe is not connected: set STRIPE_SECRET_KEY first." in refused.content.decode()
    assert admin.post("/settings/sync/nope/").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["coach", "setter", "viewer"])
def test_sync_now_is_admin_only(workspace, make_user, client_for, role):
    assert client_for(make_user(workspace, role)).post("/settings/sync/hubspot/").status_code == 403


@pytest.mark.django_db
def test_sync_now_task_records_failure(workspace, monkeypatch):
    from ptd.sync import sync_now

    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    result = sync_now(workspace.pk, "hubspot")
    assert "failed" in result and "HUBSPOT_ACCESS_TOKEN" in result


@pytest.mark.django_db
def test_admin_replay_action(workspace, make_user, client_for, django_capture_on_commit_callbacks):
    event = WebhookEvent.objects.create(workspace=workspace, source="hubspot", dedup_key="x", body=b"{}",
                                        status="dead", attempts=6, last_error="boom")
    admin = client_for(make_user(workspace, "admin"))
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin.post("/admin/ptd/webhookevent/", {"action": "replay", "_selected_action": [event.pk]},
                              follow=True)
    assert response.status_code == 200
    assert "1 event queued for processing again." in response.content.decode()
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("pending", 0, "")
    assert len(callbacks) == 1  # a drain is requested once the replay commits
