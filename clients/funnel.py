"""The deal funnel (DESIGN §6, §7a) from deal stage history: stage volumes and cohort conversions, for
all deals or grouped by an owner. One implementation for the sales pipeline, setter and coach pages, deep
intel and the agents. Counts read the DealFunnel rollup (when each deal first entered each step), which
every write of deals or stage history refreshes (bulk writes call deal_funnel_refresh, ORM saves through
the signals below) and the 03:00 schedule rebuilds.

- stage volume: deals entering a step in the period (the daily measures entered_<step> of clients.measures);
- conversion A→B: of the deals that entered A in the period, the share that have reached B by now. A deal
  that skipped B (HubSpot lets a rep drag a deal past a stage) but reached a later step other than
  closed-lost has passed B, so it counts as converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models.signals import post_save
from django.db.models import Count, Q, QuerySet

from clients.models import Deal, DealFunnel, DealStageHistory, FunnelStep, PipelineStage
from ptd.metrics import ratio
from ptd.periods import Period

# The order deals move through; closed-lost is an exit, not a step after won.
STEP_ORDER = [FunnelStep.LEAD, FunnelStep.BOOKED, FunnelStep.HELD, FunnelStep.QUALIFIED,
              FunnelStep.PACKAGE_SELECTED, FunnelStep.PAYMENT_PENDING, FunnelStep.CLOSED_WON]


def stage_ids(workspace_id: int) -> dict[str, list[str]]:
    """Funnel step → the stage ids an admin mapped to it."""
    mapping: dict[str, list[str]] = {}
    for stage_id, step in PipelineStage.objects.filter(workspace_id=workspace_id).values_list("stage_id", "funnel_step"):
        mapping.setdefault(step, []).append(stage_id)
    return mapping


RANK = {step: i for i, step in enumerate(STEP_ORDER)} | {FunnelStep.CLOSED_LOST: -1}


def step_field(step: str) -> str:
    return f"{step}_at"


def entered(step: str, period: Period, funnel: str = "funnel__") -> Q:
    """A filter on Deal (on DealFunnel with funnel=""): its first entry into `step` is in the period — one index
    range of the DealFunnel rollup. A filter, so several steps can be counted in one pass."""
    field = f"{funnel}{step_field(step)}"
    return Q(**{f"{field}__gte": period.start, f"{field}__lt": period.end})


def entered_in(deals: QuerySet, step: str, period: Period) -> QuerySet:
    """Deals (of `deals`) whose first entry into `step` is in the period."""
    return deals.filter(entered(step, period))


def reached(step: str, funnel: str = "funnel__") -> Q:
    """A filter on Deal (on DealFunnel with funnel=""): it has reached `step` by now — entered it or a later
    step other than closed-lost (history or its current stage)."""
    if step == FunnelStep.CLOSED_LOST:
        return Q(**{f"{funnel}closed_lost_at__isnull": False}) | Q(**{f"{funnel}current_rank": RANK[step]})
    later = STEP_ORDER[STEP_ORDER.index(step):]
    condition = Q(**{f"{funnel}current_rank__gte": RANK[step]})
    for s in later:
        condition |= Q(**{f"{funnel}{step_field(s)}__isnull": False})
    return condition


def deal_funnel_refresh(*, workspace_id: int, deal_ids: list[int] | None = None) -> int:
    """Recompute the DealFunnel rows of some deals (all of the workspace's when `deal_ids` is None) from
    their stage history and current stage, in one statement. Called by every write of stage history."""
    steps = stage_ids(workspace_id)
    firsts = ", ".join(f"MIN(h.entered_at) FILTER (WHERE h.stage_id = ANY(%s)) AS {step_field(step)}"
                       for step in [*STEP_ORDER, FunnelStep.CLOSED_LOST])
    rank = "CASE " + " ".join("WHEN d.stage_id = ANY(%s) THEN %s" for _ in RANK) + " END"
    params = [x for step, r in RANK.items() for x in (steps.get(step, []), r)]
    params += [steps.get(step, []) for step in [*STEP_ORDER, FunnelStep.CLOSED_LOST]]
    params.append(workspace_id)
    only = ""
    if deal_ids is not None:
        only = "AND d.id = ANY(%s)"
        params.append(list(deal_ids))
    fields = [step_field(step) for step in [*STEP_ORDER, FunnelStep.CLOSED_LOST]]
    sql = f"""
        INSERT INTO {DealFunnel._meta.db_table} (deal_id, workspace_id, is_demo, current_rank, deal_created_at,
                                                 owner_id, contact_id, amount, cash_collected, {", ".join(fields)})
        SELECT d.id, d.workspace_id, d.is_demo, {rank}, d.created_at, d.owner_id, d.contact_id, d.amount,
               d.cash_collected, {firsts}
        FROM {Deal._meta.db_table} d LEFT JOIN {DealStageHistory._meta.db_table} h ON h.deal_id = d.id
        WHERE d.workspace_id = %s {only}
        GROUP BY d.id
        ON CONFLICT (deal_id) DO UPDATE SET current_rank = EXCLUDED.current_rank,
            deal_created_at = EXCLUDED.deal_created_at, owner_id = EXCLUDED.owner_id,
            contact_id = EXCLUDED.contact_id, amount = EXCLUDED.amount,
            cash_collected = EXCLUDED.cash_collected,
            {", ".join(f"{f} = EXCLUDED.{f}" for f in fields)}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def deal_funnel_rebuild() -> str:
    """The 03:00 rebuild of every workspace's rollup (the refreshes on write keep it current between)."""
    from ptd.models import Workspace

    done = [deal_funnel_refresh(workspace_id=pk) for pk in Workspace.objects.values_list("pk", flat=True)]
    return f"deal funnel rebuilt: {sum(done):,} deals"


@dataclass(frozen=True)
class Conversion:
    entered: int
    converted: int

    @property
    def rate(self) -> Decimal | None:
        """Share converted, in %; None when nothing entered."""
        return ratio(self.converted, self.entered, 100)


def conversion(deals: QuerySet, period: Period, from_step: str, to_step: str, *,
               group_by: str | None = None) -> Conversion | dict:
    """Cohort conversion from_step → to_step; with `group_by` (a Deal field path such as "owner_id" or
    "contact__owner_id") a dict of group value → Conversion, in one query."""
    cohort = entered_in(deals, from_step, period).order_by()
    counts = dict(entered=Count("pk"), converted=Count("pk", filter=reached(to_step)))
    if group_by is None:
        row = cohort.aggregate(**counts)
        return Conversion(row["entered"], row["converted"])
    return {row[group_by]: Conversion(row["entered"], row["converted"])
            for row in cohort.values(group_by).annotate(**counts)}


def deals_of(access) -> QuerySet:
    """The deals this person may see (the funnel's starting set)."""
    from ptd.scoping import scoped

    return scoped(Deal, access)


def funnel_rows_of(access) -> QuerySet:
    """The DealFunnel rows of the deals this person may see (deals_of): the rollup copies the deal's owner and
    contact, which scope it the same way."""
    from ptd.scoping import scoped

    return scoped(DealFunnel, access)


def _refresh_one(sender, instance, **kwargs):
    deal_id = instance.pk if sender is Deal else instance.deal_id
    if deal_id:
        deal_funnel_refresh(workspace_id=instance.workspace_id, deal_ids=[deal_id])


def connect_signals() -> None:
    """Saves through the ORM (services, admin, tests) keep the rollup current. (Deleting a deal deletes its
    row; a stage-history row deleted on its own is corrected by the 03:00 rebuild.)"""
    for model in (Deal, DealStageHistory):
        post_save.connect(_refresh_one, sender=model, dispatch_uid=f"deal_funnel_{model.__name__}_save")
