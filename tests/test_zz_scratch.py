import pytest
from django.conf import settings

@pytest.mark.django_db
def test_admin_other(workspace, other_workspace, make_user, make_staff, client_for):
    from clients.models import Contact
    from django.utils import timezone
    make_staff(workspace, "coach", name="Zebedee Alpha")
    a = Contact.objects.create(workspace=workspace, email_normalized="a@x.ae", created_at=timezone.now(), first_name="Alpha")
    c = client_for(make_user(other_workspace, "admin"))
    r = c.get("/admin/clients/contact/")
    print(r.status_code, workspace.name.encode() in r.content)
    r = c.get("/admin/clients/intervention/add/")
    print(r.status_code, b"Zebedee" in r.content)
    r = c.get("/admin/clients/alert/add/")
    print(r.status_code, b"Zebedee" in r.content)
    r = c.get("/admin/")
    print(r.status_code, workspace.name.encode() in r.content)
