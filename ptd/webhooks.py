"""What every webhook receiver shares: the workspace from the URL, the raw body with its size limit,
token checks in constant time, and the one-line rejection (counted and logged, nothing stored)."""

from __future__ import annotations

import hmac
import logging
import time

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404

from ptd.credentials import credential_get
from ptd.models import Workspace

log = logging.getLogger("ptd.webhooks")

MAX_BODY_BYTES = 1024 * 1024


class Rejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


_workspaces: dict[str, tuple[float, Workspace]] = {}
WORKSPACE_CACHE_SECONDS = 30


def workspace_for(slug: str) -> Workspace:
    """The workspace a webhook URL names (404 when none). Cached briefly: it is read on every delivery."""
    now = time.monotonic()
    cached = _workspaces.get(slug)
    if cached and now - cached[0] < WORKSPACE_CACHE_SECONDS:
        return cached[1]
    workspace = get_object_or_404(Workspace, slug=slug)
    _workspaces[slug] = (now, workspace)
    return workspace


@receiver([post_save, post_delete], sender=Workspace)
def _forget_workspaces(**kwargs):
    _workspaces.clear()


def raw_body(request) -> bytes:
    """The body exactly as sent (signatures are over these bytes); over 1 MB is refused."""
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Rejected(413, "body larger than 1 MB")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise Rejected(413, "body larger than 1 MB")
    return body


def json_body(body: bytes):
    """The parsed body, or the one-line 400 every receiver gives for malformed JSON."""
    import json

    try:
        return json.loads(body)
    except ValueError as exc:
        raise Rejected(400, "body is not valid JSON") from exc


def require_path_token(*, workspace: Workspace, credential: str, token: str) -> None:
    """Sources without signatures put a secret in the URL; a wrong or unset token looks like no endpoint."""
    expected = credential_get(workspace=workspace, kind=credential)
    if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
        raise Http404("no such webhook")


def rejection(source: str, exc: Rejected) -> JsonResponse:
    """Count and log a refused delivery; the reason is one line and names no secret."""
    key = f"webhook-rejected:{source}"
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=None)
    log.warning("rejected %s webhook: %s (%s)", source, exc.reason, exc.status)
    return JsonResponse({"error": exc.reason}, status=exc.status)


def rejected_count(source: str) -> int:
    return cache.get(f"webhook-rejected:{source}", 0)


def accepted(*, created: bool) -> JsonResponse:
    return JsonResponse({"received": True, "duplicate": not created})
