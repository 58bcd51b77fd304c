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


@register.simple_tag(takes_context=True)
def kept_filters(context) -> list[tuple[str, str]]:
    """The page's other filters (zone, coach, attribution model, drill-down, sorts…) as (name, value) pairs for
    hidden inputs of the period form, so choosing a period keeps them; pages are dropped (the rows change)."""
    dropped = {"period", "from", "to", "partial", "export", "rows"}
    return [(name, value) for name, values in context["request"].GET.lists()
            if name not in dropped and not name.endswith("-page") for value in values]
