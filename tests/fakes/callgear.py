"""A loopback fake of the CallGear Data API (JSON-RPC 2.0), method `get.calls_report` (integrations.md §5).

    with FakeCallGear(access_token="cg-token") as cg:
        cg.add_call(start_time="2024-01-01 10:00:00", contact_phone_number="971501234567")
        requests.post(cg.api_url, json={"jsonrpc": "2.0", "id": "req-1", "method": "get.calls_report",
                                        "params": {"access_token": "cg-token", "date_from": "2024-01-01 00:00:00",
                                                   "date_till": "2024-01-01 23:59:59", "limit": 1000, "offset": 0}})

Wire format (from callgear.github.io data_api docs):
- `POST /v2.0` (also `/`), JSON-RPC 2.0, always HTTP 200. No batches (-32099 batch_operations_not_supported), a
  missing `id` gives -32099 notifications_not_supported, bad JSON -32700, wrong envelope -32600, unknown method
  -32601.
- Params: access_token, date_from, date_till ("YYYY-MM-DD hh:mm:ss", range ≤ 3 months), limit (default 1000,
  max 10,000), offset (max 100,000), fields, filter (simple or tree), sort, include_ongoing_calls.
  Unknown params/fields -> -32602 unexpected_parameters; missing dates -> required_parameter_missed.
- Result: `{"data": [...], "metadata": {"total_items": N, "limits": {day_limit, day_remaining, day_reset,
  minute_limit, minute_remaining, minute_reset}}}`. Empty values are null.
- A wrong token -> -32001 access_token_invalid ("Access token is invalid").
- Limits: each successful request costs 1 point. When the per-minute (or daily) points run out the answer is
  -32029 limit_exceeded with `error.data.metadata.limits` (reset = seconds to wait). `minute_window` shortens
  the minute for tests; `rate_limit_next()` forces the error regardless of points.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from .server import FakeServer, RecordedRequest, Response, route

__all__ = ["FakeCallGear", "CALL_FIELDS"]

CALL_FIELDS = [
    "id", "communication_id", "start_time", "finish_time", "direction", "source", "finish_reason", "is_lost",
    "contact_phone_number", "virtual_phone_number", "wait_duration", "talk_duration", "clean_talk_duration",
    "total_duration", "call_records", "full_record_file_link", "employees", "last_answered_employee_id",
    "tags", "site_id", "campaign_id", "campaign_name", "utm_source", "utm_medium", "utm_campaign", "utm_content",
    "utm_term", "gclid", "yclid", "referrer", "visitor_id", "person_id", "ext_id",
]
_PARAMS = {"access_token", "date_from", "date_till", "limit", "offset", "fields", "filter", "sort",
           "include_ongoing_calls", "user_id"}
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def _add_months(dt: datetime, months: int) -> datetime:
    month = dt.month - 1 + months
    year, month = dt.year + month // 12, month % 12 + 1
    for day in (dt.day, 30, 29, 28):
        try:
            return dt.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError(dt)


class _RpcError(Exception):
    def __init__(self, code: int, message: str, mnemonic: str, **data):
        super().__init__(message)
        self.code, self.message, self.data = code, message, {"mnemonic": mnemonic, **data}


class FakeCallGear(FakeServer):
    def __init__(self, access_token: str = "cg-token", *, day_limit: int = 10_000, minute_limit: int = 100,
                 minute_window: float = 60.0):
        super().__init__()
        self.access_token = access_token
        self.calls: dict[int, dict] = {}
        self.day_limit, self.minute_limit, self.minute_window = day_limit, minute_limit, minute_window
        self.day_used = 0
        self._minute_started, self._minute_used = time.monotonic(), 0
        self._forced: list[tuple[str, int]] = []  # (limit_type, reset seconds) for rate_limit_next
        self._next_id = 5_000_001

    @property
    def api_url(self) -> str:
        """The endpoint as CallGear documents it: <base>/v2.0."""
        return f"{self.url}/v2.0"

    # ------------------------------------------------------------------ helpers for tests
    def add_call(self, *, id: int | None = None, start_time: str = "2024-01-01 10:00:00", is_lost: bool = False,
                 total_duration: int = 110, talk_duration: int | None = None, **fields) -> dict:
        """Store a call session with every report field filled realistically; `fields` override any of them."""
        with self.lock:
            if id is None:
                id = self._next_id
                self._next_id += 1
            start = datetime.strptime(start_time, _DATE_FORMAT)
            talk = (0 if is_lost else max(0, total_duration - 15)) if talk_duration is None else talk_duration
            communication_id = fields.pop("communication_id", id + 10_000_000)
            record = None if is_lost else uuid.uuid4().hex[:16]
            call = {
                "id": id, "communication_id": communication_id, "start_time": start_time,
                "finish_time": (start + timedelta(seconds=total_duration)).strftime(_DATE_FORMAT),
                "direction": "in", "source": "call_tracking",
                "finish_reason": "no_operation" if is_lost else "subscriber_disconnects", "is_lost": is_lost,
                "contact_phone_number": "971501234567", "virtual_phone_number": "97145550000",
                "wait_duration": total_duration - talk, "talk_duration": talk,
                "clean_talk_duration": max(0, talk - 5), "total_duration": total_duration,
                "call_records": [record] if record else [],
                "full_record_file_link": (f"https://app.callgear.com/system/media/talk/{communication_id}/{record}/"
                                          if record else None),
                "employees": [{"employee_id": 7, "employee_full_name": "Agent A", "is_answered": not is_lost}],
                "last_answered_employee_id": None if is_lost else 7, "tags": [], "site_id": None,
                "campaign_id": None, "campaign_name": None, "utm_source": None, "utm_medium": None,
                "utm_campaign": None, "utm_content": None, "utm_term": None, "gclid": None, "yclid": None,
                "referrer": None, "visitor_id": None, "person_id": None, "ext_id": None,
            }
            unknown = set(fields) - set(CALL_FIELDS)
            if unknown:
                raise KeyError(f"not a get.calls_report field: {sorted(unknown)}")
            call.update(fields)
            self.calls[id] = call
            return call

    def rate_limit_next(self, times: int = 1, limit_type: str = "minute", reset: int = 1) -> None:
        """Answer the next `times` calls with -32029 limit_exceeded, `<limit_type>_reset` = reset seconds."""
        with self.lock:
            self._forced.extend([(limit_type, reset)] * times)

    def limits(self) -> dict:
        """The current `metadata.limits` block."""
        now = time.monotonic()
        if now - self._minute_started >= self.minute_window:
            self._minute_started, self._minute_used = now, 0
        midnight = (datetime.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1))
        return {"day_limit": self.day_limit, "day_remaining": max(0, self.day_limit - self.day_used),
                "day_reset": int((midnight - datetime.now()).total_seconds()),
                "minute_limit": self.minute_limit,
                "minute_remaining": max(0, self.minute_limit - self._minute_used),
                "minute_reset": max(1, math.ceil(self._minute_started + self.minute_window - now))}

    # ------------------------------------------------------------------ JSON-RPC endpoint
    def not_found(self, req: RecordedRequest) -> Response:
        return Response(404, "Not Found")

    def error_body(self, status: int) -> Any:
        return "<html><body><h1>%d</h1></body></html>" % status

    @route("POST", r"/(?:v2\.0/?)?")
    def rpc(self, req: RecordedRequest) -> Response:
        request_id = None
        try:
            try:
                envelope = json.loads(req.body)
            except ValueError:
                raise _RpcError(-32700, "Invalid JSON was received by the server.", "parse_error")
            if isinstance(envelope, list):
                raise _RpcError(-32099, "Batch operations not supported", "batch_operations_not_supported")
            if not isinstance(envelope, dict) or envelope.get("jsonrpc") != "2.0" or "method" not in envelope:
                raise _RpcError(-32600, "Invalid Request The JSON sent is not a valid Request object",
                                "invalid_request")
            if "id" not in envelope:
                raise _RpcError(-32099, "Notifications not supported", "notifications_not_supported")
            request_id = envelope["id"]
            if envelope["method"] != "get.calls_report":
                raise _RpcError(-32601, "The method does not exist / is not available", "method_not_found")
            result = self._calls_report(envelope.get("params") or {})
            return Response(200, {"jsonrpc": "2.0", "id": request_id, "result": result})
        except _RpcError as err:
            err.data.setdefault("metadata", {"limits": self.limits()})
            return Response(200, {"jsonrpc": "2.0", "id": request_id,
                                  "error": {"code": err.code, "message": err.message, "data": err.data}})

    def _calls_report(self, params: dict) -> dict:
        unexpected = set(params) - _PARAMS
        if unexpected:
            raise _RpcError(-32602, "Unexpected method parameter(s)", "unexpected_parameters",
                            field=sorted(unexpected)[0])
        if params.get("access_token") != self.access_token:
            raise _RpcError(-32001, "Access token is invalid", "access_token_invalid")
        limits = self.limits()
        if self._forced:
            limit_type, reset = self._forced.pop(0)
            limits.update({f"{limit_type}_remaining": 0, f"{limit_type}_reset": reset})
            self._raise_limit(limit_type, limits)
        if limits["day_remaining"] <= 0:
            self._raise_limit("day", limits)
        if limits["minute_remaining"] <= 0:
            self._raise_limit("minute", limits)

        for name in ("date_from", "date_till"):
            if name not in params:
                raise _RpcError(-32602, "The required parameter has been missed", "required_parameter_missed",
                                field=name)
        try:
            date_from = datetime.strptime(str(params["date_from"]), _DATE_FORMAT)
            date_till = datetime.strptime(str(params["date_till"]), _DATE_FORMAT)
        except ValueError:
            bad = "date_from" if not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", str(params["date_from"])) \
                else "date_till"
            raise _RpcError(-32602, "Invalid parameter value", "invalid_parameter_value", field=bad,
                            value=str(params[bad]))
        if date_till > _add_months(date_from, 3):
            raise _RpcError(-32602, "Max value of requested date interval is 3 months", "date_interval_limit_reached")
        limit, offset = params.get("limit", 1000), params.get("offset", 0)
        for name, value, top in (("limit", limit, 10_000), ("offset", offset, 100_000)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > top:
                raise _RpcError(-32602, "Invalid parameter value", "invalid_parameter_value", field=name,
                                value=str(value))
        fields = params.get("fields") or CALL_FIELDS
        bad_fields = [f for f in fields if f not in CALL_FIELDS]
        if bad_fields:
            raise _RpcError(-32602, "Unexpected method parameter(s)", "unexpected_parameters",
                            field=f"fields.{bad_fields[0]}")

        rows = [c for c in self.calls.values()
                if date_from <= datetime.strptime(c["start_time"], _DATE_FORMAT) <= date_till]
        if params.get("filter"):
            rows = [c for c in rows if self._filter(c, params["filter"])]
        rows.sort(key=lambda c: (c["start_time"], c["id"]))
        for sort in reversed(params.get("sort") or []):
            if sort.get("field") not in CALL_FIELDS:
                raise _RpcError(-32602, "Sort by parameter is prohibited", "sort_prohibited", field=sort.get("field"))
            rows.sort(key=lambda c, f=sort["field"]: (c[f] is None, c[f] if c[f] is not None else 0),
                      reverse=sort.get("order", "asc") == "desc")

        self.day_used += 1
        self._minute_used += 1
        data = [{f: row[f] for f in fields} for row in rows[offset:offset + limit]]
        return {"data": data, "metadata": {"total_items": len(rows), "limits": self.limits()}}

    def _raise_limit(self, limit_type: str, limits: dict):
        maximum = limits[f"{limit_type}_limit"]
        raise _RpcError(-32029, f"Limit per {limit_type} has been exceeded. Value of current limit per "
                                f"{limit_type} is {maximum}", "limit_exceeded",
                        params={"limit_type": limit_type, "limit_max_value": maximum}, metadata={"limits": limits})

    def _filter(self, call: dict, flt: dict) -> bool:
        if "filters" in flt:
            results = [self._filter(call, f) for f in flt["filters"]]
            return all(results) if flt.get("condition", "and") == "and" else any(results)
        field, op, value = flt.get("field"), flt.get("operator"), flt.get("value")
        if field not in CALL_FIELDS:
            raise _RpcError(-32602, "Filter by parameter is prohibited", "filter_prohibited", field=field)
        have = call[field]
        if op == "=":
            return have == value
        if op == "!=":
            return have != value
        if op == "in":
            return have in (value or [])
        if op == "like":
            pattern = "^" + ".*".join(map(re.escape, str(value).split("%"))) + "$"
            return have is not None and re.match(pattern, str(have)) is not None
        if op not in ("<", ">", "<=", ">="):
            raise _RpcError(-32602, "Invalid parameter value", "invalid_parameter_value", field="filter.operator",
                            value=str(op))
        if have is None or value is None:
            return False
        return {"<": have < value, ">": have > value, "<=": have <= value, ">=": have >= value}[op]
