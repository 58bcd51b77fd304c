"""CallGear Data API client (JSON-RPC 2.0, integrations.md §5). HTTP only: no ORM.

The endpoint comes from CALLGEAR_API_BASE (default https://dataapi.callgear.com/v2.0). The token
travels inside `params`. Limits are points per minute and per day: error -32029 `limit_exceeded`
(over HTTP 200) means wait for `metadata.limits.minute_reset` / `day_reset` seconds; the wait is
bounded and the sleep function injectable, so tests never sleep for real.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import requests

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://dataapi.callgear.com/v2.0"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
PAGE_LIMIT = 1000
MAX_OFFSET = 100_000  # the API refuses offsets beyond this: split the date window instead

CALL_FIELDS = (
    "id", "communication_id", "start_time", "finish_time", "direction", "source", "finish_reason", "is_lost",
    "contact_phone_number", "virtual_phone_number", "wait_duration", "talk_duration", "clean_talk_duration",
    "total_duration", "call_records", "full_record_file_link", "employees", "last_answered_employee_id",
    "tags", "site_id", "campaign_id", "campaign_name", "utm_source", "utm_medium", "utm_campaign", "utm_content",
    "utm_term", "gclid", "yclid", "referrer", "visitor_id", "person_id", "ext_id",
)

AUTH_ERROR = -32001
FORBIDDEN_ERROR = -32003
LIMIT_ERROR = -32029


def default_sleep(seconds: float) -> None:
    """The limit wait (looked up when a client is made, so tests can replace it)."""
    time.sleep(seconds)


class CallGearError(Exception):
    """A JSON-RPC error from CallGear, named by its mnemonic."""

    def __init__(self, message: str, *, code: int | None = None, mnemonic: str = "", data=None):
        self.code, self.mnemonic, self.data, self.rpc_message = code, mnemonic, data, message
        label = f"{code} {mnemonic}".strip() if code is not None else "transport"
        super().__init__(f"CallGear API error ({label}): {message}")


class CallGearAuthError(CallGearError):
    """The access token is invalid or expired, or this machine's IP is not whitelisted."""


class CallGearLimitExceeded(CallGearError):
    """The point limit is exhausted and the reset is further away than we are willing to wait."""


class CallGearWindowTooLarge(CallGearError):
    """More rows in the date window than limit/offset paging can reach: use a shorter window."""


class CallGearClient:
    def __init__(self, *, access_token: str, base_url: str | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] | None = None, max_wait: float = 120.0, max_limit_waits: int = 5,
                 timeout: float = 60.0):
        if not access_token:
            raise ValueError("a CallGear access token is required")
        self.url = (base_url or os.environ.get("CALLGEAR_API_BASE") or DEFAULT_BASE).rstrip("/")
        self.access_token = access_token
        self.session = session or requests.Session()
        self.sleep = sleep or default_sleep
        self.max_wait, self.max_limit_waits, self.timeout = max_wait, max_limit_waits, timeout
        self.limits: dict = {}  # metadata.limits of the last answer
        self._limits_at = 0.0  # monotonic time it arrived
        self._ids = itertools.count(1)
        self.waited: list[float] = []

    # --- transport ---
    def call(self, method: str, params: dict) -> dict:
        """One JSON-RPC call; waits out -32029 (bounded) and returns `result`."""
        for attempt in range(1, self.max_limit_waits + 2):
            try:
                return self._call_once(method, params)
            except CallGearLimitExceeded as exc:
                if attempt > self.max_limit_waits:
                    raise
                delay = self._limit_wait(exc)
                if delay is None:
                    raise
                log.warning("CallGear limit exceeded (%s); waiting %.0f s for the reset", exc.mnemonic, delay)
                self.waited.append(delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _call_once(self, method: str, params: dict) -> dict:
        payload = {"jsonrpc": "2.0", "id": f"ptd-{next(self._ids)}", "method": method,
                   "params": {"access_token": self.access_token, **params}}
        try:
            resp = self.session.post(self.url, json=payload, timeout=self.timeout,
                                     headers={"Content-Type": "application/json; charset=UTF-8"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise CallGearError(f"network error: {exc}") from exc
        try:
            body = resp.json()
        except ValueError:
            raise CallGearError(f"HTTP {resp.status_code}: response is not JSON") from None
        if not isinstance(body, dict):
            raise CallGearError(f"HTTP {resp.status_code}: unexpected response")
        if error := body.get("error"):
            raise self._error(error)
        if resp.status_code != 200:
            raise CallGearError(f"HTTP {resp.status_code}")
        result = body.get("result")
        if not isinstance(result, dict):
            raise CallGearError("response has no result")
        limits = (result.get("metadata") or {}).get("limits")
        if isinstance(limits, dict):
            self.limits, self._limits_at = limits, time.monotonic()
        return result

    @staticmethod
    def _error(error) -> CallGearError:
        if not isinstance(error, dict):
            return CallGearError(str(error))
        code, data = error.get("code"), error.get("data") if isinstance(error.get("data"), dict) else {}
        mnemonic = str(data.get("mnemonic") or "")
        message = str(error.get("message") or mnemonic or "unknown error")
        cls = {AUTH_ERROR: CallGearAuthError, FORBIDDEN_ERROR: CallGearAuthError,
               LIMIT_ERROR: CallGearLimitExceeded}.get(code, CallGearError)
        if mnemonic == "date_interval_limit_reached":
            cls = CallGearWindowTooLarge
        return cls(message, code=code, mnemonic=mnemonic, data=data)

    def _limit_wait(self, exc: CallGearLimitExceeded) -> float | None:
        """Seconds until the exhausted limit resets: from the error's metadata if it has any, else from the
        last answer's, else one minute. None when that is longer than max_wait (the daily limit)."""
        data = exc.data or {}
        limits = (data.get("metadata") or {}).get("limits") or data.get("limits")
        elapsed = 0.0
        if not isinstance(limits, dict):
            limits, elapsed = self.limits, (time.monotonic() - self._limits_at if self.limits else 0.0)
        limit_type = str((data.get("params") or {}).get("limit_type") or "")
        day_out = limit_type == "day" if limit_type else (limits.get("day_remaining") == 0
                                                           or "per day" in exc.rpc_message.lower())
        key = "day_reset" if day_out else "minute_reset"
        reset = limits.get(key)
        delay = (float(reset) - elapsed if isinstance(reset, (int, float)) else 60.0) + 1.0
        delay = max(1.0, delay)
        if delay > self.max_wait:
            if day_out:
                return None
            delay = self.max_wait
        return delay

    # --- methods ---
    def calls_report(self, *, date_from: datetime, date_till: datetime, limit: int = PAGE_LIMIT, offset: int = 0,
                     filter: dict | None = None, fields=CALL_FIELDS) -> dict:
        params = {
            "date_from": date_from.strftime(DATE_FORMAT),
            "date_till": date_till.strftime(DATE_FORMAT),
            "limit": limit,
            "offset": offset,
            "include_ongoing_calls": False,
            "sort": [{"field": "start_time", "order": "asc"}],
            "fields": list(fields),
        }
        if filter:
            params["filter"] = filter
        return self.call("get.calls_report", params)

    def calls_pages(self, *, date_from: datetime, date_till: datetime, limit: int = PAGE_LIMIT, offset: int = 0,
                    filter: dict | None = None) -> Iterator[tuple[list[dict], int, int]]:
        """Every call in the window, page by page: yields (rows, next offset, total items)."""
        while True:
            result = self.calls_report(date_from=date_from, date_till=date_till, limit=limit, offset=offset,
                                       filter=filter)
            rows = [r for r in result.get("data") or [] if isinstance(r, dict)]
            total = (result.get("metadata") or {}).get("total_items")
            total = total if isinstance(total, int) else offset + len(rows)
            if offset == 0 and total > MAX_OFFSET + limit:
                raise CallGearWindowTooLarge(f"{total} calls between {date_from} and {date_till}: more than "
                                             f"offset paging reaches", mnemonic="window_too_large")
            offset += len(rows)
            yield rows, offset, total
            if not rows or len(rows) < limit or offset >= total:
                return

    def call_by_id(self, *, call_id: int | str, date_from: datetime, date_till: datetime) -> dict | None:
        """The report row of one call session (a notification names it), or None if not (yet) reported."""
        try:
            value = int(call_id)
        except (TypeError, ValueError):
            value = call_id
        result = self.calls_report(date_from=date_from, date_till=date_till, limit=10,
                                   filter={"field": "id", "operator": "=", "value": value})
        rows = [r for r in result.get("data") or [] if isinstance(r, dict) and str(r.get("id")) == str(call_id)]
        return rows[0] if rows else None
