"""The HubSpot pull sync: owners and pipelines, then contacts, deals, calls and meetings — a full
backfill with paging the first time, then incremental by hs_lastmodifieddate windows. The cursor in
SyncState("hubspot") is saved after every page, so an interrupted run resumes where it stopped."""

from __future__ import annotations

from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.owners import ApiException as OwnersApiException
from hubspot.crm.pipelines import ApiException as PipelinesApiException
from urllib3.exceptions import MaxRetryError

from clients import services
from clients.integrations import hubspot as hubspot_api
from ptd.models import CredentialKind, Workspace
from ptd.sync import SyncFailed, cursor_save, progress, require_credential, sync_run

API_ERRORS = (ObjectsApiException, OwnersApiException, PipelinesApiException)  # one class per SDK module
OBJECT_TYPES = ["contacts", "deals", "calls", "meetings"]  # contacts first: the others point at them
OVERLAP_MS = 60_000  # re-read a minute before the cursor: HubSpot's search index lags writes
UPSERTS = {
    "contacts": services.contacts_upsert_from_hubspot,
    "deals": services.deals_upsert_from_hubspot,
    "calls": services.calls_upsert_from_hubspot,
    "meetings": services.meetings_upsert_from_hubspot,
}


def hubspot_sync(*, workspace: Workspace, full: bool = False) -> dict[str, int]:
    token = require_credential(workspace=workspace, kind=CredentialKind.HUBSPOT_ACCESS_TOKEN,
                               what="HubSpot access token")
    api = hubspot_api.client(token)
    counts = dict.fromkeys(["owners", "stages", *OBJECT_TYPES], 0)
    with sync_run(workspace=workspace, source="hubspot") as state:
        try:
            counts["owners"] = services.staff_upsert_from_hubspot(workspace=workspace, owners=hubspot_api.owners(api))
            counts["stages"] = services.pipeline_stages_upsert(workspace=workspace,
                                                               pipelines=hubspot_api.deal_pipelines(api))
            stage_ids = services.pipeline_stage_ids(workspace)
            cursor = dict(state.cursor or {})
            for object_type in OBJECT_TYPES:
                props = hubspot_api.object_properties(object_type, stage_ids)
                counts[object_type] = _sync_type(api, workspace, state, cursor, object_type, props, full)
        except API_ERRORS as exc:
            if exc.status in (401, 403):
                raise SyncFailed(f"HubSpot rejected the access token ({exc.status}): check HUBSPOT_ACCESS_TOKEN "
                                 "and the private app's scopes") from exc
            raise SyncFailed(f"HubSpot answered {exc.status}: {(exc.body or exc.reason or '')[:200]}") from exc
        except MaxRetryError as exc:
            raise SyncFailed(f"HubSpot kept refusing after retries ({exc.reason}); the next run resumes") from exc
    return counts


def _sync_type(api, workspace, state, cursor: dict, object_type: str, props: list[str], full: bool) -> int:
    upsert = UPSERTS[object_type]
    mine = dict(cursor.get(object_type) or {})
    done = 0
    bar = progress(None, f"HubSpot {object_type}")
    if full or not mine.get("backfilled"):
        newest = mine.get("newest_ms", 0)
        for objects, after in hubspot_api.pages(api, object_type, props, None if full else mine.get("after")):
            upsert(workspace=workspace, objects=objects)
            newest = max([newest, *(hubspot_api.modified_ms(o) for o in objects)])
            mine = {"after": after, "newest_ms": newest}
            cursor[object_type] = mine
            cursor_save(state=state, cursor=cursor, records=len(objects))
            done += len(objects)
            bar.update(len(objects))
        mine = {"backfilled": True, "since_ms": newest}
    else:
        since = max(0, mine.get("since_ms", 0) - OVERLAP_MS)
        for objects in hubspot_api.modified_since(api, object_type, props, since):
            upsert(workspace=workspace, objects=objects)
            mine["since_ms"] = max([mine.get("since_ms", 0), *(hubspot_api.modified_ms(o) for o in objects)])
            cursor[object_type] = mine
            cursor_save(state=state, cursor=cursor, records=len(objects))
            done += len(objects)
            bar.update(len(objects))
    cursor[object_type] = mine
    cursor_save(state=state, cursor=cursor)
    bar.close()
    return done
