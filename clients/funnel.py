"""The deal funnel (DESIGN §6, §7a) from deal stage history: stage volumes and cohort conversions, for
all deals or grouped by an owner. One implementation for the sales pipeline, setter and coach pages, deep
intel and the agents.

- stage volume: deals entering a step (their first entry into any stage mapped to it) in the period;
- conversion A→B: of the deals that entered A in the period, the share that have reached B by now. A deal
  that skipped B (HubSpot lets a rep drag a deal past a stage) but reached a later step other than
  closed-lost has passed B, so it counts as converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, CharField, Count, Exists, Min, OuterRef, Q, QuerySet, Value, When

from clients.models import Deal, DealStageHistory, FunnelStep, PipelineStage
from ptd.metrics import ratio
from ptd.periods import Period

# The order deals move through; closed-lost is an exit, not a step after won.
STEP_ORDER = [FunnelStep.LEAD, FunnelStep.BOOKED, FunnelStep.HELD, FunnelStep.QUALIFIED,
              FunnelStep.PACKAGE_SELECTED, FunnelStep.PAYMENT_PENDING, FunnelStep.CLOSED_WON]


def stage_ids(workspace_id: int) -> dict[str, list[str]]:
    """Funnel step → the stage ids an admin mapped to it."""
    out: dict[str, list[str]] = {}
    for stage_id, step in PipelineStage.objects.filter(workspace_id=workspace_id).values_list("stage_id", "funnel_step"):
        out.setdefault(step, []).append(stage_id)
    return out


def reached_ids(steps: dict[str, list[str]], step: str) -> list[str]:
    """Stage ids that show a deal has reached `step`: its own and every later step's (not closed-lost)."""
    if step == FunnelStep.CLOSED_LOST:
        return steps.get(step, [])
    later = STEP_ORDER[STEP_ORDER.index(step):]
    return [sid for s in later for sid in steps.get(s, [])]


def entered_in(deals: QuerySet, steps: dict[str, list[str]], step: str, period: Period) -> QuerySet:
    """Deals (of `deals`) whose first entry into `step` is in the period."""
    first = (DealStageHistory.objects.filter(deal_id__in=deals.values("pk"), stage_id__in=steps.get(step, []))
             .values("deal_id").annotate(first=Min("entered_at"))
             .filter(first__gte=period.start, first__lt=period.end).values("deal_id"))
    return deals.filter(pk__in=first)


def reached(steps: dict[str, list[str]], step: str) -> Q:
    """A filter on Deal: it has reached `step` by now (history or its current stage)."""
    ids = reached_ids(steps, step)
    history = DealStageHistory.objects.filter(deal_id=OuterRef("pk"), stage_id__in=ids)
    return Q(Exists(history)) | Q(stage_id__in=ids)


@dataclass(frozen=True)
class Conversion:
    entered: int
    converted: int

    @property
    def rate(self) -> Decimal | None:
        """Share converted, in %; None when nothing entered."""
        return ratio(self.converted, self.entered, 100)


def conversion(deals: QuerySet, period: Period, from_step: str, to_step: str, *, workspace_id: int,
               group_by: str | None = None) -> Conversion | dict:
    """Cohort conversion from_step → to_step; with `group_by` (a Deal field path such as "owner_id" or
    "contact__owner_id") a dict of group value → Conversion, in one query."""
    steps = stage_ids(workspace_id)
    cohort = entered_in(deals, steps, from_step, period).order_by()
    counts = dict(entered=Count("pk", distinct=True), converted=Count("pk", distinct=True, filter=reached(steps, to_step)))
    if group_by is None:
        row = cohort.aggregate(**counts)
        return Conversion(row["entered"], row["converted"])
    return {row[group_by]: Conversion(row["entered"], row["converted"])
            for row in cohort.values(group_by).annotate(**counts)}


def stage_volumes(deals: QuerySet, period: Period, *, workspace_id: int) -> dict[str, int]:
    """Funnel step → number of deals entering that step in the period, in one query. (History keeps one
    entry per deal and stage id, so a deal is counted once per step.)"""
    steps = stage_ids(workspace_id)
    step_of = Case(*(When(stage_id__in=ids, then=Value(step)) for step, ids in steps.items()), default=Value(""),
                   output_field=CharField())
    rows = (DealStageHistory.objects.filter(deal_id__in=deals.values("pk"), entered_at__gte=period.start,
                                            entered_at__lt=period.end)
            .annotate(step=step_of).values("step").annotate(n=Count("deal_id", distinct=True)).order_by())
    out = {step: 0 for step in [*STEP_ORDER, FunnelStep.CLOSED_LOST]}
    out.update({row["step"]: row["n"] for row in rows if row["step"]})
    return out


def deals_of(access) -> QuerySet:
    """The deals this person may see (the funnel's starting set)."""
    from ptd.scoping import scoped

    return scoped(Deal, access)
