"""/api/health-scores/ and the health fields of /api/contacts/: scoped, filtered, viewer without names."""

from datetime import UTC, date, datetime

import pytest

from clients.models import Contact, HealthScore


@pytest.fixture
def scored(workspace, make_staff):
    dana, sam = make_staff(workspace, "coach", name="Dana"), make_staff(workspace, "coach", name="Sam")
    rows = {}
    for name, coach, total, zone in [("Aisha", dana, 90, "purple"), ("Omar", dana, 40, "red"), ("Lina", sam, 60, "yellow")]:
        c = Contact.objects.create(workspace=workspace, first_name=name, coach=coach,
                                   created_at=datetime(2026, 1, 1, tzinfo=UTC))
        HealthScore.objects.create(workspace=workspace, contact=c, date=date(2026, 11, 24), total=total - 5, zone=zone)
        rows[name] = HealthScore.objects.create(workspace=workspace, contact=c, date=date(2026, 11, 25), total=total,
                                                zone=zone, churn_risk=100 - total, trend="improving")
    return dana, sam, rows


@pytest.mark.django_db
def test_filters_and_scoping(workspace, scored, make_user, client_for):
    dana, sam, _ = scored
    admin = client_for(make_user(workspace, "admin"))
    body = admin.get("/api/health-scores/", {"date": "2026-11-25"}).json()
    assert body["count"] == 3
    assert [r["client_name"] for r in body["results"]] == ["Omar", "Lina", "Aisha"]  # lowest score first
    assert admin.get("/api/health-scores/", {"zone": "red"}).json()["count"] == 2
    assert admin.get("/api/health-scores/", {"coach": sam.pk}).json()["count"] == 2
    assert admin.get("/api/health-scores/", {"zone": "blue"}).status_code == 400
    coach = client_for(make_user(workspace, "coach", staff=dana))
    assert {r["client_name"] for r in coach.get("/api/health-scores/").json()["results"]} == {"Aisha", "Omar"}
    viewer = client_for(make_user(workspace, "viewer"))
    assert "client_name" not in viewer.get("/api/health-scores/").json()["results"][0]


@pytest.mark.django_db
def test_contacts_carry_their_latest_health(workspace, scored, make_user, client_for, django_assert_max_num_queries):
    admin = client_for(make_user(workspace, "admin"))
    with django_assert_max_num_queries(8):
        results = admin.get("/api/contacts/").json()["results"]
    by_name = {r["first_name"]: r for r in results}
    assert by_name["Aisha"]["health_total"] == "90.00" and by_name["Aisha"]["health_zone"] == "purple"
    assert by_name["Omar"]["churn_risk"] == "60.00" and by_name["Omar"]["health_date"] == "2026-11-25"
