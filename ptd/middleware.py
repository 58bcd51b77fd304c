from django.shortcuts import render

from ptd.scoping import Scope, memberships_of

SESSION_WORKSPACE_KEY = "workspace_id"


def _active_membership(request):
    memberships = list(memberships_of(request.user))
    if not memberships:
        return None, memberships
    wanted = request.session.get(SESSION_WORKSPACE_KEY)
    active = next((m for m in memberships if m.workspace_id == wanted), memberships[0])
    return active, memberships


class WorkspaceMiddleware:
    """Puts the active workspace, the user's memberships and their Scope on the request
    (as `request.access`: ASGI requests already use `request.scope` for the ASGI scope).

    A signed-in user who belongs to no workspace gets a page saying so, except on the few
    account pages (logout, password change) and Django admin for superusers.
    """

    OPEN_PREFIXES = ("/accounts/", "/healthz", "/static/", "/admin/", "/webhooks/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.memberships = []
        request.access = None
        request.workspace = None
        if request.user.is_authenticated:
            membership, memberships = _active_membership(request)
            request.membership, request.memberships = membership, memberships
            if membership is not None:
                request.workspace = membership.workspace
                request.access = Scope.of(membership)
            elif not request.path.startswith(self.OPEN_PREFIXES) and not request.path.startswith("/api/schema"):
                return render(request, "ptd/no_workspace.html", status=403)
        return self.get_response(request)
