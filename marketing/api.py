"""Read API of marketing: /api/ad-insights/ (admins and viewers only) and /api/attribution-events/."""

from marketing.models import AdInsight, AttributionEvent
from marketing.serializers import AdInsightSerializer, AttributionEventSerializer
from ptd.api import ScopedReadOnlyViewSet


class AdInsightViewSet(ScopedReadOnlyViewSet):
    """One ad's Meta-reported results for one day."""

    queryset = AdInsight.objects.select_related("ad", "adset", "campaign").defer("raw").order_by("-date", "-pk")
    serializer_class = AdInsightSerializer
    # Meta revises recent days; synced_at is when this row was last written from Meta.
    updated_fields = ("synced_at",)
    date_field = "date"


class AttributionEventViewSet(ScopedReadOnlyViewSet):
    """Conversions and touches reported by AnyTrack; coaches and setters see their contacts' events."""

    queryset = AttributionEvent.objects.defer("raw").order_by("-occurred_at", "-pk")
    serializer_class = AttributionEventSerializer
    # Received time: an event reported late still shows up in an incremental pull.
    updated_fields = ("received_at",)
    email_fields = ("contact__email_normalized",)
    date_field = "occurred_at"
