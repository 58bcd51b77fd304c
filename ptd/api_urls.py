"""The read API's routes, mounted under /api/ (the schema and docs stay at /api/schema/ and /api/docs/)."""

from rest_framework.routers import DefaultRouter

from clients.api import CallViewSet, ContactViewSet, DealViewSet, HealthScoreViewSet, TrainingSessionViewSet
from finance.api import PaymentViewSet
from marketing.api import AdInsightViewSet, AttributionEventViewSet
from django.urls import path

from ptd.api import MetricsView, WebhookEventViewSet

router = DefaultRouter()
router.register("contacts", ContactViewSet, basename="api-contact")
router.register("deals", DealViewSet, basename="api-deal")
router.register("calls", CallViewSet, basename="api-call")
router.register("sessions", TrainingSessionViewSet, basename="api-session")
router.register("health-scores", HealthScoreViewSet, basename="api-health-score")
router.register("payments", PaymentViewSet, basename="api-payment")
router.register("ad-insights", AdInsightViewSet, basename="api-ad-insight")
router.register("attribution-events", AttributionEventViewSet, basename="api-attribution-event")
router.register("webhook-events", WebhookEventViewSet, basename="api-webhook-event")

urlpatterns = [path("metrics/", MetricsView.as_view(), name="api-metrics"), *router.urls]
