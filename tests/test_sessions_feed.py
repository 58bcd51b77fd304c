"""The sessions feed: CSV import reports bad rows by line and imports the good ones."""

from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clients.models import Contact, Package, TrainingSession


@pytest.fixture
def client_and_coach(workspace, make_staff):
    coach = make_staff(workspace, "coach", name="Dana Coach", email="dana@ptd.ae")
    contact = Contact.objects.create(workspace=workspace, email_normalized="sara@example.com", phone_e164="+971501234567",
                                     created_at=datetime(2026, 1, 1, tzinfo=UTC), coach=coach)
    package = Package.objects.create(workspace=workspace, contact=contact, sessions_purchased=12, value=3000,
                                     starts_on=date(2026, 11, 1), expires_on=date(2026, 12, 31))
    return contact, coach, package


@pytest.mark.django_db
def test_csv_import_good_and_bad_rows(tmp_path, workspace, client_and_coach, capsys):
    contact, coach, package = client_and_coach
    csv_file = tmp_path / "sessions.csv"
    csv_file.write_text(
        "email,phone,coach,starts_at,status\n"
        "SARA@example.com,,Dana Coach,2026-11-20 18:00,attended\n"          # line 2: good (email case)
        ",050 123 4567,dana@ptd.ae,2026-11-22T07:00:00+04:00,no-show\n"      # line 3: good (national phone)
        "nobody@example.com,,,2026-11-22 07:00,attended\n"                   # line 4: unknown client
        "sara@example.com,,,yesterday,attended\n"                            # line 5: bad time
        "sara@example.com,,,2026-11-23 07:00,maybe\n"                        # line 6: bad status
        ",,,2026-11-23 07:00,attended\n"                                     # line 7: no identity
    )
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_sessions", str(csv_file))
    assert exit_info.value.code == 1
    err = capsys.readouterr()
    assert "imported 2 sessions, 4 bad rows" in err.out
    assert "line 4: no client with email nobody@example.com" in err.err
    assert "line 5: starts_at must be" in err.err
    assert "line 6: status must be one of" in err.err
    assert "line 7: needs the client's email or phone" in err.err
    sessions = list(TrainingSession.objects.order_by("starts_at"))
    assert [s.status for s in sessions] == ["attended", "no_show"]
    assert all(s.contact_id == contact.pk and s.coach_id == coach.pk and s.package_id == package.pk for s in sessions)
    assert sessions[0].starts_at == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # Dubai time when no offset given


@pytest.mark.django_db
def test_reimport_is_idempotent(tmp_path, workspace, client_and_coach):
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("email,starts_at,status\nsara@example.com,2026-11-20 18:00,scheduled\n")
    call_command("import_sessions", str(csv_file))
    csv_file.write_text("email,starts_at,status\nsara@example.com,2026-11-20 18:00,attended\n")
    call_command("import_sessions", str(csv_file))
    assert TrainingSession.objects.get().status == "attended"


@pytest.mark.django_db
def test_bad_header_and_missing_file(tmp_path, workspace):
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("name,when\nx,y\n")
    with pytest.raises(CommandError, match="the header needs starts_at, status, email or phone"):
        call_command("import_sessions", str(csv_file))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_sessions", str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_api_post_sessions(workspace, client_and_coach, make_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    admin = make_user(workspace, "admin")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin).key}")
    rows = [{"email": "sara@example.com", "coach": "Dana Coach", "starts_at": "2026-11-20T18:00:00", "status": "attended",
             "id": "feed-1"},
            {"phone": "+971 50 123 4567", "starts_at": "2026-11-21T18:00:00", "status": "no_show", "id": "feed-2"},
            {"email": "ghost@example.com", "starts_at": "2026-11-21T18:00:00", "status": "attended"}]
    response = api.post("/api/sessions/", rows, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"imported": 2, "errors": [{"index": 2, "error": "no client with email ghost@example.com"}]}
    assert set(TrainingSession.objects.values_list("source_id", flat=True)) == {"feed-1", "feed-2"}
    bad = api.post("/api/sessions/", [{"email": "sara@example.com", "status": "attended"}], format="json")
    assert bad.status_code == 400 and "starts_at" in bad.json()["errors"][0]["error"]
    assert api.post("/api/sessions/", {"not": "a list"}, format="json").status_code == 400


@pytest.mark.django_db
def test_api_post_sessions_refused_to_coach(workspace, client_and_coach, make_user, client_for):
    coach_user = make_user(workspace, "coach", staff=client_and_coach[1])
    response = client_for(coach_user).post("/api/sessions/", [], content_type="application/json")
    assert response.status_code == 403
