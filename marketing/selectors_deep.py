"""Reads of Deep Intelligence (DESIGN §7 row 3): 90-day baselines of ROAS and CPL, the 12-stage funnel from ad
impression to payment, funnel health per owner against the thresholds (§6), loss reasons, and two truth checks —
lead counts from Meta, AnyTrack and the CRM; assessments held in the CRM against the attended assessments.

Every figure reuses its one definition (the registered metrics, the daily measures, clients.funnel); what has no
definition yet (contacted / reached leads, paying contacts, AnyTrack leads, loss reasons, the assessment
mismatches) is one set-based query each, never a query per row. Scoped through `scoped` and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, Trim

from clients.funnel import RANK, conversion, deals_of, entered_in
from clients.metrics import new_leads
from clients.metrics_sales import assessments_held
from clients.models import (Appointment, AppointmentKind, AppointmentStatus, Call, CallOutcome, Contact, Deal,
                            FunnelStep)
from finance.metrics import finance_unavailable
from finance.selectors import paying_contacts
from marketing.metrics import ad_leads, attribution_unavailable, spend_hidden
from marketing.models import AttributionEvent
from marketing.selectors import _client_name, _client_url, _ref
from marketing.selectors_intel import FunnelStep as Stage
from marketing.selectors_intel import funnel_steps
from ptd import rollups
from ptd.metrics import format_value, ratio, registry
from ptd.models import Benchmark, FunnelThreshold
from ptd.periods import Period
from ptd.scoping import Scope, scoped

STEP_LABELS = dict(FunnelStep.choices)


# ---- 90-day baselines ----

BASELINE_DAYS = 90
BASELINE_METRICS = {"true_roas": "roas_target", "cpl": "cpl_target"}  # metric → its benchmark (DESIGN §6)


def baseline_period(period: Period) -> Period:
    """The 90 days ending on the period's last day (the period itself included)."""
    return Period(key="baseline", label=f"{BASELINE_DAYS} days to {period.last_day:%d %b %Y}",
                  first_day=period.last_day - timedelta(days=BASELINE_DAYS - 1), last_day=period.last_day, tz=period.tz)


@dataclass(frozen=True)
class Baseline:
    label: str
    unit: str
    formula: str
    higher_is_better: bool | None
    value: Decimal | None  # the period's
    baseline: Decimal | None  # the 90 days'
    target: Decimal | None  # the benchmark, admin-set
    empty_reason: str = ""

    @property
    def vs_baseline(self) -> Decimal | None:
        """(period − baseline) / baseline × 100; None when either is unknown or the baseline is 0."""
        if self.value is None or not self.baseline:
            return None
        return ((self.value - self.baseline) / self.baseline * 100).quantize(Decimal("0.1"))

    @property
    def vs_display(self) -> str:
        return "—" if self.vs_baseline is None else f"{self.vs_baseline:+.1f} %"

    @property
    def good(self) -> bool | None:
        if not self.vs_baseline or self.higher_is_better is None:
            return None
        return (self.vs_baseline > 0) == self.higher_is_better

    @property
    def value_display(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def baseline_display(self) -> str:
        return format_value(self.baseline, self.unit)

    @property
    def target_display(self) -> str:
        return format_value(self.target, self.unit)


def baselines_for(access: Scope, period: Period) -> list[Baseline]:
    """True ROAS and CPL of the period beside their value over the 90 days to the period's end and the target —
    the registered metric functions on both periods."""
    targets = dict(Benchmark.objects.filter(workspace=access.workspace, key__in=BASELINE_METRICS.values())
                   .values_list("key", "value"))
    out, longer = [], baseline_period(period)
    for name, target in BASELINE_METRICS.items():
        spec = registry()[name]
        reason = spec.unavailable(access) if spec.unavailable else ""
        values = (None, None) if reason else (spec.func(period, access), spec.func(longer, access))
        out.append(Baseline(spec.label, spec.unit, spec.formula, spec.higher_is_better, *values, targets.get(target),
                            reason))
    return out


# ---- the 12-stage funnel ----

def lead_contact_counts(access: Scope, period: Period) -> dict[str, int]:
    """Of the leads created in the period: those called (Contact.first_call_at, clients.first_times) and, of these,
    those with an answered call by now. An answered call counts as a first call, so a lead answered before the
    period began has first_call_at before it: the answered calls since the period's start are read once (one index
    range, hashed), and only those rare leads are looked up one by one."""
    answered = scoped(Call, access).filter(outcome=CallOutcome.ANSWERED)
    since_start = answered.filter(started_at__gte=period.start, contact__isnull=False).values("contact_id")
    before_start = Q(first_call_at__lt=period.start) & Q(Exists(answered.filter(contact_id=OuterRef("pk"))))
    return scoped(Contact, access).filter(created_at__gte=period.start, created_at__lt=period.end,
                                          first_call_at__isnull=False).aggregate(
        contacted=Count("pk"), reached=Count("pk", filter=Q(pk__in=since_start) | before_start))


# The deal steps of the funnel, with the short labels its chart has room for.
DEAL_STAGES = {FunnelStep.BOOKED: "Booked", FunnelStep.HELD: "Held", FunnelStep.QUALIFIED: "Qualified",
               FunnelStep.PACKAGE_SELECTED: "Package selected", FunnelStep.PAYMENT_PENDING: "Payment pending",
               FunnelStep.CLOSED_WON: "Won"}


@dataclass(frozen=True)
class DeepFunnel:
    steps: list[Stage]  # the 12 stages in order (marketing.selectors_intel's step: count, source, from_before)
    missing: list[str]  # why a stage has no count, one line per source

    @property
    def shown(self) -> list[Stage]:
        return [s for s in self.steps if s.shown]


def funnel_for(access: Scope, period: Period, insights: dict[str, int]) -> DeepFunnel:
    """The 12 stages in order, each counting what entered it in the period (a flow, not a cohort), beside its
    share of the stage before (so it may exceed 100 %)."""
    missing = []
    if hidden := spend_hidden(access):
        missing.append(f"Impressions and clicks: {hidden}.")
    paid = None
    if unavailable := finance_unavailable(access):
        missing.append(f"Paid: {unavailable}.")
    else:
        paid = paying_contacts(access, period)
    calls = lead_contact_counts(access, period)
    entered = rollups.totals([f"entered_{s}" for s in DEAL_STAGES], period, access)
    counts = [
        ("impressions", "Impressions", None if hidden else insights["impressions"], "Σ Meta impressions"),
        ("clicks", "Clicks", None if hidden else insights["clicks"], "Σ Meta clicks"),
        ("leads", "Leads", int(new_leads(period, access)), "contacts created in the period"),
        ("contacted", "Contacted", calls["contacted"], "of those leads, the ones called (outbound, or inbound answered)"),
        ("reached", "Reached", calls["reached"], "of those leads, the ones with an answered call"),
        *((step, label, int(entered[f"entered_{step}"]), f"deals entering {STEP_LABELS[step].lower()}")
          for step, label in DEAL_STAGES.items()),
        ("paid", "Paid", paid, "contacts with a successful Stripe payment"),
    ]
    return DeepFunnel(funnel_steps(counts), missing)


# ---- health by owner (DESIGN §6) ----

VERDICT_LABELS = {"healthy": "Healthy", "warning": "Warning", "critical": "Critical"}


@dataclass(frozen=True)
class OwnerHealth:
    owner: str
    transition: str
    entered: int
    converted: int
    rate: Decimal | None
    healthy_min: Decimal
    warning_min: Decimal
    verdict: str  # healthy / warning / critical, "" when nothing entered

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS.get(self.verdict, "No deals entered")

    @property
    def rate_display(self) -> str:
        return format_value(self.rate, "%")


def owner_health_for(access: Scope, period: Period) -> list[OwnerHealth]:
    """Each funnel threshold of the workspace, in funnel order, with the period's cohort conversion (clients.funnel definition):
    read from the daily `converted_<a>_<b>` measures where the transition has one (consecutive steps), else one
    grouped query of clients.funnel.conversion."""
    thresholds = sorted(FunnelThreshold.objects.filter(workspace=access.workspace),
                        key=lambda t: (RANK.get(t.from_step, len(RANK)), RANK.get(t.to_step, len(RANK))))
    measured = [t for t in thresholds if f"converted_{t.from_step}_{t.to_step}" in rollups.measures()]
    sums = rollups.totals({name for t in measured for name in (f"entered_{t.from_step}",
                                                               f"converted_{t.from_step}_{t.to_step}")}, period, access)
    out = []
    for t in thresholds:
        if t in measured:
            entered, converted = int(sums[f"entered_{t.from_step}"]), int(sums[f"converted_{t.from_step}_{t.to_step}"])
        else:
            c = conversion(deals_of(access), period, t.from_step, t.to_step)
            entered, converted = c.entered, c.converted
        rate = ratio(converted, entered, 100)
        out.append(OwnerHealth(t.get_owner_display(), f"{STEP_LABELS.get(t.from_step, t.from_step)} → "
                                                      f"{STEP_LABELS.get(t.to_step, t.to_step)}",
                               entered, converted, rate, t.healthy_min_pct, t.warning_min_pct,
                               "" if rate is None else t.verdict(rate)))
    return out


# ---- loss reasons ----

NO_REASON = "No reason given"


def loss_reason_rows(access: Scope, period: Period) -> list[dict]:
    """Deals entering closed lost in the period by their loss reason (Deal.closed_lost_reason; blank ones
    together): deals and Σ amount (deals with no amount yet count 0)."""
    reason = Coalesce(NullIf(Trim("closed_lost_reason"), Value("")), Value(NO_REASON))
    return list(entered_in(deals_of(access), FunnelStep.CLOSED_LOST, period).annotate(reason=reason)
                .values("reason").annotate(deals=Count("pk"), value=Sum("amount", default=Decimal(0))).order_by())


# ---- source truth: lead counts ----

# AnyTrack's standard name of a lead conversion (the webhook's eventName; the demo and simulator send it).
LEAD_EVENTS = ("Lead",)


def anytrack_leads(access: Scope, period: Period) -> int:
    """Distinct people behind the AnyTrack lead events of the period: the matched contact, else the click id,
    else the event itself (one unmatched event, one person)."""
    person = Case(When(contact_id__isnull=False, then=Concat(Value("c"), Cast("contact_id", CharField()))),
                  When(click_id__gt="", then=Concat(Value("k"), "click_id")),
                  default=Concat(Value("e"), "external_id"), output_field=CharField())
    return scoped(AttributionEvent, access).filter(event_name__in=LEAD_EVENTS, occurred_at__gte=period.start,
                                                   occurred_at__lt=period.end).aggregate(
        n=Count(person, distinct=True))["n"]


@dataclass(frozen=True)
class CountGap:
    label: str
    value: int | None
    meaning: str

    @property
    def display(self) -> str:
        if self.value is None:
            return "—"
        return f"{'−' if self.value < 0 else '+' if self.value > 0 else ''}{abs(self.value):,}"


@dataclass(frozen=True)
class SourceTruth:
    meta: int | None
    anytrack: int | None
    crm: int
    meta_reason: str
    anytrack_reason: str
    gaps: list[CountGap]


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def source_truth_for(access: Scope, period: Period, insights: dict[str, int]) -> SourceTruth:
    """Lead counts of the period from each source — Meta's report, AnyTrack's lead events, the CRM's ad leads —
    and the differences between them."""
    meta_reason, anytrack_reason = spend_hidden(access), attribution_unavailable(access)
    meta = None if meta_reason else insights["leads"]
    anytrack = None if anytrack_reason else anytrack_leads(access, period)
    crm = int(ad_leads(period, access))
    return SourceTruth(meta, anytrack, crm, meta_reason, anytrack_reason, [
        CountGap("Meta − CRM", _minus(meta, crm),
                 "leads Meta counted that never became a contact with a known ad (form spam, duplicates, lost ids)"),
        CountGap("AnyTrack − CRM", _minus(anytrack, crm),
                 "lead events AnyTrack tracked beyond the CRM's ad leads; negative: ad leads AnyTrack never saw"),
        CountGap("Meta − AnyTrack", _minus(meta, anytrack),
                 "what Meta claims beyond what the site tracked (view-through and modelled conversions)"),
    ])


# ---- assessment truth ----

# How far apart the CRM's "held" and the attended assessment of the same client may be and still be one assessment:
# reps move the deal on when they get to it, sometimes the next day or after a weekend.
MATCH_WINDOW = timedelta(days=3)


def attended_assessments(access: Scope, period: Period) -> QuerySet:
    """Assessment appointments (HubSpot meetings or the sessions feed) marked held, scheduled in the period. The
    sessions feed's training sessions carry no assessment kind, so the appointment is where attendance is kept."""
    return scoped(Appointment, access).filter(kind=AppointmentKind.ASSESSMENT, status=AppointmentStatus.HELD,
                                              scheduled_at__gte=period.start, scheduled_at__lt=period.end)


@dataclass(frozen=True)
class AssessmentTruth:
    crm_held: int
    attended: int

    @property
    def gap(self) -> CountGap:
        return CountGap("CRM held − attended", self.crm_held - self.attended,
                        "held in the CRM without an attended assessment; negative: attended, not marked held")


def assessment_truth_for(access: Scope, period: Period) -> AssessmentTruth:
    return AssessmentTruth(int(assessments_held(period, access)), attended_assessments(access, period).count())


def assessment_mismatch_rows(access: Scope, period: Period) -> QuerySet:
    """One row per record on one side only: deals entering held in the period with no attended assessment of
    their client within MATCH_WINDOW, and attended assessments of the period whose client has no deal entering
    held within MATCH_WINDOW. Two anti-joins by client (index probes), as one UNION the table sorts and pages."""
    # The fixed bounds (the period widened by the window) are implied by the others; they let PostgreSQL read each
    # side's candidates with one index range and hash them rather than probe once per row.
    first, last = period.start - MATCH_WINDOW, period.end + MATCH_WINDOW
    attended = Appointment.objects.filter(
        workspace_id=access.workspace.pk, contact_id=OuterRef("contact_id"), kind=AppointmentKind.ASSESSMENT,
        status=AppointmentStatus.HELD, scheduled_at__gte=first, scheduled_at__lte=last).filter(
        scheduled_at__gte=OuterRef("funnel__held_at") - MATCH_WINDOW,
        scheduled_at__lte=OuterRef("funnel__held_at") + MATCH_WINDOW)
    held = Deal.objects.filter(workspace_id=access.workspace.pk, contact_id=OuterRef("contact_id"),
                               funnel__held_at__gte=first, funnel__held_at__lte=last).filter(
        funnel__held_at__gte=OuterRef("scheduled_at") - MATCH_WINDOW,
        funnel__held_at__lte=OuterRef("scheduled_at") + MATCH_WINDOW)
    columns = ["missing", "at", "client", "client_ref", "url", "who", "record"]
    crm_only = entered_in(deals_of(access), FunnelStep.HELD, period).filter(~Exists(attended)).annotate(
        missing=Value("No attended assessment"), at=F("funnel__held_at"), client=_client_name(),
        client_ref=_ref(), url=_client_url(), who=F("owner__name"),
        record=Concat(Value("deal "), Coalesce("hubspot_id", Cast("pk", CharField()))),
    ).values(*columns)
    feed_only = attended_assessments(access, period).filter(~Exists(held)).annotate(
        missing=Value("Not held in the CRM"), at=F("scheduled_at"), client=_client_name(),
        client_ref=_ref(), url=_client_url(), who=F("staff__name"),
        record=Concat(Value("meeting "), "source_id"),
    ).values(*columns)
    return crm_only.union(feed_only, all=True)
