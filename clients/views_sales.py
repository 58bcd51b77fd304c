"""Sales pipeline and sales coach tracker (being built in this change)."""

from django.http import Http404


def sales_pipeline(request, **kwargs):
    raise Http404


def sales_coach_tracker(request, **kwargs):
    raise Http404
