"""The one place where rows are limited to what a person may see: first the active workspace, then
the role (DESIGN §2.4). Every selector, API view, export, websocket group and agent tool uses it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from django.db.models import Model, QuerySet

from ptd.models import Membership, Role, Workspace


@dataclass(frozen=True)
class Scope:
    user_id: int
    workspace: Workspace
    role: str
    staff_id: int | None
    # What `per_request` functions computed for this scope. Only a request's scope has one (it lives as long as
    # the request); a scope held longer (a websocket, a test) recomputes every time rather than read stale rows.
    memo: dict | None = field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, membership: Membership, *, per_request: bool = False) -> Scope:
        return cls(user_id=membership.user_id, workspace=membership.workspace, role=membership.role,
                   staff_id=membership.staff_id, memo={} if per_request else None)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_see_pii(self) -> bool:
        """Viewers read dashboards without names, emails or phone numbers."""
        return self.role != Role.VIEWER


def per_request(fn: Callable) -> Callable:
    """Compute fn(access, …) once per request: a page whose KPIs, table and chart read the same heavy figure
    (or whose KPIs each ask whether Stripe is connected) pays for it once. The scope is the first argument or
    the keyword `access`; arguments must be hashable."""

    def key(args: tuple, kwargs: dict) -> tuple:  # the scope itself is not part of the key
        return fn.__module__, fn.__qualname__, args, tuple(sorted((k, v) for k, v in kwargs.items() if k != "access"))

    @wraps(fn)
    def once(*args, **kwargs):
        access: Scope = args[0] if args else kwargs["access"]
        if access.memo is None:
            return fn(*args, **kwargs)
        memo_key = key(args[1:], kwargs)
        if memo_key not in access.memo:
            access.memo[memo_key] = fn(*args, **kwargs)
        return access.memo[memo_key]

    def known(access: Scope, *args, **kwargs) -> bool:
        """Whether this request already holds fn(access, *args, **kwargs)."""
        return access.memo is not None and key(args, kwargs) in access.memo

    def remember(access: Scope, *args, value, **kwargs) -> None:
        """Keep `value`, computed together with another (a period with its prior, in one query), as what
        fn(access, *args, **kwargs) returns for the rest of the request."""
        if access.memo is not None:
            access.memo[key(args, kwargs)] = value

    once.known, once.remember = known, remember
    return once


def role_may_see(model: type[Model], scope: Scope) -> bool:
    """Whether this role sees any rows of the model at all (before the staff filter)."""
    return scope.role in model.ROLE_SCOPE_ALL or (scope.role in model.ROLE_SCOPE and scope.staff_id is not None)


def scoped(rows: QuerySet | type[Model], scope: Scope) -> QuerySet:
    """Rows of `rows` that `scope` may see, using the model's ROLE_SCOPE / ROLE_SCOPE_ALL."""
    qs = rows if isinstance(rows, QuerySet) else rows._default_manager.all()
    model = qs.model
    qs = qs.filter(workspace_id=scope.workspace.pk)
    if scope.role in model.ROLE_SCOPE_ALL:
        return qs
    path = model.ROLE_SCOPE.get(scope.role)
    if path is None or scope.staff_id is None:
        return qs.none()
    return qs.filter(**{path: scope.staff_id})


def memberships_of(user) -> QuerySet:
    return Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")


SESSION_WORKSPACE_KEY = "workspace_id"


def active_membership(user, session) -> tuple[Membership | None, list[Membership]]:
    """The membership of the workspace the session chose (else the first), and all of the user's."""
    memberships = list(memberships_of(user))
    if not memberships:
        return None, memberships
    wanted = session.get(SESSION_WORKSPACE_KEY)
    return next((m for m in memberships if m.workspace_id == wanted), memberships[0]), memberships
