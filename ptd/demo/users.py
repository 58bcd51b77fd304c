"""Demo logins: admin, coach, setter and viewer of the demo workspace, the coach and setter linked to
the demo staff with the most data, so each sees a realistic scoped view."""

import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from ptd.models import Role, User, Workspace
from ptd.services import membership_set

DEMO_USERNAMES = {Role.ADMIN: "admin", Role.COACH: "coach", Role.SETTER: "setter", Role.VIEWER: "viewer"}


@transaction.atomic
def demo_users_ensure(*, workspace: Workspace) -> tuple[list[str], str]:
    """Create the demo users that do not exist yet; returns the created usernames and their password."""
    from clients.models import Staff

    password = settings.PTD_DEMO_PASSWORD or secrets.token_urlsafe(12)
    top_coach = (Staff.objects.filter(workspace=workspace, kind="coach", is_demo=True)
                 .annotate(n=Count("coached_contacts")).order_by("-n", "pk").first())
    top_setter = (Staff.objects.filter(workspace=workspace, kind="setter", is_demo=True)
                  .annotate(n=Count("calls")).order_by("-n", "pk").first())
    staff_for = {Role.COACH: top_coach, Role.SETTER: top_setter}
    created = []
    for role, username in DEMO_USERNAMES.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, is_demo=True, first_name=f"Demo {role.label.lower()}",
                        email=f"{username}@ptd-demo.ae", is_superuser=(role == Role.ADMIN),
                        is_staff=(role == Role.ADMIN))
            user.set_password(password)
            user.save()
            created.append(username)
        membership_set(user=user, workspace=workspace, role=role, staff=staff_for.get(role))
    return created, password
