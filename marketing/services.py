"""Writes of the marketing app: Meta ad structure and daily insights (set-based upserts), AnyTrack
attribution events with identity matching, and the identity backfill of attribution events.
Live topics ("ad_insights", "attribution") are published after commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from marketing.models import Ad, AdInsight, AdSet, AttributionEvent, Campaign
from ptd.identity import normalize_email, normalize_phone
from ptd.live import publish
from ptd.models import CredentialKind, Workspace

log = logging.getLogger(__name__)

BATCH = 1000
INSIGHT_METRICS = ["spend", "impressions", "reach", "clicks", "link_clicks", "leads", "purchases", "purchase_value",
                   "meta_roas", "cpc", "cpm", "ctr", "frequency"]


# --- Meta ad structure and daily insights --------------------------------------------------------


def _name(value: str, fallback: str) -> str:
    return (value or fallback)[:300]


@transaction.atomic
def ad_insights_upsert(*, workspace: Workspace, rows: Iterable[dict]) -> int:
    """Upsert parsed insight rows (marketing.integrations.meta_graph.parse_insight_row): campaigns, ad sets
    and ads by Meta id (names from the rows, the latest day's name winning), then AdInsight by (ad, date).
    Five statements per batch whatever its size; re-running the same rows changes nothing but synced_at."""
    rows = [r for r in rows if r.get("ad_id") and r.get("adset_id") and r.get("campaign_id")]
    if not rows:
        return 0
    rows.sort(key=lambda r: r["date"])  # the newest name is written last
    campaigns = {r["campaign_id"]: _name(r["campaign_name"], f"campaign {r['campaign_id']}") for r in rows}
    Campaign.objects.bulk_create(
        [Campaign(workspace=workspace, meta_id=meta_id, name=name) for meta_id, name in campaigns.items()],
        update_conflicts=True, unique_fields=["workspace", "meta_id"], update_fields=["name", "synced_at"],
        batch_size=BATCH,
    )
    campaign_pk = dict(Campaign.objects.filter(workspace=workspace, meta_id__in=campaigns).values_list("meta_id", "pk"))

    adsets = {r["adset_id"]: (_name(r["adset_name"], f"ad set {r['adset_id']}"), campaign_pk[r["campaign_id"]])
              for r in rows}
    AdSet.objects.bulk_create(
        [AdSet(workspace=workspace, meta_id=meta_id, name=name, campaign_id=campaign_id)
         for meta_id, (name, campaign_id) in adsets.items()],
        update_conflicts=True, unique_fields=["workspace", "meta_id"], update_fields=["name", "campaign", "synced_at"],
        batch_size=BATCH,
    )
    adset_pk = dict(AdSet.objects.filter(workspace=workspace, meta_id__in=adsets).values_list("meta_id", "pk"))

    ads = {r["ad_id"]: (_name(r["ad_name"], f"ad {r['ad_id']}"), adset_pk[r["adset_id"]], campaign_pk[r["campaign_id"]])
           for r in rows}
    Ad.objects.bulk_create(
        [Ad(workspace=workspace, meta_id=meta_id, name=name, adset_id=adset_id, campaign_id=campaign_id)
         for meta_id, (name, adset_id, campaign_id) in ads.items()],
        update_conflicts=True, unique_fields=["workspace", "meta_id"],
        update_fields=["name", "adset", "campaign", "synced_at"], batch_size=BATCH,
    )
    ad_pk = dict(Ad.objects.filter(workspace=workspace, meta_id__in=ads).values_list("meta_id", "pk"))

    # One statement may not touch a row twice: the last row per (ad, date) wins.
    insights = {}
    for r in rows:
        insights[(ad_pk[r["ad_id"]], r["date"])] = AdInsight(
            workspace=workspace, ad_id=ad_pk[r["ad_id"]], adset_id=adset_pk[r["adset_id"]],
            campaign_id=campaign_pk[r["campaign_id"]], date=r["date"], raw=r.get("raw") or {},
            **{field: r[field] for field in INSIGHT_METRICS},
        )
    AdInsight.objects.bulk_create(
        list(insights.values()), update_conflicts=True, unique_fields=["ad", "date"],
        update_fields=[*INSIGHT_METRICS, "adset", "campaign", "raw", "synced_at"], batch_size=BATCH,
    )
    publish(workspace_id=workspace.pk, topics=["ad_insights"])
    return len(insights)


def date_chunks(since: date, until: date, days: int) -> list[tuple[date, date]]:
    """[since, until] cut into consecutive windows of at most `days` days."""
    chunks, start = [], since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        chunks.append((start, end))
        start = end + timedelta(days=1)
    return chunks


META_SOURCE = "meta"
META_BACKFILL_DAYS = 90
META_RESTATE_DAYS = 3  # Meta restates recent days: always re-read the last few
META_CHUNK_DAYS = 30
META_PAGE_LIMIT = 500


def meta_insights_sync(*, workspace: Workspace, since: date | None = None, until: date | None = None,
                       client=None) -> dict:
    """Pull ad-level daily insights into AdInsight. Default window: from the cursor's last synced date minus
    META_RESTATE_DAYS (or META_BACKFILL_DAYS back on the first run) to today, in ≤ 30-day requests; the
    cursor advances after each request, so an interrupted sync resumes. Raises SyncFailed (one line)."""
    from marketing.integrations.meta_graph import (MetaAuthError, MetaGraphClient, MetaGraphError,
                                                   MetaRangeTooLarge, MetaThrottled, parse_insight_row)
    from ptd.credentials import credential_get
    from ptd.sync import SyncFailed, cursor_save, progress, require_credential, sync_run

    with sync_run(workspace=workspace, source=META_SOURCE) as state:
        token = require_credential(workspace=workspace, kind=CredentialKind.META_ACCESS_TOKEN,
                                   what="Meta access token")
        account = require_credential(workspace=workspace, kind=CredentialKind.META_AD_ACCOUNT_ID,
                                     what="Meta ad account id").strip().removeprefix("act_")
        if client is None:
            client = MetaGraphClient(access_token=token,
                                     app_secret=credential_get(workspace=workspace, kind=CredentialKind.META_APP_SECRET))
        today = timezone.localdate(timezone=ZoneInfo(workspace.timezone))
        until = until or today
        if since is None:
            last = (state.cursor or {}).get("last_date")
            if last and state.cursor.get("account") in (None, account):
                since = date.fromisoformat(last) - timedelta(days=META_RESTATE_DAYS)
            else:
                since = today - timedelta(days=META_BACKFILL_DAYS)
        if since > until:
            raise SyncFailed(f"--since {since} is after --until {until}")
        totals = {"rows": 0, "requests": 0, "since": since.isoformat(), "until": until.isoformat()}
        pending = date_chunks(since, until, META_CHUNK_DAYS)
        with progress(None, f"Meta insights {since}…{until}") as bar:
            while pending:
                chunk_since, chunk_until = pending.pop(0)
                try:
                    written = 0
                    for page in client.insights_pages(account_id=account, since=chunk_since, until=chunk_until,
                                                      limit=META_PAGE_LIMIT):
                        totals["requests"] += 1
                        written += ad_insights_upsert(workspace=workspace, rows=[parse_insight_row(r) for r in page])
                        bar.update(len(page))
                except MetaRangeTooLarge:
                    if chunk_since == chunk_until:
                        raise
                    middle = chunk_since + (chunk_until - chunk_since) // 2
                    log.warning("Meta insights %s…%s timed out; splitting the range", chunk_since, chunk_until)
                    pending[:0] = [(chunk_since, middle), (middle + timedelta(days=1), chunk_until)]
                    continue
                except MetaAuthError as exc:
                    raise SyncFailed(f"Meta rejected the access token ({_one_line(exc.meta_message)}): issue a new "
                                     f"token and set META_ACCESS_TOKEN or update it in Settings → Integrations") from exc
                except MetaThrottled as exc:
                    raise SyncFailed(f"Meta kept throttling after {client.max_attempts} attempts, the next run "
                                     f"resumes from {chunk_since}: {_one_line(str(exc))}") from exc
                except MetaGraphError as exc:
                    raise SyncFailed(_one_line(str(exc))) from exc
                totals["rows"] += written
                last = (state.cursor or {}).get("last_date")
                newest = max(chunk_until, date.fromisoformat(last)) if last else chunk_until
                cursor_save(state=state, cursor={"last_date": newest.isoformat(), "account": account},
                            records=written)
    return totals


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


# --- AnyTrack attribution events -----------------------------------------------------------------


def fbclid_from_fbc(fbc: str) -> str:
    """The fbclid inside an fbc value ("fb.1.<creation ms>.<fbclid>")."""
    parts = (fbc or "").split(".", 3)
    return parts[3] if len(parts) == 4 and parts[0] == "fb" else ""


def _contact_for_click(*, workspace: Workspace, click_ids: Iterable[str], fbc: str):
    from clients.models import Contact

    click_ids = {c for c in click_ids if c}
    conditions = Q()
    if click_ids:
        conditions |= Q(fbclid__in=click_ids) | Q(fbc__in=click_ids)
    if fbc:
        conditions |= Q(fbc=fbc)
    if not conditions:
        return None
    return Contact.objects.filter(conditions, workspace=workspace).order_by("created_at", "pk").first()


@transaction.atomic
def attribution_event_upsert(*, workspace: Workspace, source: str, external_id: str, fields: dict,
                             email: str = "", phone: str = "") -> tuple[AttributionEvent, bool]:
    """Store one conversion by (workspace, source, external_id), linked to a contact by email, then phone,
    then its click ids (clickId / fbclid / fbc matched to the contact's fbclid or fbc); an unmatched event is
    kept with contact NULL and linked later by marketing_link_contact. Returns (event, created)."""
    from clients.identity import contact_match

    email, phone = normalize_email(email), normalize_phone(phone)
    contact = contact_match(workspace=workspace, email=email, phone=phone) if (email or phone) else None
    if contact is None:
        fbclid = fields.get("fbclid") or fbclid_from_fbc(fields.get("fbc", ""))
        contact = _contact_for_click(workspace=workspace, click_ids=[fields.get("click_id", ""), fbclid],
                                     fbc=fields.get("fbc", ""))
    defaults = {**fields, "email_normalized": email, "phone_e164": phone}
    if contact is not None:
        defaults["contact"] = contact
    event, created = AttributionEvent.objects.update_or_create(
        workspace=workspace, source=source, external_id=external_id[:255], defaults=defaults,
    )
    publish(workspace_id=workspace.pk, topics=["attribution"],
            staff_ids=[contact.owner_id, contact.coach_id] if contact else ())
    return event, created


def marketing_link_contact(*, contact) -> dict[str, int]:
    """Identity backfill for one contact: link its unmatched attribution events (by email, phone, or the
    contact's fbclid / fbc). Returns {"attribution_events": n}."""
    conditions = Q()
    if contact.email_normalized:
        conditions |= Q(email_normalized=contact.email_normalized)
    if contact.phone_e164:
        conditions |= Q(phone_e164=contact.phone_e164)
    click_ids = {c for c in (contact.fbclid, fbclid_from_fbc(contact.fbc)) if c}
    if click_ids:
        conditions |= Q(fbclid__in=click_ids) | Q(click_id__in=click_ids)
    if contact.fbc:
        conditions |= Q(fbc=contact.fbc)
    if not conditions:
        return {"attribution_events": 0}
    linked = (AttributionEvent.objects.filter(conditions, workspace_id=contact.workspace_id, contact__isnull=True)
              .update(contact=contact))
    if linked:
        publish(workspace_id=contact.workspace_id, topics=["attribution"], staff_ids=[contact.owner_id, contact.coach_id])
    return {"attribution_events": linked}


def marketing_link_contacts_workspace(*, workspace: Workspace) -> dict[str, int]:
    """Set-based identity backfill: link every unmatched attribution event whose email or phone now matches
    a contact (the oldest contact wins). Two UPDATE statements."""
    from django.db.models import Exists, OuterRef, Subquery

    from clients.models import Contact

    linked = 0
    for event_key, contact_key in (("email_normalized", "email_normalized"), ("phone_e164", "phone_e164")):
        same = Contact.objects.filter(workspace=workspace, **{contact_key: OuterRef(event_key)})
        oldest = same.order_by("created_at", "pk").values("pk")[:1]
        linked += (AttributionEvent.objects.filter(workspace=workspace, contact__isnull=True)
                   .exclude(**{event_key: ""}).filter(Exists(same)).update(contact=Subquery(oldest)))
    if linked:
        publish(workspace_id=workspace.pk, topics=["attribution"])
    return {"attribution_events": linked}


def occurred_at_from(value, fallback: datetime) -> datetime:
    """An ISO-8601 string or epoch seconds (or ms) → aware datetime; `fallback` when unusable."""
    from datetime import UTC

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return fallback
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return occurred_at_from(int(text), fallback)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback
