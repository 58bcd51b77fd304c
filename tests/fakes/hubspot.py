"""A loopback fake of the HubSpot CRM API, as called by hubspot-api-client 12.0.0.

    with FakeHubSpot(token="pat-test") as hs:
        hs.add_contact(email="a@example.com", firstname="Ann", phone="+971501234567")
        api = HubSpot(access_token="pat-test", host=hs.url, retry=Retry(...))
        api.crm.contacts.basic_api.get_page(limit=100, properties=["email"])

Wire format (integrations.md §2.4 and the SDK's models):
- Objects are `{"id": "<digits>", "properties": {name: str|None}, "createdAt", "updatedAt", "archived"}`; every
  property value is a string, and datetime properties (`createdate`, `hs_lastmodifieddate`, ...) are ISO-8601
  UTC strings with milliseconds, as the real API returns them. Helpers accept datetimes, epoch-ms ints or
  ISO strings. Search filters accept epoch-ms strings or ISO strings for datetime properties.
- Contacts carry both `lastmodifieddate` and `hs_lastmodifieddate`; calls and meetings use `hs_createdate`.
- List paging: `paging.next.after` until absent (limit ≤ 100, clamped: the real maximum is UNCONFIRMED).
- Search: ≤ 200 per page, ≤ 5 filter groups of ≤ 6 filters (≤ 18 in all); paging where `after + limit`
  passes `search_result_cap` (10,000, like HubSpot) answers 400 VALIDATION_ERROR. The exact message text
  of that error is approximated.
- `Authorization: Bearer <token>` is required; otherwise 401 INVALID_AUTHENTICATION.
- `fail_next(status=429)` / `rate_limit_next()` answer with HubSpot's RATE_LIMIT body and `Retry-After`.
- Responses other than search carry the (widely observed, officially UNCONFIRMED) `X-HubSpot-RateLimit-*`
  headers.

- Batch update (`POST /crm/v3/objects/{type}/batch/update`, ≤ 100 inputs by record id) answers 200, or 207 naming
  the ids it could not find. Whether the real API answers a missing id with a 207 or fails the whole batch is
  UNCONFIRMED.

Recorded state for assertions: `hs.objects[type][id]`, `hs.upserts[type]` (every batch/upsert input, in
order), `hs.updates[type]` (every batch/update input, in order), `hs.requests` (from FakeServer).
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from .server import FakeServer, RecordedRequest, Response, json_body, route

__all__ = ["FakeHubSpot", "to_ms", "to_iso"]

OBJECT_TYPES = ("contacts", "deals", "calls", "meetings", "companies")
_ALIASES = {
    "contact": "contacts", "0-1": "contacts", "deal": "deals", "0-3": "deals", "call": "calls", "0-48": "calls",
    "meeting": "meetings", "0-47": "meetings", "company": "companies", "0-2": "companies",
}
_SINGULAR = {"contacts": "contact", "deals": "deal", "calls": "call", "meetings": "meeting", "companies": "company"}
_CREATED_PROP = {"contacts": "createdate", "deals": "createdate", "companies": "createdate",
                 "calls": "hs_createdate", "meetings": "hs_createdate"}
_DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"],
    "calls": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "meetings": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
}
_DATETIME_PROPS = {"createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate", "closedate",
                   "hs_timestamp", "hs_meeting_start_time", "hs_meeting_end_time", "notes_last_updated",
                   "hs_lastactivitydate"}
# HUBSPOT_DEFINED association type ids (from, to) -> typeId. The ones integrations.md marks UNCONFIRMED are
# HubSpot's published defaults; code should read them from /crm/v4/associations/{from}/{to}/labels.
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
    ("calls", "contacts"): 194, ("contacts", "calls"): 193,
    ("meetings", "contacts"): 200, ("contacts", "meetings"): 199,
    ("calls", "deals"): 206, ("deals", "calls"): 205,
    ("meetings", "deals"): 212, ("deals", "meetings"): 211,
}
DEFAULT_DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    ("contractsent", "Contract Sent", "0.9", False),
    ("closedwon", "Closed Won", "1.0", True),
    ("closedlost", "Closed Lost", "0.0", True),
]
_RATE_LIMIT_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def to_ms(value: Any) -> int:
    """datetime / epoch-ms int or digit string / ISO-8601 string -> epoch milliseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00Z"
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def to_iso(ms: int) -> str:
    """Epoch milliseconds -> HubSpot's ISO form, e.g. 2024-01-01T10:00:00.123Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _error(status: int, message: str, category: str, **extra) -> Response:
    return Response(status, {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                             "category": category, **extra})


def _listify(values: list[str] | None) -> list[str]:
    """Query values given repeated (`properties=a&properties=b`, the SDK's way) or comma-separated."""
    out = []
    for value in values or []:
        out.extend(v for v in value.split(",") if v)
    return out


class FakeHubSpot(FakeServer):
    def __init__(self, token: str = "pat-test", *, search_result_cap: int = 10_000,
                 default_pipeline: bool = True):
        super().__init__()
        self.token = token
        self.search_result_cap = search_result_cap
        self.objects: dict[str, dict[str, dict]] = {t: {} for t in OBJECT_TYPES}
        self.associations: dict[tuple[str, str], dict[str, dict[str, list[dict]]]] = {}
        self.owners: dict[str, dict] = {}
        self.pipelines: dict[str, dict[str, dict]] = {"deals": {}}
        self.upserts: dict[str, list[dict]] = {t: [] for t in OBJECT_TYPES}
        self.updates: dict[str, list[dict]] = {t: [] for t in OBJECT_TYPES}
        self.upsert_rejects: dict[str, str] = {}  # idProperty value -> error message (gives a 207)
        self._next_id = 1001
        self._last_ms = 0
        if default_pipeline:
            self.add_pipeline("default", "Sales Pipeline", DEFAULT_DEAL_STAGES)

    # ------------------------------------------------------------------ helpers for tests
    def _now_ms(self, value: Any = None) -> int:
        """Given value as ms, or 'now' made strictly increasing so consecutive updates sort in order."""
        if value is not None:
            return to_ms(value)
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def add(self, object_type: str, properties: dict | None = None, *, id: str | int | None = None,
            created: Any = None, updated: Any = None, archived: bool = False) -> dict:
        """Store an object; returns the stored dict (id, properties, createdAt, updatedAt, archived)."""
        object_type = self._type(object_type)
        with self.lock:
            if id is None:
                id = self._next_id
                self._next_id += 1
            id = str(id)
            created_ms = to_ms(created) if created is not None else self._now_ms(updated)
            updated_ms = to_ms(updated) if updated is not None else created_ms
            props = {k: (None if v is None else str(v)) for k, v in (properties or {}).items()}
            props.update({"hs_object_id": id, _CREATED_PROP[object_type]: to_iso(created_ms)})
            obj = {"id": id, "properties": props, "createdAt": to_iso(created_ms), "archived": False}
            self._touch(object_type, obj, updated_ms)
            self.objects[object_type][id] = obj
            if archived:
                self.archive(object_type, id)
            return obj

    def add_contact(self, *, id=None, created=None, updated=None, archived=False, **properties) -> dict:
        return self.add("contacts", properties, id=id, created=created, updated=updated, archived=archived)

    def add_deal(self, *, id=None, created=None, updated=None, archived=False, **properties) -> dict:
        properties.setdefault("pipeline", "default")
        properties.setdefault("dealstage", "appointmentscheduled")
        return self.add("deals", properties, id=id, created=created, updated=updated, archived=archived)

    def add_call(self, *, id=None, created=None, updated=None, archived=False, **properties) -> dict:
        return self.add("calls", properties, id=id, created=created, updated=updated, archived=archived)

    def add_meeting(self, *, id=None, created=None, updated=None, archived=False, **properties) -> dict:
        return self.add("meetings", properties, id=id, created=created, updated=updated, archived=archived)

    def update(self, object_type: str, id: str | int, properties: dict | None = None, *, updated: Any = None) -> dict:
        """Change properties and bump updatedAt / hs_lastmodifieddate (to `updated`, default now)."""
        object_type = self._type(object_type)
        with self.lock:
            obj = self.objects[object_type][str(id)]
            obj["properties"].update({k: (None if v is None else str(v)) for k, v in (properties or {}).items()})
            self._touch(object_type, obj, self._now_ms(updated))
            return obj

    def archive(self, object_type: str, id: str | int, *, when: Any = None) -> dict:
        object_type = self._type(object_type)
        with self.lock:
            obj = self.objects[object_type][str(id)]
            ms = self._now_ms(when)
            obj.update(archived=True, archivedAt=to_iso(ms))
            self._touch(object_type, obj, ms)
            return obj

    def get(self, object_type: str, id: str | int) -> dict:
        return self.objects[self._type(object_type)][str(id)]

    def associate(self, from_type: str, from_id: str | int, to_type: str, to_id: str | int, *,
                  type_id: int | None = None, label: str | None = None, category: str = "HUBSPOT_DEFINED",
                  both_ways: bool = True) -> None:
        """Associate two objects (by default in both directions, with HubSpot's default type ids)."""
        from_type, to_type = self._type(from_type), self._type(to_type)
        pairs = [(from_type, str(from_id), to_type, str(to_id), type_id)]
        if both_ways:
            pairs.append((to_type, str(to_id), from_type, str(from_id), None))
        with self.lock:
            for ft, fid, tt, tid, tid_type in pairs:
                spec = {"category": category,
                        "typeId": tid_type or ASSOCIATION_TYPE_IDS.get((ft, tt), 1),
                        "label": label}
                specs = self.associations.setdefault((ft, fid), {}).setdefault(tt, {}).setdefault(tid, [])
                if spec not in specs:
                    specs.append(spec)

    def add_owner(self, email: str, first_name: str = "", last_name: str = "", *, id: str | int | None = None,
                  user_id: int | None = None, archived: bool = False, teams: list[dict] | None = None) -> dict:
        with self.lock:
            if id is None:
                id = 70000000 + len(self.owners) + 1
            now = to_iso(self._now_ms())
            owner = {"id": str(id), "email": email, "firstName": first_name, "lastName": last_name,
                     "userId": user_id if user_id is not None else int(id) + 1000,
                     "userIdIncludingInactive": user_id if user_id is not None else int(id) + 1000,
                     "createdAt": now, "updatedAt": now, "archived": archived, "teams": teams or [],
                     "type": "PERSON"}
            self.owners[str(id)] = owner
            return owner

    def add_pipeline(self, pipeline_id: str, label: str, stages: list, *, object_type: str = "deals",
                     display_order: int | None = None) -> dict:
        """stages: (id, label, probability, is_closed) tuples or ready stage dicts. Stage ids are strings."""
        now = to_iso(self._now_ms())
        out = []
        for order, stage in enumerate(stages):
            if not isinstance(stage, dict):
                sid, slabel, probability, closed = stage
                stage = {"id": str(sid), "label": slabel, "displayOrder": order,
                         "metadata": {"isClosed": "true" if closed else "false", "probability": str(probability)},
                         "createdAt": now, "updatedAt": now, "archived": False,
                         "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
            out.append(stage)
        pipelines = self.pipelines.setdefault(object_type, {})
        pipeline = {"id": str(pipeline_id), "label": label,
                    "displayOrder": len(pipelines) if display_order is None else display_order,
                    "stages": out, "createdAt": now, "updatedAt": now, "archived": False}
        pipelines[str(pipeline_id)] = pipeline
        return pipeline

    def reject_upsert(self, id_value: str, message: str = "Property values were not valid") -> None:
        """Make batch/upsert report an error for this idProperty value (the response becomes 207)."""
        self.upsert_rejects[id_value.lower()] = message

    def rate_limit_next(self, times: int = 1, retry_after: int | None = 1, policy: str = "TEN_SECONDLY_ROLLING",
                        path_prefix: str | None = None):
        """Queue HubSpot 429s with the given policyName (TEN_SECONDLY_ROLLING, SECONDLY, DAILY)."""
        body = {"status": "error", "message": _RATE_LIMIT_MESSAGES.get(policy, "You have reached your limit."),
                "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": policy}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return self.fail_next(429, headers, body, times=times, path_prefix=path_prefix)

    # ------------------------------------------------------------------ FakeServer hooks
    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"status": "error", "message": _RATE_LIMIT_MESSAGES["TEN_SECONDLY_ROLLING"],
                    "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": "TEN_SECONDLY_ROLLING"}
        category = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
                    404: "OBJECT_NOT_FOUND"}.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
        return {"status": "error", "message": f"HTTP {status}", "correlationId": str(uuid.uuid4()),
                "category": category}

    def authenticate(self, req: RecordedRequest) -> Response | None:
        auth = req.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            return _error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                               "and you can find more details at "
                               "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                          "INVALID_AUTHENTICATION")
        return None

    def not_found(self, req: RecordedRequest) -> Response:
        return Response(404, {"status": "error", "message": f"Unable to route {req.method} {req.path}",
                              "correlationId": str(uuid.uuid4()), "category": "OBJECT_NOT_FOUND"})

    def response_headers(self, req: RecordedRequest) -> dict[str, str]:
        if req.path.endswith("/search"):
            return {}
        recent = sum(1 for r in self.requests if r.at > req.at - 10)
        return {"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": str(max(0, 190 - recent)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Daily": "1000000",
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, 1_000_000 - len(self.requests)))}

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _type(name: str) -> str:
        name = _ALIASES.get(name.lower(), name.lower())
        if name not in OBJECT_TYPES:
            raise KeyError(f"FakeHubSpot does not hold {name!r} objects")
        return name

    @staticmethod
    def _touch(object_type: str, obj: dict, ms: int) -> None:
        obj["updatedAt"] = to_iso(ms)
        obj["properties"]["hs_lastmodifieddate"] = to_iso(ms)
        if object_type == "contacts":
            obj["properties"]["lastmodifieddate"] = to_iso(ms)

    def _known_type(self, name: str) -> str | None:
        try:
            return self._type(name)
        except KeyError:
            return None

    def _public(self, object_type: str, obj: dict, properties: list[str] | None,
                associations: list[str] | None = None, with_history: list[str] | None = None) -> dict:
        if properties:
            always = ["hs_object_id", _CREATED_PROP[object_type],
                      "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"]
            names = list(dict.fromkeys(properties + always))
        else:
            names = _DEFAULT_PROPS[object_type]
        out = {"id": obj["id"], "properties": {n: obj["properties"].get(n) for n in names},
               "createdAt": obj["createdAt"], "updatedAt": obj["updatedAt"], "archived": obj["archived"]}
        if obj.get("archivedAt"):
            out["archivedAt"] = obj["archivedAt"]
        if with_history:
            out["propertiesWithHistory"] = {
                n: [{"value": obj["properties"][n], "timestamp": obj["updatedAt"], "sourceType": "API"}]
                for n in with_history if obj["properties"].get(n) is not None}
        if associations:
            assoc = {}
            for to_name in associations:
                to_type = self._known_type(to_name)
                targets = self.associations.get((object_type, obj["id"]), {}).get(to_type or "", {})
                if targets:
                    kind = f"{_SINGULAR[object_type]}_to_{_SINGULAR[to_type]}"
                    assoc[to_name] = {"results": [{"id": tid, "type": kind} for tid in sorted(targets, key=int)]}
            if assoc:
                out["associations"] = assoc
        return out

    def _sorted(self, object_type: str, archived: bool) -> list[dict]:
        objs = [o for o in self.objects[object_type].values() if o["archived"] == archived]
        return sorted(objs, key=lambda o: int(o["id"]))

    def _batch(self, results: list[dict], errors: list[dict], started: int) -> Response:
        body = {"status": "COMPLETE", "results": results, "startedAt": to_iso(started),
                "completedAt": to_iso(int(time.time() * 1000))}
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        return Response(207 if errors else 200, body)

    def _unknown_type(self, object_type: str) -> Response:
        return _error(400, f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR")

    # ------------------------------------------------------------------ CRM objects v3
    @route("GET", r"/crm/v3/objects/(?P<object_type>[^/]+)")
    def list_objects(self, req: RecordedRequest, object_type: str) -> Response:
        otype = self._known_type(object_type)
        if otype is None:
            return self._unknown_type(object_type)
        try:
            limit = max(1, min(100, int(req.query.get("limit", 10))))
            after = int(req.query["after"]) if req.query.get("after") else None
        except ValueError:
            return _error(400, "Invalid input JSON on line 1, column 1: limit and after must be integers",
                          "VALIDATION_ERROR")
        objs = self._sorted(otype, req.query.get("archived", "false").lower() == "true")
        if after is not None:
            objs = [o for o in objs if int(o["id"]) >= after]
        page, rest = objs[:limit], objs[limit:]
        props = _listify(req.query_lists.get("properties"))
        body = {"results": [self._public(otype, o, props, _listify(req.query_lists.get("associations")),
                                         _listify(req.query_lists.get("propertiesWithHistory"))) for o in page]}
        if rest:
            nxt = rest[0]["id"]
            body["paging"] = {"next": {"after": nxt, "link": f"{self.url}/crm/v3/objects/{object_type}?after={nxt}"}}
        return Response(200, body)

    @route("GET", r"/crm/v3/objects/(?P<object_type>[^/]+)/(?P<object_id>[^/]+)")
    def get_object(self, req: RecordedRequest, object_type: str, object_id: str) -> Response:
        otype = self._known_type(object_type)
        if otype is None:
            return self._unknown_type(object_type)
        id_property = req.query.get("idProperty")
        archived = req.query.get("archived", "false").lower() == "true"
        obj = self._find(otype, object_id, id_property)
        if obj is None or obj["archived"] != archived:
            return Response(404, {"status": "error", "message": "Object not found.  objectId are usually numeric.",
                                  "correlationId": str(uuid.uuid4()), "context": {"id": [object_id]},
                                  "category": "OBJECT_NOT_FOUND"})
        return Response(200, self._public(otype, obj, _listify(req.query_lists.get("properties")),
                                          _listify(req.query_lists.get("associations")),
                                          _listify(req.query_lists.get("propertiesWithHistory"))))

    def _find(self, otype: str, value: str, id_property: str | None) -> dict | None:
        if not id_property or id_property == "hs_object_id":
            return self.objects[otype].get(str(value))
        value = str(value).lower()
        for obj in self.objects[otype].values():
            if (obj["properties"].get(id_property) or "").lower() == value:
                return obj
        return None

    @route("POST", r"/crm/v3/objects/(?P<object_type>[^/]+)/search")
    def search(self, req: RecordedRequest, object_type: str) -> Response:
        otype = self._known_type(object_type)
        if otype is None:
            return self._unknown_type(object_type)
        try:
            body = json_body(req) or {}
        except ValueError:
            return _error(400, "Invalid input JSON on line 1, column 1", "VALIDATION_ERROR")
        groups = body.get("filterGroups") or []
        try:
            limit, after = int(body.get("limit") or 10), int(body.get("after") or 0)
        except ValueError:
            return _error(400, "limit and after must be integers", "VALIDATION_ERROR")
        n_filters = [len(g.get("filters") or []) for g in groups]
        if limit > 200:
            return _error(400, "limit must be less than or equal to 200", "VALIDATION_ERROR")
        if len(groups) > 5 or any(n > 6 for n in n_filters) or sum(n_filters) > 18:
            return _error(400, "Too many filters: at most 5 filterGroups, 6 filters in each and 18 in total",
                          "VALIDATION_ERROR")
        if after + limit > self.search_result_cap:
            return _error(400, f"Paging past {self.search_result_cap} results is not supported for search: "
                               f"after={after}, limit={limit}. Narrow the query to page further.",
                          "VALIDATION_ERROR")
        try:
            matches = [o for o in self._sorted(otype, False)
                       if self._matches_query(o, body.get("query"))
                       and (not groups or any(all(self._match(o, f) for f in g.get("filters") or [])
                                              for g in groups))]
        except (KeyError, ValueError) as exc:
            return _error(400, f"Invalid filter: {exc}", "VALIDATION_ERROR")
        for sort in reversed(body.get("sorts") or []):
            if isinstance(sort, str):
                name, desc = sort.lstrip("-"), sort.startswith("-")
            else:
                name, desc = sort["propertyName"], sort.get("direction", "ASCENDING").upper() == "DESCENDING"
            matches.sort(key=lambda o, n=name: self._sort_key(n, o["properties"].get(n)), reverse=desc)
        page = matches[after:after + limit]
        out = {"total": len(matches),
               "results": [self._public(otype, o, list(body.get("properties") or [])) for o in page]}
        if after + limit < len(matches):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, out)

    @staticmethod
    def _sort_key(name: str, value: str | None):
        if value is None:
            return (1, 0, "")
        if name in _DATETIME_PROPS:
            return (0, to_ms(value), "")
        try:
            return (0, float(value), "")
        except ValueError:
            return (0, 0, value.lower())

    @staticmethod
    def _matches_query(obj: dict, query: str | None) -> bool:
        if not query:
            return True
        q = query.lower()
        return any(q in (v or "").lower() for k, v in obj["properties"].items() if k != "hs_object_id")

    def _match(self, obj: dict, flt: dict) -> bool:
        name, op = flt["propertyName"], flt["operator"].upper()
        have = obj["properties"].get(name)
        if op == "HAS_PROPERTY":
            return have not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return have in (None, "")
        if op in ("IN", "NOT_IN"):
            values = {str(v).lower() for v in flt.get("values") or []}
            return ((have or "").lower() in values) == (op == "IN")
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(flt.get("value", "")).lower().strip("*")
            return (token in (have or "").lower()) == (op == "CONTAINS_TOKEN")
        if have is None:
            return op == "NEQ"

        def key(v):
            if name in _DATETIME_PROPS:
                return to_ms(v)
            try:
                return float(v)
            except (TypeError, ValueError):
                return str(v).lower()

        left, right = key(have), key(flt.get("value"))
        if op == "BETWEEN":
            return right <= left <= key(flt.get("highValue"))
        return {"EQ": left == right, "NEQ": left != right, "LT": left < right, "LTE": left <= right,
                "GT": left > right, "GTE": left >= right}[op]

    @route("POST", r"/crm/v3/objects/(?P<object_type>[^/]+)/batch/read")
    def batch_read(self, req: RecordedRequest, object_type: str) -> Response:
        otype = self._known_type(object_type)
        if otype is None:
            return self._unknown_type(object_type)
        started = int(time.time() * 1000)
        body = json_body(req) or {}
        archived = req.query.get("archived", "false").lower() == "true"
        results, missing = [], []
        for item in body.get("inputs") or []:
            obj = self._find(otype, item["id"], body.get("idProperty"))
            if obj is None or obj["archived"] != archived:
                missing.append(str(item["id"]))
            else:
                results.append(self._public(otype, obj, list(body.get("properties") or []),
                                            with_history=list(body.get("propertiesWithHistory") or [])))
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                   "message": f"Could not get some {_SINGULAR[otype].upper()} objects, they may be deleted or not "
                              "exist. Check that ids are valid.",
                   "context": {"ids": missing}, "links": {}, "errors": []}] if missing else []
        return self._batch(results, errors, started)

    def _batch_write(self, req: RecordedRequest, object_type: str) -> tuple[str, int, list] | Response:
        """The object type, start time and inputs of a batch write, or the error HubSpot answers with."""
        otype = self._known_type(object_type)
        if otype is None:
            return self._unknown_type(object_type)
        inputs = (json_body(req) or {}).get("inputs") or []
        if len(inputs) > 100:
            return _error(400, "Batch size must be at most 100", "VALIDATION_ERROR")
        return otype, int(time.time() * 1000), inputs

    @route("POST", r"/crm/v3/objects/(?P<object_type>[^/]+)/batch/upsert")
    def batch_upsert(self, req: RecordedRequest, object_type: str) -> Response:
        if isinstance(batch := self._batch_write(req, object_type), Response):
            return batch
        otype, started, inputs = batch
        results, errors = [], []
        for item in inputs:
            self.upserts[otype].append(item)
            id_value, id_property = str(item.get("id", "")), item.get("idProperty") or "hs_object_id"
            if id_value.lower() in self.upsert_rejects:
                errors.append({"status": "error", "category": "VALIDATION_ERROR",
                               "message": self.upsert_rejects[id_value.lower()],
                               "context": {"ids": [id_value]}, "links": {}, "errors": []})
                continue
            obj = self._find(otype, id_value, id_property)
            props = dict(item.get("properties") or {})
            if obj is None:
                if id_property != "hs_object_id":
                    props.setdefault(id_property, id_value)
                obj = self.add(otype, props, id=id_value if id_property == "hs_object_id" else None)
                new = True
            else:
                self.update(otype, obj["id"], props)
                new = False
            results.append({**self._public(otype, obj, list(props)), "new": new})
        return self._batch(results, errors, started)

    @route("POST", r"/crm/v3/objects/(?P<object_type>[^/]+)/batch/update")
    def batch_update(self, req: RecordedRequest, object_type: str) -> Response:
        if isinstance(batch := self._batch_write(req, object_type), Response):
            return batch
        otype, started, inputs = batch
        results, missing = [], []
        for item in inputs:
            self.updates[otype].append(item)
            obj = self._find(otype, str(item.get("id", "")), item.get("idProperty"))
            if obj is None or obj["archived"]:
                missing.append(str(item.get("id", "")))
                continue
            props = dict(item.get("properties") or {})
            self.update(otype, obj["id"], props)
            results.append(self._public(otype, obj, list(props)))
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                   "message": f"Could not get some {_SINGULAR[otype].upper()} objects, they may be deleted or not "
                              "exist. Check that ids are valid.",
                   "context": {"ids": missing}, "links": {}, "errors": []}] if missing else []
        return self._batch(results, errors, started)

    # ------------------------------------------------------------------ owners and pipelines
    @route("GET", r"/crm/v3/owners/?")
    def list_owners(self, req: RecordedRequest) -> Response:
        archived = req.query.get("archived", "false").lower() == "true"
        owners = [o for o in self.owners.values() if o["archived"] == archived]
        if req.query.get("email"):
            owners = [o for o in owners if o["email"].lower() == req.query["email"].lower()]
        owners.sort(key=lambda o: int(o["id"]))
        limit = max(1, min(500, int(req.query.get("limit", 100))))
        start = int(req.query.get("after") or 0)
        body: dict[str, Any] = {"results": owners[start:start + limit]}
        if start + limit < len(owners):
            body["paging"] = {"next": {"after": str(start + limit),
                                       "link": f"{self.url}/crm/v3/owners/?after={start + limit}"}}
        return Response(200, body)

    @route("GET", r"/crm/v3/owners/(?P<owner_id>[^/]+)")
    def get_owner(self, req: RecordedRequest, owner_id: str) -> Response:
        key = "userId" if req.query.get("idProperty") == "userId" else "id"
        for owner in self.owners.values():
            if str(owner[key]) == owner_id:
                return Response(200, owner)
        return _error(404, f"Owner {owner_id} not found", "OBJECT_NOT_FOUND")

    @route("GET", r"/crm/v3/pipelines/(?P<object_type>[^/]+)")
    def list_pipelines(self, req: RecordedRequest, object_type: str) -> Response:
        pipelines = self.pipelines.get(self._known_type(object_type) or object_type, {})
        return Response(200, {"results": sorted(pipelines.values(), key=lambda p: p["displayOrder"])})

    @route("GET", r"/crm/v3/pipelines/(?P<object_type>[^/]+)/(?P<pipeline_id>[^/]+)")
    def get_pipeline(self, req: RecordedRequest, object_type: str, pipeline_id: str) -> Response:
        pipeline = self.pipelines.get(self._known_type(object_type) or object_type, {}).get(pipeline_id)
        if pipeline is None:
            return _error(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND")
        return Response(200, pipeline)

    # ------------------------------------------------------------------ associations v4
    def _targets(self, from_type: str, from_id: str, to_type: str) -> list[dict]:
        targets = self.associations.get((from_type, str(from_id)), {}).get(to_type, {})
        return [{"toObjectId": int(tid), "associationTypes": specs}
                for tid, specs in sorted(targets.items(), key=lambda kv: int(kv[0]))]

    @route("GET", r"/crm/v4/objects/(?P<from_type>[^/]+)/(?P<object_id>[^/]+)/associations/(?P<to_type>[^/]+)")
    def get_associations(self, req: RecordedRequest, from_type: str, object_id: str, to_type: str) -> Response:
        ft, tt = self._known_type(from_type), self._known_type(to_type)
        if ft is None or tt is None:
            return self._unknown_type(from_type if ft is None else to_type)
        rows = self._targets(ft, object_id, tt)
        limit = max(1, min(500, int(req.query.get("limit", 500))))
        start = int(req.query.get("after") or 0)
        body: dict[str, Any] = {"results": rows[start:start + limit]}
        if start + limit < len(rows):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return Response(200, body)

    @route("POST", r"/crm/v4/associations/(?P<from_type>[^/]+)/(?P<to_type>[^/]+)/batch/read")
    def batch_read_associations(self, req: RecordedRequest, from_type: str, to_type: str) -> Response:
        ft, tt = self._known_type(from_type), self._known_type(to_type)
        if ft is None or tt is None:
            return self._unknown_type(from_type if ft is None else to_type)
        started = int(time.time() * 1000)
        results, errors = [], []
        for item in (json_body(req) or {}).get("inputs") or []:
            rows = self._targets(ft, item["id"], tt)
            if rows:
                results.append({"from": {"id": str(item["id"])}, "to": rows})
            else:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                               "message": f"No {_SINGULAR[tt]} is associated with {_SINGULAR[ft]} {item['id']}.",
                               "context": {"fromObjectId": [str(item["id"])]}, "links": {}, "errors": []})
        return self._batch(results, errors, started)

    @route("GET", r"/crm/v4/associations/(?P<from_type>[^/]+)/(?P<to_type>[^/]+)/labels")
    def association_labels(self, req: RecordedRequest, from_type: str, to_type: str) -> Response:
        ft, tt = self._known_type(from_type), self._known_type(to_type)
        if ft is None or tt is None:
            return self._unknown_type(from_type if ft is None else to_type)
        results = [{"category": "HUBSPOT_DEFINED", "typeId": ASSOCIATION_TYPE_IDS[(ft, tt)], "label": None}] \
            if (ft, tt) in ASSOCIATION_TYPE_IDS else []
        return Response(200, {"results": results})
