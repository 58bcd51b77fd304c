"""A loopback fake of the Meta Marketing API Insights edge (integrations.md §3.3).

    with FakeMetaGraph(access_token="meta-token", account_id="1234") as meta:
        meta.add_insight("2024-01-01", ad_id="120200000000000001", spend="53.20", impressions=1000,
                         actions=[{"action_type": "lead", "value": "3"}])
        requests.get(f"{meta.url}/v26.0/act_1234/insights", params={..., "access_token": "meta-token"})

Wire format:
- `GET /{version}/act_{account_id}/insights` with `level=ad`, `time_increment=1`,
  `time_range={"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}`, `fields=a,b,c`, `limit` (default 25),
  `after`, `action_attribution_windows=["7d_click","1d_view"]`. One row per ad per day.
- Every number is a string (`"spend":"5339.5"`); `actions`, `action_values`, `cost_per_action_type`,
  `purchase_roas`, `website_purchase_roas` are lists of `{"action_type","value"}` (plus the requested window keys).
  `date_start` / `date_stop` are always returned; other fields only when requested.
- Paging: `{"data":[...],"paging":{"cursors":{"before","after"},"next":"<absolute URL on this fake>"}}`;
  `next` is absent on the last page.
- Auth: `access_token` query parameter or `Authorization: Bearer`. Missing -> 400 code 104, wrong -> 400 code 190
  (OAuthException). Unknown account -> 400 code 100 / subcode 33. Invalid field -> 400 code 100.
- `X-Business-Use-Case-Usage` and `x-fb-ads-insights-throttle` headers on every answer.
- Throttling: `meta.throttle_next(code=17)` (codes 4, 17, 32, 613, 80000-80014, 2 and 100 timeouts) answers the
  Graph error body `{"error":{"message","type","code","error_subcode","is_transient","fbtrace_id",...}}`
  with HTTP 400 by default and `estimated_time_to_regain_access` in the BUC header.

Only the ad level with daily rows is modelled; other levels or `time_increment` values answer 400 so that a
test never silently relies on behaviour the fake does not have.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from .server import FakeServer, RecordedRequest, Response, route

__all__ = ["FakeMetaGraph", "INSIGHTS_FIELDS", "THROTTLE_ERRORS"]

INSIGHTS_FIELDS = {
    "date_start", "date_stop", "account_id", "account_name", "account_currency", "campaign_id", "campaign_name",
    "adset_id", "adset_name", "ad_id", "ad_name", "objective", "spend", "impressions", "reach", "frequency",
    "clicks", "unique_clicks", "inline_link_clicks", "outbound_clicks", "cpc", "cpm", "cpp", "ctr",
    "inline_link_click_ctr", "actions", "action_values", "cost_per_action_type", "purchase_roas",
    "website_purchase_roas", "conversions", "conversion_values",
}
_ACTION_LISTS = {"actions", "action_values", "cost_per_action_type", "purchase_roas", "website_purchase_roas",
                 "outbound_clicks", "conversions", "conversion_values"}

# code -> (default subcode, message, error_user_title, error_user_msg)
THROTTLE_ERRORS = {
    4: (1504022, "(#4) Application request limit reached", "Too Many API Requests",
        "There have been too many calls from this ad-account. Please wait a bit and try again."),
    17: (2446079, "(#17) User request limit reached", "Ad Account Has Too Many API Calls",
         "There have been too many calls from this ad-account. Please wait a bit and try again."),
    32: (None, "(#32) Page request limit reached", None, None),
    613: (1487742, "(#613) Calls to this api have exceeded the rate limit.", "Too Many Calls",
          "There have been too many calls from this ad-account. Wait a bit and try again."),
    80000: (2446079, "(#80000) There have been too many calls from this ad-account. Wait a bit and try again. "
                     "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/"
                     "rate-limiting.", None, None),
    2: (1504038, "An unexpected error has occurred. Please retry your request later.", None, None),
    100: (1504018, "(#100) Please reduce the amount of data you're asking for, then retry your request", None,
          None),
    1: (99, "Please reduce the amount of data you're asking for, then retry your request", None, None),
}


def _graph_error(message: str, code: int, subcode: int | None = None, type_: str = "OAuthException",
                 is_transient: bool | None = None, user_title: str | None = None,
                 user_msg: str | None = None) -> dict:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if is_transient is not None:
        err["is_transient"] = is_transient
    if user_title:
        err["error_user_title"] = user_title
    if user_msg:
        err["error_user_msg"] = user_msg
    err["fbtrace_id"] = "A" + uuid.uuid4().hex[:22]
    return {"error": err}


def _num(value: Any) -> Any:
    """Numbers become strings as the Graph API sends them; lists of action stats get string values."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [{k: _num(v) if k != "action_type" else v for k, v in item.items()} for item in value]
    if isinstance(value, float):
        return repr(value)
    return str(value)


class FakeMetaGraph(FakeServer):
    def __init__(self, access_token: str = "meta-token", account_id: str = "1234", *, currency: str = "AED",
                 account_name: str = "PTD Fitness", version: str = "v26.0"):
        super().__init__()
        self.access_token = access_token
        self.account_id = str(account_id).removeprefix("act_")
        self.currency = currency
        self.account_name = account_name
        self.version = version
        self.rows: dict[tuple[str, str], dict] = {}  # (ad_id, date) -> stored row
        self.usage_pct = 1  # reported call_count / total_time / total_cputime in the BUC header

    # ------------------------------------------------------------------ helpers for tests
    def add_insight(self, date: str, *, ad_id: str, ad_name: str | None = None, adset_id: str | None = None,
                    adset_name: str | None = None, campaign_id: str | None = None,
                    campaign_name: str | None = None, **metrics) -> dict:
        """Store one ad-day row. Metric values may be numbers (they are served as strings) or action lists.
        Defaults: spend 0, impressions 0, names derived from ids; cpc/cpm/ctr computed when not given."""
        ad_id = str(ad_id)
        adset_id = str(adset_id or f"{ad_id[:-3]}100")
        campaign_id = str(campaign_id or f"{ad_id[:-3]}200")
        row = {"account_id": self.account_id, "account_name": self.account_name,
               "account_currency": self.currency, "campaign_id": campaign_id,
               "campaign_name": campaign_name or f"Campaign {campaign_id}", "adset_id": adset_id,
               "adset_name": adset_name or f"Ad set {adset_id}", "ad_id": ad_id, "ad_name": ad_name or f"Ad {ad_id}",
               "date_start": date, "date_stop": date, "spend": 0, "impressions": 0, "reach": 0, "clicks": 0,
               "inline_link_clicks": 0}
        row.update(metrics)
        spend, imps, clicks = float(row["spend"]), int(row["impressions"]), int(row["clicks"])
        if imps:
            row.setdefault("cpm", round(spend / imps * 1000, 6))
            row.setdefault("ctr", round(clicks / imps * 100, 6))
            row.setdefault("frequency", round(imps / max(1, int(row["reach"]) or imps), 6))
            row.setdefault("inline_link_click_ctr", round(int(row["inline_link_clicks"]) / imps * 100, 6))
        if clicks:
            row.setdefault("cpc", round(spend / clicks, 6))
        row = {k: _num(v) for k, v in row.items()}
        with self.lock:
            self.rows[(ad_id, date)] = row
        return row

    def throttle_next(self, code: int = 17, subcode: int | None = None, *, times: int = 1, status: int = 400,
                      regain_minutes: int = 1, path_prefix: str | None = None, message: str | None = None):
        """Queue Graph throttling / timeout errors (see THROTTLE_ERRORS)."""
        buc_range = 80000 <= code < 80100
        fallback = THROTTLE_ERRORS[80000] if buc_range else (None, f"(#{code}) Error", None, None)
        default_sub, default_msg, title, user_msg = THROTTLE_ERRORS.get(code, fallback)
        transient = buc_range or code in (1, 2, 4, 17, 32, 613)
        body = _graph_error(message or default_msg.replace("#80000", f"#{code}"), code,
                            default_sub if subcode is None else subcode, is_transient=transient,
                            user_title=title, user_msg=user_msg)
        headers = {"X-Business-Use-Case-Usage": self._buc(100, regain_minutes)}
        return self.fail_next(status, headers, body, times=times, path_prefix=path_prefix)

    # ------------------------------------------------------------------ FakeServer hooks
    def _buc(self, pct: int, regain: int = 0) -> str:
        return json.dumps({self.account_id: [{"type": "ads_insights", "call_count": pct, "total_cputime": pct,
                                              "total_time": pct, "estimated_time_to_regain_access": regain,
                                              "ads_api_access_tier": "standard_access"}]})

    def response_headers(self, req: RecordedRequest) -> dict[str, str]:
        return {"X-Business-Use-Case-Usage": self._buc(self.usage_pct),
                "x-fb-ads-insights-throttle": json.dumps({"app_id_util_pct": 0, "acc_id_util_pct": self.usage_pct,
                                                          "ads_api_access_tier": "standard_access"}),
                "Content-Type": "application/json; charset=UTF-8"}

    def error_body(self, status: int) -> Any:
        return _graph_error("An unexpected error has occurred. Please retry your request later.", 2,
                            is_transient=True, type_="OAuthException")

    def authenticate(self, req: RecordedRequest) -> Response | None:
        token = req.query.get("access_token")
        auth = req.headers.get("Authorization", "")
        if token is None and auth.startswith(("Bearer ", "OAuth ")):
            token = auth.split(" ", 1)[1]
        if not token:
            return Response(400, _graph_error("An access token is required to request this resource.", 104))
        if token != self.access_token:
            return Response(400, _graph_error("Invalid OAuth access token - Cannot parse access token", 190))
        return None

    def not_found(self, req: RecordedRequest) -> Response:
        return Response(400, _graph_error(f"Unknown path components: {req.path}", 2500))

    # ------------------------------------------------------------------ the insights edge
    @route("GET", r"/(?P<version>v\d+\.\d+)/act_(?P<account_id>\d+)/insights")
    def insights(self, req: RecordedRequest, version: str, account_id: str) -> Response:
        q = req.query
        if account_id != self.account_id:
            return Response(400, _graph_error(
                f"Unsupported get request. Object with ID 'act_{account_id}' does not exist, cannot be loaded due "
                "to missing permissions, or does not support this operation. Please read the Graph API "
                "documentation at https://developers.facebook.com/docs/graph-api", 100, 33,
                type_="GraphMethodException"))
        fields = [f for f in q.get("fields", "").split(",") if f]
        bad = [f for f in fields if f not in INSIGHTS_FIELDS]
        if bad:
            return Response(400, _graph_error(
                f"(#100) {bad[0]} is not valid for fields param. please check "
                "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ for all valid values", 100))
        if q.get("level", "ad") != "ad" or q.get("time_increment", "1") != "1":
            return Response(400, _graph_error("(#100) FakeMetaGraph models only level=ad with time_increment=1", 100))
        try:
            time_range = json.loads(q["time_range"])
            since, until = time_range["since"], time_range["until"]
            windows = json.loads(q.get("action_attribution_windows", "[]"))
            limit = int(q.get("limit", 25))
            offset = int(base64.b64decode(q["after"]).decode()) if q.get("after") else 0
        except (KeyError, ValueError, TypeError):
            return Response(400, _graph_error("(#100) The parameter time_range is required and must be "
                                              "{\"since\":\"YYYY-MM-DD\",\"until\":\"YYYY-MM-DD\"}", 100))
        if since > until:
            return Response(400, _graph_error("(#100) Since date cannot be after until date", 100))
        rows = sorted((r for (ad, day), r in self.rows.items() if since <= day <= until),
                      key=lambda r: (r["date_start"], r["ad_id"]))
        page = rows[offset:offset + limit]
        wanted = list(dict.fromkeys(fields + ["date_start", "date_stop"]))
        data = [{f: self._field(r, f, windows) for f in wanted if r.get(f) is not None} for r in page]
        body: dict[str, Any] = {"data": data}
        if data:
            enc = lambda n: base64.b64encode(str(n).encode()).decode()  # noqa: E731
            body["paging"] = {"cursors": {"before": enc(offset), "after": enc(offset + len(page))}}
            if offset + limit < len(rows):
                params = {k: v for k, v in q.items() if k != "after"}
                params["after"] = enc(offset + len(page))
                body["paging"]["next"] = f"{self.url}/{version}/act_{account_id}/insights?{urlencode(params)}"
        return Response(200, body)

    @staticmethod
    def _field(row: dict, name: str, windows: list[str]) -> Any:
        value = row[name]
        if name in _ACTION_LISTS and isinstance(value, list):
            keep = {"action_type", "value", *windows}
            return [{k: v for k, v in item.items() if k in keep} for item in value]
        return value
