"""The read API's shared base: who is asking (their Scope), scoped querysets, the common filters
(`updated_since`, `email`, `from`/`to`), PII removal for viewers and the OpenAPI description of it all.

Every endpoint is a `ScopedReadOnlyViewSet` subclass that declares its model's fields:

    updated_fields   the source-updated field, then the created field it falls back to when empty
    email_fields     lookup paths of normalised emails (the contact's email_normalized, …)
    date_field       the field `from` / `to` select on (a DateTimeField uses workspace-timezone days)

A filter whose field is not declared is not offered by that endpoint: passing it is a 400, not a
silently ignored parameter."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import authentication, permissions, serializers, viewsets
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from ptd.models import Role, WebhookEvent, WebhookStatus
from ptd.periods import PERIOD_KEYS, PeriodError, resolve_period
from ptd.scoping import Scope, memberships_of, role_may_see, scoped

WORKSPACE_HEADER = "X-Workspace"
WORKSPACE_PARAM = "workspace"


class BadFilter(APIException):
    """A filter value that cannot be used: 400 with one line naming the parameter and the format."""

    status_code = 400
    default_code = "invalid_filter"
    default_detail = "Invalid filter value."


# --- Who is asking -------------------------------------------------------------------------------


def access_for(request) -> Scope:
    """The Scope of an authenticated API request.

    Session auth: the middleware already put the active workspace's Scope on the request. Token auth
    runs after the middleware, so the Scope comes from the user's membership in the workspace named by
    the X-Workspace header or ?workspace=slug, else their first membership. Naming a workspace also
    overrides the session's choice. No membership (or not in the named workspace) → 403."""
    cached = getattr(request, "_ptd_access", None)
    if cached is not None:
        return cached
    user = request.user
    wanted = (request.headers.get(WORKSPACE_HEADER) or request.query_params.get(WORKSPACE_PARAM) or "").strip()
    access = None
    if not wanted:
        from_middleware = getattr(request._request, "access", None)
        if from_middleware is not None and from_middleware.user_id == user.pk:
            access = from_middleware
    if access is None:
        memberships = memberships_of(user)
        if wanted:
            membership = memberships.filter(workspace__slug=wanted).first()
            if membership is None:
                raise PermissionDenied(f"You are not a member of the workspace {wanted!r}.")
        else:
            membership = memberships.first()
            if membership is None:
                raise PermissionDenied("You are not a member of any workspace.")
        access = Scope.of(membership, per_request=True)
    request._ptd_access = access
    return access


class HasWorkspaceRole(permissions.BasePermission):
    """A member of the workspace whose role may see the endpoint's model at all (else 403)."""

    def has_permission(self, request, view):
        access = access_for(request)
        if not view.role_allowed(access):
            noun = view.get_queryset_model()._meta.verbose_name_plural
            if access.role in view.linked_roles and access.staff_id is None:
                raise PermissionDenied(
                    f"Your {access.role} account is not linked to a staff record, so it has no {noun}.")
            raise PermissionDenied(f"Your role ({access.role}) cannot see {noun}.")
        return True


class IsWorkspaceAdmin(permissions.BasePermission):
    """Admins of the workspace only (the API reference is an admin page, like in the navigation)."""

    message = "Only admins may read the API reference."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated) and access_for(request).is_admin


# --- Pagination and serializers ------------------------------------------------------------------


class ApiPagination(LimitOffsetPagination):
    """?limit=&offset= with the total `count`; at most 1,000 rows a page."""

    max_limit = 1000


class ScopedModelSerializer(serializers.ModelSerializer):
    """Drops the fields named in Meta.pii_fields when the person asking may not see PII (viewers).

    The schema is generated without a person, so it documents every field."""

    def get_fields(self):
        fields = super().get_fields()
        access = self.context.get("access")
        if access is not None and not access.can_see_pii:
            for name in getattr(self.Meta, "pii_fields", ()):
                fields.pop(name, None)
        return fields


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- Filters -------------------------------------------------------------------------------------


def _workspace_tz(access: Scope) -> ZoneInfo:
    try:
        return ZoneInfo(access.workspace.timezone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def parse_updated_since(value: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 date-time; without an offset it is read in the workspace timezone. A '+' sent
    unencoded in a query string arrives as a space, so that spelling is accepted too."""
    message = "updated_since: expected an ISO 8601 date-time, e.g. 2026-01-31T09:00:00+04:00"
    value = value.strip()
    parsed = None
    for candidate in (value, value.replace(" ", "+")):
        try:
            parsed = parse_datetime(candidate)
        except ValueError:
            parsed = None
        if parsed is not None:
            break
    if parsed is None:
        raise BadFilter(message)
    return timezone.make_aware(parsed, tz) if timezone.is_naive(parsed) else parsed


def parse_day(name: str, value: str) -> date:
    message = f"{name}: expected a date as YYYY-MM-DD, e.g. 2026-01-31"
    value = value.strip()
    try:
        parsed = parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 10:
        raise BadFilter(message)
    return parsed


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if not email or "@" not in email:
        raise BadFilter("email: expected an email address, e.g. name@example.com")
    return email


# --- The base viewset ----------------------------------------------------------------------------


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """List and retrieve rows of one model, limited to the asker's workspace and role."""

    authentication_classes = [authentication.TokenAuthentication, authentication.SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated, HasWorkspaceRole]
    pagination_class = ApiPagination

    updated_fields: tuple[str, ...] = ()
    email_fields: tuple[str, ...] = ()
    date_field: str | None = None
    # Roles that see rows only through their linked staff record (for a clearer 403).
    linked_roles = (Role.COACH, Role.SETTER)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "queryset", None) is not None:
            _document(cls)

    # Who may see what
    @property
    def access(self) -> Scope:
        return access_for(self.request)

    def get_queryset_model(self) -> type[models.Model]:
        return self.queryset.model

    def role_allowed(self, access: Scope) -> bool:
        return role_may_see(self.get_queryset_model(), access)

    def scope_rows(self, rows: QuerySet, access: Scope) -> QuerySet:
        return scoped(rows, access)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: nobody is asking
            return self.queryset.none()
        return self.scope_rows(self.queryset.all(), self.access)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self, "request", None) is not None and self.request.user.is_authenticated:
            context["access"] = self.access
        return context

    # Filters (lists only; a record fetched by id is found whatever the filters say)
    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action != "list":
            return queryset
        params = self.request.query_params
        tz = _workspace_tz(self.access)
        if (value := params.get("updated_since")) is not None:
            if not self.updated_fields:
                raise BadFilter("updated_since: this endpoint has no updated_since filter")
            since = parse_updated_since(value, tz)
            queryset = queryset.filter(_updated_since_q(self.updated_fields, since))
        if (value := params.get("email")) is not None:
            if not self.email_fields:
                raise BadFilter("email: this endpoint has no email filter")
            if not self.access.can_see_pii:
                raise PermissionDenied("email: your role cannot filter by email (personal data).")
            email = normalise_email(value)
            match = Q()
            for path in self.email_fields:
                match |= Q(**{path: email})
            queryset = queryset.filter(match)
        day_from, day_to = params.get("from"), params.get("to")
        if day_from is not None or day_to is not None:
            if not self.date_field:
                raise BadFilter("from/to: this endpoint has no date filter")
            first = parse_day("from", day_from) if day_from is not None else None
            last = parse_day("to", day_to) if day_to is not None else None
            if first and last and first > last:
                raise BadFilter("from: must be on or before to (YYYY-MM-DD)")
            queryset = queryset.filter(self._date_range_q(first, last, tz))
        return queryset

    def _date_range_q(self, first: date | None, last: date | None, tz: ZoneInfo) -> Q:
        field = self.get_queryset_model()._meta.get_field(self.date_field)
        q = Q()
        if isinstance(field, models.DateTimeField):
            # [from 00:00, day after `to` 00:00) in the workspace timezone.
            if first:
                q &= Q(**{f"{self.date_field}__gte": datetime.combine(first, time.min, tz)})
            if last:
                q &= Q(**{f"{self.date_field}__lt": datetime.combine(last + timedelta(days=1), time.min, tz)})
        else:
            if first:
                q &= Q(**{f"{self.date_field}__gte": first})
            if last:
                q &= Q(**{f"{self.date_field}__lte": last})
        return q

    @classmethod
    def filter_parameters(cls) -> list[OpenApiParameter]:
        params = [
            OpenApiParameter(WORKSPACE_PARAM, OpenApiTypes.STR, description=(
                "Workspace slug (same as the X-Workspace header). Default: the session's active workspace, "
                "else the first one you belong to.")),
            OpenApiParameter(WORKSPACE_HEADER, OpenApiTypes.STR, location=OpenApiParameter.HEADER,
                             description="Workspace slug to read from (token clients with several workspaces)."),
        ]
        if cls.updated_fields:
            first, *fallbacks = cls.updated_fields
            fields = first + "".join(f" (or, where that is empty, {name})" for name in fallbacks)
            params.append(OpenApiParameter("updated_since", OpenApiTypes.DATETIME, description=(
                f"Rows whose {fields} is at or after this ISO 8601 date-time; "
                "without an offset it is read in the workspace timezone.")))
        if cls.email_fields:
            params.append(OpenApiParameter("email", OpenApiTypes.EMAIL, description=(
                f"Exact email match on {' or '.join(cls.email_fields)}, trimmed and lower-cased first. "
                "Not available to viewers.")))
        if cls.date_field:
            field = cls.queryset.model._meta.get_field(cls.date_field)
            days = ("days in the workspace timezone (Asia/Dubai by default)"
                    if isinstance(field, models.DateTimeField) else "dates")
            params += [
                OpenApiParameter("from", OpenApiTypes.DATE, description=(
                    f"First day (YYYY-MM-DD, inclusive) of {cls.date_field}; {days}.")),
                OpenApiParameter("to", OpenApiTypes.DATE, description=(
                    f"Last day (YYYY-MM-DD, inclusive) of {cls.date_field}; {days}.")),
            ]
        return params + cls.extra_parameters()

    @classmethod
    def extra_parameters(cls) -> list[OpenApiParameter]:
        return []


def _updated_since_q(fields: tuple[str, ...], since: datetime) -> Q:
    """`fields[0] >= since`, falling back to the next field where the earlier ones are empty."""
    q = Q()
    empty = Q()
    for name in fields:
        q |= empty & Q(**{f"{name}__gte": since})
        empty &= Q(**{f"{name}__isnull": True})
    return q


_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="A filter value is malformed (the message names it)."),
    401: OpenApiResponse(ErrorSerializer, description="No or invalid credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not a member of the workspace, or the role may not see this."),
}


def _document(cls) -> None:
    """Put the endpoint's filters and error answers in the OpenAPI schema."""
    serializer = cls.serializer_class
    retrieve_params = cls.filter_parameters()[:2]
    extend_schema_view(
        list=extend_schema(parameters=cls.filter_parameters(),
                           responses={200: serializer(many=True), **_ERRORS}),
        retrieve=extend_schema(parameters=retrieve_params,
                               responses={200: serializer, 404: OpenApiResponse(ErrorSerializer), 401: _ERRORS[401],
                                          403: _ERRORS[403]}),
    )(cls)


# --- Webhook inbox (admins only, metadata only) --------------------------------------------------


class WebhookEventSerializer(serializers.ModelSerializer):
    """What arrived and how processing went; never the raw body or headers (they carry signatures)."""

    class Meta:
        model = WebhookEvent
        fields = ["id", "source", "event_type", "status", "attempts", "received_at", "processed_at", "last_error"]
        read_only_fields = fields


class WebhookEventViewSet(ScopedReadOnlyViewSet):
    """Inbound webhook events of the workspace (admins only)."""

    queryset = WebhookEvent.objects.only(*WebhookEventSerializer.Meta.fields, "workspace_id").order_by(
        "-received_at", "-pk")
    serializer_class = WebhookEventSerializer
    updated_fields = ("received_at",)
    date_field = "received_at"
    linked_roles = ()

    def role_allowed(self, access: Scope) -> bool:
        return access.role == Role.ADMIN

    def scope_rows(self, rows: QuerySet, access: Scope) -> QuerySet:
        return rows.filter(workspace_id=access.workspace.pk)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action != "list":
            return queryset
        if (status := self.request.query_params.get("status")) is not None:
            if status not in WebhookStatus.values:
                raise BadFilter(f"status: expected one of {', '.join(WebhookStatus.values)}")
            queryset = queryset.filter(status=status)
        if source := (self.request.query_params.get("source") or "").strip():
            queryset = queryset.filter(source=source)
        return queryset

    @classmethod
    def extra_parameters(cls):
        return [
            OpenApiParameter("status", OpenApiTypes.STR, enum=WebhookStatus.values, description="Processing status."),
            OpenApiParameter("source", OpenApiTypes.STR, description="Source system, e.g. stripe, hubspot."),
        ]


class MetricsView(APIView):
    """GET /api/metrics/?period=last_30_days&names=new_leads,cash_collected[&from=&to=]: KPIs from the one
    definition each has (ptd.metrics), scoped to the caller; values for the period and the prior one."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[
        OpenApiParameter("period", OpenApiTypes.STR, enum=PERIOD_KEYS, description="Default last_30_days."),
        OpenApiParameter("names", OpenApiTypes.STR, description="Comma-separated metric names (default: all)."),
        OpenApiParameter("from", OpenApiTypes.DATE, description="First day of a custom period."),
        OpenApiParameter("to", OpenApiTypes.DATE, description="Last day of a custom period."),
    ], responses={200: OpenApiTypes.OBJECT, **_ERRORS})
    def get(self, request):
        from ptd.metrics import kpis, registry

        access = access_for(request)
        tz = _workspace_tz(access)
        params = request.query_params
        try:
            period = resolve_period(params.get("period"), today=timezone.now().astimezone(tz).date(), tz=tz,
                                    date_from=params.get("from", ""), date_to=params.get("to", ""))
        except PeriodError as exc:
            raise BadFilter(f"period: {exc}") from exc
        names = [n.strip() for n in params.get("names", "").split(",") if n.strip()] or sorted(registry())
        try:
            values = kpis(names, period, access)
        except KeyError as exc:
            raise BadFilter(f"names: {exc.args[0]}") from exc
        prior = period.prior()
        return Response({
            "period": {"key": period.key, "first_day": period.first_day, "last_day": period.last_day},
            "prior": {"first_day": prior.first_day, "last_day": prior.last_day},
            "metrics": [k.as_dict() for k in values],
        })
