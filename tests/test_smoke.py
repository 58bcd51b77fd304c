import pytest


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_admin_sees_home(workspace, make_user, client_for):
    c = client_for(make_user(workspace, "admin"))
    response = c.get("/")
    assert response.status_code == 200
    assert b"<h1>Executive</h1>" in response.content
    data = c.get("/data/")
    assert data.status_code == 200
    assert b"<h1>Your data</h1>" in data.content
