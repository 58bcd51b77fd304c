import asyncio
import uuid
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.db import connection
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ptd import selectors
from ptd.credentials import credential_set
from ptd.scoping import SESSION_WORKSPACE_KEY
from ptd.models import CredentialKind, Mode
from ptd.navigation import can_open
from ptd.periods import Period, PeriodError, resolve_period


def require_page(request, url_name: str) -> None:
    """403 unless the navigation lets this role open the page (one rule for links and access)."""
    if request.access is None or not can_open(request.access.role, url_name):
        raise PermissionDenied("Your role cannot open this page.")


def page_period(request, default: str = "last_30_days") -> Period:
    """The period in the URL (workspace timezone); a bad one is a 400 that names the valid choices."""
    tz = ZoneInfo(request.workspace.timezone)
    try:
        return resolve_period(request.GET.get("period") or default, today=timezone.now().astimezone(tz).date(), tz=tz,
                              date_from=request.GET.get("from", ""), date_to=request.GET.get("to", ""))
    except PeriodError as exc:
        raise BadRequest(str(exc)) from exc


def shown_partials(request, partials: Iterable[str]) -> set[str]:
    """The sections this request renders (render_page): one when htmx asks for a partial (a live refresh fetches
    each section on its own, so only its data is read), else all of them."""
    wanted, partials = request.GET.get("partial"), set(partials)
    return {wanted} if request.htmx and wanted in partials else partials


def render_page(request, template: str, context: dict, partials: Iterable[str]):
    """The whole page, or with `HX-Request` and `?partial=<name>` only that partial (its element has id=name)."""
    partial = request.GET.get("partial")
    if request.htmx and partial in set(partials):
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context)


def bad_request(request, exception):
    """400 with the reason (a bad period, an unknown filter), never a bare "Bad Request"."""
    return render(request, "400.html", {"reason": str(exception) or "The request was not understood.", "period": None},
                  status=400)


def data_sources(request):
    """Your data: what is stored per source, counted within the person's scope."""
    require_page(request, "data-sources")
    # Counts are all-time, so this page shows no period filter.
    context = {"sources": selectors.data_sources_for(request.access), "period": None}
    return render_page(request, "ptd/data_sources.html", context, ["sources"])


def integration_settings(request):
    require_page(request, "settings")
    workspace = request.workspace
    if request.method == "POST":
        kind, value, mode = request.POST.get("kind", ""), request.POST.get("value", ""), request.POST.get("mode", Mode.TEST)
        try:
            credential_set(workspace=workspace, kind=kind, value=value, mode=mode, actor=request.user)
        except ValueError as exc:
            messages.error(request, f"Not saved: {exc}.")
            return render(request, "ptd/settings.html", _settings_context(request), status=400)
        messages.success(request, f"{CredentialKind(kind).label} saved for {workspace.name}.")
        return redirect("settings")
    return render(request, "ptd/settings.html", _settings_context(request))


@require_POST
def integration_sync_now(request, source):
    """Queue one pull sync of the active workspace (its outcome shows on this page when done)."""
    from django_q.tasks import async_task

    from ptd.sync import pull_source

    require_page(request, "settings")
    try:
        pulled = pull_source(source)
    except KeyError:
        return HttpResponseBadRequest(f"unknown source {source!r}")
    status = next(s for s in selectors.integration_status_for(request.access) if s.key == source)
    if not status.can_sync:
        messages.error(request, f"{pulled.label} is not connected: set {', '.join(status.missing)} first.")
    else:
        async_task("ptd.sync.sync_now", request.workspace.pk, source, task_name=f"sync {source} now")
        messages.success(request, f"{pulled.label} sync queued; refresh this page to see its result.")
    return redirect("settings")


def _settings_context(request):
    return {
        "period": None,
        "integrations": selectors.integration_status_for(request.access),
        "webhook_urls": selectors.webhook_urls_for(request.access, request.build_absolute_uri("/").rstrip("/")),
        "unmatched": selectors.unmatched_counts_for(request.access),
        "credentials": selectors.credentials_for(request.access),
        "modes": Mode.choices,
    }


@require_POST
def workspace_switch(request):
    slug = request.POST.get("workspace", "")
    membership = next((m for m in request.memberships if m.workspace.slug == slug), None)
    if membership is None:
        return HttpResponseBadRequest("You are not a member of that workspace.")
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    back = request.POST.get("next") or request.headers.get("Referer") or reverse("home")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("home")
    return redirect(back)


def _check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # any failure means unhealthy; say which
        return False, f"error: {exc.__class__.__name__}"


async def _channel_round_trip(layer) -> bool:
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    # Listen first: channels_postgres can miss a message sent before its listener is up.
    receiving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.05)
    await layer.send(channel, {"type": "healthz", "token": token})
    message = await asyncio.wait_for(receiving, timeout=3)
    return message.get("token") == token


def _check_channel_layer() -> tuple[bool, str]:
    layer = get_channel_layer()
    if layer is None:
        return False, "not configured"
    try:
        ok = async_to_sync(_channel_round_trip)(layer)
    except Exception as exc:
        return False, f"error: {exc.__class__.__name__}"
    return ok, f"ok ({layer.__class__.__name__})" if ok else "message lost"


def _check_worker() -> tuple[bool, str]:
    from django_q.status import Stat

    try:
        clusters = Stat.get_all()
    except Exception as exc:
        return False, f"error: {exc.__class__.__name__}"
    if not clusters:
        return False, "no worker cluster is running (start it with manage.py worker)"
    return True, f"ok ({len(clusters)} cluster{'s' if len(clusters) != 1 else ''})"


@login_not_required
def healthz(request):
    """A sync view on purpose: its database work then runs in the request's thread and its connection is
    released at the end of the request (an async view's executor threads would keep theirs)."""
    checks = {}
    for name, check in (("database", _check_database), ("channel_layer", _check_channel_layer),
                        ("worker", _check_worker)):
        ok, detail = check()
        checks[name] = {"ok": ok, "detail": detail}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
