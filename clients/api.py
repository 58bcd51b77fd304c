"""Read API of people and their journey: /api/contacts/, /api/deals/, /api/calls/, /api/sessions/."""

from clients.models import Call, Contact, Deal, TrainingSession
from clients.serializers import CallSerializer, ContactSerializer, DealSerializer, TrainingSessionSerializer
from ptd.api import ScopedReadOnlyViewSet


class ContactViewSet(ScopedReadOnlyViewSet):
    """Leads and clients; coaches see their clients, setters their leads."""

    queryset = Contact.objects.select_related("owner", "coach").order_by("-created_at", "-pk")
    serializer_class = ContactSerializer
    updated_fields = ("updated_at", "created_at")
    email_fields = ("email_normalized",)
    date_field = "created_at"


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


class TrainingSessionViewSet(ScopedReadOnlyViewSet):
    """Training sessions from the studio's attendance feed; coaches see their clients' sessions.

    Reads only here: the feed's POST (ingestion) is added to this viewset by the sessions-feed work."""

    queryset = TrainingSession.objects.select_related("coach").order_by("-starts_at", "-pk")
    serializer_class = TrainingSessionSerializer
    # No stored field records when a session row last changed, so there is no updated_since here.
    email_fields = ("contact__email_normalized",)
    date_field = "starts_at"
