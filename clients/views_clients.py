"""Clients, client page, interventions (being built in this change)."""

from django.http import Http404


def client_list(request, **kwargs):
    raise Http404


def client_detail(request, **kwargs):
    raise Http404


def interventions(request, **kwargs):
    raise Http404
