"""Webhook URLs: each workspace has its own (`/webhooks/<workspace>/<source>/…`); the default workspace
`ptd` also answers on the short paths."""

from django.urls import path

from clients.webhooks import callgear_webhook, hubspot_webhook
from clients.whatsapp import whatsapp_webhook
from finance.webhooks import stripe_webhook
from marketing.webhooks import anytrack_webhook

urlpatterns = [
    path("stripe/", stripe_webhook, name="webhook-stripe"),
    path("hubspot/", hubspot_webhook, name="webhook-hubspot"),
    path("anytrack/<str:token>/", anytrack_webhook, name="webhook-anytrack"),
    path("callgear/<str:token>/", callgear_webhook, name="webhook-callgear"),
    path("whatsapp/", whatsapp_webhook, name="webhook-whatsapp"),
    path("<slug:workspace_slug>/stripe/", stripe_webhook, name="webhook-stripe-ws"),
    path("<slug:workspace_slug>/hubspot/", hubspot_webhook, name="webhook-hubspot-ws"),
    path("<slug:workspace_slug>/anytrack/<str:token>/", anytrack_webhook, name="webhook-anytrack-ws"),
    path("<slug:workspace_slug>/callgear/<str:token>/", callgear_webhook, name="webhook-callgear-ws"),
    path("<slug:workspace_slug>/whatsapp/", whatsapp_webhook, name="webhook-whatsapp-ws"),
]
