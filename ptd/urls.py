from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clients import views as client_views
from clients import views_clients, views_coaches, views_sales, views_setters
from finance import views as finance_views
from marketing import views as marketing_views
from marketing.views_meta import meta_dashboard
from marketing.views_intel import marketing_intelligence
from marketing.views_deep import deep_intel
from ptd import dashboard, views
from ptd.api import IsWorkspaceAdmin

urlpatterns = [
    path("", dashboard.executive, name="home"),
    path("dashboard/", dashboard.executive, name="dashboard"),
    path("data/", views.data_sources, name="data-sources"),
    path("overview/", client_views.overview, name="overview"),
    path("clients/", views_clients.client_list, name="clients"),
    path("clients/<int:contact_id>/", views_clients.client_detail, name="client-detail"),
    path("interventions/", views_clients.interventions, name="interventions"),
    path("coaches/", views_coaches.coach_list, name="coaches"),
    path("coaches/<int:staff_id>/", views_coaches.coach_detail, name="coach-detail"),
    path("sales-pipeline/", views_sales.sales_pipeline, name="sales-pipeline"),
    path("sales-coach-tracker/", views_sales.sales_coach_tracker, name="sales-coach-tracker"),
    path("setter-activity-today/", views_setters.setter_activity, name="setter-activity"),
    path("marketing-intelligence/", marketing_intelligence, name="marketing-intelligence"),
    path("money-map/", marketing_views.money_map, name="money-map"),
    path("meta-dashboard/", meta_dashboard, name="meta-dashboard"),
    path("attribution/", marketing_views.attribution, name="attribution"),
    path("deep-intel/", deep_intel, name="deep-intel"),
    path("stripe/", finance_views.stripe_intelligence, name="stripe"),
    path("settings/", views.integration_settings, name="settings"),
    path("settings/sync/<slug:source>/", views.integration_sync_now, name="settings-sync"),
    path("workspace/switch/", views.workspace_switch, name="workspace-switch"),
    path("healthz", views.healthz, name="healthz"),
    path("webhooks/", include("ptd.webhook_urls")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("ptd.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsWorkspaceAdmin]), name="api-schema"),
    # login_required: a browser is sent to sign in rather than shown DRF's 403.
    path("api/docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema",
                                                                         permission_classes=[IsWorkspaceAdmin])),
         name="api-docs"),
]
handler400 = "ptd.views.bad_request"
