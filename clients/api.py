"""Read API of people and their journey: /api/contacts/, /api/deals/, /api/calls/, /api/sessions/."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from django.db.models import OuterRef, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from clients.models import Call, Contact, Deal, HealthScore, TrainingSession, Zone
from clients.serializers import (CallSerializer, ContactSerializer, DealSerializer, HealthScoreSerializer,
                                 TrainingSessionSerializer)
from ptd.api import BadFilter
from clients.sessions_feed import sessions_import
from ptd.api import ScopedReadOnlyViewSet


class SessionFeedRowSerializer(serializers.Serializer):
    """One session as the studio's system posts it (documentation of POST /api/sessions/)."""

    email = serializers.EmailField(required=False)
    phone = serializers.CharField(required=False)
    coach = serializers.CharField(required=False, help_text="coach name or email")
    starts_at = serializers.DateTimeField(help_text="ISO 8601; without an offset, the workspace's time zone")
    status = serializers.ChoiceField(["attended", "no_show", "late_cancel", "cancelled", "scheduled"])
    id = serializers.CharField(required=False, help_text="the feed's own id, for idempotent re-posts")


class SessionFeedErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    error = serializers.CharField()


class SessionFeedResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    errors = SessionFeedErrorSerializer(many=True)


class ContactViewSet(ScopedReadOnlyViewSet):
    """Leads and clients; coaches see their clients, setters their leads."""

    queryset = Contact.objects.select_related("owner", "coach").order_by("-created_at", "-pk")
    serializer_class = ContactSerializer
    updated_fields = ("updated_at", "created_at")
    email_fields = ("email_normalized",)
    date_field = "created_at"

    def get_queryset(self):
        latest = HealthScore.objects.filter(contact=OuterRef("pk")).order_by("-date")
        return super().get_queryset().annotate(
            health_date=Subquery(latest.values("date")[:1]), health_total=Subquery(latest.values("total")[:1]),
            health_zone=Subquery(latest.values("zone")[:1]), health_trend=Subquery(latest.values("trend")[:1]),
            churn_risk=Subquery(latest.values("churn_risk")[:1]))


class DealViewSet(ScopedReadOnlyViewSet):
    """Deals with their stage history; coaches see the deals they own, setters their leads' deals."""

    queryset = Deal.objects.select_related("owner").prefetch_related("stage_history").order_by("-created_at", "-pk")
    serializer_class = DealSerializer
    updated_fields = ("updated_at", "created_at")
    email_fields = ("contact__email_normalized",)
    date_field = "created_at"


class CallViewSet(ScopedReadOnlyViewSet):
    """Calls; setters see the calls they made, coaches the calls to their clients."""

    queryset = Call.objects.select_related("staff").order_by("-started_at", "-pk")
    serializer_class = CallSerializer
    updated_fields = ("started_at",)
    email_fields = ("contact__email_normalized",)
    date_field = "started_at"


class TrainingSessionViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Training sessions from the studio's attendance feed; coaches see their clients' sessions.

    POST (admins, token auth for the studio's system): a JSON list of sessions, each with the client's
    email or phone, coach (name or email), starts_at and status; good rows are imported, bad rows are
    answered with their index and reason (400 when none was good)."""

    queryset = TrainingSession.objects.select_related("coach").order_by("-starts_at", "-pk")
    serializer_class = TrainingSessionSerializer
    # No stored field records when a session row last changed, so there is no updated_since here.
    email_fields = ("contact__email_normalized",)
    date_field = "starts_at"


    @extend_schema(request=SessionFeedRowSerializer(many=True), responses={200: SessionFeedResultSerializer,
                                                                           400: SessionFeedResultSerializer})
    def create(self, request, *args, **kwargs):
        access = self.access
        if not access.is_admin:
            raise PermissionDenied("Only admins (or the studio's system user) may post sessions.")
        rows = request.data if isinstance(request.data, list) else None
        if rows is None or not all(isinstance(r, dict) for r in rows):
            raise ValidationError({"detail": "body must be a JSON list of session objects"})
        if len(rows) > 5000:
            raise ValidationError({"detail": "at most 5,000 sessions per request"})
        result = sessions_import(workspace=access.workspace, rows=list(enumerate(rows)))
        body = {"imported": result.imported, "errors": [{"index": e.row, "error": e.reason} for e in result.errors]}
        return Response(body, status=400 if rows and not result.imported else 200)


class HealthScoreViewSet(ScopedReadOnlyViewSet):
    """Daily health scores (one row per client per day) with dimensions, zone, trend, churn risk and the
    early-warning flags; coaches see their own clients'. Filters: date (one day), zone, coach (staff id)."""

    queryset = HealthScore.objects.select_related("contact").order_by("-date", "total", "pk")
    serializer_class = HealthScoreSerializer
    date_field = "date"

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action != "list":
            return queryset
        params = self.request.query_params
        if (value := params.get("date")) is not None:
            from ptd.api import parse_day

            queryset = queryset.filter(date=parse_day("date", value))
        if (value := params.get("zone")) is not None:
            if value not in Zone.values:
                raise BadFilter(f"zone: expected one of {', '.join(Zone.values)}")
            queryset = queryset.filter(zone=value)
        if (value := params.get("coach")) is not None:
            if not value.isdigit():
                raise BadFilter("coach: expected a staff id (a whole number)")
            queryset = queryset.filter(contact__coach_id=int(value))
        return queryset

    @classmethod
    def extra_parameters(cls):
        return [OpenApiParameter("date", OpenApiTypes.DATE, description="One day (YYYY-MM-DD)."),
                OpenApiParameter("zone", OpenApiTypes.STR, enum=Zone.values, description="Zone of the row."),
                OpenApiParameter("coach", OpenApiTypes.INT, description="The client's coach (staff id).")]
