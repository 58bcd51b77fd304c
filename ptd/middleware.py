from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.shortcuts import render

from ptd.scoping import Scope, active_membership


class WorkspaceMiddleware:
    """Puts the active workspace, the user's memberships and their Scope on the request
    (as `request.access`: ASGI requests already use `request.scope` for the ASGI scope).

    A signed-in user who belongs to no workspace gets a page saying so, except on the few
    account pages (logout, password change) and Django admin for superusers.
    """

    OPEN_PREFIXES = ("/accounts/", "/healthz", "/static/", "/admin/", "/webhooks/")
    sync_capable = True
    async_capable = True  # under ASGI, no thread hop for anonymous requests such as webhooks

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        refused = self._attach(request, request.user)
        return refused or self.get_response(request)

    async def __acall__(self, request):
        user = await request.auser()
        refused = await sync_to_async(self._attach)(request, user) if user.is_authenticated else self._attach(
            request, user)
        return refused or await self.get_response(request)

    def _attach(self, request, user):
        """Set the request's workspace attributes; a response when the user may not go on."""
        request.membership = None
        request.memberships = []
        request.access = None
        request.workspace = None
        if not user.is_authenticated:
            return None
        membership, memberships = active_membership(user, request.session)
        request.membership, request.memberships = membership, memberships
        if membership is not None:
            request.workspace = membership.workspace
            request.access = Scope.of(membership, per_request=True)
        elif not request.path.startswith(self.OPEN_PREFIXES) and not request.path.startswith("/api/schema"):
            return render(request, "ptd/no_workspace.html", status=403)
        return None
