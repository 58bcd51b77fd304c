"""Realistic signed webhook traffic for `manage.py simulate` (pure: no ORM, no network, no clock unless asked).

A seeded `random.Random` drives a small model of the business, one *business event* at a time:

    new lead ─→ setter calls (answered 70 % / missed 30 %, up to 4 tries) ─→ assessment booked ─→
    held (or no-show → lost) ─→ closed won (with the package amount) or lost ─→ payments (in full or a
    deposit and the balance; now and then a declined card first) ─→ occasionally a refund

Each business event becomes the messages the real services would send for it, for the sources that are
configured (a source without its secret is left out):

* HubSpot (webhooks v3, a JSON array of notifications): `contact.creation` followed by `contact.propertyChange`
  for email, names, phone, lifecycle stage, owner (an existing setter) and first-touch attribution;
  `deal.creation` + `deal.associationChange` (both directions) + `dealstage` changes, `amount`, `closedate`;
  the contact's lifecycle stage and assigned coach as the deal moves.
* AnyTrack: a "Lead" conversion for tracked web leads (same email, clickId, fbclid and Meta ids in the UTMs),
  a "Purchase" when such a lead pays.
* CallGear: a call-finished notification carrying the call report's fields (`id`, `start_time` in Dubai time,
  `direction`, `is_lost`, `talk_duration`, `wait_duration`, `contact_phone_number`, `employees`).
* Stripe (one event per request): `customer.created`, `charge.succeeded` / `charge.failed` with
  `billing_details.email`, `payment_intent.succeeded` / `payment_intent.payment_failed`, and for a refund
  `charge.refunded` + `refund.created`.

About 3 % of business events also re-send an earlier message, as providers retry: the receivers must answer
"duplicate" and store nothing new.

Ids cannot collide with existing data: HubSpot object and event ids and CallGear call ids are
`run_id × 10⁸ + counter` (18 digits, where HubSpot's and the demo's have 9–11), Stripe ids carry
`sim<run_id>`, emails `<first>.<last>.<run><n>@…` (the demo's have one dot), and phones use the
+971 5X 0xx xxxx block the demo never draws from, minus any number the caller says is taken.

Timing: business event i is due `i × 60 / rate` seconds after `start`; its payload times are that moment.
`Simulator.sign` signs a message at the moment it is actually sent (HubSpot refuses signatures older than
5 minutes, Stripe older than 300 s), and `Simulator.deliveries` signs each at its due time (for tests).
The same seed, start, run id and context give the same stream, byte for byte.
"""

from __future__ import annotations

import ipaddress
import json
import math
import string
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import stripe
from hubspot.utils.signature import Signature

from ptd.demo.generator import (EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, LOSS_REASONS_HELD, LOSS_REASONS_LATE,
                                PACKAGES, STAGES, UAE_MOBILE_PREFIXES)

# source → the credential (and environment variable) holding its secret
SOURCE_SECRETS = {
    "hubspot": "HUBSPOT_CLIENT_SECRET",
    "anytrack": "ANYTRACK_WEBHOOK_TOKEN",
    "callgear": "CALLGEAR_WEBHOOK_TOKEN",
    "stripe": "STRIPE_WEBHOOK_SECRET",
}

# What a business event is called, one and several (the command counts them by these).
KIND_LABELS = {
    "lead": ("new lead", "new leads"), "call_answered": ("call answered", "calls answered"),
    "call_missed": ("call missed", "calls missed"), "booked": ("assessment booked", "assessments booked"),
    "held": ("assessment held", "assessments held"), "no_show": ("no-show", "no-shows"),
    "won": ("deal won", "deals won"), "lost": ("deal lost", "deals lost"), "payment": ("payment", "payments"),
    "payment_failed": ("declined payment", "declined payments"), "refund": ("refund", "refunds"),
}

# How often each step happens, relative to the others, while something is waiting for it.
ACTION_WEIGHTS = {"lead": 10.0, "call": 9.0, "book": 4.0, "attend": 3.0, "close": 3.0, "pay": 3.0, "refund": 0.35}
ANSWER_RATE = 0.70
INTERESTED_RATE = 0.60  # answered leads who agree to an assessment
MAX_CALL_ATTEMPTS = 4
SHOW_RATE = 0.85
CLOSE_RATE = 0.45
DECLINE_RATE = 0.08
INSTALMENT_RATE = 0.30  # clients who pay a deposit, then the balance
PARTIAL_REFUND_RATE = 0.30
REDELIVERY_RATE = 0.03
INBOUND_CALL_RATE = 0.10

ID_BASE = 100_000_000  # counter slots per run id
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # CallGear's start_time, in the account's timezone
PORTAL_ID = 25_164_873
APP_ID = 3_318_842
SUBSCRIPTIONS = {  # HubSpot subscription ids of the app, per subscription type
    "contact.creation": 2_812_001, "contact.propertyChange": 2_812_002, "deal.creation": 2_812_003,
    "deal.propertyChange": 2_812_004, "contact.associationChange": 2_812_005, "deal.associationChange": 2_812_006,
}
STRIPE_API_VERSION = "2024-06-20"
ANYTRACK_ASSET_ID = "ptdVital7Qe"
STUDIO_NUMBER = "97143297100"  # the CallGear virtual number leads see
USER_AGENTS = {
    "hubspot": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon",
    "stripe": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    "anytrack": "AnyTrack-Webhooks/1.0",
    "callgear": "CallGear-Notifications/1.0",
}
BROWSER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "[FBAN/FBIOS;FBAV/489.0.0]",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
]
# (share, hs_analytics_source as the demo data stores it, utm_source, utm_medium, tracked by AnyTrack)
LEAD_SOURCES = [
    (0.72, "facebook_ads", "facebook", "paid_social", True),
    (0.10, "google_ads", "google", "cpc", True),
    (0.07, "organic_search", "google", "organic", True),
    (0.05, "instagram_organic", "instagram", "social", True),
    (0.04, "referral", "referral", "word_of_mouth", False),
    (0.02, "walk_in", "", "", False),
]
FALLBACK_EMPLOYEES = ["Reception Desk", "Setter Line 1", "Setter Line 2"]  # when no setter is known
CARDS = [("visa", 0.55), ("mastercard", 0.35), ("amex", 0.10)]
DECLINES = [("card_declined", "generic_decline", "Your card was declined."),
            ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
            ("expired_card", "expired_card", "Your card has expired.")]
ALNUM = string.ascii_letters + string.digits


# --- the URL ----------------------------------------------------------------------------------------

def loopback_base_url(url: str) -> str:
    """`url` as the base of webhook URLs (no trailing slash, no default port) when its host is a loopback
    address (127.0.0.0/8, ::1) or `localhost`; otherwise ValueError with a one-line reason. Host names are
    not resolved: anything but those is refused."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"refusing {url}: simulate only sends to a loopback server (127.0.0.0/8, localhost, ::1)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} has an invalid port") from exc
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: give the server's base URL, without a query or fragment")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme]:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


# --- context the caller may supply ---------------------------------------------------------------------

@dataclass(frozen=True)
class StaffRef:
    """An existing HubSpot owner (Staff.hubspot_owner_id); name and email let CallGear calls match them."""

    owner_id: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class AdRef:
    """An existing Meta ad (Ad.meta_id) with its ad set and campaign ids."""

    ad_id: str
    adset_id: str = ""
    campaign_id: str = ""


def _staff_refs(items) -> list[StaffRef]:
    return [i if isinstance(i, StaffRef) else StaffRef(owner_id=str(i)) for i in items or () if i]


def _ad_refs(items) -> list[AdRef]:
    return [i if isinstance(i, AdRef) else AdRef(ad_id=str(i)) for i in items or () if i]


# --- what is produced ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """One request a source would send, not yet signed."""

    source: str
    path: str
    body: bytes
    redelivery: bool = False


@dataclass(frozen=True)
class Delivery:
    """A signed request; unpacks as (path, body, headers)."""

    source: str
    path: str
    body: bytes
    headers: dict[str, str]
    redelivery: bool = False

    def __iter__(self):
        return iter((self.path, self.body, self.headers))


@dataclass(frozen=True)
class BusinessEvent:
    index: int
    kind: str  # a key of KIND_LABELS
    at: float  # seconds after the start when it is due
    detail: str
    messages: tuple[Message, ...]


# --- the simulated world ----------------------------------------------------------------------------

@dataclass
class _Lead:
    n: int
    contact_id: str
    first: str
    last: str
    email: str
    phone: str  # E.164
    source: tuple
    owner: StaffRef | None
    ad: AdRef | None
    click_id: str
    fbclid: str
    calls: int = 0
    deal_id: str = ""
    coach: StaffRef | None = None
    amount: int = 0  # AED
    instalments: list[int] = field(default_factory=list)  # fils still to collect
    customer_id: str = ""
    intent_id: str = ""
    card: tuple = ()

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class _Charge:
    lead: _Lead
    charge_id: str
    intent_id: str
    amount: int  # fils
    created: int
    card: tuple


def _take(rng: Random, pool: list):
    """Remove and return a random item (order is not kept: O(1))."""
    i = rng.randrange(len(pool))
    pool[i], pool[-1] = pool[-1], pool[i]
    return pool.pop()


def _weighted(rng: Random, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for item, weight in pairs:
        x -= weight
        if x <= 0:
            return item
    return pairs[-1][0]


class Simulator:
    """The traffic of one run. Iterate `events()` once; `sign` each message when it is sent."""

    def __init__(self, *, secrets: Mapping[str, str], base_url: str, seed: int = 0, rate: float = 30.0,
                 start: float | None = None, run_id: int | None = None, workspace_slug: str | None = None,
                 setters: Iterable = (), coaches: Iterable = (), ads: Iterable = (),
                 taken_phones: Iterable[str] = (), timezone: str = "Asia/Dubai"):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.secrets = {source: (secrets.get(name) or "").strip() for source, name in SOURCE_SECRETS.items()}
        self.enabled = [s for s, secret in self.secrets.items() if secret]
        if not self.enabled:
            raise ValueError("no source has a secret: set " + ", ".join(SOURCE_SECRETS.values()))
        self.base_url = base_url.rstrip("/")
        self.rate = float(rate)
        self.start = float(time.time() if start is None else start)
        self.run_id = int(self.start) if run_id is None else int(run_id)
        self.prefix = f"/webhooks/{workspace_slug}/" if workspace_slug else "/webhooks/"
        self.tz = ZoneInfo(timezone)
        self.setters = _staff_refs(setters)
        self.coaches = _staff_refs(coaches)
        self.ads = _ad_refs(ads)
        self.rng = Random(seed)
        self._taken = set(taken_phones)
        self._counter = 0
        self._event_seq = 0
        # work waiting for each step
        self._to_call: deque[_Lead] = deque()
        self._to_book: list[_Lead] = []
        self._to_attend: list[_Lead] = []
        self._to_close: list[_Lead] = []
        self._to_pay: list[_Lead] = []
        self._refundable: list[_Charge] = []
        self._recent: deque[Message] = deque(maxlen=60)

    # --- ids ---

    def _next(self) -> int:
        self._counter += 1
        if self._counter >= ID_BASE:
            raise OverflowError("a run has at most 100 million ids")
        return self.run_id * ID_BASE + self._counter

    def _stripe_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_sim{self.run_id}x{self._counter:06d}"

    def _token(self, length: int) -> str:
        return "".join(self.rng.choice(ALNUM) for _ in range(length))

    # --- the stream ---

    def events(self, limit: int | None = None) -> Iterator[BusinessEvent]:
        """Business events in order, each due `index × 60 / rate` s after the start; at most `limit`.
        A business event none of whose sources is configured happens in the model but is not yielded."""
        index = 0
        idle = 0
        while limit is None or index < limit:
            at = index * 60.0 / self.rate
            kind, detail, messages = self._step(self.start + at)
            messages = [m for m in messages if m.source in self.enabled]
            if messages and self._recent and self.rng.random() < REDELIVERY_RATE:
                messages.append(self._redelivery(self.rng.choice(list(self._recent))))
            if not messages:
                idle += 1
                if idle > 100_000:  # cannot happen with a lead source enabled; never spin regardless
                    return
                continue
            idle = 0
            self._recent.extend(m for m in messages if not m.redelivery)
            yield BusinessEvent(index=index, kind=kind, at=at, detail=detail, messages=tuple(messages))
            index += 1

    def deliveries(self, limit: int) -> list[Delivery]:
        """The first `limit` business events' messages, each signed at its due time."""
        return [self.sign(m, now=self.start + e.at) for e in self.events(limit) for m in e.messages]

    def sign(self, message: Message, *, now: float) -> Delivery:
        """Sign a message as its source does, at `now` (Unix seconds)."""
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENTS[message.source]}
        secret = self.secrets[message.source]
        if message.source == "stripe":
            headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
                message.body.decode("utf-8"), secret, timestamp=int(now))
        elif message.source == "hubspot":
            millis = int(now * 1000)
            headers["X-HubSpot-Signature-v3"] = Signature.get_signature(
                secret, message.body.decode("utf-8"), "v3", self.base_url + message.path, "POST", millis)
            headers["X-HubSpot-Request-Timestamp"] = str(millis)
        return Delivery(source=message.source, path=message.path, body=message.body, headers=headers,
                        redelivery=message.redelivery)

    def _step(self, now: float) -> tuple[str, str, list[Message]]:
        waiting = {"lead": True, "call": bool(self._to_call), "book": bool(self._to_book),
                   "attend": bool(self._to_attend), "close": bool(self._to_close), "pay": bool(self._to_pay),
                   "refund": bool(self._refundable)}
        action = _weighted(self.rng, [(a, w) for a, w in ACTION_WEIGHTS.items() if waiting[a]])
        return getattr(self, f"_{action}")(now)

    # --- message builders ---

    def _json(self, payload) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()

    def _hubspot(self, notifications: list[dict]) -> Message:
        return Message("hubspot", self.prefix + "hubspot/", self._json(notifications))

    def _notification(self, kind: str, object_id: str, when: float, **extra) -> dict:
        self._event_seq += 1
        return {"eventId": self.run_id * ID_BASE + self._event_seq, "subscriptionId": SUBSCRIPTIONS[kind],
                "portalId": PORTAL_ID, "appId": APP_ID, "occurredAt": int(when * 1000), "subscriptionType": kind,
                "attemptNumber": 0, "objectId": int(object_id), "changeSource": "CRM", **extra}

    def _properties(self, kind: str, object_id: str, when: float, props: list[tuple[str, str]],
                    source_id: str = "") -> list[dict]:
        extra = {"sourceId": source_id} if source_id else {}
        return [self._notification(kind, object_id, when, propertyName=name, propertyValue=value, **extra)
                for name, value in props if value not in (None, "")]

    def _stripe(self, event_type: str, obj: dict, when: float) -> Message:
        event = {"id": self._stripe_id("evt"), "object": "event", "api_version": STRIPE_API_VERSION,
                 "created": int(when), "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
                 "request": {"id": self._stripe_id("req"), "idempotency_key": None}, "type": event_type}
        return Message("stripe", self.prefix + "stripe/", self._json(event))

    def _anytrack(self, lead: _Lead, event_name: str, when: float, value: float = 0,
                  transaction_id: str = "") -> Message:
        moment = datetime.fromtimestamp(when, UTC)
        payload = {"assetId": ANYTRACK_ASSET_ID, "clickId": lead.click_id, "eventName": event_name,
                   "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                   "eventTimestamp": int(when), "eventValue": value, "currency": "AED",
                   "userAgent": self.rng.choice(BROWSER_AGENTS), "email": lead.email,
                   "utm_source": lead.source[2], "utm_medium": lead.source[3]}
        if transaction_id:
            payload["transactionId"] = transaction_id
        if lead.fbclid:
            payload.update(fbclid=lead.fbclid, fbp=f"fb.1.{int(when * 1000) - 86_400_000}.{lead.n:010d}")
        if lead.ad:
            payload.update(utm_campaign=lead.ad.campaign_id, utm_term=lead.ad.adset_id, utm_content=lead.ad.ad_id)
        token = quote(self.secrets["anytrack"], safe="")
        return Message("anytrack", f"{self.prefix}anytrack/{token}/", self._json(payload))

    def _redelivery(self, message: Message) -> Message:
        body = message.body
        if message.source == "hubspot":  # HubSpot counts its attempts; the dedup key ignores them
            body = self._json([{**n, "attemptNumber": n.get("attemptNumber", 0) + 1} for n in json.loads(body)])
        return Message(message.source, message.path, body, redelivery=True)

    # --- people ---

    def _phone(self) -> str:
        for _ in range(1000):
            phone = f"+971{self.rng.choice(UAE_MOBILE_PREFIXES)}0{self.rng.randrange(1_000_000):06d}"
            if phone not in self._taken:
                self._taken.add(phone)
                return phone
        raise RuntimeError("no free phone number left in the simulator's block")

    def _hubspot_phone(self, phone: str) -> str:
        """As people type it into a form: international with spaces, national, or bare E.164."""
        national = "0" + phone[4:]
        return self.rng.choice([f"+971 {phone[4:6]} {phone[6:9]} {phone[9:]}",
                                f"{national[:3]} {national[3:6]} {national[6:]}", phone])

    # --- the business events ---

    def _lead(self, now: float) -> tuple[str, str, list[Message]]:
        rng = self.rng
        contact_id = str(self._next())
        n = self._counter
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email = f"{local}.{self.run_id % 100_000:05d}{n}@{rng.choice(EMAIL_DOMAINS)}"
        source = _weighted(rng, [(s, s[0]) for s in LEAD_SOURCES])
        ad = rng.choice(self.ads) if source[1] == "facebook_ads" and self.ads else None
        fbclid = f"IwAR{self._token(40)}" if source[1] == "facebook_ads" else ""
        click_id = self._token(24) if source[4] else ""
        lead = _Lead(n=n, contact_id=contact_id, first=first, last=last, email=email, phone=self._phone(),
                     source=source, owner=rng.choice(self.setters) if self.setters else None, ad=ad,
                     click_id=click_id, fbclid=fbclid)
        props = [("email", email), ("firstname", first), ("lastname", last),
                 ("phone", self._hubspot_phone(lead.phone)), ("lifecyclestage", "lead"),
                 ("hubspot_owner_id", lead.owner.owner_id if lead.owner else ""),
                 ("hs_analytics_source", source[1]), ("utm_source", source[2]), ("utm_medium", source[3]),
                 ("fbclid", fbclid)]
        if ad:
            props += [("utm_campaign", ad.campaign_id), ("utm_content", ad.ad_id), ("fb_campaign_id", ad.campaign_id),
                      ("fb_adset_id", ad.adset_id), ("fb_ad_id", ad.ad_id)]
        notifications = [self._notification("contact.creation", contact_id, now, changeFlag="NEW"),
                         *self._properties("contact.propertyChange", contact_id, now, props, source_id="FORM")]
        messages = [self._hubspot(notifications)]
        if click_id:
            messages.append(self._anytrack(lead, "Lead", now))
        self._to_call.append(lead)
        via = f"{source[1]}" + (f" ad {ad.ad_id}" if ad else "")
        return "lead", f"{lead.name} <{email}> via {via}", messages

    def _call(self, now: float) -> tuple[str, str, list[Message]]:
        rng = self.rng
        lead = self._to_call.popleft()
        lead.calls += 1
        answered = rng.random() < ANSWER_RATE
        inbound = lead.calls > 1 and rng.random() < INBOUND_CALL_RATE  # a lead calling back
        if answered:
            talk = int(min(1500, max(25, rng.lognormvariate(math.log(170), 0.55))))
            wait = rng.randint(3, 22)
        else:
            talk, wait = 0, rng.randint(18, 45)
        started = datetime.fromtimestamp(now - talk - wait, self.tz)
        finished = datetime.fromtimestamp(now, self.tz)
        if owner := lead.owner:  # the lead's setter makes the call (CallGear knows them by name and email)
            employee_id = int(owner.owner_id) if owner.owner_id.isdigit() else self.setters.index(owner) + 1
            employee = {"employee_id": employee_id, "employee_full_name": owner.name or f"Owner {owner.owner_id}"}
            if owner.email:
                employee["employee_email"] = owner.email
        else:
            i = rng.randrange(len(FALLBACK_EMPLOYEES))
            employee = {"employee_id": 9000 + i, "employee_full_name": FALLBACK_EMPLOYEES[i]}
        employee["is_answered"] = answered
        call_id = self._next()
        payload = {
            "event_type": "call_finished", "id": call_id, "call_session_id": call_id,
            "start_time": started.strftime(TIME_FORMAT), "finish_time": finished.strftime(TIME_FORMAT),
            "direction": "in" if inbound else "out", "is_lost": not answered,
            "talk_duration": talk, "wait_duration": wait, "total_duration": talk + wait,
            "contact_phone_number": lead.phone.lstrip("+"), "virtual_phone_number": STUDIO_NUMBER,
            "finish_reason": ("subscriber_disconnects" if rng.random() < 0.5 else "operator_disconnects") if answered
            else ("subscriber_busy" if rng.random() < 0.2 else "no_answer"),
            "employees": [employee],
        }
        if answered:
            payload.update(communication_id=call_id + 7, call_records=[self._token(32).lower()])
        token = quote(self.secrets["callgear"], safe="")
        message = Message("callgear", f"{self.prefix}callgear/{token}/", self._json(payload))
        if answered:
            if rng.random() < INTERESTED_RATE:
                self._to_book.append(lead)
            outcome = f"answered, talked {talk // 60}m{talk % 60:02d}s"
        else:
            if lead.calls < MAX_CALL_ATTEMPTS:
                self._to_call.append(lead)
            outcome = "missed"
        who = employee["employee_full_name"]
        direction = "called back" if inbound else f"called by {who}"
        return ("call_answered" if answered else "call_missed"), f"{lead.name} {direction}: {outcome}", [message]

    def _book(self, now: float) -> tuple[str, str, list[Message]]:
        lead = _take(self.rng, self._to_book)
        lead.deal_id = str(self._next())
        lead.coach = self.rng.choice(self.coaches) if self.coaches else None
        deal, contact = lead.deal_id, lead.contact_id
        notifications = [
            self._notification("deal.creation", deal, now, changeFlag="NEW"),
            *self._properties("deal.propertyChange", deal, now, [
                ("dealname", f"{lead.name} — assessment"), ("pipeline", "default"), ("dealstage", STAGES["booked"]),
                ("hubspot_owner_id", lead.coach.owner_id if lead.coach else "")]),
            self._association("contact", contact, deal, now, "CONTACT_TO_DEAL"),
            self._association("deal", deal, contact, now, "DEAL_TO_CONTACT"),
            *self._properties("contact.propertyChange", contact, now, [("lifecyclestage", "salesqualifiedlead")]),
        ]
        self._to_attend.append(lead)
        return "booked", f"{lead.name}: assessment booked (deal {deal})", [self._hubspot(notifications)]

    def _association(self, object_name: str, from_id: str, to_id: str, when: float, association: str) -> dict:
        """HubSpot reports a new association once from each side; these notifications have no objectId."""
        notification = self._notification(f"{object_name}.associationChange", from_id, when, associationType=association,
                                          fromObjectId=int(from_id), toObjectId=int(to_id),
                                          associationRemoved=False, isPrimaryAssociation=True)
        notification.pop("objectId")
        return notification

    def _attend(self, now: float) -> tuple[str, str, list[Message]]:
        lead = _take(self.rng, self._to_attend)
        if self.rng.random() < SHOW_RATE:
            notifications = [
                *self._properties("deal.propertyChange", lead.deal_id, now, [("dealstage", STAGES["held"])]),
                *self._properties("contact.propertyChange", lead.contact_id, now, [("lifecyclestage", "opportunity")]),
            ]
            self._to_close.append(lead)
            return "held", f"{lead.name}: assessment held", [self._hubspot(notifications)]
        notifications = self._properties("deal.propertyChange", lead.deal_id, now, [
            ("dealstage", STAGES["closed_lost"]), ("closed_lost_reason", "No-show"), ("closedate", str(int(now * 1000)))])
        return "no_show", f"{lead.name}: no-show, deal lost", [self._hubspot(notifications)]

    def _close(self, now: float) -> tuple[str, str, list[Message]]:
        rng = self.rng
        lead = _take(rng, self._to_close)
        closed = str(int(now * 1000))
        if rng.random() < CLOSE_RATE:
            sessions, per_session, _ = _weighted(rng, [(p, p[2]) for p in PACKAGES])
            lead.amount = sessions * per_session
            fils = lead.amount * 100
            if rng.random() < INSTALMENT_RATE:
                deposit = fils // 2
                lead.instalments = [deposit, fils - deposit]
            else:
                lead.instalments = [fils]
            notifications = [
                *self._properties("deal.propertyChange", lead.deal_id, now, [
                    ("dealname", f"{lead.name} — {sessions} sessions"), ("amount", str(lead.amount)),
                    ("closedate", closed), ("dealstage", STAGES["closed_won"])]),
                *self._properties("contact.propertyChange", lead.contact_id, now, [
                    ("lifecyclestage", "customer"), ("assigned_coach", lead.coach.owner_id if lead.coach else "")]),
            ]
            self._to_pay.append(lead)
            return "won", f"{lead.name}: won, {sessions} sessions for AED {lead.amount:,}", [self._hubspot(notifications)]
        reason = rng.choice(LOSS_REASONS_HELD + LOSS_REASONS_LATE)
        notifications = self._properties("deal.propertyChange", lead.deal_id, now, [
            ("dealstage", STAGES["closed_lost"]), ("closed_lost_reason", reason), ("closedate", closed)])
        return "lost", f"{lead.name}: lost ({reason})", [self._hubspot(notifications)]

    def _pay(self, now: float) -> tuple[str, str, list[Message]]:
        rng = self.rng
        lead = _take(rng, self._to_pay)
        messages = []
        created = int(now)
        if not lead.customer_id:
            lead.customer_id = self._stripe_id("cus")
            messages.append(self._stripe("customer.created", {
                "id": lead.customer_id, "object": "customer", "created": created, "email": lead.email,
                "name": lead.name, "phone": lead.phone, "currency": "aed", "livemode": False,
                "metadata": {"hubspot_contact_id": lead.contact_id}}, now))
        if not lead.intent_id:
            lead.intent_id = self._stripe_id("pi")
        if not lead.card:
            brand = _weighted(rng, CARDS)
            lead.card = (brand, f"{rng.randrange(10_000):04d}", self._token(16), rng.choice(["AE"] * 8 + ["GB", "IN"]))
        amount = lead.instalments[0]
        charge_id = self._stripe_id("ch")
        declined = rng.random() < DECLINE_RATE
        decline = rng.choice(DECLINES) if declined else None
        charge = self._charge(lead, charge_id, amount, created, card=lead.card, intent_id=lead.intent_id,
                              decline=decline)
        intent = {"id": lead.intent_id, "object": "payment_intent", "amount": amount, "currency": "aed",
                  "customer": lead.customer_id, "created": created, "latest_charge": charge_id, "livemode": False,
                  "receipt_email": lead.email, "description": charge["description"]}
        if decline:
            code, reason, text = decline
            intent.update(status="requires_payment_method", amount_received=0, last_payment_error={
                "code": code, "decline_code": decline, "message": text, "type": "card_error"})
            messages += [self._stripe("charge.failed", charge, now),
                         self._stripe("payment_intent.payment_failed", intent, now)]
            self._to_pay.append(lead)  # the client tries again later
            return "payment_failed", f"{lead.name}: card declined ({reason})", messages
        intent.update(status="succeeded", amount_received=amount)
        messages += [self._stripe("charge.succeeded", charge, now), self._stripe("payment_intent.succeeded", intent, now)]
        if lead.click_id:
            messages.append(self._anytrack(lead, "Purchase", now, value=amount / 100, transaction_id=charge_id))
        lead.instalments.pop(0)
        lead.intent_id = ""  # the next instalment is a new payment
        if lead.instalments:
            self._to_pay.append(lead)
        self._refundable.append(_Charge(lead=lead, charge_id=charge_id, intent_id=intent["id"], amount=amount,
                                        created=created, card=lead.card))
        part = "deposit" if lead.instalments else ("balance" if amount != lead.amount * 100 else "in full")
        return "payment", f"{lead.name}: paid AED {amount / 100:,.2f} ({part}, {charge_id})", messages

    def _charge(self, lead: _Lead, charge_id: str, amount: int, created: int, *, card: tuple, intent_id: str,
                decline: tuple | None = None, refunded: int = 0) -> dict:
        brand, last4, fingerprint, country = card
        declined = decline is not None
        charge = {
            "id": charge_id, "object": "charge", "amount": amount, "amount_captured": 0 if declined else amount,
            "amount_refunded": refunded, "balance_transaction": None if declined else f"txn_{charge_id[3:]}",
            "billing_details": {"address": {"country": country}, "email": lead.email, "name": lead.name,
                                "phone": lead.phone},
            "captured": not declined, "created": created, "currency": "aed", "customer": lead.customer_id,
            "description": f"PT package — {lead.name}", "livemode": False, "paid": not declined,
            "payment_intent": intent_id, "payment_method": f"pm_{charge_id[3:]}",
            "payment_method_details": {"type": "card", "card": {
                "brand": brand, "last4": last4, "fingerprint": fingerprint, "country": country, "funding": "credit",
                "exp_month": 1 + lead.n % 12, "exp_year": 2027 + lead.n % 4}},
            "receipt_email": lead.email, "refunded": bool(refunded) and refunded >= amount,
            "status": "failed" if declined else "succeeded",
            "outcome": {"network_status": "declined_by_network" if declined else "approved_by_network",
                        "risk_level": "normal", "risk_score": self.rng.randint(5, 45),
                        "seller_message": "The bank did not return any further details with this decline."
                        if declined else "Payment complete.", "type": "issuer_declined" if declined else "authorized"},
        }
        if decline:
            charge.update(failure_code=decline[0], failure_message=decline[2])
        return charge

    def _refund(self, now: float) -> tuple[str, str, list[Message]]:
        rng = self.rng
        paid = _take(rng, self._refundable)
        lead = paid.lead
        amount = paid.amount if rng.random() >= PARTIAL_REFUND_RATE else paid.amount // 4
        charge = self._charge(lead, paid.charge_id, paid.amount, paid.created, card=paid.card,
                              intent_id=paid.intent_id, refunded=amount)
        refund_id = self._stripe_id("re")
        refund = {"id": refund_id, "object": "refund", "amount": amount, "charge": paid.charge_id,
                  "payment_intent": paid.intent_id, "created": int(now), "currency": "aed",
                  "reason": "requested_by_customer", "status": "succeeded"}
        messages = [self._stripe("charge.refunded", charge, now), self._stripe("refund.created", refund, now)]
        share = "in full" if amount == paid.amount else "in part"
        return "refund", f"{lead.name}: refunded AED {amount / 100:,.2f} of {paid.charge_id} ({share})", messages
