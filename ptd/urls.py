from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clients import views as client_views
from ptd import views
from ptd.api import IsWorkspaceAdmin

urlpatterns = [
    path("", views.home, name="home"),
    path("overview/", client_views.overview, name="overview"),
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
