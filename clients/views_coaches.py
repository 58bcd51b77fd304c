"""Coaches (being built in this change)."""

from django.http import Http404


def coach_list(request, **kwargs):
    raise Http404


def coach_detail(request, **kwargs):
    raise Http404
