"""Template helpers shared by every page."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def partial_url(context, name: str) -> str:
    """This page's URL with its current filters (period, sort, page…) asking for one partial: what a live
    section's hx-get fetches, so a refresh shows the same view the user is looking at."""
    request = context["request"]
    params = request.GET.copy()
    for key in ("partial", "export", "rows"):
        params.pop(key, None)
    params["partial"] = name
    return f"{request.path}?{params.urlencode()}"
