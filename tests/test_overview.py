"""/overview/: zones with week-over-week change, at-risk clients, coach table, churn backtest; scoped."""

from datetime import UTC, date, datetime

import pytest

from clients.models import Contact, HealthScore


@pytest.fixture
def scored(workspace, make_staff):
    dana, sam = make_staff(workspace, "coach", name="Dana"), make_staff(workspace, "coach", name="Sam")
    for name, coach, total, zone in [("Aisha", dana, 90, "purple"), ("Omar", dana, 30, "red"), ("Lina", sam, 60, "yellow")]:
        c = Contact.objects.create(workspace=workspace, first_name=name, coach=coach,
                                   created_at=datetime(2026, 1, 1, tzinfo=UTC))
        HealthScore.objects.create(workspace=workspace, contact=c, date=date(2026, 11, 18), total=80, zone="green")
        HealthScore.objects.create(workspace=workspace, contact=c, date=date(2026, 11, 25), total=total, zone=zone,
                                   churn_risk=100 - total,
                                   flags=[{"code": "no_recent_session", "severity": "critical",
                                           "text": "no attended session in 14 days", "evidence": {}}])
    return dana, sam


@pytest.mark.django_db
def test_admin_sees_zones_changes_at_risk_and_backtest_state(workspace, scored, make_user, client_for,
                                                             django_assert_max_num_queries):
    admin = client_for(make_user(workspace, "admin"))
    with django_assert_max_num_queries(16):
        html = admin.get("/overview/").content.decode()
    assert "Wednesday 25 November 2026" in html
    assert "▼ 3 vs 7 days ago" in html  # green: 3 a week ago, 0 today
    assert "Omar" in html and "no attended session in 14 days" in html and "Aisha" not in html.split("At-risk")[1].split("Coach performance")[0]
    assert "No churn model is trained yet" in html
    assert 'data-plotly="zone-chart"' in html and 'id="zone-chart"' in html


@pytest.mark.django_db
def test_roles(workspace, scored, make_user, client_for):
    dana, _ = scored
    coach_html = client_for(make_user(workspace, "coach", staff=dana)).get("/overview/").content.decode()
    at_risk = coach_html.split("At-risk")[1].split("Coach performance")[0]
    assert "Omar" in at_risk and "Lina" not in at_risk  # Lina is Sam's client
    assert "Churn prediction" not in coach_html
    viewer_html = client_for(make_user(workspace, "viewer")).get("/overview/").content.decode()
    assert "Omar" not in viewer_html and "Client " in viewer_html
    assert client_for(make_user(workspace, "setter")).get("/overview/").status_code == 403


@pytest.mark.django_db
def test_partial_and_empty_state(workspace, scored, make_user, client_for):
    admin = client_for(make_user(workspace, "admin"))
    partial = admin.get("/overview/?partial=at-risk", HTTP_HX_REQUEST="true").content.decode()
    assert partial.strip().startswith('<section id="at-risk"') and "<html" not in partial
    HealthScore.objects.all().delete()
    assert "No health scores yet" in admin.get("/overview/").content.decode()
