"""Meta Graph API client for ad-level daily Insights (integrations.md §3.3). HTTP only: no ORM.

The base URL comes from META_GRAPH_BASE (default https://graph.facebook.com) and the version from
settings.META_GRAPH_VERSION, so tests and staging point the same code at a loopback fake.

Throttling (codes 4, 17, 32, 613, 80000-range and the Insights subcodes) is backed off exponentially
with jitter, honouring `estimated_time_to_regain_access` from X-Business-Use-Case-Usage, bounded in
attempts and in seconds. An expired or invalid token (code 190) raises MetaAuthError; any other
Graph error raises MetaGraphError with Meta's own message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation

import requests

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://graph.facebook.com"

INSIGHT_FIELDS = (
    "date_start", "date_stop", "account_currency", "campaign_id", "campaign_name", "adset_id", "adset_name",
    "ad_id", "ad_name", "spend", "impressions", "reach", "frequency", "clicks", "inline_link_clicks",
    "outbound_clicks", "cpc", "cpm", "ctr", "inline_link_click_ctr", "actions", "action_values",
    "cost_per_action_type", "purchase_roas", "website_purchase_roas",
)
ATTRIBUTION_WINDOWS = ("7d_click", "1d_view")

# Several action types alias the same conversion: count exactly one, in this order of preference.
PURCHASE_TYPES = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase")
LEAD_TYPES = ("lead", "onsite_conversion.lead_grouped")

THROTTLE_CODES = frozenset({4, 17, 32, 613})
THROTTLE_SUBCODES = frozenset({2446079, 1487742, 1504022, 1504039})
# 100/1504018 and 2/1504038: the Insights query timed out; a smaller time range is the cure.
TIMEOUT_SUBCODES = frozenset({1504018, 1504038})
AUTH_CODES = frozenset({190, 102})


def default_sleep(seconds: float) -> None:
    """The back-off sleep (looked up when a client is made, so tests can replace it)."""
    time.sleep(seconds)


class MetaGraphError(Exception):
    """A Graph API error; the message is Meta's, prefixed with its code."""

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None, status: int = 0,
                 fbtrace_id: str = "", transient: bool = False):
        self.meta_message, self.code, self.subcode, self.status = message, code, subcode, status
        self.fbtrace_id, self.transient = fbtrace_id, transient
        label = f"code {code}" + (f"/{subcode}" if subcode else "") if code is not None else f"HTTP {status}"
        super().__init__(f"Meta Graph API error ({label}): {message}")


class MetaAuthError(MetaGraphError):
    """The access token was rejected (expired, revoked, wrong app): a human must issue a new one."""


class MetaThrottled(MetaGraphError):
    """Still throttled after the bounded back-off."""


class MetaRangeTooLarge(MetaGraphError):
    """The Insights query timed out on Meta's side: retry with a shorter time range."""


def is_throttle(code: int | None, subcode: int | None) -> bool:
    return code in THROTTLE_CODES or (code is not None and 80000 <= code <= 80099) or subcode in THROTTLE_SUBCODES


def regain_access_seconds(headers) -> float | None:
    """The longest `estimated_time_to_regain_access` (minutes) in X-Business-Use-Case-Usage, in seconds."""
    raw = headers.get("X-Business-Use-Case-Usage") if headers is not None else None
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = []
    for entries in (usage.values() if isinstance(usage, dict) else []):
        for entry in entries if isinstance(entries, list) else [entries]:
            if isinstance(entry, dict) and isinstance(entry.get("estimated_time_to_regain_access"), (int, float)):
                minutes.append(entry["estimated_time_to_regain_access"])
    return max(minutes) * 60.0 if minutes else None


class MetaGraphClient:
    """GET /{version}/act_{account}/insights with paging, throttling back-off and typed errors."""

    def __init__(self, *, access_token: str, app_secret: str = "", base_url: str | None = None,
                 version: str | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] | None = None, max_attempts: int = 6, backoff_base: float = 2.0,
                 max_wait: float = 300.0, timeout: float = 60.0, rng: random.Random | None = None):
        if not access_token:
            raise ValueError("a Meta access token is required")
        if version is None:
            from django.conf import settings

            version = settings.META_GRAPH_VERSION
        self.base_url = (base_url or os.environ.get("META_GRAPH_BASE") or DEFAULT_BASE).rstrip("/")
        self.version = version
        self.access_token, self.app_secret = access_token, app_secret
        self.session = session or requests.Session()
        self.sleep = sleep or default_sleep
        self.max_attempts, self.backoff_base, self.max_wait = max_attempts, backoff_base, max_wait
        self.timeout = timeout
        self.rng = rng or random.Random()
        self.waited: list[float] = []  # every back-off slept, for logs and tests

    def _auth_params(self) -> dict[str, str]:
        params = {"access_token": self.access_token}
        if self.app_secret:  # appsecret_proof = HMAC-SHA256(app secret, access token), hex
            params["appsecret_proof"] = hmac.new(self.app_secret.encode(), self.access_token.encode(),
                                                 hashlib.sha256).hexdigest()
        return params

    def _backoff(self, attempt: int, headers) -> float:
        delay = min(self.max_wait, self.backoff_base * 2 ** (attempt - 1)) * self.rng.uniform(0.5, 1.0)
        regain = regain_access_seconds(headers)
        if regain:
            delay = max(delay, regain)
        return min(delay, self.max_wait)

    def get(self, url: str, params: dict | None = None) -> dict:
        """One GET with back-off on throttling and transient errors; returns the decoded JSON object."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                # requests puts the URL, token included, in its messages: never log or store the token.
                text = str(exc).replace(self.access_token, "***")
                error: MetaGraphError = MetaGraphError(f"network error: {text}", transient=True)
                headers = None
            else:
                try:
                    body = resp.json()
                except ValueError:
                    body = None
                if resp.status_code == 200 and isinstance(body, dict) and "error" not in body:
                    return body
                error, headers = self._error(resp, body), resp.headers
            if isinstance(error, (MetaAuthError, MetaRangeTooLarge)):
                raise error
            retry = isinstance(error, MetaThrottled) or error.transient
            if not retry or attempt == self.max_attempts:
                raise error
            delay = self._backoff(attempt, headers)
            log.warning("%s; backing off %.1f s (attempt %s of %s)", error, delay, attempt,
                        self.max_attempts)
            self.waited.append(delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    def _error(resp: requests.Response, body) -> MetaGraphError:
        err = body.get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict):
            lines = (resp.text or "").strip().splitlines()
            text = lines[0][:200] if lines else resp.reason
            return MetaGraphError(text or f"HTTP {resp.status_code}", status=resp.status_code,
                                  transient=resp.status_code >= 500 or resp.status_code == 429)
        code, subcode = err.get("code"), err.get("error_subcode")
        kwargs = {"code": code, "subcode": subcode, "status": resp.status_code,
                  "fbtrace_id": str(err.get("fbtrace_id") or "")}
        message = str(err.get("message") or "unknown error")
        if err.get("error_user_msg") and err["error_user_msg"] not in message:
            message += f" ({err['error_user_msg']})"
        if code in AUTH_CODES:
            return MetaAuthError(message, **kwargs)
        if subcode in TIMEOUT_SUBCODES:
            return MetaRangeTooLarge(message, **kwargs)
        if is_throttle(code, subcode):
            return MetaThrottled(message, **kwargs)
        # code 1 / 2 are "unknown" / "service" errors Meta marks transient; so is any 5xx without a code.
        transient = bool(err.get("is_transient")) or code in (1, 2) or resp.status_code >= 500
        return MetaGraphError(message, transient=transient, **kwargs)

    def insights_pages(self, *, account_id: str, since: date, until: date, limit: int = 500) -> Iterator[list[dict]]:
        """Ad-level daily insight rows for [since, until], one list per page, following `paging.next`."""
        account = str(account_id).removeprefix("act_")
        url = f"{self.base_url}/{self.version}/act_{account}/insights"
        params: dict | None = {
            **self._auth_params(),
            "level": "ad",
            "time_increment": "1",
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}, separators=(",", ":")),
            "fields": ",".join(INSIGHT_FIELDS),
            "action_attribution_windows": json.dumps(list(ATTRIBUTION_WINDOWS), separators=(",", ":")),
            "limit": str(limit),
        }
        while url:
            body = self.get(url, params)
            data = body.get("data") or []
            yield [row for row in data if isinstance(row, dict)]
            next_url = (body.get("paging") or {}).get("next")
            if not next_url or not data:
                return
            url = next_url
            # Meta's `next` carries every parameter, the token included; add the token only if it is missing.
            params = None if "access_token=" in next_url else self._auth_params()


# --- parsing: Graph sends numbers as strings ----------------------------------------------------


def to_decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def to_int(value) -> int:
    number = to_decimal(value)
    return int(number) if number is not None else 0


def action_value(stats, types: tuple[str, ...]) -> Decimal | None:
    """The value of the first of `types` present in a list<AdsActionStats>, or None (exactly one is used)."""
    if not isinstance(stats, list):
        return None
    by_type = {s.get("action_type"): s.get("value") for s in stats if isinstance(s, dict)}
    for action_type in types:
        if action_type in by_type:
            return to_decimal(by_type[action_type])
    return None


def parse_insight_row(row: dict) -> dict:
    """One Graph insight row → typed values (Decimal money and rates, int counts) plus the ids and names."""
    purchases = action_value(row.get("actions"), PURCHASE_TYPES)
    purchase_value = action_value(row.get("action_values"), PURCHASE_TYPES)
    leads = action_value(row.get("actions"), LEAD_TYPES)
    roas = action_value(row.get("purchase_roas"), PURCHASE_TYPES)
    if roas is None:
        roas = action_value(row.get("website_purchase_roas"), PURCHASE_TYPES)
    return {
        "date": date.fromisoformat(str(row["date_start"])[:10]),
        "account_currency": str(row.get("account_currency") or "").upper(),
        "campaign_id": str(row.get("campaign_id") or ""),
        "campaign_name": str(row.get("campaign_name") or ""),
        "adset_id": str(row.get("adset_id") or ""),
        "adset_name": str(row.get("adset_name") or ""),
        "ad_id": str(row.get("ad_id") or ""),
        "ad_name": str(row.get("ad_name") or ""),
        "spend": to_decimal(row.get("spend")) or Decimal("0"),
        "impressions": to_int(row.get("impressions")),
        "reach": to_int(row.get("reach")),
        "clicks": to_int(row.get("clicks")),
        "link_clicks": to_int(row.get("inline_link_clicks")),
        "leads": int(leads or 0),
        "purchases": int(purchases or 0),
        "purchase_value": purchase_value or Decimal("0"),
        "meta_roas": roas,
        "cpc": to_decimal(row.get("cpc")),
        "cpm": to_decimal(row.get("cpm")),
        "ctr": to_decimal(row.get("ctr")),
        "frequency": to_decimal(row.get("frequency")),
        "raw": row,
    }
