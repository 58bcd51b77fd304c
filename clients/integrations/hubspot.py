"""HubSpot CRM through hubspot-api-client (HTTP only, no ORM). The base URL comes from HUBSPOT_API_BASE
so tests and staging use the same code path; 429s are retried honouring Retry-After."""

from __future__ import annotations

import os
from collections.abc import Iterator

from hubspot import HubSpot
from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest
from urllib3.util.retry import Retry

DEFAULT_BASE = "https://api.hubapi.com"
SEARCH_PAGE = 200
SEARCH_RESULT_CAP = 10_000  # HubSpot refuses to page a search past 10,000 results

CONTACT_PROPERTIES = [
    "email", "phone", "mobilephone", "firstname", "lastname", "lifecyclestage", "createdate", "lastmodifieddate",
    "hs_lastmodifieddate", "hubspot_owner_id", "assigned_coach", "hs_analytics_source", "utm_source", "utm_medium",
    "utm_campaign", "utm_content", "utm_term", "fbclid", "fbc", "fb_campaign_id", "fb_adset_id", "fb_ad_id",
]
DEAL_PROPERTIES = [
    "dealname", "amount", "dealstage", "pipeline", "closedate", "createdate", "hs_lastmodifieddate",
    "hubspot_owner_id", "closed_lost_reason", "cash_collected",
]
CALL_PROPERTIES = [
    "hs_timestamp", "hs_call_direction", "hs_call_status", "hs_call_duration", "hs_call_to_number",
    "hs_call_from_number", "hs_call_recording_url", "hubspot_owner_id", "hs_lastmodifieddate", "hs_createdate",
]
MEETING_PROPERTIES = [
    "hs_meeting_title", "hs_meeting_start_time", "hs_meeting_outcome", "hubspot_owner_id", "hs_lastmodifieddate",
    "hs_createdate", "hs_activity_type",
]
PROPERTIES = {"contacts": CONTACT_PROPERTIES, "deals": DEAL_PROPERTIES, "calls": CALL_PROPERTIES,
              "meetings": MEETING_PROPERTIES}
ASSOCIATIONS = {"contacts": [], "deals": ["contacts"], "calls": ["contacts"], "meetings": ["contacts"]}


RETRIES = 5


def client(access_token: str) -> HubSpot:
    retry = Retry(total=RETRIES, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None,
                  respect_retry_after_header=True, backoff_factor=0.5)
    return HubSpot(access_token=access_token, host=os.environ.get("HUBSPOT_API_BASE", DEFAULT_BASE), retry=retry)


def object_properties(object_type: str, pipeline_stage_ids: list[str] = ()) -> list[str]:
    props = list(PROPERTIES[object_type])
    if object_type == "deals":  # when the deal entered each stage (stage history)
        props += [f"hs_date_entered_{stage_id}" for stage_id in pipeline_stage_ids]
    return props


def _as_dict(obj) -> dict:
    data = obj.to_dict()
    associations = {}
    for kind, assoc in (data.get("associations") or {}).items():
        associations[kind] = [str(r["id"]) for r in (assoc or {}).get("results") or []]
    return {"id": str(data["id"]), "properties": data.get("properties") or {}, "associations": associations,
            "archived": bool(data.get("archived"))}


def pages(api: HubSpot, object_type: str, properties: list[str], after: str | None = None
          ) -> Iterator[tuple[list[dict], str | None]]:
    """Full listing: (objects, next cursor) per page until HubSpot stops giving a next cursor."""
    while True:
        page = api.crm.objects.basic_api.get_page(object_type, limit=100, after=after, properties=properties,
                                                  associations=ASSOCIATIONS[object_type] or None, archived=False)
        after = page.paging.next.after if page.paging and page.paging.next else None
        yield [_as_dict(o) for o in page.results], after
        if not after:
            return


def modified_since(api: HubSpot, object_type: str, properties: list[str], since_ms: int
                   ) -> Iterator[list[dict]]:
    """Objects modified at or after `since_ms`, oldest first. A search stops at 10,000 results, so walk
    windows: when a window fills, start the next one at the last modification time seen."""
    limit = min(SEARCH_PAGE, SEARCH_RESULT_CAP)
    while True:
        after = 0
        last_seen = since_ms
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=[Filter(property_name="hs_lastmodifieddate", operator="GTE",
                                                           value=str(since_ms))])],
                sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                properties=properties, limit=limit, after=str(after),
            )
            page = api.crm.objects.search_api.do_search(object_type, public_object_search_request=request)
            objects = [_as_dict(o) for o in page.results]
            if objects:
                yield objects
                last_seen = max(last_seen, *(modified_ms(o) for o in objects))
            nxt = page.paging.next.after if page.paging and page.paging.next else None
            if not nxt:
                return
            after = int(nxt)
            if after + limit > SEARCH_RESULT_CAP:
                break  # this window is full: continue from the newest modification seen
        if last_seen == since_ms:
            return  # 10,000 objects share one timestamp: nothing more can be paged
        since_ms = last_seen


def modified_ms(obj: dict) -> int:
    props = obj["properties"]
    value = props.get("hs_lastmodifieddate") or props.get("lastmodifieddate")
    return iso_to_ms(value) if value else 0


def iso_to_ms(value: str) -> int:
    from datetime import datetime

    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def get_object(api: HubSpot, object_type: str, object_id: str, properties: list[str]) -> dict | None:
    from hubspot.crm.objects import ApiException

    try:
        obj = api.crm.objects.basic_api.get_by_id(object_type, object_id, properties=properties,
                                                  associations=ASSOCIATIONS[object_type] or None)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return _as_dict(obj)


def owners(api: HubSpot) -> list[dict]:
    result, after = [], None
    while True:
        page = api.crm.owners.owners_api.get_page(limit=100, after=after)
        result += [o.to_dict() for o in page.results]
        after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            return result


def deal_pipelines(api: HubSpot) -> list[dict]:
    return [p.to_dict() for p in api.crm.pipelines.pipelines_api.get_all(object_type="deals").results]
