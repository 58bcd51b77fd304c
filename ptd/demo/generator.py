"""The demo dataset, simulated: pure Python, no ORM. Same parameters → same rows.

Leads arrive from ads and other sources, setters call them, some book and attend an assessment,
coaches close some of them, clients buy packages and train. Each client has a commitment that may
drift; when attendance falls away the client churns (no renewal, subscription cancelled) — churn
follows from behaviour, never from a coin flipped at the end. Money flows through Stripe customers
linked by email. Rows are dicts keyed by model attname; ids are handed out by `Ids` so foreign keys
line up before anything reaches the database.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

FIRST_NAMES = [
    "Aisha", "Omar", "Fatima", "Ahmed", "Layla", "Yousef", "Mariam", "Khalid", "Noura", "Hassan", "Sara", "Ali",
    "Hessa", "Rashid", "Amira", "Faisal", "Priya", "Rahul", "Anjali", "Arjun", "Emma", "James", "Olivia", "Liam",
    "Sophie", "Daniel", "Chloe", "Lucas", "Elena", "Marco", "Ivan", "Natalia", "Chen", "Mei", "Kenji", "Yuki",
    "Grace", "Joseph", "Maria", "Carlos", "Lina", "Tariq", "Zara", "Imran", "Hana", "Karim", "Dina", "Samir",
]
LAST_NAMES = [
    "Al Mansoori", "Al Hashimi", "Haddad", "Khan", "Sharma", "Patel", "Smith", "Johnson", "Brown", "Rossi",
    "Petrov", "Nasser", "Farouk", "Kapoor", "Menon", "Walker", "Taylor", "Ivanova", "Wang", "Tanaka", "Santos",
    "Garcia", "Haidar", "Saleh", "Qureshi", "Murphy", "O'Brien", "Schmidt", "Dubois", "Novak", "Costa", "Rahman",
]
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "protonmail.com"]
UAE_MOBILE_PREFIXES = ["50", "52", "54", "55", "56", "58"]
CAMPAIGN_THEMES = [
    "Summer Shred", "Ramadan Fit", "New Year Reset", "Wedding Ready", "Corporate Wellness", "Post-natal Strength",
    "Over 40 Fitness", "Marina Lead Gen", "JLT Free Assessment", "Downtown Transformation", "Weight Loss 12 Weeks",
    "Strength Foundations", "Lookalike Buyers", "Retargeting Visitors", "Couples Training", "Home PT Dubai",
]
AUDIENCES = ["Women 25-40", "Men 25-45", "Lookalike 1%", "Interest: fitness", "Retargeting 30d", "Expats 30-55"]
CREATIVES = ["Video testimonial", "Before/after carousel", "Coach intro reel", "Free assessment offer", "UGC story"]
OTHER_SOURCES = [("organic_search", "google", "organic"), ("referral", "referral", "word_of_mouth"),
                 ("google_ads", "google", "cpc"), ("instagram_organic", "instagram", "social"),
                 ("walk_in", "", "")]
LOSS_REASONS_HELD = ["Not a fit", "Budget", "Wants to think about it", "Injury / medical"]
LOSS_REASONS_LATE = ["Price", "Went silent", "Chose a competitor", "Timing"]
PACKAGES = [  # (sessions, AED per session, share)
    (12, 300, 0.25), (24, 275, 0.40), (36, 250, 0.22), (48, 225, 0.13),
]
STAGES = {"lead": "appointmentscheduled", "booked": "122237508", "held": "122237276",
          "qualified": "decisionmakerboughtin", "package_selected": "qualifiedtobuy", "payment_pending": "2900542",
          "closed_won": "closedwon", "closed_lost": "closedlost"}
STRIPE_FEE_PCT = Decimal("0.029")
STRIPE_FEE_FIXED_MINOR = 100


@dataclass
class Params:
    clients: int = 1000
    days: int = 365
    seed: int = 42
    end: date | None = None  # last day of the dataset (inclusive); the caller passes today by default
    tz: str = "Asia/Dubai"
    chunk_leads: int = 20000


class Ids:
    """Hands out primary keys per table, starting after what the database already holds."""

    def __init__(self, starts: dict[str, int]):
        self._next = dict(starts)

    def take(self, table: str) -> int:
        value = self._next.get(table, 1)
        self._next[table] = value + 1
        return value

    def last(self) -> dict[str, int]:
        return {t: v - 1 for t, v in self._next.items()}


@dataclass
class StaffMember:
    id: int
    name: str
    kind: str
    skill: float  # setter: reach/booking skill; coach: close/retention skill
    speed_minutes: float = 10.0  # setter's median minutes to first call


@dataclass
class AdRef:
    id: int
    meta_id: str
    adset_id: int
    adset_meta_id: str
    campaign_id: int
    campaign_meta_id: str
    quality: float  # lead quality: scales booking and closing
    cpl: float  # cost per lead this ad tends to cost, AED
    weight: float
    first_day: date
    last_day: date


@dataclass
class World:
    params: Params
    tz: ZoneInfo
    start: date
    end: date
    setters: list[StaffMember]
    coaches: list[StaffMember]
    ads: list[AdRef]
    survey_id: int
    # aggregated while simulating leads; turned into insights and payouts at the end
    ad_day_leads: dict = field(default_factory=lambda: defaultdict(int))
    ad_day_purchases: dict = field(default_factory=lambda: defaultdict(lambda: [0, Decimal(0)]))
    day_net_minor: dict = field(default_factory=lambda: defaultdict(int))


def _rng(seed: int, *key) -> random.Random:
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _at(day: date, minutes: float, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tz) + timedelta(minutes=minutes)


def _within_hours(moment: datetime, tz: ZoneInfo) -> datetime:
    """Setters call between 09:00 and 21:00 Dubai time: move a moment outside that into the next window."""
    local = moment.astimezone(tz)
    if local.hour < 9:
        return datetime.combine(local.date(), time(9), tz) + timedelta(minutes=local.minute % 20)
    if local.hour >= 21:
        return datetime.combine(local.date() + timedelta(days=1), time(9), tz) + timedelta(minutes=local.minute % 20)
    return moment


def _phone(rng: random.Random) -> str:
    return f"+971{rng.choice(UAE_MOBILE_PREFIXES)}{rng.randrange(1000000, 9999999)}"


LEAD_TO_CLIENT = 0.1  # one lead in ten becomes a client, a typical rate for premium personal training


def lead_count_for(clients: int) -> int:
    return max(20, math.ceil(clients / LEAD_TO_CLIENT))


def build_world(params: Params, ids: Ids) -> tuple[World, dict[str, list[dict]]]:
    """Staff, campaigns / ad sets / ads and the survey; returns the world and their rows."""
    rng = _rng(params.seed, "world")
    tz = ZoneInfo(params.tz)
    end = params.end
    start = end - timedelta(days=params.days - 1)
    leads_per_day = lead_count_for(params.clients) / params.days
    n_setters = min(200, max(5, round(leads_per_day / 40)))
    n_coaches = min(2000, max(8, round(params.clients * 0.35 / 25)))
    rows: dict[str, list[dict]] = defaultdict(list)

    def staff(kind: str, index: int) -> StaffMember:
        name = f"{FIRST_NAMES[(index * 7 + (kind == 'coach') * 3) % len(FIRST_NAMES)]} " \
               f"{LAST_NAMES[(index * 5 + (kind == 'coach') * 11) % len(LAST_NAMES)]}"
        member = StaffMember(id=ids.take("staff"), name=name, kind=kind, skill=rng.uniform(0.75, 1.25),
                             speed_minutes=rng.choice([2, 4, 6, 10, 15, 25, 45]))
        slug = name.lower().replace(" ", ".").replace("'", "")
        rows["staff"].append({
            "id": member.id, "name": name, "kind": kind, "email": f"{slug}{index}@ptd-demo.ae",
            "hubspot_owner_id": str(70000000 + member.id), "is_active": True,
            "monthly_target": _money(rng.choice([40000, 60000, 80000])) if kind == "coach" else None,
        })
        return member

    setters = [staff("setter", i) for i in range(n_setters)]
    coaches = [staff("coach", i) for i in range(n_coaches)]

    n_campaigns = min(40, max(6, round(params.clients / 125)))
    ads: list[AdRef] = []
    for c in range(n_campaigns):
        campaign_id = ids.take("campaign")
        campaign_meta = str(120200000000000 + campaign_id * 1000)
        # Campaign quality spread: some make money (ROAS > 2), some burn it; poor audiences also cost more per lead.
        quality = rng.choice([0.35, 0.7, 1.0, 1.25, 1.5])
        base_cpl = rng.uniform(140, 320) / math.sqrt(quality)
        first = start + timedelta(days=rng.randrange(0, max(1, params.days // 3)) if c % 3 == 2 else 0)
        last = end if c % 4 != 3 else max(first, end - timedelta(days=rng.randrange(10, max(11, params.days // 2))))
        theme = CAMPAIGN_THEMES[c % len(CAMPAIGN_THEMES)]
        rows["campaign"].append({
            "id": campaign_id, "meta_id": campaign_meta, "account_id": "1234567890",
            "name": f"{theme} · {first:%b %Y}", "status": "ACTIVE" if last == end else "PAUSED",
            "effective_status": "ACTIVE" if last == end else "CAMPAIGN_PAUSED", "objective": "OUTCOME_LEADS",
            "daily_budget": _money(rng.choice([150, 250, 400, 600])),
            "created_time": _at(first, 480, tz), "start_time": _at(first, 480, tz),
            "stop_time": None if last == end else _at(last + timedelta(days=1), 0, tz),
        })
        for a in range(3):
            adset_id = ids.take("adset")
            adset_meta = str(int(campaign_meta) + 100 + a * 10)
            rows["adset"].append({
                "id": adset_id, "meta_id": adset_meta, "campaign_id": campaign_id,
                "name": f"{theme} · {AUDIENCES[(c + a) % len(AUDIENCES)]}", "status": "ACTIVE",
                "effective_status": "ACTIVE", "optimization_goal": "LEAD_GENERATION",
                "created_time": _at(first, 480, tz), "start_time": _at(first, 480, tz),
            })
            for k in range(3):
                ad_id = ids.take("ad")
                ad_meta = str(int(adset_meta) + 1 + k)
                rows["ad"].append({
                    "id": ad_id, "meta_id": ad_meta, "adset_id": adset_id, "campaign_id": campaign_id,
                    "name": f"{CREATIVES[(a * 3 + k + c) % len(CREATIVES)]} v{k + 1}", "status": "ACTIVE",
                    "effective_status": "ACTIVE", "creative_id": str(int(ad_meta) + 5000),
                    "created_time": _at(first, 480, tz),
                })
                ads.append(AdRef(ad_id, ad_meta, adset_id, adset_meta, campaign_id, campaign_meta,
                                 quality=quality * rng.uniform(0.85, 1.15), cpl=base_cpl * rng.uniform(0.8, 1.25),
                                 weight=rng.uniform(0.3, 1.0), first_day=first, last_day=last))

    survey_id = ids.take("survey")
    rows["survey"].append({"id": survey_id, "name": "Monthly NPS", "kind": "nps", "is_active": True,
                           "question": "How likely are you to recommend PTD to a friend? (0–10)",
                           "created_at": _at(start, 600, tz)})
    world = World(params=params, tz=tz, start=start, end=end, setters=setters, coaches=coaches, ads=ads,
                  survey_id=survey_id)
    return world, rows


def lead_chunks(world: World, ids: Ids) -> Iterator[dict[str, list[dict]]]:
    """Rows for every lead and what followed, a chunk of leads at a time (bounded memory)."""
    params = world.params
    total_leads = lead_count_for(params.clients)
    day_weights = _day_weights(world)
    days = list(day_weights)
    cumulative = []
    running = 0.0
    for d in days:
        running += day_weights[d]
        cumulative.append(running)
    placement = _rng(params.seed, "days")
    lead_days = sorted(days[_bisect(cumulative, placement.random() * running)] for _ in range(total_leads))
    # Exactly `clients` leads become clients: the funnel runs for everyone, then the surplus of wins is
    # turned back into losses at payment (chosen at random, deterministically).
    win_plan = _plan_wins(world, lead_days)
    for chunk_start in range(0, total_leads, params.chunk_leads):
        rows: dict[str, list[dict]] = defaultdict(list)
        for index in range(chunk_start, min(total_leads, chunk_start + params.chunk_leads)):
            simulate_lead(world, ids, rows, index, lead_days[index], win_plan[index])
        yield rows


def _bisect(cumulative: list[float], x: float) -> int:
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _day_weights(world: World) -> dict[date, float]:
    """Lead volume grows over the year, dips on Fridays and peaks in January and September."""
    weights = {}
    n = (world.end - world.start).days + 1
    for i in range(n):
        d = world.start + timedelta(days=i)
        season = 1.0 + 0.25 * (d.month in (1, 9)) - 0.15 * (d.month in (7, 8))
        weekday = 0.75 if d.weekday() == 4 else 1.0
        weights[d] = (0.7 + 0.6 * i / max(1, n - 1)) * season * weekday
    return weights


@dataclass(frozen=True)
class LeadPlan:
    ad: AdRef | None
    other_source: tuple[str, str, str] | None
    may_win: bool  # False: the funnel for this lead ends before closed won


def _plan_wins(world: World, lead_days: list[date]) -> list[LeadPlan]:
    """Choose each lead's source and whether a win is allowed, so that exactly `clients` leads win."""
    params = world.params
    rng = _rng(params.seed, "plan")
    plans_source = []
    win_weights = []
    active_by_day: dict[date, tuple[list[AdRef], list[float]]] = {}
    for day in set(lead_days):
        active = [a for a in world.ads if a.first_day <= day <= a.last_day]
        active_by_day[day] = (active, list(itertools.accumulate(a.weight for a in active)))
    for index, day in enumerate(lead_days):
        active, cum_weights = active_by_day[day]
        if active and rng.random() < 0.72:
            ad = rng.choices(active, cum_weights=cum_weights)[0]
            plans_source.append((ad, None))
            win_weights.append(ad.quality)
        else:
            src = rng.choice(OTHER_SOURCES)
            plans_source.append((None, src))
            win_weights.append(1.3 if src[0] == "referral" else 0.9)
    # Leads too recent to have closed cannot be among the winners (a winner's funnel takes at most ~2 weeks);
    # walk-ins buy drop-in passes, not packages.
    cutoff = world.end - timedelta(days=21)
    eligible = [i for i, d in enumerate(lead_days)
                if d <= cutoff and (plans_source[i][1] is None or plans_source[i][1][0] != "walk_in")]
    chosen = set(_weighted_sample(rng, eligible, [win_weights[i] for i in eligible], min(params.clients, len(eligible))))
    return [LeadPlan(ad=s[0], other_source=s[1], may_win=i in chosen) for i, s in enumerate(plans_source)]


def _weighted_sample(rng: random.Random, items: list[int], weights: list[float], k: int) -> list[int]:
    """k distinct items, each drawn with probability proportional to its weight (Efraimidis–Spirakis)."""
    keys = sorted(((rng.random() ** (1.0 / w), item) for item, w in zip(items, weights)), reverse=True)
    return [item for _, item in keys[:k]]


def simulate_lead(world: World, ids: Ids, rows: dict[str, list[dict]], index: int, day: date, plan: LeadPlan) -> None:
    params, tz = world.params, world.tz
    rng = _rng(params.seed, "lead", index)
    end_dt = datetime.combine(world.end + timedelta(days=1), time.min, tz)
    contact_id = ids.take("contact")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower().replace(' ', '').replace(chr(39), '')}{index}@{rng.choice(EMAIL_DOMAINS)}"
    phone = _phone(rng)
    # Ad leads come in the evening; others through the day.
    minute = rng.gauss(20 * 60, 150) if plan.ad else rng.uniform(8 * 60, 22 * 60)
    created = _at(day, min(max(minute, 6 * 60), 23 * 60 + 59), tz)
    setter = world.setters[rng.randrange(len(world.setters))]
    contact = {
        "id": contact_id, "hubspot_id": str(100000000 + contact_id), "email_normalized": email,
        "phone_e164": phone, "first_name": first, "last_name": last, "lifecycle_stage": "lead",
        "created_at": created, "updated_at": created, "owner_id": setter.id, "coach_id": None,
    }
    rows["contact"].append(contact)
    walk_in = plan.other_source is not None and plan.other_source[0] == "walk_in"
    if plan.ad:
        ad = plan.ad
        fbclid = f"IwAR{hashlib.sha1(f'{params.seed}-{index}'.encode()).hexdigest()[:24]}"
        contact.update(source="facebook_ads", utm_source="facebook", utm_medium="paid_social",
                       utm_campaign=ad.campaign_meta_id, utm_content=ad.meta_id, fbclid=fbclid,
                       fbc=f"fb.1.{int(created.timestamp() * 1000)}.{fbclid}", fb_campaign_id=ad.campaign_meta_id,
                       fb_adset_id=ad.adset_meta_id, fb_ad_id=ad.meta_id)
        world.ad_day_leads[(ad.id, day)] += 1
        _attribution(world, ids, rows, contact, "Lead", created, Decimal(0), index)
    else:
        source, utm_source, utm_medium = plan.other_source
        contact.update(source=source, utm_source=utm_source, utm_medium=utm_medium)
    quality = plan.ad.quality if plan.ad else 1.0

    if walk_in:
        # Walk-ins buy a drop-in pass at the desk: a Stripe payment with no deal (the truth triangle's case).
        if rng.random() < 0.35 and created < end_dt - timedelta(hours=2):
            contact["lifecycle_stage"] = "customer"
            customer_id = _customer(world, ids, rows, contact, created)
            _payment(world, ids, rows, rng, contact_id=contact_id, customer_id=customer_id,
                     amount_minor=rng.choice([15000, 25000]), when=created + timedelta(minutes=20),
                     description="Drop-in session")
        return

    # --- Setter calls: first call after the setter's typical delay, then retries until answered ---
    calls_answered_at = None
    attempt_time = _within_hours(created + timedelta(minutes=rng.lognormvariate(math.log(setter.speed_minutes), 0.8)), tz)
    attempts = rng.randint(1, 2) if plan.may_win else rng.randint(1, 6)
    for attempt in range(attempts):
        if attempt_time >= end_dt:
            break
        answered = rng.random() < min(0.85, 0.42 * setter.skill + 0.05 * attempt) or (
            plan.may_win and attempt == attempts - 1)
        outcome = "answered" if answered else rng.choice(["missed", "missed", "busy", "voicemail"])
        rows["call"].append({
            "id": ids.take("call"), "source": "callgear", "source_id": str(900000000 + ids.take("call_source")),
            "contact_id": contact_id, "staff_id": setter.id, "direction": "outbound",
            "contact_phone_e164": phone, "started_at": attempt_time,
            "talk_seconds": int(rng.uniform(90, 900)) if answered else 0,
            "wait_seconds": int(rng.uniform(5, 30)), "outcome": outcome,
        })
        contact.setdefault("first_call_at", attempt_time)  # what clients.first_times.FIRST_CALL derives (every call is outbound)
        if answered:
            calls_answered_at = attempt_time
            break
        attempt_time = _within_hours(attempt_time + timedelta(hours=rng.choice([2, 4, 20, 26, 48])), tz)
    if calls_answered_at is None:
        return
    books = rng.random() < (0.62 if plan.may_win else 0.5) * quality * setter.skill
    if not books and not plan.may_win:
        return

    # --- Assessment booked: a deal opens ---
    coach = world.coaches[rng.randrange(len(world.coaches))]
    booked_at = calls_answered_at + timedelta(minutes=rng.uniform(3, 20))
    scheduled = _within_hours(_at((booked_at + timedelta(days=rng.randint(1, 5))).date(),
                                  rng.choice([7, 8, 10, 12, 17, 18, 19, 20]) * 60, tz), tz)
    contact["lifecycle_stage"] = "salesqualifiedlead"
    deal_id = ids.take("deal")
    deal = {"id": deal_id, "hubspot_id": str(200000000 + deal_id), "name": f"{first} {last} — assessment",
            "contact_id": contact_id, "owner_id": coach.id, "pipeline": "default", "stage_id": STAGES["booked"],
            "amount": None, "cash_collected": Decimal(0), "created_at": booked_at, "updated_at": booked_at,
            "close_date": None, "closed_lost_reason": ""}
    rows["deal"].append(deal)
    history = [("booked", booked_at)]
    appointment = {"id": ids.take("appointment"), "source": "hubspot", "source_id": str(300000000 + deal_id),
                   "contact_id": contact_id, "staff_id": coach.id, "booked_by_id": setter.id,
                   "kind": "assessment", "booked_at": booked_at, "scheduled_at": scheduled, "status": "booked"}
    rows["appointment"].append(appointment)

    def close_lost(at: datetime, reason: str) -> None:
        if at < end_dt:
            deal.update(stage_id=STAGES["closed_lost"], close_date=at, closed_lost_reason=reason, updated_at=at)
            history.append(("closed_lost", at))

    def finish() -> None:
        deal["stage_id"] = STAGES[history[-1][0]]
        for step, at in history:
            rows["deal_stage"].append({"id": ids.take("deal_stage"), "deal_id": deal_id, "stage_id": STAGES[step],
                                       "entered_at": at})

    if scheduled >= end_dt:
        return finish()
    shows = plan.may_win or rng.random() < 0.7 * (0.9 + 0.1 * setter.skill)
    if not shows:
        appointment["status"] = rng.choice(["no_show", "no_show", "cancelled"])
        close_lost(scheduled + timedelta(days=rng.randint(1, 4)), "No show")
        return finish()
    appointment["status"] = "held"
    held_at = scheduled + timedelta(minutes=60)
    history.append(("held", held_at))
    contact["updated_at"] = held_at
    if not plan.may_win and rng.random() < 0.55:
        close_lost(held_at + timedelta(days=rng.randint(0, 3)), rng.choice(LOSS_REASONS_HELD))
        return finish()
    steps_at = held_at
    for step in ("qualified", "package_selected", "payment_pending"):
        steps_at = steps_at + timedelta(hours=rng.uniform(1, 36))
        if steps_at >= end_dt:
            return finish()
        history.append((step, steps_at))
    sessions, per_session = _package_choice(rng)
    value = Decimal(sessions * per_session)
    deal.update(amount=value, name=f"{first} {last} — {sessions} sessions")
    if not plan.may_win:
        close_lost(steps_at + timedelta(days=rng.randint(1, 10)), rng.choice(LOSS_REASONS_LATE))
        return finish()
    won_at = steps_at + timedelta(hours=rng.uniform(1, 48))
    if won_at >= end_dt:
        return finish()
    history.append(("closed_won", won_at))
    deal.update(stage_id=STAGES["closed_won"], close_date=won_at, updated_at=won_at, _client=True)
    contact.update(lifecycle_stage="customer", coach_id=coach.id, updated_at=won_at)
    finish()
    _client_life(world, ids, rows, rng, contact, deal, coach, won_at, sessions, per_session, plan, index)


def _package_choice(rng: random.Random) -> tuple[int, int]:
    sessions, per_session, _ = rng.choices(PACKAGES, weights=[p[2] for p in PACKAGES])[0]
    return sessions, per_session


def _customer(world: World, ids: Ids, rows, contact: dict, when: datetime) -> int:
    customer_id = ids.take("customer")
    rows["customer"].append({
        "id": customer_id, "stripe_id": f"cus_demo{customer_id:010d}", "contact_id": contact["id"],
        "email": contact["email_normalized"], "name": f"{contact['first_name']} {contact['last_name']}",
        "currency": "AED", "created": when,
    })
    return customer_id


def _payment(world: World, ids: Ids, rows, rng: random.Random, *, contact_id: int, customer_id: int,
             amount_minor: int, when: datetime, description: str, status: str = "succeeded") -> dict:
    payment_id = ids.take("payment")
    fee = int(amount_minor * STRIPE_FEE_PCT) + STRIPE_FEE_FIXED_MINOR if status == "succeeded" else 0
    card = hashlib.sha1(f"{world.params.seed}-card-{customer_id}".encode()).hexdigest()[:16]
    payment = {
        "id": payment_id, "stripe_id": f"ch_demo{payment_id:012d}", "payment_intent_id": f"pi_demo{payment_id:012d}",
        "customer_id": customer_id, "contact_id": contact_id, "amount_minor": amount_minor, "currency": "AED",
        "status": status, "fee_minor": fee, "net_minor": amount_minor - fee if status == "succeeded" else 0,
        "amount_refunded_minor": 0, "disputed": False, "card_fingerprint": card, "card_last4": f"{int(card[:8], 16) % 10_000:04d}",
        "description": description,
        "created": when, "livemode": False,
        "failure_code": "card_declined" if status == "failed" else "",
        "failure_message": "Your card was declined." if status == "failed" else "",
    }
    rows["payment"].append(payment)
    if status == "succeeded":
        world.day_net_minor[when.astimezone(world.tz).date()] += payment["net_minor"]
    return payment


def _attribution(world: World, ids: Ids, rows, contact: dict, event: str, when: datetime, value: Decimal,
                 index: int) -> None:
    if not contact.get("fb_ad_id"):
        return
    click = f"at{world.params.seed}x{index}"
    rows["attribution"].append({
        "id": ids.take("attribution"), "source": "anytrack", "external_id": f"{click}-{event}-{ids.take('attr_seq')}",
        "contact_id": contact["id"], "click_id": click, "fbclid": contact["fbclid"], "fbc": contact["fbc"],
        "campaign_id": contact["fb_campaign_id"], "adset_id": contact["fb_adset_id"], "ad_id": contact["fb_ad_id"],
        "utm_source": contact["utm_source"], "utm_medium": contact["utm_medium"],
        "utm_campaign": contact["utm_campaign"], "utm_content": contact["utm_content"],
        "event_name": event, "value": value, "currency": "AED", "occurred_at": when, "received_at": when,
    })


def _client_life(world: World, ids: Ids, rows, rng: random.Random, contact: dict, deal: dict, coach: StaffMember,
                 won_at: datetime, sessions: int, per_session: int, plan: LeadPlan, index: int) -> None:
    """Packages, training sessions, payments, interactions and survey answers of one client."""
    tz, end = world.tz, world.end
    end_dt = datetime.combine(end + timedelta(days=1), time.min, tz)
    contact_id = contact["id"]
    first_payment_row = len(rows["payment"])
    customer_id = _customer(world, ids, rows, contact, won_at - timedelta(minutes=5))
    # Commitment: most clients are steady; about a third drift away after some weeks.
    drifter = rng.random() < 0.38
    commitment = min(0.97, rng.uniform(0.72, 0.95) * (0.92 + 0.08 * coach.skill))
    drift_starts_week = rng.randint(2, 14) if drifter else 10_000
    drift_per_week = rng.uniform(0.05, 0.14)
    per_week = rng.choice([2, 2, 3])
    on_subscription = rng.random() < 0.3
    subscription_id = None
    if on_subscription:
        subscription_id = ids.take("subscription")
        rows["subscription"].append({
            "id": subscription_id, "stripe_id": f"sub_demo{subscription_id:010d}", "customer_id": customer_id,
            "contact_id": contact_id, "status": "active", "plan_name": "Monthly PT membership",
            "amount_minor": per_week * 4 * per_session * 100, "interval": "month", "currency": "AED",
            "current_period_start": won_at, "current_period_end": won_at + timedelta(days=30),
            "cancel_at_period_end": False, "canceled_at": None, "created": won_at,
        })
    # Claimed by the ad platform (AnyTrack purchase event) — sometimes before payment settles.
    _attribution(world, ids, rows, contact, "Purchase", won_at, Decimal(sessions * per_session), index)
    if plan.ad:
        slot = world.ad_day_purchases[(plan.ad.id, won_at.astimezone(tz).date())]
        slot[0] += 1
        slot[1] += Decimal(sessions * per_session)

    package_start = (won_at + timedelta(days=rng.randint(1, 4))).astimezone(tz).date()
    week_index = 0
    recent: list[int] = []  # 1 attended / 0 missed, last planned sessions
    timeline: list[tuple[date, float]] = []  # (week end, attendance then): messages and surveys use the present
    churned_at: datetime | None = None
    first_package = True
    paid_total = Decimal(0)
    while package_start <= end:
        value = Decimal(sessions * per_session)
        weeks = math.ceil(sessions / per_week) + 4
        expires = package_start + timedelta(weeks=weeks)
        package_id = ids.take("package")
        package = {"id": package_id, "source_id": f"pkg-{package_id}", "contact_id": contact_id,
                   "name": f"{sessions}-session package", "sessions_purchased": sessions, "sessions_used": 0,
                   "value": value, "starts_on": package_start, "expires_on": expires}
        rows["package"].append(package)
        if not first_package:  # a renewal is a new won deal owned by the coach
            renew_at = _at(package_start, 11 * 60, tz) - timedelta(days=1)
            renewal_id = ids.take("deal")
            rows["deal"].append({"id": renewal_id, "hubspot_id": str(200000000 + renewal_id),
                                 "name": f"{contact['first_name']} {contact['last_name']} — renewal {sessions}",
                                 "contact_id": contact_id, "owner_id": coach.id, "pipeline": "default",
                                 "stage_id": STAGES["closed_won"], "amount": value, "cash_collected": Decimal(0),
                                 "created_at": renew_at - timedelta(days=2), "updated_at": renew_at,
                                 "close_date": renew_at, "closed_lost_reason": ""})
            for step, at in (("payment_pending", renew_at - timedelta(days=2)), ("closed_won", renew_at)):
                rows["deal_stage"].append({"id": ids.take("deal_stage"), "deal_id": renewal_id,
                                           "stage_id": STAGES[step], "entered_at": at})
            current_deal = rows["deal"][-1]
        else:
            current_deal = deal
        # Payment for this package: in full (sometimes after a declined card), or monthly by subscription.
        pay_at = _at(package_start, 10 * 60, tz) - timedelta(days=1) if not first_package else won_at + timedelta(minutes=30)
        if pay_at < end_dt:
            if subscription_id is None:
                if rng.random() < 0.08:
                    _payment(world, ids, rows, rng, contact_id=contact_id, customer_id=customer_id,
                             amount_minor=int(value * 100), when=pay_at - timedelta(minutes=10),
                             description=package["name"], status="failed")
                if first_package and rng.random() < 0.025:
                    pass  # paid in cash at the studio: a won deal with no Stripe payment
                else:
                    payment = _payment(world, ids, rows, rng, contact_id=contact_id, customer_id=customer_id,
                                       amount_minor=int(value * 100), when=pay_at, description=package["name"])
                    current_deal["cash_collected"] += value
                    paid_total += value
                    if rng.random() < 0.004:
                        _dispute(world, ids, rows, rng, payment)
        # Sessions, week by week, while the client keeps coming.
        used = 0
        week_start = package_start
        while used < sessions and week_start <= min(expires, end) and churned_at is None:
            attend_p = commitment - max(0, week_index - drift_starts_week) * drift_per_week
            for slot in range(per_week):
                if used >= sessions:
                    break
                day = week_start + timedelta(days=slot * (7 // per_week))
                if day > end or day > expires:
                    break
                starts = _at(day, rng.choice([6, 7, 8, 12, 17, 18, 19, 20]) * 60, tz)
                roll = rng.random()
                if roll < attend_p:
                    status, used = "attended", used + 1
                    recent.append(1)
                else:
                    status = rng.choices(["no_show", "late_cancel", "cancelled"], weights=[4, 2, 4])[0]
                    if status == "late_cancel":
                        used += 1  # a late cancel still uses the session
                    recent.append(0)
                rows["session"].append({"id": ids.take("session"), "source_id": f"aws-{ids.take('session_src')}",
                                        "contact_id": contact_id, "coach_id": coach.id, "package_id": package_id,
                                        "starts_at": starts, "status": status})
            recent = recent[-8:]
            timeline.append((week_start + timedelta(days=7), sum(recent) / max(1, len(recent))))
            # Attendance below a third over the last four weeks: the client stops coming.
            if len(recent) >= 6 and sum(recent) / len(recent) < 0.34:
                churned_at = _at(week_start + timedelta(days=6), 12 * 60, tz)
            week_index += 1
            week_start += timedelta(days=7)
        package["sessions_used"] = used
        if subscription_id is not None:
            paid_total += _subscription_invoices(world, ids, rows, rng, contact_id, customer_id, subscription_id,
                                                 package_start, min(week_start, end), current_deal)
        # Interactions and a survey answer, in tone with how the client is doing.
        _interactions(world, ids, rows, rng, contact_id, coach, package_start, min(week_start, end), timeline)
        if churned_at is not None or week_start > end:
            break
        renew_p = 0.45 + 0.5 * (sum(recent) / max(1, len(recent)))
        if rng.random() > renew_p:
            churned_at = _at(min(expires, week_start), 12 * 60, tz)
            break
        sessions, per_session = _package_choice(rng)
        package_start = week_start + timedelta(days=rng.randint(0, 3))
        first_package = False
    if churned_at is not None and churned_at < end_dt:
        contact["lifecycle_stage"] = "other"  # a former customer in HubSpot terms
        if subscription_id is not None:
            sub = next(s for s in reversed(rows["subscription"]) if s["id"] == subscription_id)
            sub.update(status="canceled", canceled_at=churned_at)
        if paid_total and rng.random() < 0.12:  # some churned clients ask for money back
            refundable = [p for p in rows["payment"][first_payment_row:]
                          if p["status"] == "succeeded" and p["created"] < churned_at]
            if refundable:
                _refund(world, ids, rows, rng, refundable[-1], churned_at + timedelta(days=rng.randint(1, 5)), end_dt)
    if rng.random() < 0.45:
        answered = won_at + timedelta(days=rng.randint(20, 45))
        if answered < end_dt:
            attendance = _attendance_on(timeline, answered.date())
            score = max(0, min(10, round(4 + 6 * attendance + rng.gauss(0, 1.2))))
            rows["survey_response"].append({"id": ids.take("survey_response"), "survey_id": world.survey_id,
                                            "contact_id": contact_id, "score": score, "responded_at": answered,
                                            "comment": "" if score >= 7 else rng.choice(
                                                ["Schedule doesn't work", "Not seeing results", "Too expensive", ""])})


def _subscription_invoices(world, ids, rows, rng, contact_id, customer_id, subscription_id, first_day, last_day,
                           deal) -> Decimal:
    sub = next(s for s in reversed(rows["subscription"]) if s["id"] == subscription_id)
    amount_minor = sub["amount_minor"]
    collected = Decimal(0)
    day = first_day
    end_dt = datetime.combine(world.end + timedelta(days=1), time.min, world.tz)
    while day <= last_day:
        at = _at(day, 9 * 60, world.tz)
        if at >= end_dt:
            break
        invoice_id = ids.take("invoice")
        failed_first = rng.random() < 0.07
        recovered = not failed_first or rng.random() < 0.7
        rows["invoice"].append({"id": invoice_id, "stripe_id": f"in_demo{invoice_id:010d}", "customer_id": customer_id,
                                "subscription_id": subscription_id, "contact_id": contact_id,
                                "amount_due_minor": amount_minor, "amount_paid_minor": amount_minor if recovered else 0,
                                "currency": "AED", "status": "paid" if recovered else "open", "created": at,
                                "due_date": at + timedelta(days=3),
                                "paid_at": (at + timedelta(days=2 if failed_first else 0)) if recovered else None})
        if failed_first:
            _payment(world, ids, rows, rng, contact_id=contact_id, customer_id=customer_id, amount_minor=amount_minor,
                     when=at, description="Monthly PT membership", status="failed")
        if recovered:
            paid_at = at + timedelta(days=2) if failed_first else at
            if paid_at < end_dt:
                _payment(world, ids, rows, rng, contact_id=contact_id, customer_id=customer_id,
                         amount_minor=amount_minor, when=paid_at, description="Monthly PT membership")
                deal["cash_collected"] += Decimal(amount_minor) / 100
                collected += Decimal(amount_minor) / 100
        else:
            sub["status"] = "past_due"
        sub["current_period_start"], sub["current_period_end"] = at, at + timedelta(days=30)
        day += timedelta(days=30)
    return collected


def _refund(world, ids, rows, rng, payment: dict, when: datetime, end_dt: datetime) -> None:
    if when >= end_dt:
        return
    amount = int(payment["amount_minor"] * rng.choice([0.25, 0.5, 1.0]))
    refund_id = ids.take("refund")
    rows["refund"].append({"id": refund_id, "stripe_id": f"re_demo{refund_id:010d}", "payment_id": payment["id"],
                           "amount_minor": amount, "currency": "AED", "status": "succeeded",
                           "reason": "requested_by_customer", "created": when})
    payment["amount_refunded_minor"] = amount
    world.day_net_minor[when.astimezone(world.tz).date()] -= amount


def _dispute(world, ids, rows, rng, payment: dict) -> None:
    dispute_id = ids.take("dispute")
    created = payment["created"] + timedelta(days=rng.randint(10, 40))
    if created.date() > world.end:
        return
    payment["disputed"] = True
    rows["dispute"].append({"id": dispute_id, "stripe_id": f"dp_demo{dispute_id:010d}", "payment_id": payment["id"],
                            "amount_minor": payment["amount_minor"], "currency": "AED",
                            "reason": rng.choice(["fraudulent", "product_not_received", "subscription_canceled"]),
                            "status": rng.choice(["needs_response", "won", "lost"]), "created": created,
                            "evidence_due_by": created + timedelta(days=7)})


def _attendance_on(timeline: list[tuple[date, float]], day: date, default: float = 0.8) -> float:
    """The client's attendance as it stood on `day` (the latest week finished by then): no future."""
    known = [ratio for week_end, ratio in timeline if week_end <= day]
    return known[-1] if known else default


def _interactions(world, ids, rows, rng, contact_id, coach, first_day: date, last_day: date,
                  timeline: list[tuple[date, float]]) -> None:
    day = first_day + timedelta(days=rng.randint(2, 6))
    while day <= last_day:
        attendance = _attendance_on(timeline, day)
        roll = rng.random()
        sentiment = "positive" if roll < attendance * 0.8 else ("negative" if roll > 0.55 + attendance * 0.4 else "neutral")
        score = {"positive": rng.uniform(0.3, 0.95), "neutral": rng.uniform(-0.2, 0.2),
                 "negative": rng.uniform(-0.95, -0.3)}[sentiment]
        rows["interaction"].append({
            "id": ids.take("interaction"), "source_id": f"int-{ids.take('interaction_src')}", "contact_id": contact_id,
            "staff_id": coach.id, "channel": rng.choice(["whatsapp", "whatsapp", "whatsapp", "call", "in_person"]),
            "direction": rng.choice(["outbound", "inbound"]), "occurred_at": _at(day, rng.uniform(8 * 60, 21 * 60), world.tz),
            "summary": {"positive": "Happy with progress, booked next week",
                        "neutral": "Checked in about schedule",
                        "negative": "Frustrated — missing sessions, considering a pause"}[sentiment],
            "sentiment": sentiment, "sentiment_score": _money(score).quantize(Decimal("0.001")),
            "response_minutes": int(rng.lognormvariate(math.log(20 if attendance > 0.6 else 240), 0.9)),
        })
        day += timedelta(days=rng.randint(6, 15))


def closing_rows(world: World, ids: Ids) -> dict[str, list[dict]]:
    """Daily ad insights (from the leads and purchases each ad really produced) and Stripe payouts."""
    rows: dict[str, list[dict]] = defaultdict(list)
    rng = _rng(world.params.seed, "closing")
    for ad in world.ads:
        active_days = (ad.last_day - ad.first_day).days + 1
        mean_leads = sum(world.ad_day_leads.get((ad.id, ad.first_day + timedelta(days=i)), 0)
                         for i in range(active_days)) / active_days
        day = ad.first_day
        while day <= ad.last_day:
            leads = world.ad_day_leads.get((ad.id, day), 0)
            # Spend follows the budget more than the day's luck: a quiet day still costs money.
            spend = _money(max(0.05, 0.6 * mean_leads + 0.4 * leads) * ad.cpl * rng.uniform(0.85, 1.15))
            cpm = rng.uniform(14, 32)
            impressions = max(1, int(float(spend) / cpm * 1000))
            frequency = rng.uniform(1.1, 2.4)
            clicks = int(impressions * rng.uniform(0.008, 0.025))
            purchases, value = world.ad_day_purchases.get((ad.id, day), (0, Decimal(0)))
            # Meta's own count: lead forms it saw, and purchases it claims (view-through included: inflated).
            claim = rng.uniform(1.4, 2.4)
            meta_purchases = round(purchases * claim)
            meta_value = _money(value * Decimal(str(claim)))
            rows["insight"].append({
                "id": ids.take("insight"), "ad_id": ad.id, "adset_id": ad.adset_id, "campaign_id": ad.campaign_id,
                "date": day, "spend": spend, "impressions": impressions, "reach": int(impressions / frequency),
                "clicks": clicks, "link_clicks": int(clicks * 0.7),
                "leads": max(0, round(leads * rng.uniform(0.9, 1.15))),
                "purchases": meta_purchases, "purchase_value": meta_value,
                "meta_roas": (meta_value / spend).quantize(Decimal("0.0001")) if spend else Decimal(0),
                "cpc": (spend / clicks).quantize(Decimal("0.0001")) if clicks else Decimal(0),
                "cpm": _money(cpm), "ctr": Decimal(str(round(100 * clicks / impressions, 4))),
                "frequency": Decimal(str(round(frequency, 4))),
            })
            day += timedelta(days=1)
    # Stripe pays out each day's net volume two days later.
    for day in sorted(world.day_net_minor):
        amount = world.day_net_minor[day]
        arrival = day + timedelta(days=2)
        if amount <= 0 or arrival > world.end:
            continue
        payout_id = ids.take("payout")
        failed = rng.random() < 0.01
        rows["payout"].append({"id": payout_id, "stripe_id": f"po_demo{payout_id:010d}", "amount_minor": amount,
                               "currency": "AED", "status": "failed" if failed else "paid", "arrival_date": arrival,
                               "created": _at(day, 23 * 60, world.tz),
                               "failure_code": "account_closed" if failed else ""})
    return rows
