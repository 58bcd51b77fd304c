"""Live updates: after a commit, services publish the topics that changed; open pages re-fetch only
the partials subscribed to them (DESIGN §2.5).

Groups are per workspace and role: admins and viewers of a workspace get every change of it, a coach
or setter only changes about their own records (staff group). Messages carry topic names only.
"""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels_postgres.core import PostgresChannelLayer as _BasePostgresChannelLayer
from django.db import transaction

from ptd import embedded_db


def workspace_group(workspace_id: int) -> str:
    return f"live.ws{workspace_id}.all"


def staff_group(workspace_id: int, staff_id: int) -> str:
    return f"live.ws{workspace_id}.staff{staff_id}"


def groups_for(scope) -> list[str]:
    """The groups a member of a workspace listens on, by role."""
    if scope.role in ("admin", "viewer"):
        return [workspace_group(scope.workspace.pk)]
    return [staff_group(scope.workspace.pk, scope.staff_id)] if scope.staff_id else []


def publish_now(*, workspace_id: int, topics: Iterable[str], staff_ids: Iterable[int] = ()) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "changed", "topics": sorted(set(topics))}
    targets = [workspace_group(workspace_id), *(staff_group(workspace_id, s) for s in set(staff_ids) if s)]
    for group in targets:
        async_to_sync(layer.group_send)(group, message)


def publish(*, workspace_id: int, topics: Iterable[str], staff_ids: Iterable[int] = ()) -> None:
    """Announce a change once the surrounding transaction commits (never for rolled-back writes)."""
    topics, staff_ids = list(topics), list(staff_ids)
    transaction.on_commit(lambda: publish_now(workspace_id=workspace_id, topics=topics, staff_ids=staff_ids))


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/live/`: authenticated members only; joins the groups of the session's active workspace."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        member_scope = await self._member_scope(user)
        if member_scope is None:
            await self.close(code=4403)
            return
        self.groups = groups_for(member_scope)
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "workspace": member_scope.workspace.slug, "role": member_scope.role})

    @database_sync_to_async
    def _member_scope(self, user):
        from ptd.scoping import Scope, active_membership

        membership, _ = active_membership(user, self.scope["session"])
        return Scope.of(membership) if membership else None

    async def disconnect(self, code):
        for group in getattr(self, "groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def changed(self, event):
        await self.send_json({"type": "changed", "topics": event["topics"]})


class PostgresChannelLayer(_BasePostgresChannelLayer):
    """channels_postgres on the embedded server: the socket directory is known only once it runs."""

    def __init__(self, *args, **kwargs):
        if not kwargs.get("HOST"):
            conn = embedded_db.ensure_running()
            kwargs.update(HOST=conn.host, PORT=conn.port, USER=conn.user)
        super().__init__(*args, **kwargs)
