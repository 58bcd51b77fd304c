"""Setter activity (being built in this change)."""

from django.http import Http404


def setter_activity(request, **kwargs):
    raise Http404
