"""Processing stored webhook events of the marketing app's sources (worker side): AnyTrack conversions
become AttributionEvents (integrations.md §4)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from marketing.models import AttributionEvent
from marketing.services import attribution_event_upsert, fbclid_from_fbc, occurred_at_from
from marketing.webhooks import anytrack_dedup_key
from ptd.inbox import Ignored
from ptd.models import WebhookEvent

# AnyTrack documents only the first fields of its outgoing payload; the rest (UTMs, click ids, traits) is
# read under any of these spellings, matched like AnyTrack matches its own parameters: case-insensitively
# with "_" and "-" ignored, at the top level, in a nested customer/user/traits/utm object, or as an xat_*
# passthrough parameter.
ALIASES = {
    "click_id": ("clickId", "click_id", "click"),
    "transaction_id": ("transactionId", "transaction_id", "orderId", "order_id"),
    "email": ("email", "customerEmail", "userEmail"),
    "phone": ("phone", "phoneNumber", "customerPhone", "mobile"),
    "fbclid": ("fbclid",),
    "fbc": ("fbc", "_fbc"),
    "fbp": ("fbp", "_fbp"),
    "utm_source": ("utm_source",),
    "utm_medium": ("utm_medium",),
    "utm_campaign": ("utm_campaign",),
    "utm_content": ("utm_content",),
    "utm_term": ("utm_term",),
    "campaign_id": ("campaign_id", "fb_campaign_id", "campaign.id"),
    "adset_id": ("adset_id", "ad_set_id", "fb_adset_id", "adset.id"),
    "ad_id": ("ad_id", "fb_ad_id", "ad.id"),
}
NESTED = ("customer", "user", "traits", "attributes", "utm", "utms", "tracking", "campaign")


def _norm(key: str) -> str:
    key = str(key).lower().replace("_", "").replace("-", "").replace(".", "")
    return key.removeprefix("xat")


def _flatten(payload: dict) -> dict[str, object]:
    """Normalised key → value; top-level keys win over nested ones."""
    flat: dict[str, object] = {}
    for container in NESTED:
        nested = payload.get(container)
        if isinstance(nested, dict):
            for key, value in nested.items():
                if not isinstance(value, (dict, list)):
                    flat.setdefault(_norm(key), value)
    for key, value in payload.items():
        if not isinstance(value, (dict, list)) and value not in (None, ""):
            flat[_norm(key)] = value
    return flat


def _text(value, limit: int) -> str:
    return "" if value is None else str(value).strip()[:limit]


def _meta_id(value) -> str:
    """A Meta numeric id (utm_campaign={{campaign.id}} style macros), else ""."""
    text = _text(value, 40)
    return text if text.isdigit() and len(text) >= 6 else ""


def anytrack_event_fields(payload: dict) -> tuple[dict, str, str]:
    """AttributionEvent field values from an AnyTrack payload (pure), plus the email and phone it names."""
    flat = _flatten(payload)
    field = AttributionEvent._meta.get_field

    def pick(name: str) -> str:
        for alias in ALIASES[name]:
            value = flat.get(_norm(alias))
            if value not in (None, ""):
                limit = getattr(field(name), "max_length", 255) if name not in ("email", "phone") else 255
                return _text(value, limit)
        return ""

    fields = {name: pick(name) for name in ALIASES if name not in ("email", "phone")}
    if not fields["fbclid"] and fields["fbc"]:
        fields["fbclid"] = fbclid_from_fbc(fields["fbc"])[:255]
    # Meta ad URL macros put the ids into the UTMs (integrations.md §4): utm_campaign / utm_term / utm_content.
    fields["campaign_id"] = _meta_id(fields["campaign_id"]) or _meta_id(fields["utm_campaign"])
    fields["adset_id"] = _meta_id(fields["adset_id"]) or _meta_id(fields["utm_term"])
    fields["ad_id"] = _meta_id(fields["ad_id"]) or _meta_id(fields["utm_content"])
    try:
        value = Decimal(str(payload.get("eventValue") if payload.get("eventValue") is not None else 0))
        value = value.quantize(Decimal("0.01")) if value.is_finite() else Decimal("0")
    except (InvalidOperation, ValueError):
        value = Decimal("0")
    fields.update(
        event_name=_text(payload.get("eventName"), 60),
        value=value,
        currency=(_text(payload.get("currency"), 3) or "AED").upper(),
        raw=payload,
    )
    return fields, pick("email"), pick("phone")


def process_anytrack_event(event: WebhookEvent) -> None:
    try:
        payload = json.loads(bytes(event.body))
    except ValueError as exc:
        raise Ignored("body is not JSON") from exc
    if not isinstance(payload, dict) or not payload.get("eventName"):
        raise Ignored("not an AnyTrack event (no eventName)")
    fields, email, phone = anytrack_event_fields(payload)
    fallback = event.source_timestamp or event.received_at
    fields["occurred_at"] = occurred_at_from(payload.get("eventTime"), None) or occurred_at_from(
        payload.get("eventTimestamp"), fallback)
    attribution_event_upsert(workspace=event.workspace, source="anytrack", external_id=anytrack_dedup_key(payload),
                             fields=fields, email=email, phone=phone)
