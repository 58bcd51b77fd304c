"""Reads behind the client list, the client page and the interventions queue (DESIGN §7 "Beyond the eleven").
Every read starts from ptd.scoping: a coach sees own clients and the interventions assigned to them; finance
rows only reach the roles that may see finance.

A client is a contact with a package; the health engine scores those with a package in date or ended in the
last 60 days every day (clients.health), and the client list shows the latest scored day's clients. Table
rows are querysets of dicts, so ptd.tables sorts and pages them in SQL: at 100,000 clients only one page of
rows leaves the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import (Case, CharField, Count, DecimalField, F, IntegerField, OuterRef, Q, QuerySet, Subquery,
                              Value, When, Window)
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, RowNumber, Trim, TruncDate
from django.urls import reverse
from django.utils import timezone

from clients.health_formula import DEFAULT_BANDS, DEFAULT_WEIGHTS, DIMENSIONS
from clients.interventions import CLOSED, TRANSITIONS, ZONE_RANK, intervention_may_update
from clients.models import (Call, CallDirection, CallOutcome, Contact, HealthConfig, HealthScore, Interaction,
                            Intervention, InterventionStatus, Package, Priority, Sentiment, SessionStatus, Staff,
                            StaffKind, TrainingSession, Trend, Zone)
from clients.selectors_interventions import OPEN_STATUSES, interventions_queue_for
from ptd.metrics import format_value
from ptd.scoping import Scope, role_may_see, scoped

# Churn-risk bands of the list's filter: (label, lowest %, highest % exclusive); None = unbounded.
RISK_BANDS = {"high": ("High (70 % or more)", 70, None), "medium": ("Medium (40–70 %)", 40, 70),
              "low": ("Low (under 40 %)", None, 40)}
SEARCH_MAX_TERMS = 5
HISTORY_DAYS = 365  # the score history chart's span
TIMELINE_LIMIT = 200  # newest events per source and in all
DIMENSION_LABELS = {"engagement": "Engagement", "financial": "Financial", "relationship": "Relationship",
                    "package_health": "Package health", "momentum": "Momentum"}
# The queue filter's statuses: "active" (open or in progress, the default), each status, or "all".
QUEUE_STATUSES = {"active": "Open or in progress", **dict(InterventionStatus.choices), "all": "All"}
ACTION_LABELS = {InterventionStatus.IN_PROGRESS: "Start working", InterventionStatus.DONE: "Mark done",
                 InterventionStatus.DISMISSED: "Dismiss"}


def label_of(field: str, choices) -> Case:
    """A choice field's label, in SQL (so tables show "No-show", not "no_show", and still sort in SQL)."""
    return Case(*(When(**{field: value}, then=Value(str(label))) for value, label in choices),
                default=F(field), output_field=CharField())


def _url_of(url_name: str, pk_field: str) -> Concat:
    """The URL of `url_name` for the row's `pk_field`, built in SQL."""
    prefix, suffix = reverse(url_name, args=[0]).rsplit("0", 1)
    return Concat(Value(prefix), Cast(pk_field, CharField()), Value(suffix))


def _full_name(prefix: str = "") -> Coalesce:
    """First and last name, else the email, else "(no name)"."""
    name = Trim(Concat(f"{prefix}first_name", Value(" "), f"{prefix}last_name"))
    return Coalesce(NullIf(name, Value("")), NullIf(F(f"{prefix}email_normalized"), Value("")), Value("(no name)"),
                    output_field=CharField())


# ---- the client list ----------------------------------------------------------------------------

def coach_choices_for(access: Scope) -> list[tuple[int, str]]:
    """Coaches the person may filter by (a coach: only themselves)."""
    return list(scoped(Staff, access).filter(kind=StaffKind.COACH).order_by("name", "pk").values_list("pk", "name"))


def client_rows_for(access: Scope, *, day: date | None, zone: str = "", coach_id: int | None = None, risk: str = "",
                    search: str = "") -> QuerySet:
    """The clients scored on `day` (the latest scored day: everyone with a package in date or ended in the last
    60 days, clients.health) that the person may see: their score of that day (rows of one date, so a plain
    join to the contact, no per-client "latest" subquery), coach, current package (the latest started), the local
    day of the last attended session and open interventions. Filters: zone, coach, churn-risk band (RISK_BANDS)
    and a search whose every word must be in the name, email or phone.

    Every column beyond the score's is a subquery, which PostgreSQL evaluates for the shown page only (after the
    LIMIT) unless the table sorts by it."""
    tz = ZoneInfo(access.workspace.timezone)
    package = Package.objects.filter(contact_id=OuterRef("contact_id")).order_by("-starts_on", "-pk")
    # Rows of an already scoped client; only interventions have their own scope (the assignee).
    open_interventions = (scoped(Intervention, access)
                          .filter(contact_id=OuterRef("contact_id"), status__in=OPEN_STATUSES)
                          .order_by().values("contact_id").annotate(n=Count("pk")).values("n"))
    rows = scoped(HealthScore, access).filter(date=day)
    if zone:
        rows = rows.filter(zone=zone)
    if coach_id is not None:
        rows = rows.filter(contact__coach_id=coach_id)
    if risk:
        _, low, high = RISK_BANDS[risk]
        rows = rows.filter(**({"churn_risk__gte": low} if low is not None else {}),
                           **({"churn_risk__lt": high} if high is not None else {}))
    for term in search.split()[:SEARCH_MAX_TERMS]:
        rows = rows.filter(Q(contact__first_name__icontains=term) | Q(contact__last_name__icontains=term)
                           | Q(contact__email_normalized__icontains=term) | Q(contact__phone_e164__contains=term))
    contact = Contact.objects.filter(pk=OuterRef("contact_id"))
    # The contact's columns are subqueries, not joins: the paginator's count then reads the score rows alone.
    return rows.annotate(
        name=Subquery(contact.annotate(full_name=_full_name()).values("full_name")[:1]),
        url=_url_of("client-detail", "contact_id"), trend_label=label_of("trend", Trend.choices),
        coach_name=Subquery(contact.values("coach__name")[:1]),
        sessions_left=Subquery(package.annotate(left=F("sessions_purchased") - F("sessions_used")).values("left")[:1],
                               output_field=IntegerField()),
        expires_on=Subquery(package.values("expires_on")[:1]),
        last_attended=Subquery(TrainingSession.objects.filter(contact_id=OuterRef("contact_id"),
                                                              status=SessionStatus.ATTENDED)
                               .order_by("-starts_at").values(day=TruncDate("starts_at", tzinfo=tz))[:1]),
        open_interventions=Coalesce(Subquery(open_interventions, output_field=IntegerField()), 0),
    ).values("pk", "contact_id", "name", "url", "total", "zone", "churn_risk", "trend_label", "coach_name",
             "sessions_left", "expires_on", "last_attended", "open_interventions")


# ---- the client page ----------------------------------------------------------------------------

def client_for(access: Scope, contact_id: int) -> Contact:
    """The client, if the person may see them (Contact.DoesNotExist otherwise: a coach opening another coach's
    client gets a 404, never a hint that the client exists)."""
    return scoped(Contact, access).select_related("coach", "owner").get(pk=contact_id)


@dataclass(frozen=True)
class PackageStatus:
    package: Package | None
    today: date

    @property
    def in_date(self) -> bool:
        return self.package is not None and self.package.starts_on <= self.today <= self.package.expires_on

    @property
    def text(self) -> str:
        p = self.package
        if p is None:
            return "No package"
        left = f"{p.sessions_remaining} of {p.sessions_purchased} sessions left"
        if self.in_date:
            return f"{left}, expires {p.expires_on:%d %b %Y}"
        if p.starts_on > self.today:
            return f"Starts {p.starts_on:%d %b %Y} ({p.sessions_purchased} sessions)"
        return f"Expired {p.expires_on:%d %b %Y} ({left.replace(' left', ' unused')})"


def package_status_for(access: Scope, contact: Contact, today: date) -> PackageStatus:
    """The client's current package: the latest started."""
    package = scoped(Package, access).filter(contact=contact).order_by("-starts_on", "-pk").first()
    return PackageStatus(package, today)


def latest_score_for(access: Scope, contact: Contact) -> HealthScore | None:
    return scoped(HealthScore, access).filter(contact=contact).order_by("-date").first()


def score_history_for(access: Scope, contact: Contact, until: date) -> list[dict]:
    """The client's daily scores over the HISTORY_DAYS up to `until`, oldest first."""
    return list(scoped(HealthScore, access).filter(contact=contact, date__gt=until - timedelta(days=HISTORY_DAYS),
                                                   date__lte=until)
                .order_by("date").values("date", "total", "zone", *DIMENSIONS))


def health_bands_for(access: Scope) -> tuple[dict[str, float], tuple[int, int, int]]:
    """The workspace's dimension weights and zone bands (purple, green, yellow minimums); the defaults until an
    admin sets them. Workspace configuration, the same for every role."""
    config = HealthConfig.objects.filter(workspace=access.workspace).first()
    if config is None:
        return dict(DEFAULT_WEIGHTS), DEFAULT_BANDS
    return ({d: float(getattr(config, f"weight_{d}")) for d in DIMENSIONS},
            (config.purple_min, config.green_min, config.yellow_min))


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    value: Decimal | None
    weight_pct: int


def dimensions_of(score: HealthScore, weights: dict[str, float]) -> list[Dimension]:
    return [Dimension(d, DIMENSION_LABELS[d], getattr(score, d), round(100 * weights[d])) for d in DIMENSIONS]


SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def flags_of(score: HealthScore) -> list[dict]:
    """The score's named warnings, most severe first."""
    return sorted(score.flags or [], key=lambda f: SEVERITY_ORDER.get(f.get("severity"), 3))


def session_rows_for(access: Scope, contact: Contact) -> QuerySet:
    return (scoped(TrainingSession, access).filter(contact=contact)
            .annotate(status_label=label_of("status", SessionStatus.choices), coach_name=F("coach__name"),
                      package_name=F("package__name"))
            .values("pk", "starts_at", "status_label", "coach_name", "package_name"))


def payments_visible(access: Scope) -> bool:
    from finance.models import Payment

    return role_may_see(Payment, access)


def payment_rows_for(access: Scope, contact: Contact) -> QuerySet:
    """The client's Stripe payments; amounts in AED (a payment in another currency shows its code instead)."""
    from finance.models import Payment, PaymentStatus

    money = DecimalField(max_digits=14, decimal_places=2)
    in_aed = Q(currency="AED")
    return (scoped(Payment, access).filter(contact=contact)
            .annotate(amount=Case(When(in_aed, then=Cast(F("amount_minor"), money) / Value(100)), output_field=money),
                      refunded=Case(When(in_aed, then=Cast(F("amount_refunded_minor"), money) / Value(100)),
                                    output_field=money),
                      status_label=label_of("status", PaymentStatus.choices),
                      note=Case(When(~in_aed, then=Concat(Value("amount in "), "currency")),
                                default=Coalesce(NullIf("failure_message", Value("")), NullIf("description", Value(""))),
                                output_field=CharField()))
            .values("pk", "created", "amount", "refunded", "status_label", "note"))


def call_rows_for(access: Scope, contact: Contact) -> QuerySet:
    return (scoped(Call, access).filter(contact=contact)
            .annotate(direction_label=label_of("direction", CallDirection.choices),
                      outcome_label=label_of("outcome", CallOutcome.choices),
                      talk_minutes=Cast(F("talk_seconds"), DecimalField(max_digits=10, decimal_places=2)) / Value(60),
                      staff_name=F("staff__name"), recording=NullIf("recording_url", Value("")),
                      recording_label=Case(When(~Q(recording_url=""), then=Value("Listen")), output_field=CharField()))
            .values("pk", "started_at", "direction_label", "outcome_label", "talk_minutes", "staff_name", "recording",
                    "recording_label"))


def interaction_rows_for(access: Scope, contact: Contact) -> QuerySet:
    return (scoped(Interaction, access).filter(contact=contact)
            .annotate(channel_label=label_of("channel", Interaction.CHANNELS),
                      direction_label=label_of("direction", CallDirection.choices),
                      sentiment_label=label_of("sentiment", Sentiment.choices), staff_name=F("staff__name"))
            .values("pk", "occurred_at", "channel_label", "direction_label", "summary", "sentiment_label",
                    "response_minutes", "staff_name"))


def client_interventions_for(access: Scope, contact: Contact) -> list[Intervention]:
    """The client's interventions the person may see: open and in progress first (most urgent first), then
    the closed ones, newest first."""
    return list(interventions_queue_for(access=access, include_closed=True).filter(contact=contact)
                .annotate(closed=Case(When(status__in=OPEN_STATUSES, then=Value(0)), default=Value(1)))
                .order_by("closed", "priority_rank", "-created_at", "pk"))


# ---- the timeline -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    at: datetime
    source: str  # session | payment | call | interaction | intervention | health
    title: str
    detail: str = ""
    tone: str = ""  # good | bad | warn | "" (neutral): the badge colour


SESSION_TONES = {"attended": "good", "no_show": "bad", "late_cancel": "warn", "cancelled": "warn"}


def timeline_for(access: Scope, contact: Contact, *, history: list[dict], tz: ZoneInfo,
                 limit: int = TIMELINE_LIMIT) -> list[Event]:
    """One timeline of the client, newest first: sessions, payments, calls, interactions, interventions (opened
    and closed) and zone changes (from `history`, already read). Each source is read with one bounded query
    (its newest `limit` rows); the merge keeps the newest `limit` events."""
    from finance.models import format_minor

    events: list[Event] = []
    sessions = dict(SessionStatus.choices)
    for s in (scoped(TrainingSession, access).filter(contact=contact).order_by("-starts_at")
              .values("starts_at", "status", "coach__name")[:limit]):
        events.append(Event(s["starts_at"], "session", f"Session {sessions.get(s['status'], s['status']).lower()}",
                            f"with {s['coach__name']}" if s["coach__name"] else "", SESSION_TONES.get(s["status"], "")))
    if payments_visible(access):
        from finance.models import Payment

        for p in (scoped(Payment, access).filter(contact=contact).order_by("-created")
                  .values("created", "amount_minor", "amount_refunded_minor", "currency", "status", "failure_message",
                          "description")[:limit]):
            amount = format_minor(p["amount_minor"], p["currency"])
            refunded = (f", {format_minor(p['amount_refunded_minor'], p['currency'])} refunded"
                        if p["amount_refunded_minor"] else "")
            failed = p["status"] == "failed"
            events.append(Event(p["created"], "payment", f"Payment {amount} {p['status'].replace('_', ' ')}{refunded}",
                                p["failure_message"] if failed else p["description"],
                                "bad" if failed else "good" if p["status"] == "succeeded" else ""))
    for c in (scoped(Call, access).filter(contact=contact).order_by("-started_at")
              .values("started_at", "direction", "outcome", "talk_seconds", "staff__name")[:limit]):
        talk = f", {c['talk_seconds'] / 60:.1f} min" if c["talk_seconds"] else ""
        events.append(Event(c["started_at"], "call", f"{c['direction'].capitalize()} call {c['outcome']}{talk}",
                            f"by {c['staff__name']}" if c["staff__name"] else "",
                            "good" if c["outcome"] == CallOutcome.ANSWERED else ""))
    channels = dict(Interaction.CHANNELS)
    for i in (scoped(Interaction, access).filter(contact=contact).order_by("-occurred_at")
              .values("occurred_at", "channel", "direction", "sentiment", "summary", "staff__name")[:limit]):
        sentiment = f", {i['sentiment']} sentiment" if i["sentiment"] else ""
        detail = i["summary"] if access.can_see_pii else ""  # free text about the client: not for viewers
        events.append(Event(i["occurred_at"], "interaction",
                            f"{channels.get(i['channel'], i['channel'])} ({i['direction']}){sentiment}", detail,
                            {"negative": "bad", "positive": "good"}.get(i["sentiment"], "")))
    kinds = dict(Intervention.KINDS)
    for iv in (scoped(Intervention, access).filter(contact=contact).order_by("-created_at")
               .values("created_at", "completed_at", "kind", "priority", "status", "trigger", "outcome_notes")[:limit]):
        kind = kinds.get(iv["kind"], iv["kind"])
        events.append(Event(iv["created_at"], "intervention", f"Intervention opened: {kind} ({iv['priority']})",
                            iv["trigger"], "warn"))
        if iv["completed_at"] is not None:
            events.append(Event(iv["completed_at"], "intervention", f"Intervention {iv['status']}: {kind}",
                                iv["outcome_notes"], "good" if iv["status"] == InterventionStatus.DONE else ""))
    zones = dict(Zone.choices)
    for before, after in zip(history, history[1:]):
        if before["zone"] != after["zone"]:
            worse = ZONE_RANK[after["zone"]] < ZONE_RANK[before["zone"]]
            events.append(Event(datetime.combine(after["date"], time.min, tz), "health",
                                f"Zone {zones[before['zone']]} → {zones[after['zone']]}",
                                f"health {before['total']:.0f} → {after['total']:.0f}", "bad" if worse else "good"))
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]


# ---- interventions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class InterventionCard:
    """An intervention with what this person may do to it: (status, button label, needs an outcome note)
    for each allowed move; a closed one can still have its note corrected ("" = keep the status)."""

    iv: Intervention
    actions: list[tuple[str, str, bool]]

    @property
    def can_update(self) -> bool:
        return bool(self.actions)

    @property
    def overdue(self) -> bool:
        return self.iv.status in OPEN_STATUSES and self.iv.due_at is not None and self.iv.due_at < timezone.now()


def intervention_card(iv: Intervention, access: Scope) -> InterventionCard:
    if not intervention_may_update(iv, access):
        return InterventionCard(iv, [])
    moves = [(status, ACTION_LABELS[status], status in CLOSED) for status in
             (InterventionStatus.IN_PROGRESS, InterventionStatus.DONE, InterventionStatus.DISMISSED)
             if status in TRANSITIONS[iv.status]]
    if iv.status != InterventionStatus.OPEN:  # saving a note alone: while working on it, or to correct it
        moves.append(("", "Save note", True))
    return InterventionCard(iv, moves)


def intervention_for(access: Scope, intervention_id: int) -> Intervention:
    """One intervention the person may see (Intervention.DoesNotExist otherwise)."""
    return scoped(Intervention, access).select_related("contact", "assigned_to").get(pk=intervention_id)


def assignee_choices_for(access: Scope) -> list[tuple[int, str]]:
    """Staff interventions can be assigned to (coaches, and admins for the unassigned and reassignments)."""
    return list(scoped(Staff, access).filter(kind__in=[StaffKind.COACH, StaffKind.ADMIN])
                .order_by("name", "pk").values_list("pk", "name"))


def intervention_rows_for(access: Scope, *, status: str = "active", priority: str = "",
                          assigned_to: int | None = None, unassigned: bool = False, work_url: str) -> QuerySet:
    """The priority queue as table rows: `queue_rank` is the position in the queue's own order (priority level,
    urgency × revenue at risk, due time, age), so sorting by it is the queue. `work_url`, with the id in place of
    "{}", opens the intervention's update form on the page."""
    work_prefix, work_suffix = work_url.split("{}")
    rows = interventions_queue_for(access=access, include_closed=status != "active")
    if status not in ("active", "all"):
        rows = rows.filter(status=status)
    if priority:
        rows = rows.filter(priority=priority)
    if unassigned:
        rows = rows.filter(assigned_to__isnull=True)
    elif assigned_to is not None:
        rows = rows.filter(assigned_to_id=assigned_to)
    return rows.annotate(
        queue_rank=Window(RowNumber(), order_by=list(rows.query.order_by)),
        priority_label=label_of("priority", Priority.choices), kind_label=label_of("kind", Intervention.KINDS),
        status_label=label_of("status", InterventionStatus.choices),
        work_url=Concat(Value(work_prefix), Cast("pk", CharField()), Value(work_suffix)),
        client=_full_name("contact__"), client_ref=Concat(Value("Client "), Cast("contact_id", CharField())),
        client_url=_url_of("client-detail", "contact_id"), assignee=F("assigned_to__name"),
    ).values("pk", "queue_rank", "priority_label", "kind_label", "work_url", "client", "client_ref", "client_url",
             "assignee", "status_label", "due_at", "success_probability", "priority_score", "trigger", "created_at")


@dataclass(frozen=True)
class StatCard:
    """A KPI-style card of an all-time figure (no period, so no delta)."""

    label: str
    display: str
    formula: str
    note: str = ""
    empty_reason: str = ""


@dataclass(frozen=True)
class EffectivenessSummary:
    total: int
    open: int
    done: int
    dismissed: int
    measured: int
    successful: int
    success_rate: Decimal | None  # %, successful / measured
    avg_health_delta_30d: Decimal | None
    sessions_recovered: int
    revenue_protected: Decimal

    @property
    def cards(self) -> list[StatCard]:
        unmeasured = "" if self.measured else "none measured at 30 days yet"
        return [
            StatCard("Open now", format_value(self.open, "count"), "open or in-progress interventions",
                     f"{self.total:,} opened in all"),
            StatCard("Done", format_value(self.done, "count"), "interventions closed as done",
                     f"{self.dismissed:,} dismissed"),
            StatCard("Success rate", format_value(self.success_rate, "%"),
                     "done interventions whose client's health was higher 30 days after opening ÷ done "
                     "interventions measured at 30 days", f"{self.successful:,} of {self.measured:,} measured",
                     unmeasured),
            StatCard("Health change after 30 days",
                     "—" if self.avg_health_delta_30d is None else f"{self.avg_health_delta_30d:+.1f} points",
                     "mean change of the client's health score from opening to 30 days later, done interventions "
                     "measured at 30 days", "", unmeasured),
            StatCard("Sessions recovered", format_value(self.sessions_recovered, "count"),
                     "Σ over done interventions: attended sessions in the 30 days after opening − in the 30 days "
                     "before (never below 0)"),
            StatCard("Revenue protected", format_value(self.revenue_protected, "AED"),
                     "Σ over done interventions: packages bought within 30 days of opening, else the package value "
                     "left when the client still attends 16–30 days after opening"),
        ]


def effectiveness_summary(by_kind: list[dict]) -> EffectivenessSummary:
    """All kinds together, from clients.selectors_interventions.intervention_effectiveness's groups (the
    30-day average is weighted by each kind's measured count, as that selector defines it)."""
    measured = sum(g["measured"] for g in by_kind)
    successful = sum(g["successful"] for g in by_kind)
    delta_sum = sum((g["avg_health_delta_30d"] * g["measured"] for g in by_kind if g["measured"]), Decimal(0))
    return EffectivenessSummary(
        total=sum(g["total"] for g in by_kind), open=sum(g["open"] for g in by_kind),
        done=sum(g["done"] for g in by_kind), dismissed=sum(g["dismissed"] for g in by_kind), measured=measured,
        successful=successful,
        success_rate=(Decimal(100) * successful / measured).quantize(Decimal("0.1")) if measured else None,
        avg_health_delta_30d=(delta_sum / measured).quantize(Decimal("0.01")) if measured else None,
        sessions_recovered=sum(g["sessions_recovered"] for g in by_kind),
        revenue_protected=sum((g["revenue_protected"] for g in by_kind), Decimal(0)))
