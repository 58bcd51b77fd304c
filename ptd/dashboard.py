"""Executive page (being built in this change)."""

from django.http import Http404


def executive(request, **kwargs):
    raise Http404
