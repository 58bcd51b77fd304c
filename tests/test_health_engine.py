"""The set-based health engine on a generated dataset: equal to the per-client reference, idempotent,
and a number of queries that does not grow with the number of clients."""

from dataclasses import asdict
from datetime import date

import pytest
from django.core.management import call_command

from clients.health import collect_facts, score_health
from clients.health_reference import facts_for_client
from clients.models import Contact, HealthScore
from ptd.demo.loader import load

DAY = date(2026, 11, 20)


@pytest.fixture
def demo(workspace):
    load(workspace_id=workspace.pk, clients=40, days=180, seed=11, end=date(2026, 11, 25))
    return workspace


@pytest.mark.django_db
def test_set_based_facts_equal_the_per_client_reference(demo):
    facts = collect_facts(workspace=demo, day=DAY)
    assert len(facts) >= 20
    for contact in Contact.objects.filter(pk__in=list(facts)).select_related("workspace"):
        reference = facts_for_client(contact, DAY)
        assert asdict(reference) == asdict(facts[contact.pk]), contact.pk
    # A lead who never bought a package is not a client.
    lead = Contact.objects.filter(workspace=demo, packages__isnull=True).first()
    assert lead.pk not in facts and facts_for_client(lead, DAY) is None


@pytest.mark.django_db
def test_rerun_replaces_the_day_and_history_feeds_trend(demo):
    first = score_health(workspace=demo, day=DAY)
    again = score_health(workspace=demo, day=DAY)
    assert first["clients"] == again["clients"] == HealthScore.objects.filter(date=DAY).count()
    score_health(workspace=demo, day=date(2026, 11, 27))
    later = HealthScore.objects.filter(date=date(2026, 11, 27)).exclude(week_over_week=None)
    assert later.exists()  # 7 days after a scored day, the week-over-week change is known
    row = HealthScore.objects.filter(date=DAY).first()
    assert row.churn_risk_source == "rule-based" and row.is_demo


@pytest.mark.django_db
def test_query_count_does_not_grow_with_clients(workspace, other_workspace):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    load(workspace_id=workspace.pk, clients=10, days=120, seed=5, end=date(2026, 11, 25))
    with CaptureQueriesContext(connection) as small:
        n_small = score_health(workspace=workspace, day=DAY)["clients"]
    load(workspace_id=other_workspace.pk, clients=60, days=120, seed=6, end=date(2026, 11, 25))
    with CaptureQueriesContext(connection) as large:
        n_large = score_health(workspace=other_workspace, day=DAY)["clients"]
    assert n_large > 3 * n_small
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.django_db
def test_command_for_one_client(demo, capsys):
    contact = Contact.objects.filter(workspace=demo, packages__isnull=False).first()
    call_command("score_health", "--date", "2026-11-20", "--client", str(contact.pk))
    assert "scored 1 clients of ptd for 2026-11-20" in capsys.readouterr().out
    assert HealthScore.objects.get().contact == contact


@pytest.mark.django_db
def test_new_sessions_rescore_their_client(demo, rescore_requests, tmp_path, settings, monkeypatch):
    """A session arriving for a client requests a rescore of that client; the rescore writes today's row."""
    from django_q.conf import Conf

    from clients.sessions_feed import sessions_import

    contact = Contact.objects.filter(workspace=demo, packages__isnull=False).first()
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda fn, using=None, robust=False: fn())
    result = sessions_import(workspace=demo, rows=[(1, {"email": contact.email_normalized, "status": "attended",
                                                        "starts_at": "2026-11-25T07:00:00"})])
    assert result.imported == 1
    assert rescore_requests == [(demo.pk, {contact.pk})]
    monkeypatch.setattr(Conf, "SYNC", True)  # inline: the real debounce rescoring runs now
    rescore_requests.real(workspace_id=demo.pk, contact_ids=[contact.pk])
    assert HealthScore.objects.filter(contact=contact).count() == 1


def test_debounce_collects_then_flushes_once(monkeypatch, rescore_requests):
    import time

    from clients import health

    sent = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: sent.append(a))
    monkeypatch.setattr("django.db.close_old_connections", lambda: None)
    monkeypatch.setattr(health, "RESCORE_DELAY_SECONDS", 0.05)
    rescore_requests.real(workspace_id=1, contact_ids=[1, 2])
    rescore_requests.real(workspace_id=1, contact_ids=[2, 3])
    time.sleep(0.3)
    assert sent == [("clients.health.rescore_clients", 1, [1, 2, 3])]  # one task for the burst
